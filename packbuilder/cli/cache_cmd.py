"""``packbuilder cache``: look after the download cache, carry it to offline machines, share it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from packbuilder.cli.options import WORKSPACE, JsonOpt, ProfileOpt, set_json
from packbuilder.i18n import _
from packbuilder.ui import OUTPUT


def cache_dir() -> Path:
    return WORKSPACE.cache()

app = typer.Typer(rich_markup_mode=None, help=_("The download cache: list, verify, clean, carry, share."), no_args_is_help=True)


@app.command("list")
def list_entries(json_flag: JsonOpt = False) -> None:
    """List the verified files in the cache."""
    from packbuilder.fetch.cache import Cache

    set_json(json_flag)
    entries = list(Cache(cache_dir()).entries())
    if OUTPUT.json_mode:
        OUTPUT.emit_json(
            {
                "cache": str(cache_dir()),
                "entries": [
                    {"digest": f"{e.algo}:{e.digest}", "size": e.size, "name": e.meta.get("name"), "url": e.meta.get("url")}
                    for e in entries
                ],
            }
        )
        return
    from packbuilder.sizes import format_size

    for e in entries:
        OUTPUT.info(f"{e.algo}:{e.digest[:16]}…  {format_size(e.size):>10}  {e.meta.get('name', '?')}")
    total = format_size(sum(e.size for e in entries))
    OUTPUT.info(_("{count} file(s), {size} in {folder}").format(count=len(entries), size=total, folder=cache_dir()))


@app.command("verify")
def verify() -> None:
    """Re-hash every cached file; move bad ones to quarantine/. Exit 1 if any was bad."""
    from packbuilder.errors import CheckFailed
    from packbuilder.fetch.cache import Cache

    cache = Cache(cache_dir())
    bad = []
    count = 0
    for entry in cache.entries():
        count += 1
        actual = cache.verify(entry)
        if actual is not None:
            cache.quarantine(entry.path, entry.algo, entry.digest, actual)
            name = entry.meta.get("name", "?")
            bad.append(
                _("{digest} ({name}): content hashes to {actual}").format(
                    digest=f"{entry.algo}:{entry.digest}", name=name, actual=actual
                )
            )
    if bad:
        raise CheckFailed(
            _("{bad} of {count} cached file(s) were damaged and moved to quarantine/").format(bad=len(bad), count=count),
            hint=_("fetch again to download them anew"),
            details=bad,
        )
    OUTPUT.info(_("{count} cached file(s) verified: all good").format(count=count))


@app.command("gc")
def gc() -> None:
    """Remove partial downloads, quarantined files and unused locks."""
    from packbuilder.fetch.cache import Cache
    from packbuilder.sizes import format_size

    files, freed = Cache(cache_dir()).gc()
    OUTPUT.info(_("removed {count} file(s), {size} freed").format(count=files, size=format_size(freed)))


@app.command("export")
def export(dest: Annotated[Path, typer.Argument(help=_("Folder to copy to, e.g. on a USB drive."))]) -> None:
    """Copy every verified file to DEST (re-verified), to carry to a machine without internet."""
    from packbuilder.errors import CheckFailed
    from packbuilder.fetch.cache import Cache, check_cache_dir

    target = Cache(check_cache_dir(dest, _("the export folder")))
    copied, bad = 0, []
    for entry in Cache(cache_dir()).entries():
        if target.add_file(entry.path, entry.algo, entry.digest, entry.meta):
            copied += 1
        else:
            bad.append(_("{digest}: damaged in the cache, not exported").format(digest=f"{entry.algo}:{entry.digest}"))
    if bad:
        raise CheckFailed(
            _("{count} damaged file(s) not exported").format(count=len(bad)),
            hint=_("run `packbuilder cache verify`"),
            details=bad,
        )
    OUTPUT.info(_("{count} file(s) exported to {folder}").format(count=copied, folder=dest))


@app.command("import")
def import_(
    src: Annotated[Path, typer.Argument(help=_("A folder of downloads (any names), or one written by `cache export`."))],
    target: Annotated[
        str | None, typer.Option("--for", metavar="PACK|LOCK", help=_("Also list what this pack (with --profile) or lock lacks."))
    ] = None,
    profile: ProfileOpt = None,
    json_flag: JsonOpt = False,
) -> None:
    """Add the files of a folder to the cache, found by hash whatever their names; every hash re-checked."""
    from packbuilder.errors import CheckFailed, InputError, PackbuilderError
    from packbuilder.fetch.cache import Cache
    from packbuilder.fetch.importer import catalog_artifacts, import_folder, items_known, report_lines, still_missing
    from packbuilder.fetch.run import item_for

    set_json(json_flag)
    if not src.is_dir():
        raise InputError(
            _("{path} is not a folder").format(path=src),
            hint=_("give a folder of downloads, or one from `packbuilder cache export`"),
        )
    if target:
        from packbuilder.build.run import load_target

        items = [item_for(art) for art in load_target(WORKSPACE, target, profile, None, OUTPUT).items]
    else:
        items = []
    try:
        known = catalog_artifacts(WORKSPACE.catalog())
    except PackbuilderError:
        OUTPUT.warn(_("no catalog found: only files named by their hash (`cache export`) are recognised"))
        known = {}
    known.update(items_known(items))
    cache = Cache(cache_dir())
    report = import_folder(cache, src, known)
    missing = still_missing(cache, items)
    if OUTPUT.json_mode:
        OUTPUT.emit_json({**report.as_json(), "missing": [i.name for i in missing] if target else None})
    else:
        for line in report_lines(report, missing, target):
            OUTPUT.info(line)
    if report.refused:
        raise CheckFailed(_("{count} file(s) refused").format(count=len(report.refused)), details=report.refused)
    OUTPUT.info(_("{count} file(s) imported into {folder}").format(count=len(report.imported), folder=cache_dir()))


@app.command("serve")
def serve(
    port: Annotated[int, typer.Option("--port", help=_("TCP port."))] = 8377,
    bind: Annotated[str, typer.Option("--bind", help=_("Address to listen on."))] = "0.0.0.0",
) -> None:
    """Serve the cache read-only over HTTP on the local network, announced by mDNS (others use --mirror auto)."""
    from packbuilder.fetch.serve import serve_cache

    serve_cache(cache_dir(), bind, port, OUTPUT)
