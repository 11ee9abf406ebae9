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
    from packbuilder.sizes import format_size

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
                "sha256": f"sha256:{result.image_sha256}" if result.image_sha256 else None,
                "bmap": str(result.bmap) if result.bmap else None,
                "written": result.written,
                "targets": [
                    {
                        "target": r.target.name,
                        "status": r.status,
                        "write_mb_s": round(result.written / r.write_seconds / 1e6, 1) if r.write_seconds else None,
                        "verify_mb_s": round(result.written / r.verify_seconds / 1e6, 1) if r.verify_seconds else None,
                        "mismatch_at": r.mismatch,  # image offset of the first buffer read back different
                        "error": r.error,
                    }
                    for r in result.results
                ],
            }
        )
        return
    whole = f"sha256:{result.image_sha256}" if result.image_sha256 else _("block map {bmap}").format(bmap=result.bmap)
    OUTPUT.info(
        _("{image}: {size} bytes ({written} written), {whole}").format(
            image=result.image, size=result.size, written=result.written, whole=whole
        )
    )
    for r in result.results:
        rates = _("write {write}, verify {verify}").format(
            write=_rate(result.written, r.write_seconds), verify=_rate(result.written, r.verify_seconds)
        )
        OUTPUT.info(f"  {r.target.name}: {r.state}  {r.error or rates}")


def _watch(image: Path, size: int, block_map: Any, verify: bool, yes: bool, devices: list[str] | None) -> None:
    from packbuilder.errors import InputError
    from packbuilder.flash.watch import KeyResult, Watcher, udev_events

    if devices:
        raise InputError(
            _("--watch writes the keys as they are plugged in: give no DEVICE"),
            hint=_("run: {command}").format(command=f"packbuilder flash {image} --watch"),
        )
    if not yes:
        from packbuilder.i18n import confirm

        if not sys.stdin.isatty():
            raise InputError(
                _("refusing to erase keys without confirmation: standard input is not a terminal"), hint=_("add --yes")
            )
        question = _("Every USB key plugged in from now on will be erased and get {image}. Go on?").format(image=image)
        if not confirm(question, default=False):  # o/oui under French
            raise typer.Abort()

    def report(key: KeyResult) -> None:
        OUTPUT.info(key.line)

    OUTPUT.info(_("waiting for USB keys to write {image} ({size} bytes); Ctrl-C to stop").format(image=image, size=size))
    results = Watcher(image, size, block_map, verify, report=report).run(udev_events())
    OUTPUT.info(
        _("{written} key(s) written, {failed} refused or failed").format(
            written=sum(k.ok for k in results), failed=sum(not k.ok for k in results)
        )
    )


def flash(
    image: Annotated[
        Path,
        typer.Argument(
            metavar="IMAGE", help=_("Disk image to write: .img, .img.xz, .img.zst or .img.gz (packbuilder build --format usb).")
        ),
    ],
    devices: Annotated[
        list[str] | None,
        typer.Argument(metavar=_("DEVICE"), help=_("Whole USB disks (/dev/sdb) or file paths; none: list the candidates.")),
    ] = None,
    verify: Annotated[bool, typer.Option("--verify/--no-verify", help=_("Read every target back and compare."))] = True,
    yes: YesOpt = False,
    bmap: Annotated[
        Path | None, typer.Option("--bmap", help=_("Block map (default: IMAGE's .bmap beside it): write only the blocks in use."))
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", help=_("Write every USB key plugged in, one line each, until Ctrl-C."))
    ] = False,
    json_flag: JsonOpt = False,
) -> None:
    """Write a disk image to one or several USB keys at once, then read each back (exit 4 if one differs)."""
    from packbuilder.errors import InputError
    from packbuilder.flash import candidate_lines, check_image_file, flash, image_size, load_map, plan_targets, probe_system

    set_json(json_flag)
    check_image_file(image)
    block_map, bmap_path = load_map(image, bmap)
    size = image_size(image, block_map.image_size if block_map else None)
    if watch:
        _watch(image, size, block_map, verify, yes, devices)
        return
    if not devices:
        raise InputError(
            _("no DEVICE given"),
            hint=_("name the whole disk of each key to write, e.g. packbuilder flash {image} /dev/sdb").format(image=image),
            details=candidate_lines(probe_system()),
        )
    targets = plan_targets(image, devices, size)
    if not yes:
        _confirm(targets, image)
    if OUTPUT.progress_enabled:
        with OUTPUT.bars() as bars:
            result = flash(image, targets, verify, _TargetBars(bars), block_map=block_map, bmap_path=bmap_path)
    else:
        result = flash(image, targets, verify, block_map=block_map, bmap_path=bmap_path)
    _report(result)
    result.check()
