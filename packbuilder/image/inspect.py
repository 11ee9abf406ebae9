"""Classify a live ISO's boot layout from its bytes: what a remaster has to carry over.

Pure Python, no external tool. Reads:

- the primary volume descriptor (block 16): the volume's size, hence whatever lies after the volume;
- the El Torito boot record and catalog: each boot entry's platform (BIOS, EFI), emulation, load
  block and size;
- the system area: the MBR (boot code, partition table), the GPT (primary header at LBA 1 with the
  CRC32 of the header and of the whole entry array, and the backup header), the Apple partition map;
- xorriso's partition offset (a second superblock at the start of the first partition, as
  ``-partition_offset 16`` writes it) and appended partitions (those starting at or after the
  volume's end, such as ``-append_partition``'s EFI images).

Sizes of El Torito entries and partitions are in 512-byte sectors, load addresses of El Torito entries
in 2048-byte blocks, APM positions in the map's own block size: the units of the structures themselves
and of ``xorriso -report_system_area``.
"""

from __future__ import annotations

import dataclasses
import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from packbuilder.errors import InputError

BLOCK = 2048  # ISO 9660 logical block
SECTOR = 512  # MBR / GPT sector of a hybrid ISO
SYSTEM_AREA = 16 * BLOCK

PLATFORMS = {0x00: "BIOS", 0x01: "PowerPC", 0x02: "Mac", 0xEF: "EFI"}
EMULATIONS = {0: "no emulation", 1: "1.2M floppy", 2: "1.44M floppy", 3: "2.88M floppy", 4: "hard disk"}
MBR_TYPES = {
    0x00: "empty",
    0x01: "FAT12",
    0x04: "FAT16",
    0x06: "FAT16",
    0x0B: "FAT32",
    0x0C: "FAT32 (LBA)",
    0x0E: "FAT16 (LBA)",
    0x17: "hidden IFS (isohybrid)",
    0x83: "Linux",
    0xCD: "ISO 9660 (xorriso)",
    0xEE: "GPT protective",
    0xEF: "EFI system",
}
ESP_GUID = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
BASIC_DATA_GUID = "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7"
HFSPLUS_GUID = "48465300-0000-11aa-aa11-00306543ecac"
GPT_TYPES = {
    "00000000-0000-0000-0000-000000000000": "unused",
    ESP_GUID: "EFI system",
    BASIC_DATA_GUID: "basic data",
    HFSPLUS_GUID: "HFS+",
    "0fc63daf-8483-4772-8e79-3d69d8477de4": "Linux filesystem",
    "21686148-6449-6e6f-744e-656564454649": "BIOS boot",
    "e3c9e316-0b5c-4db8-817d-f92df00215ae": "Microsoft reserved",
}
MAX_GPT_ENTRIES_BYTES = 1 << 20  # far above the usual 128 x 128 bytes: refuse nonsense headers
MAX_APM_ENTRIES = 64


@dataclass(frozen=True)
class ElToritoEntry:
    """One boot image of the El Torito catalog."""

    platform: int  # 0x00 BIOS, 0xEF EFI
    bootable: bool
    emulation: int  # 0: no emulation
    load_segment: int
    system_type: int
    sector_count: int  # virtual 512-byte sectors loaded (for EFI: the image's size; 0 or 1 often means "all")
    load_rba: int  # 2048-byte block of the image

    @property
    def platform_name(self) -> str:
        return PLATFORMS.get(self.platform, f"platform 0x{self.platform:02x}")

    @property
    def emulation_name(self) -> str:
        return EMULATIONS.get(self.emulation, f"emulation {self.emulation}")


@dataclass(frozen=True)
class MbrPartition:
    index: int  # 1..4
    status: int  # 0x80: marked bootable
    type: int
    start: int  # 512-byte sectors
    size: int

    @property
    def bootable(self) -> bool:
        return self.status == 0x80

    @property
    def type_name(self) -> str:
        return MBR_TYPES.get(self.type, f"type 0x{self.type:02x}")


@dataclass(frozen=True)
class Mbr:
    boot_code: bool  # the first 440 bytes are not all zero (isohybrid or GRUB hybrid MBR)
    disk_signature: int
    partitions: tuple[MbrPartition, ...]  # non-empty entries only

    @property
    def protective(self) -> bool:
        """Carries a GPT protective (0xEE) entry."""
        return any(p.type == 0xEE for p in self.partitions)


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
        return GPT_TYPES.get(self.type_guid, self.type_guid)


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

    def partition_of_type(self, type_guid: str) -> tuple[GptPartition, ...]:
        return tuple(p for p in self.partitions if p.type_guid == type_guid)


