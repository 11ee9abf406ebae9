"""``cache import FOLDER``: take what a folder of downloads holds into the cache.

The folder may be an exported cache (``sha256/xx/<hash>``, imported by name and re-hashed) or
files downloaded by hand under any names, recognised by size then hash against the catalog
(and the lock being prepared). The report says what was recognised, what was not, and what a
given pack or lock still lacks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packbuilder.fetch.cache import Cache
from packbuilder.fetch.folder import FileInfo, FolderMirror, Wanted
from packbuilder.fsutil import NotRegularFile
from packbuilder.i18n import _

if TYPE_CHECKING:
    from packbuilder.catalog import Catalog
    from packbuilder.fetch.download import FetchItem


@dataclass
class ImportReport:
    imported: list[tuple[str, str]] = field(default_factory=list)  # (file in the folder, what it is)
    already: list[tuple[str, str]] = field(default_factory=list)  # recognised, was in the cache already
    refused: list[str] = field(default_factory=list)  # damaged, links or devices posing as cache files
    unrecognised: list[str] = field(default_factory=list)  # files that are no artifact known here
    skipped: list[str] = field(default_factory=list)  # links and special files under other names: never read

    def as_json(self) -> dict[str, Any]:
        return {
            "imported": [{"file": f, "artifact": n} for f, n in self.imported],
            "already_in_cache": [{"file": f, "artifact": n} for f, n in self.already],
            "refused": self.refused,
            "unrecognised": self.unrecognised,
            "skipped": self.skipped,
        }


Known = dict[str, tuple[Wanted, str]]  # digest -> (what to look for, name for people)


def catalog_artifacts(catalog: Catalog) -> Known:
    """Every downloadable file the catalog knows: app artifacts of every release, and bases."""
    known: Known = {}
    for app in catalog.apps.values():
        for release in app.releases:
            for art in release.artifacts:
                algo, digest = art.digest
                name = f"{app.id} {release.version} ({art.platform.value}/{art.arch.value})"
                known.setdefault(digest, (Wanted(algo, digest, art.size, art.size_approx), name))
    for base in catalog.bases.values():
        if base.sha256:
            label = _("base {base}").format(base=base.id)
            known.setdefault(base.sha256, (Wanted("sha256", base.sha256, base.size, base.size_approx), label))
    return known


def items_known(items: list[FetchItem]) -> Known:
    return {i.digest: (Wanted(i.algo, i.digest, i.size, i.size_approx), i.name) for i in items}


def import_folder(cache: Cache, src: Path, known: Known, jobs: int = 4) -> ImportReport:
    report = ImportReport()
    mirror = FolderMirror(src, cache.root / "mirrors")
    unnamed: list[FileInfo] = []
    for info in mirror.files():
        pair = mirror.named(info)
        if pair is None:
            unnamed.append(info)
        else:
            _import_named(cache, src, info, pair, known, report)
    found = mirror.locate([wanted for wanted, _ in known.values()], jobs)
    by_path = {path: digest for digest, path in found.items()}
    for info in unnamed:
        digest = by_path.get(src / info.rel)
        if not info.regular:
            report.skipped.append(_("{file}: not a regular file (link, device or FIFO): not read").format(file=info.rel))
        elif digest is None:
            report.unrecognised.append(info.rel)
        else:
            wanted, name = known[digest]
            _add(cache, src / info.rel, info.rel, wanted, {"name": name, "url": f"file: {info.rel}"}, name, report)
    return report


def _import_named(
    cache: Cache, src: Path, info: FileInfo, pair: tuple[str, str], known: Known, report: ImportReport
) -> None:
    algo, digest = pair
    meta = _exported_meta(src, digest)
    wanted, name = known.get(digest, (Wanted(algo, digest), str(meta.get("name") or f"{algo}:{digest[:16]}…")))
    meta.setdefault("name", name)
    _add(cache, src / info.rel, info.rel, wanted, meta, name, report)


def _add(cache: Cache, path: Path, rel: str, wanted: Wanted, meta: dict[str, Any], name: str, report: ImportReport) -> None:
    if cache.lookup(wanted.algo, wanted.digest, wanted.size) is not None:
        report.already.append((rel, name))
        return
    try:
        if cache.add_file(path, wanted.algo, wanted.digest, meta, limit=wanted.size):
            report.imported.append((rel, name))
        else:
            report.refused.append(_("{file}: content does not match its {algo}, not imported").format(file=rel, algo=wanted.algo))
    except NotRegularFile as exc:
        report.refused.append(str(exc))
    except OSError as exc:
        report.refused.append(_("{file}: {reason}").format(file=rel, reason=exc.strerror or exc))


def _exported_meta(src: Path, digest: str) -> dict[str, Any]:
    """The name and origin `cache export` wrote beside a file (plain strings only: it is data)."""
    try:
        data = json.loads((src / "meta" / f"{digest}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if k in ("name", "url") and isinstance(v, str) and len(v) < 500}


def still_missing(cache: Cache, items: list[FetchItem]) -> list[FetchItem]:
    return [i for i in items if cache.lookup(i.algo, i.digest, i.size) is None]


def report_lines(report: ImportReport, missing: list[FetchItem], target: str | None) -> list[str]:
    """The report for people: recognised, not recognised, skipped, still missing."""
    lines = []
    imported, already = _("imported"), _("already in the cache")
    recognised = [(f, n, imported) for f, n in report.imported] + [(f, n, already) for f, n in report.already]
    lines.append(_("recognised: {count} file(s)").format(count=len(recognised)))
    lines += [f"  {f}: {n} ({how})" for f, n, how in sorted(recognised)]
    if report.unrecognised:
        lines.append(
            _("not recognised (no artifact of the catalog has this size and hash): {count} file(s)").format(
                count=len(report.unrecognised)
            )
        )
        lines += [f"  {f}" for f in report.unrecognised]
    if report.skipped:
        lines.append(_("skipped: {count}").format(count=len(report.skipped)))
        lines += [f"  {s}" for s in report.skipped]
    if target is not None:
        if missing:
            lines.append(_("still missing for {target}: {count} artifact(s)").format(target=target, count=len(missing)))
            lines += [f"  {i.name}: {i.urls[0].rsplit('/', 1)[-1] if i.urls else '?'}" for i in missing]
        else:
            lines.append(_("nothing missing for {target}: it can be built with --offline").format(target=target))
    return lines
