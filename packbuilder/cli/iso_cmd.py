"""``packbuilder inspect ISO``: a base's boot layout, before anything is built on it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from packbuilder.cli.options import JsonOpt, set_json
from packbuilder.i18n import _
from packbuilder.ui import OUTPUT

if TYPE_CHECKING:
    from packbuilder.image.inspect import BootLayout


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
    import dataclasses

    from packbuilder.build.iso import base_live_kind
    from packbuilder.image.authenticode import uefi_loader_signature
    from packbuilder.image.inspect import inspect_iso

    set_json(json_flag)
    layout = inspect_iso(iso)
    kind = base_live_kind(iso)
    loader = uefi_loader_signature(iso, layout)
    if OUTPUT.json_mode:
        signature = dataclasses.asdict(loader) if loader else None
        OUTPUT.emit_json({"iso": str(iso), "live": kind.value, **layout_json(layout), "uefi_loader_signature": signature})
        return
    for line in layout.summary_lines():
        OUTPUT.info(line)
    OUTPUT.info(_("live system: {kind}").format(kind=kind))
    if loader is not None:
        OUTPUT.info(_("UEFI loader {path} of the El Torito EFI image: {signature}").format(
            path="\\EFI\\BOOT\\BOOTX64.EFI", signature=loader.describe()
        ))