@dataclass(frozen=True)
class ApmPartition:
    index: int  # 1-based entry of the map
    name: str
    type: str
    start: int  # in the map's block size
    size: int
    hfs_volume: bool = False  # an HFS+ volume header really is there (not just an entry typed Apple_HFS)


@dataclass(frozen=True)
class Apm:
    block_size: int
    partitions: tuple[ApmPartition, ...]


@dataclass(frozen=True)
class AppendedPartition:
    """A partition that starts at or after the end of the ISO volume (bytes from the image start)."""

    table: str  # "MBR", "GPT" or "APM"
    index: int
    offset: int
    size: int
    kind: str


@dataclass(frozen=True)
class BootLayout:
    """What an ISO's boot needs, as read from its bytes."""

    file_size: int
    volume_id: str
    volume_blocks: int  # volume space size of the primary volume descriptor, in 2048-byte blocks
    catalog_lba: int | None  # El Torito boot catalog, None without a boot record
    catalog_valid: bool  # validation entry checksum and 55 AA key
    el_torito: tuple[ElToritoEntry, ...]
    mbr: Mbr | None
    gpt: Gpt | None
    apm: Apm | None
    partition_offset: int  # in 2048-byte blocks, as xorriso's -partition_offset; 0 when none
    data_end: int  # byte where the ISO 9660 data ends (with a partition offset: the inner volume's end)
    appended: tuple[AppendedPartition, ...]
    notes: tuple[str, ...]  # anomalies and facts a remaster must know about

    @property
    def volume_bytes(self) -> int:
        return self.volume_blocks * BLOCK

    @property
    def tail_bytes(self) -> int:
        """Bytes of the file after the ISO volume (padding, backup GPT, appended partitions)."""
        return max(0, self.file_size - self.volume_bytes)

    @property
    def bios_entries(self) -> tuple[ElToritoEntry, ...]:
        return tuple(e for e in self.el_torito if e.platform == 0x00)

    @property
    def efi_entries(self) -> tuple[ElToritoEntry, ...]:
        return tuple(e for e in self.el_torito if e.platform == 0xEF)

    @property
    def isohybrid(self) -> bool:
        """Bootable as a disk by a BIOS: an MBR with boot code and a partition table."""
        return self.mbr is not None and self.mbr.boot_code and bool(self.mbr.partitions)

    @property
    def esp(self) -> tuple[int, int] | None:
        """(offset, size) in bytes of an EFI system partition a UEFI firmware finds on the disk."""
        if self.gpt is not None and self.gpt.header_crc_ok:
            for part in self.gpt.partition_of_type(ESP_GUID):
                return part.start * SECTOR, part.size * SECTOR
        if self.mbr is not None and not self.mbr.protective:
            for mpart in self.mbr.partitions:
                if mpart.type == 0xEF:
                    return mpart.start * SECTOR, mpart.size * SECTOR
        return None

    @property
    def hfsplus(self) -> bool:
        """Carries an HFS+ hybrid (grub-mkrescue's default for Intel Macs)."""
        gpt_hfs = self.gpt is not None and bool(self.gpt.partition_of_type(HFSPLUS_GUID))
        # live-build writes an Apple_HFS entry named "EFI" over the FAT ESP, with no HFS+ in it: that
        # is not a hybrid xorriso refuses to replay, so the volume header decides.
        apm_hfs = self.apm is not None and any(p.type == "Apple_HFS" and p.hfs_volume for p in self.apm.partitions)
        return gpt_hfs or apm_hfs

    def boot_modes(self) -> tuple[str, ...]:
        """The (firmware, medium) pairs the structures support: bios-cd, bios-disk, uefi-cd, uefi-disk.

        Structural only: "uefi-disk" needs an EFI system partition in the GPT or MBR (some firmware,
        such as OVMF, also boots a disk's El Torito catalog, which real PCs mostly do not).
        """
        modes = []
        if any(e.bootable for e in self.bios_entries):
            modes.append("bios-cd")
        if self.isohybrid:
            modes.append("bios-disk")
        if self.efi_entries:
            modes.append("uefi-cd")
        if self.esp is not None:
            modes.append("uefi-disk")
        return tuple(modes)

    def efi_entry_partition(self, entry: ElToritoEntry) -> str | None:
        """The partition that is the same bytes as an El Torito EFI image, e.g. ``GPT 2``."""
        offset = entry.load_rba * BLOCK
        if self.gpt is not None:
            for part in self.gpt.partitions:
                if part.start * SECTOR == offset:
                    return f"GPT {part.index}"
        if self.mbr is not None:
            for mpart in self.mbr.partitions:
                if mpart.start * SECTOR == offset:
                    return f"MBR {mpart.index}"
        return None

    def summary_lines(self) -> list[str]:
        lines = [
            f"ISO 9660 volume {self.volume_id!r}: {self.volume_blocks} blocks ({_size(self.volume_bytes)}); "
            f"file {_size(self.file_size)}, {self.tail_bytes} bytes after the volume"
        ]
        if self.catalog_lba is None:
            lines.append("El Torito: none (not bootable as a CD)")
        else:
            lines.append(f"El Torito catalog at block {self.catalog_lba}" + ("" if self.catalog_valid else " (INVALID)"))
            for i, e in enumerate(self.el_torito, 1):
                where = self.efi_entry_partition(e) if e.platform == 0xEF else None
                lines.append(
                    f"  {i}: {e.platform_name}, {e.emulation_name}, block {e.load_rba}, {e.sector_count} sectors"
                    + ("" if e.bootable else ", not bootable")
                    + (f" (= {where})" if where else "")
                )
        if self.mbr is None:
            lines.append("MBR: none")
        else:
            code = "boot code" if self.mbr.boot_code else "no boot code"
            lines.append(f"MBR: {code}, {len(self.mbr.partitions)} partitions")
            for mp in self.mbr.partitions:
                flag = ", bootable" if mp.bootable else ""
                lines.append(f"  {mp.index}: 0x{mp.type:02x} {mp.type_name}, sector {mp.start}, {mp.size} sectors{flag}")
        if self.gpt is None:
            lines.append("GPT: none")
        else:
            g = self.gpt
            checks = ", ".join(
                [
                    "header CRC " + ("ok" if g.header_crc_ok else "WRONG"),
                    "entry array CRC "
                    + ("ok" if g.entries_crc_ok else "over used entries only" if g.entries_crc_used_only else "WRONG"),
                    "backup " + (f"ok at {g.backup_lba}" if g.backup_valid else f"MISSING or invalid at {g.backup_lba}"),
                ]
            )
            lines.append(f"GPT: {checks}; {g.entry_count} entries at LBA {g.entries_lba}")
            for p in g.partitions:
                lines.append(f"  {p.index}: {p.type_name} {p.name!r}, LBA {p.first_lba}..{p.last_lba} ({p.size} sectors)")
        if self.apm is None:
            lines.append("APM: none")
        else:
            lines.append(f"APM: block size {self.apm.block_size}")
            for ap in self.apm.partitions:
                lines.append(f"  {ap.index}: {ap.type} {ap.name!r}, block {ap.start}, {ap.size} blocks")
        if self.partition_offset:
            lines.append(f"partition offset: {self.partition_offset} (ISO data ends at byte {self.data_end})")
        else:
            lines.append("partition offset: none")
        if self.appended:
            for a in self.appended:
                lines.append(f"appended partition: {a.table} {a.index} ({a.kind}), byte {a.offset}, {_size(a.size)}")
        else:
            lines.append("appended partitions: none")
        lines.append("boots as: " + (", ".join(self.boot_modes()) or "nothing"))
        lines.extend(f"note: {n}" for n in self.notes)
        return lines


