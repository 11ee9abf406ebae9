"""ISO overlays written by the engine that can keep the base booting.

The plan (what goes in) is :mod:`packbuilder.image.overlay`'s; the engines write it:

- ``xorriso`` (:mod:`packbuilder.image.iso_xorriso`): a modifying remaster with
  ``-boot_image any replay``, where xorriso is installed;
- ``pycdlib`` (:mod:`packbuilder.image.iso9660.append`): an appending ISO 9660 writer in pure Python,
  for machines without xorriso (the name is kept for the command line; it does not use pycdlib).

This module picks the engine (``choose_engine``), refuses a base the engine cannot keep booting
(``check_engine``) and writes the output all or nothing (``write_iso``).
"""

from __future__ import annotations

from pathlib import Path

from packbuilder import tools
from packbuilder.errors import InputError
from packbuilder.i18n import _
from packbuilder.image.inspect import BootLayout, inspect_iso
from packbuilder.image.iso9660.append import write_overlay_append
from packbuilder.image.iso_xorriso import write_overlay_xorriso
from packbuilder.image.overlay import OverlayPlan
from packbuilder.ui import NO_METER, Meter

ENGINES = ("auto", "xorriso", "pycdlib")


def check_engine(layout: BootLayout, engine: str) -> None:
    """Refuse, naming the layout and what would work, a base the engine cannot keep booting."""
    if engine == "xorriso" and layout.hfsplus:
        raise InputError(
            _(
                "this base ({volume_id!r}) mixes a GPT with an HFS+ hybrid and an Apple partition map (grub-mkrescue's"
                " default for Intel Macs), which xorriso cannot replay: it stops with 'GPT partitions 1 and 2 overlap'"
            ).format(volume_id=layout.volume_id),
            hint=_("try --iso-engine pycdlib, or a base built without the HFS+ hybrid (grub-mkrescue ... -- -hfsplus off)"),
            details=layout.summary_lines(),
        )


def choose_engine(engine: str, layout: BootLayout) -> str:
    """``auto``: xorriso when installed and able to replay the base's layout, else pycdlib."""
    if engine not in ENGINES:
        raise InputError(
            _("unknown ISO engine {engine!r}").format(engine=engine),
            hint=_("use one of: {engines}").format(engines=", ".join(ENGINES)),
        )
    if engine != "auto":
        return engine
    if tools.find("xorriso") is not None and not layout.hfsplus:
        return "xorriso"
    return "pycdlib"


def write_iso(
    plan: OverlayPlan, out: Path, engine: str, layout: BootLayout | None = None, meter: Meter = NO_METER
) -> str:
    """Write the overlaid ISO to ``out`` (atomically); return the engine used. ``meter`` follows the
    output as it grows, against about the base's size plus the added files'."""
    layout = layout or inspect_iso(plan.base)
    chosen = choose_engine(engine, layout)
    check_engine(layout, chosen)
    meter.total(layout.file_size + plan.added_bytes)
    if chosen == "xorriso":
        write_overlay_xorriso(plan, out, meter)
        return chosen
    write_overlay_append(plan, out, layout, meter)  # all or nothing, as the xorriso engine
    return chosen
