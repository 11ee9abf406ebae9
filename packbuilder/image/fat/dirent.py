"""FAT directory entries: the 32-byte 8.3 entry, the long-name entries before it, whole folders.

Every timestamp is one instant (the build's epoch, clamped to the FAT range 1980-2107); FAT stores
local time, and the image's local time is UTC.
"""

from __future__ import annotations

import struct
import time

from packbuilder.image.fat.names import LFN_UNITS_BYTES, short_names
from packbuilder.image.fat.tree import Node

FAT_TIME_MIN = 315532800  # 1980-01-01 00:00:00 UTC, the FAT epoch
FAT_TIME_MAX = 4354819198  # 2107-12-31 23:59:58 UTC, the last FAT timestamp
ATTR_DIR, ATTR_ARCHIVE, ATTR_LABEL, ATTR_LFN = 0x10, 0x20, 0x08, 0x0F
ENTRY = 32

Stamp = tuple[int, int, int]  # (hundredths, time, date)


def clamp_epoch(epoch: int) -> int:
    """The nearest instant a FAT timestamp can hold."""
    return min(max(epoch, FAT_TIME_MIN), FAT_TIME_MAX)


def dos_stamp(epoch: int) -> Stamp:
    """(hundredths, time, date) of a FAT timestamp at ``epoch`` (clamped to the FAT range)."""
    t = time.gmtime(clamp_epoch(epoch))
    fat_date = ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    fat_time = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    return (t.tm_sec % 2) * 100, fat_time, fat_date


def lfn_checksum(short: bytes) -> int:
    total = 0
    for byte in short:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


def short_entry(short: bytes, attr: int, cluster: int, size: int, stamp: Stamp) -> bytes:
    tenths, fat_time, fat_date = stamp
    return struct.pack(
        "<11sBBBHHHHHHHI", short, attr, 0, tenths, fat_time, fat_date, fat_date, cluster >> 16, fat_time, fat_date,
        cluster & 0xFFFF, size,
    )  # fmt: skip


def long_entries(name: str, short: bytes) -> bytes:
    """The long-name entries of ``name``, stored last part first, each with the short name's checksum."""
    units = name.encode("utf-16-le")
    count = -(-len(units) // LFN_UNITS_BYTES)
    padded = units + (b"\0\0" + b"\xff" * LFN_UNITS_BYTES if len(units) % LFN_UNITS_BYTES else b"")
    checksum = lfn_checksum(short)
    out = []
    for seq in range(count, 0, -1):
        part = padded[(seq - 1) * LFN_UNITS_BYTES : seq * LFN_UNITS_BYTES]
        order = seq | (0x40 if seq == count else 0)
        out.append(struct.pack("<B10sBBB12sH4s", order, part[:10], ATTR_LFN, 0, checksum, part[10:22], 0, part[22:26]))
    return b"".join(out)


def folder_bytes(folder: Node, parent_cluster: int, label: str | None, stamp: Stamp) -> bytes:
    """A folder's entries: the volume label (root, ``label`` given) or '.' and '..', then each child's
    long name and 8.3 entry. Gives the children their short names."""
    assert folder.children is not None
    out = []
    if label is not None:
        out.append(short_entry(label.ljust(11).encode("ascii"), ATTR_LABEL, 0, 0, stamp))
    else:
        out.append(short_entry(b".".ljust(11), ATTR_DIR, folder.first_cluster, 0, stamp))
        out.append(short_entry(b"..".ljust(11), ATTR_DIR, parent_cluster, 0, stamp))
    for child, (short, long) in zip(folder.children, short_names([c.name for c in folder.children]), strict=True):
        if long:
            out.append(long_entries(child.name, short))
        attr = ATTR_DIR if child.children is not None else ATTR_ARCHIVE
        out.append(short_entry(short, attr, child.first_cluster, child.size, stamp))
    return b"".join(out)