def inspect_iso(source: Path | BinaryIO) -> BootLayout:
    """Read the boot layout of an ISO file (a path or a binary file open for reading)."""
    if isinstance(source, Path):
        try:
            with source.open("rb") as f:
                return _inspect(f, str(source))
        except OSError as exc:
            raise InputError(f"cannot read {source}: {exc.strerror or exc}", hint="check the path of the ISO") from exc
    return _inspect(source, getattr(source, "name", "ISO"))


def _inspect(f: BinaryIO, name: str) -> BootLayout:
    f.seek(0, 2)
    file_size = f.tell()
    pvd = _read(f, 16 * BLOCK, BLOCK)
    if len(pvd) < BLOCK or pvd[0] != 1 or pvd[1:6] != b"CD001":
        raise InputError(f"{name} is not an ISO 9660 image (no primary volume descriptor at block 16)",
                         hint="give the live ISO file itself")
    volume_id = pvd[40:72].decode("ascii", errors="replace").rstrip(" \x00")
    volume_blocks = struct.unpack_from("<I", pvd, 80)[0]
    logical_block = struct.unpack_from("<H", pvd, 128)[0]
    notes: list[str] = []
    if logical_block != BLOCK:
        notes.append(f"logical block size {logical_block}, not 2048")

    catalog_lba, catalog_valid, entries = _el_torito(f)
    if catalog_lba is not None and not catalog_valid:
        notes.append("El Torito validation entry is invalid (checksum or 55 AA key)")
    system_area = _read(f, 0, SYSTEM_AREA)
    mbr = _mbr(system_area)
    gpt = _gpt(f, file_size)
    apm = _with_hfs_volumes(f, _apm(system_area))

    if gpt is not None:
        if not gpt.header_crc_ok:
            notes.append("GPT header CRC is wrong")
        if gpt.entries_crc_used_only:
            notes.append("GPT entry array CRC covers only the used entries, not the whole array")
        elif not gpt.entries_crc_ok:
            notes.append("GPT entry array CRC is wrong")
        if not gpt.backup_valid:
            notes.append(f"backup GPT missing or invalid at LBA {gpt.backup_lba}")
        if gpt.backup_lba * SECTOR + SECTOR > file_size:
            notes.append(f"the GPT's backup LBA {gpt.backup_lba} is beyond the end of the file")
        notes.extend(f"GPT partitions {a} and {b} overlap" for a, b in gpt.overlaps)
    if mbr is not None and gpt is not None and not mbr.protective:
        notes.append("GPT without a protective 0xEE MBR entry (hybrid MBR)")
    if mbr is None and gpt is not None:
        notes.append("GPT without a valid MBR")

    partition_offset, inner_blocks = _partition_offset(f, mbr, gpt)
    volume_end = volume_blocks * BLOCK
    # The outer volume of a partition-offset image may span the appended partitions; the inner one does not.
    data_end = (partition_offset + inner_blocks) * BLOCK if partition_offset else volume_end
    appended = tuple(_appended(mbr, gpt, apm, data_end))
    for part_table, index, offset, size in _all_partitions(mbr, gpt, apm):
        if offset + size > file_size:
            notes.append(f"{part_table} partition {index} extends past the end of the file")
    layout = BootLayout(
        file_size=file_size,
        volume_id=volume_id,
        volume_blocks=volume_blocks,
        catalog_lba=catalog_lba,
        catalog_valid=catalog_valid,
        el_torito=entries,
        mbr=mbr,
        gpt=gpt,
        apm=apm,
        partition_offset=partition_offset,
        data_end=data_end,
        appended=appended,
        notes=(),
    )
    if layout.hfsplus:
        notes.append("HFS+ hybrid for Intel Macs: xorriso 1.5.4's -boot_image any replay refuses to rewrite it "
                     "(it reports overlapping GPT partitions)")
    if volume_end > file_size:
        notes.append(f"the volume ({volume_end} bytes) is larger than the file: truncated image")
    return replace(layout, notes=tuple(notes))


