"""The Apple partition map (Inside Macintosh: Devices, "Partition Map"): read and resized.

Block 0 is the driver descriptor ("ER", big-endian, its block size at byte 2); each following block
is one map entry ("PM"): number of map entries, start and size of the partition in blocks, name,
type (``Apple_HFS``, ``Apple_partition_map``...), start and size of its data area. Hybrid ISOs
(xorriso, live-build, grub-mkrescue) write 2048-byte blocks, some tools 512.
"""

from __future__ import annotations

import dataclasses
import struct
from dataclasses import dataclass
from typing import BinaryIO

ENTRY = 128  # bytes of a map entry that carry fields
MAX_ENTRIES = 64
BLOCK_SIZES = (512, 1024, 2048, 4096)
MAP_TYPE = "Apple_partition_map"  # the map's own entry


@dataclass(frozen=True)
class ApmPartition:
    index: int  # 1-based entry of the map
    name: str
    type: str
    start: int  # in the map's block size
    size: int
    hfs_volume: bool = False  # an HFS+ volume header really is there (not just an entry typed Apple_HFS)

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True)
class Apm:
    block_size: int
    partitions: tuple[ApmPartition, ...]


def _c_string(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1")


def _entries(system_area: bytes, block_size: int) -> tuple[ApmPartition, ...]:
    map_entries = struct.unpack_from(">I", system_area, block_size + 4)[0]
    parts = []
    for i in range(1, min(map_entries, MAX_ENTRIES) + 1):
        off = i * block_size
        if off + ENTRY > len(system_area) or system_area[off : off + 2] != b"PM":
            break
        start, count = struct.unpack_from(">II", system_area, off + 8)
        parts.append(
            ApmPartition(
                index=i,
                name=_c_string(system_area[off + 16 : off + 48]),
                type=_c_string(system_area[off + 48 : off + 80]),
                start=start,
                size=count,
            )
        )
    return tuple(parts)


def read_apm(system_area: bytes) -> Apm | None:
    """The map at the start of a disk (its first 32 KiB are enough for 2048-byte blocks), None without
    one. The declared block size is tried first, then 2048 and 512 (some writers declare another)."""
    if system_area[:2] != b"ER":
        return None
    declared = struct.unpack_from(">H", system_area, 2)[0]
    for block_size in dict.fromkeys((declared, 2048, 512)):
        if block_size in BLOCK_SIZES and system_area[block_size : block_size + 2] == b"PM":
            return Apm(block_size=block_size, partitions=_entries(system_area, block_size))
    return None


def with_hfs_volumes(f: BinaryIO, apm: Apm | None) -> Apm | None:
    """Mark the Apple_HFS entries that hold an HFS+ (or HFSX) volume header, 1024 bytes in."""
    if apm is None:
        return None
    parts = []
    for part in apm.partitions:
        if part.type == "Apple_HFS":
            f.seek(part.start * apm.block_size + 1024)
            part = dataclasses.replace(part, hfs_volume=f.read(2) in (b"H+", b"HX"))
        parts.append(part)
    return dataclasses.replace(apm, partitions=tuple(parts))


def resize(f: BinaryIO, apm: Apm, part: ApmPartition, new_size: int) -> None:
    """Set a partition's size (in map blocks) in ``f``, and its data area's when it spanned the partition."""
    off = part.index * apm.block_size
    f.seek(off)
    entry = bytearray(f.read(ENTRY))
    struct.pack_into(">I", entry, 12, new_size)
    if struct.unpack_from(">I", entry, 84)[0] == part.size:
        struct.pack_into(">I", entry, 84, new_size)
    f.seek(off)
    f.write(entry)
