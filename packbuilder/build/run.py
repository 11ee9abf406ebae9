"""``build`` from end to end: target → lock → fetch → base ISO → stage and write the output.

The command line parses its flags into :class:`~packbuilder.model.build.BuildOptions`; this module
does the rest and returns a :class:`BuildReport` for the command to print.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packbuilder.errors import InputError
from packbuilder.model.build import BuildOptions, FetchOptions
from packbuilder.i18n import _

if TYPE_CHECKING:
    from packbuilder.fetch.download import FetchResult
    from packbuilder.model.lock import Lock
    from packbuilder.build.outputs import BuiltOutput
    from packbuilder.plan.targets import Target
    from packbuilder.ui import Output
    from packbuilder.workspace import Workspace


@dataclass(frozen=True)
class BuildReport:
    options: BuildOptions
    lock: Lock
    built: BuiltOutput

    def as_json(self) -> dict[str, Any]:
        iso = self.built.iso.as_json() if self.built.iso is not None else None
        if not self.built.written:  # a dry run: what would have been written
            return {"dry_run": True, "output": str(self.built.path), **(iso or {})}
        return {
            "output": str(self.built.path),
            "format": self.options.format.value,
            "pack": self.lock.pack.id,
            "profile": self.lock.profile.id,
            "sha256": self.built.sha256,
            **({"iso": iso} if iso is not None else {}),
        }


def load_target(
    ws: Workspace,
    arg: str,
    profile: str | None,
    capacity: int | None,
    output: Output,
    live: bool | None = None,
    base: str | None = None,
) -> Lock:
    """The lock a command works on; a stale lock file is used as it is, with a warning. ``live``:
    a build for a live system (``base``, else the pack's), whose Linux apps must suit it."""
    from packbuilder.plan.targets import load_target as load

    # The staleness check loads the whole catalog only to warn: not done when warnings are not shown.
    target: Target = load(arg, profile, capacity, ws.catalog, check_stale=not output.quiet, live=live, base_id=base)
    if target.stale:
        from packbuilder.i18n import _

        output.warn(_("{lock} is stale: the catalog changed since it was written (the lock is used as is):").format(lock=arg))
        for change in target.stale:
            output.warn(f"  {change}")
    return target.lock


def fetch_target(ws: Workspace, lock: Lock, options: FetchOptions, output: Output, rehash: bool = False) -> FetchResult:
    """Every artifact of ``lock`` in the cache; ``rehash``: cached files hashed again (for a build)."""
    from packbuilder.fetch.run import fetch_lock

    # Finding the keys folder imports the catalog's module (yaml, the lint rules, every model):
    # only a lock with a signed artifact needs it.
    keys = ws.keys_dir() if any(item.signature is not None for item in lock.items) else None
    return fetch_lock(lock, ws.cache(), output, options.jobs, options.mirrors, options.offline, keys, rehash)


def base_iso(ws: Workspace, base: str, options: FetchOptions, output: Output, dry_run: bool = False) -> Path:
    """The base live ISO named by ``--base`` (or the pack): an ISO file, or a base id fetched into the cache."""
    path = Path(base)
    if path.is_file():
        return path.absolute()
    if "/" in base or base.endswith(".iso"):
        raise InputError(_("{base}: no such ISO file").format(base=base), hint=_("give the path of a live ISO, or a base id (ls manifests/bases)"))
    from packbuilder.fetch.run import fetch_base

    manifest = ws.catalog().base(base)
    if dry_run:  # a dry run downloads nothing: the base must already be in the cache
        from packbuilder.fetch.cache import Cache

        found = Cache(ws.cache()).lookup("sha256", manifest.sha256) if manifest.sha256 else None
        if found is None:
            raise InputError(
                _("dry run: the base {base} is not in the cache, and a dry run downloads nothing").format(base=base),
                hint=_("give the ISO file (--base FILE.iso), or fetch it first with a build without --dry-run"),
            )
        return found
    return fetch_base(manifest, ws.cache(), output, options.mirrors, options.offline, ws.keys_dir())


def cached_only(ws: Workspace, lock: Lock, output: Output) -> tuple[Lock, dict[str, Path]]:
    """For a dry run: the lock's items already in the cache (nothing is downloaded), the others left
    out of the count with a warning."""
    from packbuilder.fetch.cache import Cache

    cache = Cache(ws.cache())
    found = {i.digest[1]: cache.lookup(*i.digest, i.size) for i in lock.items}
    paths = {digest: path for digest, path in found.items() if path is not None}
    missing = [i for i in lock.items if found[i.digest[1]] is None]
    if missing:
        names = ", ".join(f"{i.app} {i.version}" for i in missing)
        output.warn(
            _(
                "dry run: {missing} of {count} app(s) not in the cache, left out of the count (a dry run downloads nothing): {names}"
            ).format(missing=len(missing), count=len(lock.items), names=names)
        )
    kept = tuple(i for i in lock.items if i.digest[1] in paths)
    return lock.model_copy(update={"items": kept}), paths


def run_build(ws: Workspace, options: BuildOptions, output: Output) -> BuildReport:
    """Resolve (or read) the lock, fetch what is missing, and write the output."""
    from packbuilder.build.iso import IsoRequest
    from packbuilder.build.outputs import build, default_output

    live = options.format.needs_base
    lock = load_target(ws, options.target, options.profile, options.size_bytes, output, live, options.base)
    from packbuilder.profiles import notes_line

    notes = notes_line(lock.profile.id, lock.profile.notes)  # e.g. Windows XP: keep such PCs offline
    if notes:
        output.warn(notes)
    if options.dry_run:
        lock, paths = cached_only(ws, lock, output)
    else:
        paths = fetch_target(ws, lock, options.fetch, output, rehash=True).paths
    out = options.output or default_output(lock, options.format)
    iso = None
    if options.format.needs_base:
        name = options.base or lock.pack.base
        if name is None:
            raise options.format.missing_base()
        base = base_iso(ws, name, options.fetch, output, options.dry_run)
        iso = IsoRequest(base, options.iso_engine, options.dry_run)
    built = build(lock, options, out, paths, ws.overlays_dir(), output, iso)
    return BuildReport(options, lock, built)
