"""The DOS partition table (MBR): sector 0 of a disk, read and written.

Layout (512 bytes): 440 bytes of boot code, the 32-bit disk id, 2 reserved bytes, four 16-byte
partition entries at byte 446, the 55 AA signature. An entry is (status, CHS first, type, CHS last,
LBA start, sector count); the CHS fields only matter to old BIOSes, which read them with the
255-head, 63-sector geometry of a USB-HDD, or 64 heads and 32 sectors on isohybrid images.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

SECTOR = 512
BOOT_CODE = 440  # boot code bytes before the disk id and the partition table
TABLE = 446  # the first partition entry
ENTRY = 16
SIGNATURE = b"\x55\xaa"
ACTIVE = 0x80
HEADS, TRACK_SECTORS = 255, 63  # the usual geometry of a USB disk, in the MBR and the FAT boot sector
GEOMETRIES = ((64, 32), (255, 63))  # isohybrid's and the usual one, as found on hybrid ISOs
TYPE_FAT32_LBA = 0x0C
TYPE_LINUX = 0x83
TYPE_GPT_PROTECTIVE = 0xEE
TYPE_EFI = 0xEF
TYPES = {
    0x00: "empty",
    0x01: "FAT12",
    0x04: "FAT16",
    0x06: "FAT16",
    0x0B: "FAT32",
    TYPE_FAT32_LBA: "FAT32 (LBA)",
    0x0E: "FAT16 (LBA)",
    0x17: "hidden IFS (isohybrid)",
    TYPE_LINUX: "Linux",
    0xCD: "ISO 9660 (xorriso)",
    TYPE_GPT_PROTECTIVE: "GPT protective",
    TYPE_EFI: "EFI system",
}


@dataclass(frozen=True)
class MbrPartition:
    index: int  # 1..4
    status: int  # 0x80: marked bootable
    type: int
    start: int  # 512-byte sectors
    size: int

    @property
    def bootable(self) -> bool:
        return self.status == ACTIVE

    @property
    def type_name(self) -> str:
        return TYPES.get(self.type, f"type 0x{self.type:02x}")

    @property
    def end(self) -> int:
        """The first sector after the partition."""
        return self.start + self.size


@dataclass(frozen=True)
class Mbr:
    boot_code: bool  # the first 440 bytes are not all zero (isohybrid or GRUB hybrid MBR)
    disk_signature: int
    partitions: tuple[MbrPartition, ...]  # entries with a size only

    @property
    def protective(self) -> bool:
        """Carries a GPT protective (0xEE) entry."""
        return any(p.type == TYPE_GPT_PROTECTIVE for p in self.partitions)


def read_mbr(sector0: bytes) -> Mbr | None:
    """The table of a disk's first sector, None without the 55 AA signature."""
    if len(sector0) < SECTOR or sector0[510:512] != SIGNATURE:
        return None
    parts = []
    for i in range(4):
        status, ptype, start, size = struct.unpack_from("<B3xB3xII", sector0, TABLE + ENTRY * i)
        # Type 0 with a size is a partition too: xorriso's isohybrid MBR with -partition_offset marks the
        # one holding the inner volume that way (bootable, type 0x00, from sector 64), as Debian's live ISOs have.
        if size != 0:
            parts.append(MbrPartition(index=i + 1, status=status, type=ptype, start=start, size=size))
    return Mbr(
        boot_code=any(sector0[:BOOT_CODE]),
        disk_signature=struct.unpack_from("<I", sector0, BOOT_CODE)[0],
        partitions=tuple(parts),
    )


def chs(lba: int, heads: int = HEADS, sectors: int = TRACK_SECTORS) -> bytes:
    """CHS address of a sector; beyond cylinder 1023, the last address (1023/heads-1/sectors), which
    BIOSes read as "use the LBA fields"."""
    cylinder, rest = divmod(lba, heads * sectors)
    if cylinder > 1023:
        return bytes((heads - 1, sectors | 0xC0, 0xFF))
    head, sector = divmod(rest, sectors)
    return bytes((head, (sector + 1) | ((cylinder >> 2) & 0xC0), cylinder & 0xFF))


def entry(part_type: int, start: int, sectors: int, active: bool = False) -> bytes:
    """One 16-byte partition entry, CHS in the usual 255/63 geometry."""
    return struct.pack(
        "<B3sB3sII", ACTIVE if active else 0, chs(start), part_type, chs(start + sectors - 1), start, sectors
    )


def sector0(boot_code: bytes, disk_id: int, entries: list[bytes]) -> bytes:
    """A whole first sector: boot code (cut or padded to 440 bytes), disk id, up to four entries."""
    if len(entries) > 4:
        raise ValueError("an MBR holds four partition entries")
    code = boot_code[:BOOT_CODE].ljust(BOOT_CODE, b"\0")
    return code + struct.pack("<IH", disk_id, 0) + b"".join(entries).ljust(4 * ENTRY, b"\0") + SIGNATURE


def resize(sector: bytearray, part: MbrPartition, new_size: int, new_start: int | None = None) -> None:
    """Set a partition's sector count (and with ``new_start`` its first sector) in ``sector`` (sector 0,
    edited in place). The CHS addresses move too when they were written in one of the usual geometries;
    other CHS values are left as they are."""
    off = TABLE + ENTRY * (part.index - 1)
    start = part.start if new_start is None else new_start
    for field, old_lba, new_lba in ((off + 1, part.start, start), (off + 5, part.end - 1, start + new_size - 1)):
        old_chs = bytes(sector[field : field + 3])
        for heads, per_track in GEOMETRIES:
            if old_chs == chs(old_lba, heads, per_track):
                sector[field : field + 3] = chs(new_lba, heads, per_track)
                break
    struct.pack_into("<II", sector, off + 8, start, new_size)
