"""``packbuilder fetch``: download and verify everything a pack or lock needs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from packbuilder.cli.common import STATE, JsonOpt, ProfileOpt, load, set_json
from packbuilder.cli.plan_cmd import SizeOpt
from packbuilder.i18n import _
from packbuilder.ui import OUTPUT

if TYPE_CHECKING:
    from packbuilder.model.lock import Lock

JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=1, max=32, help=_("Parallel downloads."))]
MirrorOpt = Annotated[
    list[str] | None, typer.Option("--mirror", help=_("Extra source: http://host:port of `cache serve`, or a folder."))
]
OfflineOpt = Annotated[bool, typer.Option("--offline", help=_("Use the cache only; never connect."))]


def cache_dir() -> Path:
    from packbuilder.fetch.cache import check_cache_dir, default_cache_dir

    return check_cache_dir(STATE.cache_dir or default_cache_dir())


def keys_dir() -> Path | None:
    """The catalog's keys/ folder, for signature checks."""
    from packbuilder.catalog import find_catalog
    from packbuilder.errors import PackbuilderError

    try:
        return find_catalog(STATE.catalog_dir) / "keys"
    except PackbuilderError:
        return None


def is_lock_file(arg: str) -> bool:
    path = Path(arg)
    if not path.is_file():
        return False
    if path.suffix in (".lock", ".json"):
        return True
    with path.open("rb") as fh:
        return b'"lock_version"' in fh.read(4096)


def _check_size(lock: Lock, size: str) -> None:
    from packbuilder.catalog import find_catalog, overlay_bytes
    from packbuilder.errors import InputError
    from packbuilder.fsutil import parse_size
    from packbuilder.lock import check_lock_fits

    try:
        capacity = parse_size(size)
    except ValueError as exc:
        raise InputError(_("--size: {error}").format(error=exc)) from None
    check_lock_fits(lock, capacity, overlay_bytes(find_catalog(STATE.catalog_dir), lock.pack.overlays))


def load_target(
    pack_or_lock: str, profile: str | None, size: str | None, live: bool | None = None, base: str | None = None
) -> Lock:
    """A lock from a lock file (warning when stale), or from resolving a pack."""
    from packbuilder.lock import lock_from_plan, read_lock, stale_report

    if is_lock_file(pack_or_lock):
        lock = read_lock(Path(pack_or_lock))
        if size is not None:  # an explicit --size wins over the lock's, and must still hold it
            _check_size(lock, size)
        from packbuilder.errors import PackbuilderError

        try:
            catalog = load()
        except PackbuilderError:  # a lock needs no catalog: the staleness check is a bonus
            return lock
        if live and (base or lock.pack.base) in catalog.bases:
            from packbuilder.resolve import check_live_items

            check_live_items(catalog, catalog.bases[base or lock.pack.base or ""], [(i.app, i.url) for i in lock.items])
        changes = stale_report(lock, catalog)
        if changes:
            OUTPUT.warn(
                _("{lock} is stale: the catalog changed since it was written (the lock is used as is):").format(lock=pack_or_lock)
            )
            for change in changes:
                OUTPUT.warn(f"  {change}")
        return lock
    from packbuilder.cli.plan_cmd import make_plan

    return lock_from_plan(make_plan(load(), pack_or_lock, profile, size, live, base))


def fetch(
    pack_or_lock: Annotated[str, typer.Argument(metavar="PACK|LOCK", help=_("Pack id, pack file, or lock file."))],
    profile: ProfileOpt = None,
    jobs: JobsOpt = 4,
    mirror: MirrorOpt = None,
    offline: OfflineOpt = False,
    size: SizeOpt = None,
    json_flag: JsonOpt = False,
) -> None:
    """Download and verify every artifact of a pack (or lock) into the cache."""
    from packbuilder.fetch.run import fetch_lock

    set_json(json_flag)
    lock = load_target(pack_or_lock, profile, size)
    result = fetch_lock(lock, cache_dir(), OUTPUT, jobs, tuple(mirror or ()), offline, keys_dir())
    if OUTPUT.json_mode:
        OUTPUT.emit_json(
            {
                "artifacts": [
                    {"app": a.app, "version": a.version, "digest": ":".join(a.digest), "path": str(result.paths[a.digest[1]])}
                    for a in lock.items
                ],
                "downloaded": len(result.downloaded),
                "cached": len(result.cached),
                "bytes_downloaded": result.bytes_downloaded,
            }
        )
        return
    OUTPUT.info(
        f"{len(lock.items)} artifact(s) ready: {len(result.downloaded)} downloaded "
        f"({result.bytes_downloaded / 1e6:,.1f} MB), {len(result.cached)} already in the cache ({cache_dir()})"
    )
