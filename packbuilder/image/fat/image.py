"""A plain key's disk image: an MBR (no boot code) and one FAT32 partition from 1 MiB to the end."""

from __future__ import annotations

import os
from pathlib import Path

from packbuilder.errors import AssemblyError, InputError
from packbuilder.fsutil import staged_file
from packbuilder.i18n import _
from packbuilder.image import mbr
from packbuilder.image.fat.geometry import PART_START, estimated_room, partition_sectors
from packbuilder.image.fat.names import LABEL_RE
from packbuilder.image.fat.tree import scan_tree, tree_error
from packbuilder.image.fat.writer import check_room, write_partition
from packbuilder.ui import NO_METER, Meter


def check_label(label: str, volume_id: int) -> None:
    """Refuse a label FAT cannot hold and a volume id that is not 32-bit."""
    if not LABEL_RE.fullmatch(label):
        raise InputError(
            _("{label!r} is not a FAT volume label").format(label=label),
            hint=_("use 1 to 11 upper-case ASCII letters, digits, '_' or '-'"),
        )
    if not 0 <= volume_id < 2**32:
        raise ValueError(f"volume id {volume_id} is not a 32-bit number")


def write_fat_image(
    tree: Path, out: Path, size_bytes: int, label: str, volume_id: int, epoch: int, meter: Meter = NO_METER
) -> None:
    """Write ``tree`` as a raw disk image of exactly ``size_bytes``: an MBR and one FAT32 partition
    from 1 MiB to the end, labelled ``label`` with volume id ``volume_id``, every timestamp at
    ``epoch`` (clamped to the FAT range, 1980-2107). Checks the tree and that it fits first; the
    image appears at ``out`` only when complete. ``meter`` is told of the files' bytes as they are copied."""
    check_label(label, volume_id)
    root, problems = scan_tree(tree)
    if problems:
        raise tree_error(tree, problems)
    part_sectors = partition_sectors(size_bytes)
    check_room(estimated_room(root, part_sectors), size_bytes)
    try:
        with staged_file(out) as (tmp, fd):
            os.ftruncate(fd, size_bytes)  # sparse: unwritten clusters stay holes
            write_partition(tmp, fd, part_sectors, root, (label, volume_id, epoch), size_bytes, meter)
            entry = mbr.entry(mbr.TYPE_FAT32_LBA, PART_START, part_sectors)
            os.pwrite(fd, mbr.sector0(b"", volume_id, [entry]), 0)
            # No fsync: the image is rebuilt from the lock if a crash loses it, and syncing a
            # multi-GB file would cost more than writing it.
    except OSError as exc:
        raise AssemblyError(
            _("cannot write {out}: {exc}").format(out=out, exc=exc), hint=_("check the free space and permissions there")
        ) from None
