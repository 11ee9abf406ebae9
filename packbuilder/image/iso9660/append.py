"""The appending ISO 9660 writer (``--iso-engine pycdlib``): the base, byte for byte, plus our files.

Pure Python; the engine keeps its CLI name from when it was to be built on pycdlib, which it does not use.

Approach: an *appending* writer, not a pycdlib rewrite. Rewriting the volume with pycdlib moves the
El Torito images and the ESP and rebuilds the first 32 KiB, so every boot record pointing into the
volume (isohybrid MBR code, GRUB's boot_hybrid.img, MBR/GPT/APM partitions, the EFI El Torito entry
that *is* the ESP) would have to be found and re-pointed, and stock pycdlib 1.22 loses or crashes on
several real layouts (grub-rescue-cdrom.iso, ipxe.iso, memtest86+). Here instead:

1. the base is copied unchanged, so every LBA a boot record names stays valid by construction;
2. after its end (after any appended partition too, but see partition offsets below) come new
   extents: a new copy of each directory on the path from the root to a changed one (untouched
   directories keep their old extents), new path tables, the added files' data;
3. the volume descriptors at block 16 are patched in place: root directory record, path tables,
   volume space size (the volume now spans the whole file), modification date; the boot record and
   the El Torito catalog are left alone. The Joliet tree is updated the same way, with UCS-2 names;
   Rock Ridge entries (PX, TF, NM, matching the base's PX length and modes) go on new records;
4. what depends on the image size is updated (:mod:`~packbuilder.image.iso9660.sysarea`): MBR
   partitions that reach the old volume end (isohybrid partition 1, GRUB's 0xEE or 0xCD entry) with
   their CHS ends, GPT partitions that reach it, the GPT header (last usable LBA, backup at the new
   end, CRC32 over the whole entry array), and the APM entries that reach it. A partition is never
   grown over another one (EDK2 rejects MBRs with overlapping entries): appended partitions stay
   where they are.

The base's boot structures are read once, by :func:`packbuilder.image.inspect.inspect_iso`; the
caller that already has them passes them in.

A partition offset (xorriso's ``-partition_offset 16``, live-build's default: a second superblock at
the start of partition 1, whose trees count LBAs from the partition's start) gets its inner trees
updated the same way, from the same new files; the partition holding it grows with the image, so the
volume mounted from the partition sees the files too, as xorriso keeps both when it adds a session.
Partitions appended after the inner volume (an ESP from ``-append_partition``, Ubuntu's layout) would
stop that partition from growing: the new extents start where they started, and they (with whatever
followed them) are written again after the new files, their MBR/GPT entries and the El Torito entries
booting them moved along, as xorriso writes appended partitions after a new session.

Refused, with what would work: Apple partition map entries that would have to move, UDF bridges and
ISO 9660:1999 descriptors (their trees would not show the files), other block sizes. The HFS+ hybrid
of grub-mkrescue boots as before, but Macs reading its HFS+ partition do not see the added files.
Old ``..`` records of untouched subdirectories keep pointing at the previous copy of their parent,
as on any appended session.

Dates written are ``plan.epoch``; the volume creation date is the base's; memory stays small (data is
streamed, directories along the changed paths only are held).
"""


from __future__ import annotations

import shutil
from pathlib import Path
from typing import BinaryIO

from packbuilder.errors import AssemblyError
from packbuilder.fsutil import staged_output
from packbuilder.i18n import _
from packbuilder.image import eltorito
from packbuilder.image.inspect import BootLayout, inspect_iso
from packbuilder.image.iso9660.build import HierarchyBuild
from packbuilder.image.iso9660.files import CHUNK, OverlayPlanLike, file_sources, plan_tree
from packbuilder.image.iso9660.hierarchy import Hierarchy
from packbuilder.image.iso9660.records import BLOCK, XORRISO_HINT, volume_descriptors
from packbuilder.image.iso9660.sysarea import Move, fit_system_area
from packbuilder.ui import NO_METER, Meter

TAIL_PADDING = 300 * 1024  # as xorriso's -pad: old Linux CD read-ahead fails on the volume's last blocks
ALIGN = 1 << 20  # one cylinder of 64 heads x 32 sectors, as isohybrid pads