# --- readers -------------------------------------------------------------------------------------


def _read(f: BinaryIO, offset: int, size: int) -> bytes:
    """Up to ``size`` bytes at ``offset`` (fewer at the end of the file)."""
    f.seek(offset)
    return f.read(size)


def _el_torito(f: BinaryIO) -> tuple[int | None, bool, tuple[ElToritoEntry, ...]]:
    catalog_lba = None
    for block in range(16, 16 + 64):
        vd = _read(f, block * BLOCK, BLOCK)
        if len(vd) < BLOCK or vd[1:6] != b"CD001":
            break
        if vd[0] == 0 and vd[7:30] == b"EL TORITO SPECIFICATION":
            catalog_lba = struct.unpack_from("<I", vd, 71)[0]
            break
        if vd[0] == 255:
            break
    if catalog_lba is None:
        return None, False, ()
    catalog = _read(f, catalog_lba * BLOCK, 4 * BLOCK)
    if len(catalog) < 64:
        return catalog_lba, False, ()
    validation = catalog[:32]
    checksum_ok = sum(struct.unpack("<16H", validation)) & 0xFFFF == 0
    valid = validation[0] == 0x01 and validation[30:32] == b"\x55\xaa" and checksum_ok
    entries = [_boot_entry(validation[1], catalog[32:64])]
    pos = 64
    while pos + 32 <= len(catalog):
        header = catalog[pos : pos + 32]
        if header[0] not in (0x90, 0x91):
            break
        platform, count = header[1], struct.unpack_from("<H", header, 2)[0]
        pos += 32
        for _ in range(count):
            if pos + 32 > len(catalog):
                break
            entries.append(_boot_entry(platform, catalog[pos : pos + 32]))
            pos += 32
            while pos + 32 <= len(catalog) and catalog[pos] == 0x44:  # selection criteria extensions
                pos += 32
        if header[0] == 0x91:
            break
    return catalog_lba, valid, tuple(entries)


