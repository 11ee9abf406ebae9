"""The ISO step of ``build --format iso``: inspect the base, choose the engine, plan, write; report what was done.

The writers live in :mod:`packbuilder.image`; this step only decides and reports. The request is
frozen; what the step found comes back as an :class:`IsoReport`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packbuilder.sizes import decimal
from packbuilder.i18n import _
from packbuilder.model import LiveKind
from packbuilder.model.build import IsoEngine
from packbuilder.ui import NO_METER, Meter

if TYPE_CHECKING:
    from packbuilder.image.inspect import BootLayout
    from packbuilder.image.overlay import PycdlibReader
    from packbuilder.model.lock import Lock


@dataclass(frozen=True)
class IsoRequest:
    """The base live ISO (a file) and how to write the overlay."""

    base: Path
    engine: IsoEngine = IsoEngine.AUTO
    dry_run: bool = False


@dataclass(frozen=True)
class IsoReport:
    """What the ISO step found and did."""

    request: IsoRequest
    layout: BootLayout
    engine_used: IsoEngine
    live_kind: LiveKind
    live_layer: str | None  # ISO path of the live layer, when one is added
    files: int
    added_bytes: int

    def as_json(self) -> dict[str, object]:
        return {
            "base": str(self.request.base),
            "engine": self.engine_used.value,
            "boot_modes": list(self.layout.boot_modes()),
            "layout": self.layout.summary_lines(),
            "live": self.live_kind.value,
            "live_layer": self.live_layer,
            "files": self.files,
            "added_bytes": self.added_bytes,
        }

    def summary_lines(self) -> list[str]:
        from packbuilder.image.overlay import PREFIX

        lines = [_("base {base}:").format(base=self.request.base), *(f"  {line}" for line in self.layout.summary_lines())]
        lines.append(_("engine: {engine} (asked: {asked})").format(engine=self.engine_used, asked=self.request.engine))
        if self.live_layer:
            live = _("live system: {kind}: the apps, guides and settings go into {layer}")
        else:
            live = _("live system: {kind}: only files are added (the pack under {prefix}/), no live layer")
        lines.append(live.format(kind=self.live_kind, layer=self.live_layer, prefix=PREFIX))
        size = decimal(self.added_bytes / (1 << 20))
        lines.append(_("overlay: {count} files, {size} MiB").format(count=self.files, size=size))
        return lines


def base_live_kind(base: Path, reader: PycdlibReader | None = None) -> LiveKind:
    """The base's live system, read from its files."""
    from packbuilder.image.overlay import live_kind

    return LiveKind(live_kind(base, reader))


def build_iso(
    lock: Lock, tree: Path, request: IsoRequest, out: Path, epoch: int, work: Path, meter: Meter = NO_METER
) -> IsoReport:
    """Inspect the base, refuse what the engine cannot keep booting, plan, and (unless a dry run) write
    ``out``, its bytes told to ``meter``."""
    from packbuilder.image import live
    from packbuilder.image.inspect import inspect_iso
    from packbuilder.image.iso import check_engine, choose_engine, write_iso
    from packbuilder.image.overlay import PycdlibReader, plan_overlay

    layout = inspect_iso(request.base)
    engine = IsoEngine(choose_engine(request.engine, layout))
    check_engine(layout, engine)
    work.mkdir(parents=True, exist_ok=True)
    extra_files: tuple[tuple[str, Path], ...] = ()
    extra_replace: tuple[tuple[str, bytes], ...] = ()
    layer_path = None
    base = request.base
    with PycdlibReader(base) as reader:  # opened once: its whole directory tree is read on opening
        kind = base_live_kind(base, reader)
        if kind is LiveKind.DEBIAN_LIVE_BOOT:
            layer_path = live.LAYER_PATH
            extra_files, extra_replace = live.layer_files(lock, tree, base, epoch, work, "PACK", request.dry_run, reader)
        plan = plan_overlay(base, tree, epoch, extra_files=extra_files, extra_replace=extra_replace, work=work / "root",
                            reader=reader)  # fmt: skip
    if not request.dry_run:
        write_iso(plan, out, engine, layout, meter)
    return IsoReport(request, layout, engine, kind, layer_path, len(plan.files), plan.added_bytes)
