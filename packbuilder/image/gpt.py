"""The GUID partition table (UEFI specification 2.x, chapter 5.3): read, checked and rewritten.

A primary header at LBA 1 (92 bytes used, CRC32 of the header with its CRC field zeroed), an entry
array (usually 128 entries of 128 bytes, its CRC32 in the header, over the *whole* array), and a
backup header in the disk's last sector with its own copy of the array just before it.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

SECTOR = 512
SIGNATURE = b"EFI PART"
ESP_GUID = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
BASIC_DATA_GUID = "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7"
HFSPLUS_GUID = "48465300-0000-11aa-aa11-00306543ecac"
TYPES = {
    "00000000-0000-0000-0000-000000000000": "unused",
    ESP_GUID: "EFI system",
    BASIC_DATA_GUID: "basic data",
    HFSPLUS_GUID: "HFS+",
    "0fc63daf-8483-4772-8e79-3d69d8477de4": "Linux filesystem",
    "21686148-6449-6e6f-744e-656564454649": "BIOS boot",
    "e3c9e316-0b5c-4db8-817d-f92df00215ae": "Microsoft reserved",
}
MAX_ENTRIES_BYTES = 1 << 20  # far above the usual 128 x 128 bytes: refuse nonsense headers


@dataclass(frozen=True)
class GptPartition:
    index: int  # 1-based position in the entry array
    type_guid: str
    guid: str
    first_lba: int
    last_lba: int
    attributes: int
    name: str

    @property
    def start(self) -> int:
        return self.first_lba

    @property
    def size(self) -> int:
        return self.last_lba - self.first_lba + 1

    @property
    def type_name(self) -> str:
        return TYPES.get(self.type_guid, self.type_guid)


@dataclass(frozen=True)
class Gpt:
    disk_guid: str
    backup_lba: int  # where the primary header says the backup header is
    first_usable_lba: int
    last_usable_lba: int
    entries_lba: int
    entry_count: int
    entry_size: int
    header_crc_ok: bool
    entries_crc_ok: bool  # CRC32 over the whole entry array, as the UEFI specification says
    entries_crc_used_only: bool  # the stored CRC covers only the used entries (a known remastering bug)
    backup_valid: bool  # backup header found at backup_lba, CRCs right, entry array equal to the primary's
    partitions: tuple[GptPartition, ...]  # used entries only
    overlaps: tuple[tuple[int, int], ...]  # pairs of partition indexes whose ranges overlap

    @property
    def valid(self) -> bool:
        return self.header_crc_ok and self.entries_crc_ok and self.backup_valid and not self.overlaps

    @property
    def array_bytes(self) -> int:
        return self.entry_count * self.entry_size

    def partition_of_type(self, type_guid: str) -> tuple[GptPartition, ...]:
        return tuple(p for p in self.partitions if p.type_guid == type_guid)


def _read(f: BinaryIO, offset: int, size: int) -> bytes:
    f.seek(offset)
    return f.read(size)


def _header(f: BinaryIO, lba: int) -> tuple[bytes, bool] | None:
    """(raw sector, header CRC right) of a header at ``lba``, None without the signature."""
    raw = _read(f, lba * SECTOR, SECTOR)
    if len(raw) < 92 or raw[:8] != SIGNATURE:
        return None
    size = struct.unpack_from("<I", raw, 12)[0]
    if not 92 <= size <= SECTOR:
        return raw, False
    stored = struct.unpack_from("<I", raw, 16)[0]
    zeroed = raw[:16] + b"\0\0\0\0" + raw[20:size]
    return raw, zlib.crc32(zeroed) == stored


def _entries(array: bytes, count: int, entry_size: int) -> tuple[list[GptPartition], int]:
    """The used entries, and the 1-based index of the last one (0 when none is used)."""
    partitions = []
    last_used = 0
    for i in range(count):
        raw = array[i * entry_size : (i + 1) * entry_size]
        if not any(raw[:16]):
            continue
        last_used = i + 1
        first, last, attributes = struct.unpack_from("<QQQ", raw, 32)
        partitions.append(
            GptPartition(
                index=i + 1,
                type_guid=str(uuid.UUID(bytes_le=raw[:16])),
                guid=str(uuid.UUID(bytes_le=raw[16:32])),
                first_lba=first,
                last_lba=last,
                attributes=attributes,
                name=raw[56:128].decode("utf-16-le", errors="replace").split("\0", 1)[0],
            )
        )
    return partitions, last_used


def _backup_valid(f: BinaryIO, backup_lba: int, file_size: int, count: int, entry_size: int, array: bytes) -> bool:
    """The backup header is where the primary says, points back at LBA 1, and holds the same array."""
    backup = _header(f, backup_lba) if backup_lba > 1 and (backup_lba + 1) * SECTOR <= file_size else None
    if backup is None or not backup[1]:
        return False
    raw = backup[0]
    my_lba, other = struct.unpack_from("<QQ", raw, 24)
    entries_lba, b_count, b_size, b_crc = struct.unpack_from("<QIII", raw, 72)
    if my_lba != backup_lba or other != 1 or (b_count, b_size) != (count, entry_size):
        return False
    b_array = _read(f, entries_lba * SECTOR, b_count * b_size)
    return b_array == array and zlib.crc32(b_array) == b_crc


def read_gpt(f: BinaryIO, file_size: int) -> Gpt | None:
    """The GPT of a disk image open for reading, None without a primary header at LBA 1."""
    found = _header(f, 1)
    if found is None:
        return None
    raw, header_crc_ok = found
    backup_lba, first_usable, last_usable = struct.unpack_from("<QQQ", raw, 32)
    entries_lba, count, entry_size, entries_crc = struct.unpack_from("<QIII", raw, 72)
    array = b""
    if 128 <= entry_size <= 4096 and count * entry_size <= MAX_ENTRIES_BYTES:
        array = _read(f, entries_lba * SECTOR, count * entry_size)
    partitions: list[GptPartition] = []
    last_used = 0
    entries_crc_ok = False
    if len(array) == count * entry_size:
        partitions, last_used = _entries(array, count, entry_size)
        entries_crc_ok = zlib.crc32(array) == entries_crc
    used_only = (
        not entries_crc_ok and bool(array) and last_used < count and zlib.crc32(array[: last_used * entry_size]) == entries_crc
    )
    overlaps = tuple(
        (a.index, b.index)
        for n, a in enumerate(partitions)
        for b in partitions[n + 1 :]
        if a.first_lba <= b.last_lba and b.first_lba <= a.last_lba
    )
    return Gpt(
        disk_guid=str(uuid.UUID(bytes_le=raw[56:72])),
        backup_lba=backup_lba,
        first_usable_lba=first_usable,
        last_usable_lba=last_usable,
        entries_lba=entries_lba,
        entry_count=count,
        entry_size=entry_size,
        header_crc_ok=header_crc_ok,
        entries_crc_ok=entries_crc_ok,
        entries_crc_used_only=used_only,
        backup_valid=_backup_valid(f, backup_lba, file_size, count, entry_size, array),
        partitions=tuple(partitions),
        overlaps=overlaps,
    )


# --- writing ------------------------------------------------------------------------------------


def with_header_crc(header: bytes | bytearray, size: int) -> bytes:
    """The header with its CRC32 (bytes 16-19) computed over its first ``size`` bytes."""
    out = bytearray(header)
    struct.pack_into("<I", out, 16, 0)
    struct.pack_into("<I", out, 16, zlib.crc32(bytes(out[:size])))
    return bytes(out)


def last_usable_lba(gpt: Gpt, disk_sectors: int) -> int:
    """The last usable sector of a disk of ``disk_sectors`` with the backup array and header at its end."""
    return disk_sectors - 1 - -(-gpt.array_bytes // SECTOR) - 1


def rewrite(f: BinaryIO, gpt: Gpt, disk_sectors: int, last_lbas: Mapping[int, int] | None = None,
            first_lbas: Mapping[int, int] | None = None) -> None:
    """Rewrite the GPT of ``f`` for a disk of ``disk_sectors``: the backup header in the last sector
    and its array before it, the last usable LBA after them, the partitions of ``last_lbas`` (index
    -> new last LBA) resized, those of ``first_lbas`` (index -> new first LBA) moved, both CRCs
    recomputed (the array's over the whole array)."""
    f.seek(SECTOR)
    header = bytearray(f.read(SECTOR))
    header_size = struct.unpack_from("<I", header, 12)[0]
    f.seek(gpt.entries_lba * SECTOR)
    array = bytearray(f.read(gpt.array_bytes))
    for index, first in (first_lbas or {}).items():
        struct.pack_into("<Q", array, (index - 1) * gpt.entry_size + 32, first)
    for index, last in (last_lbas or {}).items():
        struct.pack_into("<Q", array, (index - 1) * gpt.entry_size + 40, last)
    backup_lba = disk_sectors - 1
    last_usable = last_usable_lba(gpt, disk_sectors)
    backup_array = last_usable + 1
    struct.pack_into("<QQQ", header, 32, backup_lba, gpt.first_usable_lba, last_usable)
    struct.pack_into("<I", header, 88, zlib.crc32(array))
    primary = with_header_crc(header, header_size)
    backup = bytearray(primary)
    struct.pack_into("<QQ", backup, 24, backup_lba, 1)
    struct.pack_into("<Q", backup, 72, backup_array)
    secondary = with_header_crc(backup, header_size)
    for lba, head, entries_lba in ((1, primary, gpt.entries_lba), (backup_lba, secondary, backup_array)):
        f.seek(entries_lba * SECTOR)
        f.write(array)
        f.seek(lba * SECTOR)
        f.write(head)