def _boot_entry(platform: int, raw: bytes) -> ElToritoEntry:
    indicator, media, segment, system_type, _unused, count, rba = struct.unpack_from("<BBHBBHI", raw)
    return ElToritoEntry(
        platform=platform,
        bootable=indicator == 0x88,
        emulation=media & 0x0F,
        load_segment=segment,
        system_type=system_type,
        sector_count=count,
        load_rba=rba,
    )


def _mbr(system_area: bytes) -> Mbr | None:
    if len(system_area) < SECTOR or system_area[510:512] != b"\x55\xaa":
        return None
    parts = []
    for i in range(4):
        status, ptype, start, size = struct.unpack_from("<B3xB3xII", system_area, 446 + 16 * i)
        if ptype != 0 and size != 0:
            parts.append(MbrPartition(index=i + 1, status=status, type=ptype, start=start, size=size))
    return Mbr(
        boot_code=any(system_area[:440]),
        disk_signature=struct.unpack_from("<I", system_area, 440)[0],
        partitions=tuple(parts),
    )


def _gpt_header(f: BinaryIO, lba: int) -> tuple[bytes, bool] | None:
    raw = _read(f, lba * SECTOR, SECTOR)
    if len(raw) < 92 or raw[:8] != b"EFI PART":
        return None
    size = struct.unpack_from("<I", raw, 12)[0]
    if not 92 <= size <= SECTOR:
        return raw, False
    stored = struct.unpack_from("<I", raw, 16)[0]
    zeroed = raw[:16] + b"\0\0\0\0" + raw[20:size]
    return raw, zlib.crc32(zeroed) == stored


def _gpt(f: BinaryIO, file_size: int) -> Gpt | None:
    found = _gpt_header(f, 1)
    if found is None:
        return None
    raw, header_crc_ok = found
    backup_lba, first_usable, last_usable = struct.unpack_from("<QQQ", raw, 32)
    disk_guid = str(uuid.UUID(bytes_le=raw[56:72]))
    entries_lba, count, entry_size, entries_crc = struct.unpack_from("<QIII", raw, 72)
    array = b""
    if 128 <= entry_size <= 4096 and count * entry_size <= MAX_GPT_ENTRIES_BYTES:
        array = _read(f, entries_lba * SECTOR, count * entry_size)
    partitions = []
    last_used = 0
    if len(array) == count * entry_size:
        for i in range(count):
            raw_entry = array[i * entry_size : (i + 1) * entry_size]
            if not any(raw_entry[:16]):
                continue
            last_used = i + 1
            first, last, attributes = struct.unpack_from("<QQQ", raw_entry, 32)
            partitions.append(
                GptPartition(
                    index=i + 1,
                    type_guid=str(uuid.UUID(bytes_le=raw_entry[:16])),
                    guid=str(uuid.UUID(bytes_le=raw_entry[16:32])),
                    first_lba=first,
                    last_lba=last,
                    attributes=attributes,
                    name=raw_entry[56:128].decode("utf-16-le", errors="replace").split("\0", 1)[0],
                )
            )
        entries_crc_ok = zlib.crc32(array) == entries_crc
    else:
        entries_crc_ok = False
    used_only = (
        not entries_crc_ok and bool(array) and last_used < count and zlib.crc32(array[: last_used * entry_size]) == entries_crc
    )
    backup_valid = False
    backup = _gpt_header(f, backup_lba) if backup_lba > 1 and (backup_lba + 1) * SECTOR <= file_size else None
    if backup is not None and backup[1]:
        b_raw = backup[0]
        b_my_lba, b_other = struct.unpack_from("<QQ", b_raw, 24)
        b_entries_lba, b_count, b_size, b_crc = struct.unpack_from("<QIII", b_raw, 72)
        if b_my_lba == backup_lba and b_other == 1 and (b_count, b_size) == (count, entry_size):
            b_array = _read(f, b_entries_lba * SECTOR, b_count * b_size)
            backup_valid = b_array == array and zlib.crc32(b_array) == b_crc
    overlaps = tuple(
        (a.index, b.index)
        for n, a in enumerate(partitions)
        for b in partitions[n + 1 :]
        if a.first_lba <= b.last_lba and b.first_lba <= a.last_lba
    )
    return Gpt(
        disk_guid=disk_guid,
        backup_lba=backup_lba,
        first_usable_lba=first_usable,
        last_usable_lba=last_usable,
        entries_lba=entries_lba,
        entry_count=count,
        entry_size=entry_size,
        header_crc_ok=header_crc_ok,
        entries_crc_ok=entries_crc_ok,
        entries_crc_used_only=used_only,
        backup_valid=backup_valid,
        partitions=tuple(partitions),
        overlaps=overlaps,
    )