def write_overlay_append(
    plan: OverlayPlanLike, out: Path, layout: BootLayout | None = None, meter: Meter = NO_METER
) -> None:
    """Write ``out``: the base ISO with the plan's directories and files, booting where the base booted.
    ``layout`` is the base's, as :func:`~packbuilder.image.inspect.inspect_iso` read it (read here if not given);
    ``meter`` follows the output as it grows (the base copied, then the files appended)."""
    base = Path(plan.base)
    layout = layout or inspect_iso(base)
    refuse_unsupported(layout, base)
    root = plan_tree(plan)
    # A partition offset adds the inner volume's trees, which share the files' data with the outer ones.
    origins = (0, layout.partition_offset) if layout.partition_offset else (0,)
    with base.open("rb") as src:
        builds = [HierarchyBuild(Hierarchy(src, block, vd, plan.epoch, origin), root)
                  for origin in origins for block, vd in volume_descriptors(src, base, origin)]
    # Behind a partition offset, the partition holding the inner volume has to reach the new files: the
    # appended partitions after it are written again after them, as xorriso does in a new session.
    moving = bool(layout.partition_offset and layout.appended)
    cursor = -(-(layout.data_end if moving else layout.file_size) // BLOCK)
    for build in builds:
        cursor = build.allocate_dirs(cursor)
    for build in builds:
        cursor = build.allocate_path_tables(cursor)
    for data in file_sources(root):
        data.lba = cursor
        cursor += -(-data.size // BLOCK)
    if moving:
        move = Move(at=layout.data_end, by=cursor * BLOCK - layout.data_end)
        total = -(-(layout.file_size + move.by) // BLOCK) * BLOCK
    else:
        move = None
        align = ALIGN if layout.file_size % ALIGN == 0 else BLOCK  # keep isohybrid's whole cylinders, add none
        total = -(-(cursor * BLOCK + TAIL_PADDING) // align) * align
    inner_end = cursor if moving else total // BLOCK

    with staged_output(out) as tmp, meter.growing(tmp):
        shutil.copyfile(base, tmp)
        with tmp.open("r+b") as f:
            for build in builds:
                build.write(f, inner_end if build.tree.origin else total // BLOCK)
            for data in file_sources(root):
                data.write(f)
            if move is not None:
                _move_tail(base, f, layout, move)
            f.truncate(total)
            fit_system_area(f, layout, total, move)


def _move_tail(base: Path, f: BinaryIO, layout: BootLayout, move: Move) -> None:
    """The base's bytes after its inner volume (appended partitions, padding) written ``move.by`` bytes
    further, and the El Torito images among them (an ESP that is the EFI boot image) pointed at there."""
    with base.open("rb") as src:
        src.seek(move.at)
        f.seek(move.at + move.by)
        while chunk := src.read(CHUNK):
            f.write(chunk)
    if layout.catalog_lba is not None:
        eltorito.move_images(f, layout.catalog_lba, move.at // BLOCK, move.by // BLOCK)


def refuse_unsupported(layout: BootLayout, base: Path) -> None:
    """Refuse, naming what would work, a base whose layout appending cannot keep."""

    def refuse(what: str) -> AssemblyError:
        return AssemblyError(
            _("{name}: {what}: the pycdlib engine cannot keep this layout").format(name=base.name, what=what),
            hint=_(XORRISO_HINT),
        )

    if layout.partition_offset and any(a.table == "APM" for a in layout.appended):
        raise refuse(
            _(
                "partition offset {offset} with an Apple partition map entry after the inner volume"
                " (it would have to move after the added files)"
            ).format(offset=layout.partition_offset)
        )
    if layout.logical_block != BLOCK:
        raise refuse(_("a logical block size other than 2048"))
    if layout.volume_bytes > layout.file_size:
        raise AssemblyError(
            _("{name} is truncated: its volume is larger than the file").format(name=base.name), hint=_("download the ISO again")
        )
    if layout.gpt is not None and not layout.gpt.header_crc_ok:
        raise refuse(_("a GPT whose header CRC is wrong"))
