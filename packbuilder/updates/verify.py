"""``manifest verify``: download artifacts and check their size and hash against the manifests.

With ``--changed-since REF`` only what a pull request changes is downloaded: each app manifest
of the working tree is compared with ``git show REF:<file>``; an artifact whose URL, hash and
size are all as they were is skipped, an added app counts whole.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packbuilder.catalog import Catalog
from packbuilder.errors import InputError
from packbuilder.fetch.cache import Cache
from packbuilder.fetch.download import Downloader, Failure, FetchItem
from packbuilder.fetch.run import fetch_item
from packbuilder.fsutil import display_path
from packbuilder.i18n import _
from packbuilder.model.app import App, Artifact
from packbuilder.yamlsrc import YamlSyntaxError, load_yaml

# Download errors that mean the bytes are not the ones the manifest describes (not a network fault).
_SIZE_ERRORS = ("the manifest says", "bytes allowed", "more than the")


@dataclass(frozen=True)
class Target:
    app: str
    version: str
    artifact: Artifact

    @property
    def label(self) -> str:
        a = self.artifact
        lang = f"/{a.lang}" if a.lang else ""
        return f"{self.app} {self.version} {a.platform.value}/{a.arch.value}/{a.kind.value}{lang}"


@dataclass
class Outcome:
    target: Target
    status: str  # "ok", "cached", "mismatch", "size", "network"
    errors: list[str] = field(default_factory=list)


@dataclass
class VerifyReport:
    outcomes: list[Outcome] = field(default_factory=list)
    skipped: int = 0  # unchanged artifacts not downloaded

    def count(self, *statuses: str) -> int:
        return sum(1 for o in self.outcomes if o.status in statuses)

    def as_json(self) -> dict[str, Any]:
        return {
            "checked": len(self.outcomes),
            "ok": self.count("ok", "cached"),
            "failed": len(self.outcomes) - self.count("ok", "cached"),
            "skipped_unchanged": self.skipped,
            "artifacts": [
                {"name": o.target.label, "url": o.target.artifact.url, "status": o.status, "errors": o.errors}
                for o in self.outcomes
            ],
        }


def _fingerprint(raw: Any) -> tuple[Any, ...]:
    """What makes an artifact's download different: URL, mirrors, hashes, sizes."""
    if not isinstance(raw, dict):
        return ()
    mirrors = raw.get("mirrors") or ()
    return (
        raw.get("url"),
        tuple(mirrors) if isinstance(mirrors, list) else (),
        raw.get("sha256"),
        raw.get("sha512"),
        raw.get("size"),
        raw.get("size_approx"),
    )


def _art_fingerprint(art: Artifact) -> tuple[Any, ...]:
    return (art.url, art.mirrors, art.sha256, art.sha512, art.size, art.size_approx)


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    from packbuilder import tools

    proc = tools.run(["git", "-C", str(repo), *args], check=False, error=InputError)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode())


def old_fingerprints(path: Path, ref: str) -> set[tuple[Any, ...]] | None:
    """Fingerprints of the artifacts ``path`` had at ``ref``; None when the file did not exist there."""
    top = _git(path.parent, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise InputError(
            _("{path} is not in a git repository").format(path=display_path(path)), hint=_("--changed-since needs a git checkout")
        )
    if _git(path.parent, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
        raise InputError(
            _("unknown git revision {ref!r}").format(ref=ref), hint=_("fetch it first (git fetch origin main), or check the name")
        )
    relative = path.resolve().relative_to(Path(top.stdout.strip()).resolve()).as_posix()
    shown = _git(path.parent, "show", f"{ref}:{relative}")
    if shown.returncode != 0:
        return None
    try:
        data = load_yaml(path, shown.stdout).data
    except YamlSyntaxError:
        return set()  # unreadable before: everything counts as changed
    prints: set[tuple[Any, ...]] = set()
    releases = data.get("releases") if isinstance(data, dict) else None
    for release in releases if isinstance(releases, list) else ():
        artifacts = release.get("artifacts") if isinstance(release, dict) else None
        for raw in artifacts if isinstance(artifacts, list) else ():
            prints.add(_fingerprint(raw))
    return prints


def all_targets(apps: Iterable[App]) -> list[Target]:
    return [Target(app.id, r.version, a) for app in apps for r in app.releases for a in r.artifacts]


def changed_targets(catalog: Catalog, ref: str) -> tuple[list[Target], int]:
    """Artifacts new or changed since ``ref``, and how many were left out as unchanged."""
    targets: list[Target] = []
    skipped = 0
    for app in catalog.apps.values():
        before = old_fingerprints(catalog.sources[("app", app.id)], ref)
        for target in all_targets([app]):
            if before is not None and _art_fingerprint(target.artifact) in before:
                skipped += 1
            else:
                targets.append(target)
    return targets, skipped


def _item(target: Target, keys_dir: Path) -> FetchItem:
    return fetch_item(target.artifact, target.label, keys_dir)


def _status(failure: Failure) -> str:
    if failure.mismatch:
        return "mismatch"
    if any(marker in error for error in failure.errors for marker in _SIZE_ERRORS):
        return "size"
    return "network"


def verify_targets(targets: list[Target], cache_root: Path, keys_dir: Path, jobs: int = 4) -> VerifyReport:
    """Download (or find in the cache) every target, checking size and hash; one outcome each."""
    report = VerifyReport()
    downloader = Downloader(Cache(cache_root))
    items = {t: _item(t, keys_dir) for t in targets}
    result = downloader.fetch_all(items.values(), jobs=jobs)
    failures = {f.item.digest: f for f in result.failures}
    fresh = {i.digest for i in result.downloaded}
    for target, item in items.items():
        failure = failures.get(item.digest)
        if failure is not None:
            report.outcomes.append(Outcome(target, _status(failure), failure.errors))
        else:
            report.outcomes.append(Outcome(target, "ok" if item.digest in fresh else "cached"))
    return report