def _with_hfs_volumes(f: BinaryIO, apm: Apm | None) -> Apm | None:
    """Mark the Apple_HFS entries that hold an HFS+ (or HFSX) volume header, 1024 bytes in."""
    if apm is None:
        return None
    parts = []
    for part in apm.partitions:
        if part.type == "Apple_HFS":
            signature = _read(f, part.start * apm.block_size + 1024, 2)
            part = dataclasses.replace(part, hfs_volume=signature in (b"H+", b"HX"))
        parts.append(part)
    return dataclasses.replace(apm, partitions=tuple(parts))


def _apm(system_area: bytes) -> Apm | None:
    if system_area[:2] != b"ER":
        return None
    declared = struct.unpack_from(">H", system_area, 2)[0]
    for block_size in dict.fromkeys((declared, 2048, 512)):
        if block_size not in (512, 1024, 2048, 4096) or system_area[block_size : block_size + 2] != b"PM":
            continue
        map_entries = struct.unpack_from(">I", system_area, block_size + 4)[0]
        parts = []
        for i in range(1, min(map_entries, MAX_APM_ENTRIES) + 1):
            off = i * block_size
            if off + 128 > len(system_area) or system_area[off : off + 2] != b"PM":
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
        return Apm(block_size=block_size, partitions=tuple(parts))
    return None


def _c_string(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1")


def _partition_offset(f: BinaryIO, mbr: Mbr | None, gpt: Gpt | None) -> tuple[int, int]:
    """xorriso's -partition_offset: a partition starting at block N > 0 holds a second superblock.

    Returns (N, the inner volume's size in blocks), or (0, 0).
    """
    starts = sorted({p.start for p in (mbr.partitions if mbr else ())} | {p.start for p in (gpt.partitions if gpt else ())})
    for start in starts:
        if start == 0 or (start * SECTOR) % BLOCK:
            continue
        vd = _read(f, start * SECTOR + SYSTEM_AREA, BLOCK)
        if len(vd) == BLOCK and vd[:7] == b"\x01CD001\x01":
            return start * SECTOR // BLOCK, struct.unpack_from("<I", vd, 80)[0]
    return 0, 0


def _all_partitions(mbr: Mbr | None, gpt: Gpt | None, apm: Apm | None) -> Iterator[tuple[str, int, int, int]]:
    """(table, index, offset, size) of every partition, in bytes."""
    if mbr is not None:
        for mp in mbr.partitions:
            if mp.type != 0xEE:
                yield "MBR", mp.index, mp.start * SECTOR, mp.size * SECTOR
    if gpt is not None:
        for gp in gpt.partitions:
            yield "GPT", gp.index, gp.start * SECTOR, gp.size * SECTOR
    if apm is not None:
        for ap in apm.partitions:
            if ap.type != "Apple_partition_map":
                yield "APM", ap.index, ap.start * apm.block_size, ap.size * apm.block_size


def _appended(
    mbr: Mbr | None, gpt: Gpt | None, apm: Apm | None, data_end: int
) -> Iterator[AppendedPartition]:
    kinds: dict[tuple[str, int], str] = {}
    if mbr is not None:
        kinds.update({("MBR", p.index): p.type_name for p in mbr.partitions})
    if gpt is not None:
        kinds.update({("GPT", p.index): p.type_name for p in gpt.partitions})
    if apm is not None:
        kinds.update({("APM", p.index): p.type for p in apm.partitions})
    for part_table, index, offset, size in _all_partitions(mbr, gpt, apm):
        if offset >= data_end and size > 0:
            yield AppendedPartition(table=part_table, index=index, offset=offset, size=size, kind=kinds[(part_table, index)])


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n / 1024:.1f} KiB"
