"""The system area after an append: partitions that reached the old end of the volume follow it.

The MBR (:mod:`~packbuilder.image.mbr`), GPT (:mod:`~packbuilder.image.gpt`) and APM
(:mod:`~packbuilder.image.apm`) entries that reached the base's volume end (isohybrid partition 1,
GRUB's 0xEE or 0xCD entry, the GPT's and APM's data partitions) grow to the new end; the GPT gets its
backup header at the new end and both CRCs again. A partition is never grown over another one (EDK2
rejects MBRs with overlapping entries): appended partitions stay where they are, unless the writer
moves them after the new data (a :class:`Move`, behind a partition offset), in which case every
boundary at or after the move's start moves with them and the partition ending there grows up to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

from packbuilder.image import apm as apm_map
from packbuilder.image import gpt as gpt_table
from packbuilder.image import mbr as mbr_table
from packbuilder.image.inspect import SECTOR, BootLayout


@dataclass(frozen=True)
class Move:
    """The base's bytes from ``at`` on (its appended partitions) written ``by`` bytes further."""

    at: int = 0
    by: int = 0

    def __call__(self, pos: int, unit: int = SECTOR) -> int:
        """Where a boundary (in ``unit``-byte sectors) of the base is in the output."""
        return pos + self.by // unit if self.by and pos * unit >= self.at else pos


def grows(start: int, end: int, old_end: int, new_end: int, others: list[tuple[int, int]]) -> bool:
    """A partition reaching the old end grows to the new one, unless another partition is in the way."""
    return start < old_end <= end and not any(end <= o_start < new_end for o_start, _ in others)


def fit_system_area(f: BinaryIO, layout: BootLayout, total: int, move: Move | None = None) -> None:
    """Resize what follows the image's size in ``f`` (now ``total`` bytes), as read in ``layout``."""
    move = move or Move()
    sectors = total // SECTOR
    volume_end = move(layout.volume_bytes // SECTOR)
    _fit_mbr(f, layout, sectors, volume_end, move)
    _fit_gpt(f, layout, sectors, volume_end, move)
    _fit_apm(f, layout, total)


def _fit_mbr(f: BinaryIO, layout: BootLayout, sectors: int, volume_end: int, move: Move) -> None:
    if layout.mbr is None:
        return
    f.seek(0)
    sector0 = bytearray(f.read(SECTOR))
    spans = {p.index: (move(p.start), move(p.end)) for p in layout.mbr.partitions}
    for p in layout.mbr.partitions:
        start, end = spans[p.index]
        others = [spans[q.index] for q in layout.mbr.partitions
                  if q.index != p.index and q.type != mbr_table.TYPE_GPT_PROTECTIVE]
        if p.type == mbr_table.TYPE_GPT_PROTECTIVE or grows(start, end, volume_end, sectors, others):
            end = start + min(sectors - start, 0xFFFFFFFF)
        mbr_table.resize(sector0, p, end - start, start)
    f.seek(0)
    f.write(sector0)


def _fit_gpt(f: BinaryIO, layout: BootLayout, sectors: int, volume_end: int, move: Move) -> None:
    gpt = layout.gpt
    if gpt is None:
        return
    # Partitions end on a 2 KiB boundary, as the ISO's blocks do.
    old_reach = min(volume_end, move((gpt.last_usable_lba + 1) // 4 * 4))
    new_reach = (gpt_table.last_usable_lba(gpt, sectors) + 1) // 4 * 4
    spans = {p.index: (move(p.first_lba), move(p.last_lba + 1)) for p in gpt.partitions}
    first_lbas, last_lbas = {}, {}
    for p in gpt.partitions:
        first, end = spans[p.index]
        if first != p.first_lba:
            first_lbas[p.index] = first
        if grows(first, end, old_reach, new_reach, [s for i, s in spans.items() if i != p.index]):
            last_lbas[p.index] = new_reach - 1
        elif end != p.last_lba + 1:
            last_lbas[p.index] = end - 1
    gpt_table.rewrite(f, gpt, sectors, last_lbas, first_lbas)


def _fit_apm(f: BinaryIO, layout: BootLayout, total: int) -> None:
    apm = layout.apm
    if apm is None:
        return
    bs = apm.block_size
    old_end, new_end = layout.volume_bytes // bs, total // bs
    spans = [(p.start, p.end) for p in apm.partitions if p.type != apm_map.MAP_TYPE]
    for p in apm.partitions:
        others = [s for s in spans if s != (p.start, p.end)]
        if p.type != apm_map.MAP_TYPE and grows(p.start, p.end, old_end, new_end, others):
            apm_map.resize(f, apm, p, new_end - p.start)
