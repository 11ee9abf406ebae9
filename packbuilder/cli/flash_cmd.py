"""``packbuilder flash``: write an image to USB keys (or files), then read each back."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from packbuilder.cli.options import JsonOpt, YesOpt, set_json
from packbuilder.i18n import _
from packbuilder.ui import OUTPUT

if TYPE_CHECKING:
    from packbuilder.flash import FlashResult, Target
    from packbuilder.ui import Bars


class _TargetBars:
    """flash reports (target, phase); one bar per target, shown by ``ui.Bars``."""

    def __init__(self, bars: Bars):
        self.bars = bars

    def start(self, target: Target, phase: str, total: int) -> Any:
        return self.bars.start(f"{target.name} {phase}", total, key=target.name)

    def advance(self, task: Any, nbytes: int) -> None:
        self.bars.advance(task, nbytes)


def _rate(size: int, seconds: float | None) -> str:
    from packbuilder.fsutil import format_size

    return f"{format_size(int(size / seconds))}/s ({seconds:.1f} s)" if seconds else "-"


def _confirm(targets: list[Target], image: Path) -> None:
    from packbuilder.errors import InputError
    from packbuilder.i18n import confirm

    lines = [t.describe() for t in targets]
    if not sys.stdin.isatty():
        raise InputError(
            _("refusing to erase without confirmation: standard input is not a terminal"),
            hint=_("check the targets below, then run again with --yes"),
            details=lines,
        )
    OUTPUT.prompt(_("Everything on these targets will be erased and replaced by {image}:").format(image=image))
    for line in lines:
        OUTPUT.prompt(f"  {line}")
    if not confirm(_("Write now?"), default=False):  # o/oui under French
        OUTPUT.prompt(_("nothing was written"))
        raise typer.Abort()


def _report(result: FlashResult) -> None:
    if OUTPUT.json_mode:
        OUTPUT.emit_json(
            {
                "image": str(result.image),
                "size": result.size,
                "sha256": f"sha256:{result.sha256}",
                "targets": [
                    {
                        "target": r.target.name,
                        "status": r.status(result.sha256),
                        "write_mb_s": round(result.size / r.write_seconds / 1e6, 1) if r.write_seconds else None,
                        "verify_mb_s": round(result.size / r.verify_seconds / 1e6, 1) if r.verify_seconds else None,
                        "sha256": f"sha256:{r.sha256}" if r.sha256 else None,
                        "error": r.error,
                    }
                    for r in result.results
                ],
            }
        )
        return
    OUTPUT.info(_("{image}: {size} bytes, sha256:{sha256}").format(image=result.image, size=result.size, sha256=result.sha256))
    for r in result.results:
        rates = _("write {write}, verify {verify}").format(
            write=_rate(result.size, r.write_seconds), verify=_rate(result.size, r.verify_seconds)
        )
        OUTPUT.info(f"  {r.target.name}: {r.status(result.sha256)}  {r.error or rates}")


def flash(
    image: Annotated[Path, typer.Argument(help=_("Disk image to write (packbuilder build --format usb)."))],
    devices: Annotated[
        list[str] | None,
        typer.Argument(metavar="DEVICE...", help=_("Whole USB disks (/dev/sdb) or file paths; none: list the candidates.")),
    ] = None,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help=_("Read every target back and compare."))] = True,
    yes: YesOpt = False,
    json_flag: JsonOpt = False,
) -> None:
    """Write a disk image to one or several USB keys at once, then read each back (exit 4 if one differs)."""
    from packbuilder.errors import InputError
    from packbuilder.flash import candidate_lines, flash, image_size, plan_targets, probe_system

    set_json(json_flag)
    size = image_size(image)
    if not devices:
        raise InputError(
            "no DEVICE given",
            hint=f"name the whole disk of each key to write, e.g. packbuilder flash {image} /dev/sdb",
            details=candidate_lines(probe_system()),
        )
    targets = plan_targets(image, devices, size)
    if not yes:
        _confirm(targets, image)
    if OUTPUT.progress_enabled:
        with OUTPUT.bars() as bars:
            result = flash(image, targets, verify, _TargetBars(bars))
    else:
        result = flash(image, targets, verify)
    _report(result)
    result.check()
