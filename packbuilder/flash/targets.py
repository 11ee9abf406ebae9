"""Where to write: whole disks that pass the safety checks, or regular files; every refusal at once."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packbuilder.errors import InputError
from packbuilder.flash import compressed
from packbuilder.flash.devices import BlockDevice, Refusal, SystemView, candidate_lines, check_device, human_size, probe_system
from packbuilder.i18n import N_, _


@dataclass(frozen=True)
class Target:
    """Where to write: a whole block device, or a regular file (``device`` is None)."""

    path: Path
    device: BlockDevice | None = None

    @property
    def name(self) -> str:
        return str(self.path)

    def describe(self) -> str:
        if self.device is not None:
            return f"{self.device.describe()}: {self.device.partitions_text()}"
        try:
            size = human_size(self.path.stat().st_size)
            return _("{path}: regular file of {size}, replaced").format(path=self.path, size=size)
        except OSError:
            return _("{path}: new file").format(path=self.path)


def image_size(image: Path, known: int | None = None) -> int:
    """The raw image's size (``known``: from its block map), after checking the file is one."""
    st = check_image_file(image)
    if known is not None:
        return known
    return compressed.raw_size(image) if compressed.kind(image) != "raw" else st.st_size


def check_image_file(image: Path) -> os.stat_result:
    """The image's stat; a clear error if it is missing, not a regular file, or empty."""
    try:
        st = image.stat()
    except OSError as exc:
        hint = _("build one with `packbuilder build ... --format usb`")
        raise InputError(
            _("cannot read image {image}: {strerror}").format(image=image, strerror=exc.strerror), hint=hint
        ) from exc
    if not stat.S_ISREG(st.st_mode):
        raise InputError(_("{image} is not a regular file").format(image=image), hint=_("the image is a file such as asso.img"))
    if st.st_size == 0:
        raise InputError(
            _("image {image} is empty").format(image=image), hint=_("build it again with `packbuilder build ... --format usb`")
        )
    return st


NO_SUCH_DEVICE = N_("no such device")


def _file_target(arg: str, image_stat: os.stat_result) -> tuple[Target | None, str | None]:
    path = Path(arg)
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.absolute().parts[1:2] == ("dev",):  # never create a plain file in /dev (a mistyped device name)
            return None, _(NO_SUCH_DEVICE)
        if not path.absolute().parent.is_dir():
            return None, _("folder {folder} does not exist").format(folder=path.absolute().parent)
        return Target(path), None
    if not stat.S_ISREG(st.st_mode):
        return None, _("is neither a whole disk nor a regular file")
    if os.path.samestat(st, image_stat):
        return None, _("is the image itself")
    return Target(path), None


def _probe_quietly(probe: Callable[[], SystemView]) -> SystemView | None:
    """The machine's disks to list as candidates, or None where lsblk cannot tell."""
    from packbuilder.errors import PackbuilderError

    try:
        return probe()
    except PackbuilderError:
        return None


def plan_targets(
    image: Path, args: Sequence[str], size: int, probe: Callable[[], SystemView] = probe_system
) -> list[Target]:
    """Check every target before anything is written; raise one error listing every refusal."""
    image_stat = image.stat()
    refusals: list[Refusal] = []
    targets: list[Target] = []
    seen: set[str] = set()
    view: SystemView | None = None
    for arg in args:
        real = os.path.realpath(arg)
        if real in seen:
            refusals.append(Refusal(arg, [_("is given twice")], _("name each target once")))
            continue
        seen.add(real)
        if os.path.exists(arg) and stat.S_ISBLK(os.stat(arg).st_mode):
            view = view or probe()
            checked = check_device(view, real, size)
            if isinstance(checked, Refusal):
                refusals.append(checked)
            else:
                targets.append(Target(Path(real), checked))
            continue
        target, problem = _file_target(arg, image_stat)
        if problem:
            refusals.append(Refusal(arg, [problem], _("give whole USB disks (/dev/sdX) or file paths")))
            if problem == _(NO_SUCH_DEVICE) and view is None:
                view = _probe_quietly(probe)
        elif target:
            targets.append(target)
    if refusals:
        details = [f"{r.target}: {'; '.join(r.reasons)}" for r in refusals]
        details += candidate_lines(view) if view else []
        hint = "; ".join(dict.fromkeys(r.hint for r in refusals))
        raise InputError(
            _("refusing {refused} of {count} target(s); nothing was written").format(
                refused=len(refusals), count=len(args)
            ),
            hint=hint,
            details=details,
        )
    return targets
