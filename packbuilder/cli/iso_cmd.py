"""``packbuilder inspect ISO``, and the ISO side of ``build --format iso``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from packbuilder.cli.common import JsonOpt, set_json
from packbuilder.i18n import _
from packbuilder.ui import OUTPUT

if TYPE_CHECKING:
    from packbuilder.image.inspect import BootLayout
    from packbuilder.image.iso import IsoRequest


def layout_json(layout: BootLayout) -> dict[str, Any]:
    import dataclasses

    document = dataclasses.asdict(layout)
    document["boot_modes"] = list(layout.boot_modes())
    document["hfsplus"] = layout.hfsplus
    return document


def inspect(
    iso: Annotated[Path, typer.Argument(help=_("An ISO file (a base live ISO, or one packbuilder built)."))],
    json_flag: JsonOpt = False,
) -> None:
    """Print an ISO's boot layout: El Torito, MBR, GPT, APM, appended partitions, boot modes."""
    from packbuilder.image.inspect import inspect_iso
    from packbuilder.image.iso import live_kind

    set_json(json_flag)
    layout = inspect_iso(iso)
    kind = live_kind(iso)
    if OUTPUT.json_mode:
        OUTPUT.emit_json({"iso": str(iso), "live": kind, **layout_json(layout)})
        return
    for line in layout.summary_lines():
        OUTPUT.info(line)
    OUTPUT.info(f"live system: {kind}")


def iso_request(
    base: str | None, engine: str, dry_run: bool, jobs: int, mirrors: tuple[str, ...], offline: bool
) -> IsoRequest:
    """The base ISO named by ``--base``: an ISO file, or a base id fetched into the cache."""
    from packbuilder.cli.common import load
    from packbuilder.cli.fetch_cmd import cache_dir, keys_dir
    from packbuilder.errors import InputError
    from packbuilder.image.iso import ENGINES, IsoRequest

    if engine not in ENGINES:
        raise InputError(
            _("unknown ISO engine {engine!r}").format(engine=engine),
            hint=_("use one of: {choices}").format(choices=", ".join(ENGINES)),
        )
    if base is None:
        raise InputError(_("--format iso needs a base live ISO"), hint=_("add --base BASE_ID or --base FILE.iso"))
    path = Path(base)
    if path.is_file():
        return IsoRequest(base=path.absolute(), engine=engine, dry_run=dry_run)
    if "/" in base or base.endswith(".iso"):
        raise InputError(
            _("{base}: no such ISO file").format(base=base),
            hint=_("give the path of a live ISO, or a base id (ls manifests/bases)"),
        )
    from packbuilder.fetch.run import fetch_base

    manifest = load().base(base)
    fetched = fetch_base(manifest, cache_dir(), OUTPUT, mirrors, offline, keys_dir())
    return IsoRequest(base=fetched, engine=engine, dry_run=dry_run)


def report_iso(request: IsoRequest, built: Path) -> None:
    if OUTPUT.json_mode:
        if request.dry_run:
            OUTPUT.emit_json({"dry_run": True, "output": str(built), **request.as_json()})
        return
    for line in request.summary_lines():
        OUTPUT.info(line)
    if request.dry_run:
        OUTPUT.info(_("dry run: {path} not written").format(path=built))
