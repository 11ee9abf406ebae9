"""``packbuilder fetch``: download and verify everything a pack or lock needs."""

from __future__ import annotations

from packbuilder.cli.options import WORKSPACE, JobsOpt, JsonOpt, MirrorOpt, OfflineOpt, ProfileOpt, SizeOpt, TargetArg, set_json
from packbuilder.i18n import _
from packbuilder.ui import OUTPUT


def fetch(
    pack_or_lock: TargetArg,
    profile: ProfileOpt = None,
    jobs: JobsOpt = 4,
    mirror: MirrorOpt = None,
    offline: OfflineOpt = False,
    size: SizeOpt = None,
    json_flag: JsonOpt = False,
) -> None:
    """Download and verify every artifact of a pack (or lock) into the cache."""
    from packbuilder.build.run import fetch_target, load_target
    from packbuilder.model.build import FetchOptions

    set_json(json_flag)
    lock = load_target(WORKSPACE, pack_or_lock, profile, size, OUTPUT)
    result = fetch_target(WORKSPACE, lock, FetchOptions(jobs, tuple(mirror or ()), offline), OUTPUT)
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
    from packbuilder.sizes import format_size

    OUTPUT.info(
        _("{count} artifact(s) ready: {downloaded} downloaded ({size}), {cached} already in the cache ({folder})").format(
            count=len(lock.items),
            downloaded=len(result.downloaded),
            size=format_size(result.bytes_downloaded),
            cached=len(result.cached),
            folder=WORKSPACE.cache(),
        )
    )
