"""The system area after an append: partitions that reached the old end of the volume follow it.

The MBR (:mod:`~packbuilder.image.mbr`), GPT (:mod:`~packbuilder.image.gpt`) and APM
(:mod:`~packbuilder.image.apm`) entries that reached the base's volume end (isohybrid partition 1,
GRUB's 0xEE or 0xCD entry, the GPT's and APM's data partitions) grow to the new end; the GPT gets its
backup header at the new end and both CRCs again. A partition is never grown over another one (EDK2
rejects MBRs with overlapping entries): appended partitions stay where they are.
"""

from __future__ import annotations

from typing import BinaryIO

from packbuilder.image import apm as apm_map
from packbuilder.image import gpt as gpt_table
from packbuilder.image import mbr as mbr_table
from packbuilder.image.inspect import SECTOR, BootLayout


def grows(start: int, end: int, old_end: int, new_end: int, others: list[tuple[int, int]]) -> bool:
    """A partition reaching the old end grows to the new one, unless another partition is in the way."""
    return start < old_end <= end and not any(end <= o_start < new_end for o_start, _ in others)


def fit_system_area(f: BinaryIO, layout: BootLayout, total: int) -> None:
    """Resize what follows the image's size in ``f`` (now ``total`` bytes), as read in ``layout``."""
    sectors = total // SECTOR
    volume_end = layout.volume_bytes // SECTOR
    _fit_mbr(f, layout, sectors, volume_end)
    _fit_gpt(f, layout, sectors, volume_end)
    _fit_apm(f, layout, total)


def _fit_mbr(f: BinaryIO, layout: BootLayout, sectors: int, volume_end: int) -> None:
    if layout.mbr is None:
        return
    f.seek(0)
    sector0 = bytearray(f.read(SECTOR))
    spans = [(p.start, p.end) for p in layout.mbr.partitions if p.type != mbr_table.TYPE_GPT_PROTECTIVE]
    for p in layout.mbr.partitions:
        others = [s for s in spans if s != (p.start, p.end)]
        if p.type == mbr_table.TYPE_GPT_PROTECTIVE or grows(p.start, p.end, volume_end, sectors, others):
            mbr_table.resize(sector0, p, min(sectors - p.start, 0xFFFFFFFF))
    f.seek(0)
    f.write(sector0)


def _fit_gpt(f: BinaryIO, layout: BootLayout, sectors: int, volume_end: int) -> None:
    gpt = layout.gpt
    if gpt is None:
        return
    # Partitions end on a 2 KiB boundary, as the ISO's blocks do.
    old_reach = min(volume_end, (gpt.last_usable_lba + 1) // 4 * 4)
    new_reach = (gpt_table.last_usable_lba(gpt, sectors) + 1) // 4 * 4
    spans = [(p.first_lba, p.last_lba + 1) for p in gpt.partitions]
    last_lbas = {}
    for p in gpt.partitions:
        end = p.last_lba + 1
        if grows(p.first_lba, end, old_reach, new_reach, [s for s in spans if s != (p.first_lba, end)]):
            last_lbas[p.index] = new_reach - 1
    gpt_table.rewrite(f, gpt, sectors, last_lbas)


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
