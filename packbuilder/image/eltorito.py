"""El Torito ("Bootable CD-ROM Format Specification" 1.0, 1995): the boot record and its catalog.

A boot record volume descriptor ("EL TORITO SPECIFICATION") names the catalog's block. The catalog is
32-byte records: a validation entry (platform, checksum making the 16-bit words sum to 0, 55 AA), the
initial (default) entry, then sections (header 0x90, last 0x91) of entries for other platforms, each
entry possibly followed by selection-criteria extensions (0x44). A remaster that keeps every block of
the base in place keeps the catalog valid as it is; the images of appended partitions that move after
the new data (behind a partition offset) get their load block moved with them (:func:`move_images`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

BLOCK = 2048
RECORD = 32
BOOT_SYSTEM_ID = b"EL TORITO SPECIFICATION"
PLATFORM_BIOS, PLATFORM_EFI = 0x00, 0xEF
PLATFORMS = {PLATFORM_BIOS: "BIOS", 0x01: "PowerPC", 0x02: "Mac", PLATFORM_EFI: "EFI"}
EMULATIONS = {0: "no emulation", 1: "1.2M floppy", 2: "1.44M floppy", 3: "2.88M floppy", 4: "hard disk"}
BOOTABLE = 0x88
SECTION_HEADER, LAST_SECTION_HEADER, EXTENSION = 0x90, 0x91, 0x44
MAX_DESCRIPTORS = 64


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
class Catalog:
    lba: int
    valid: bool  # validation entry checksum and 55 AA key
    entries: tuple[ElToritoEntry, ...]


def _read(f: BinaryIO, offset: int, size: int) -> bytes:
    f.seek(offset)
    return f.read(size)


def catalog_lba(f: BinaryIO) -> int | None:
    """The catalog's block, from the boot record among the volume descriptors; None without one."""
    for block in range(16, 16 + MAX_DESCRIPTORS):
        vd = _read(f, block * BLOCK, BLOCK)
        if len(vd) < BLOCK or vd[1:6] != b"CD001" or vd[0] == 255:
            return None
        if vd[0] == 0 and vd[7:30] == BOOT_SYSTEM_ID:
            return int(struct.unpack_from("<I", vd, 71)[0])
    return None


def parse_entry(platform: int, raw: bytes) -> ElToritoEntry:
    indicator, media, segment, system_type, _unused, count, rba = struct.unpack_from("<BBHBBHI", raw)
    return ElToritoEntry(
        platform=platform,
        bootable=indicator == BOOTABLE,
        emulation=media & 0x0F,
        load_segment=segment,
        system_type=system_type,
        sector_count=count,
        load_rba=rba,
    )


def _entry_positions(catalog: bytes) -> Iterator[tuple[int, int]]:
    """(byte offset in the catalog, platform) of each entry: the default entry, then every section's."""
    yield RECORD, catalog[1]
    pos = 2 * RECORD
    while pos + RECORD <= len(catalog):
        header = catalog[pos : pos + RECORD]
        if header[0] not in (SECTION_HEADER, LAST_SECTION_HEADER):
            break
        platform, count = header[1], struct.unpack_from("<H", header, 2)[0]
        pos += RECORD
        for _ in range(count):
            if pos + RECORD > len(catalog):
                break
            yield pos, platform
            pos += RECORD
            while pos + RECORD <= len(catalog) and catalog[pos] == EXTENSION:
                pos += RECORD
        if header[0] == LAST_SECTION_HEADER:
            break


def parse_catalog(lba: int, catalog: bytes) -> Catalog:
    """The entries of a catalog's bytes (its first blocks): the default entry, then every section's."""
    if len(catalog) < 2 * RECORD:
        return Catalog(lba, False, ())
    validation = catalog[:RECORD]
    checksum_ok = sum(struct.unpack("<16H", validation)) & 0xFFFF == 0
    valid = validation[0] == 0x01 and validation[30:32] == b"\x55\xaa" and checksum_ok
    entries = [parse_entry(platform, catalog[pos : pos + RECORD]) for pos, platform in _entry_positions(catalog)]
    return Catalog(lba, valid, tuple(entries))


def move_images(f: BinaryIO, lba: int, at: int, by: int) -> None:
    """Add ``by`` blocks to the load block of every entry of the catalog at ``lba`` whose image starts at
    or after block ``at``: the images of partitions moved after an appended session's data."""
    catalog = bytearray(_read(f, lba * BLOCK, 4 * BLOCK))
    for pos, _platform in list(_entry_positions(bytes(catalog))):
        rba = struct.unpack_from("<I", catalog, pos + 8)[0]
        if rba >= at:
            struct.pack_into("<I", catalog, pos + 8, rba + by)
    f.seek(lba * BLOCK)
    f.write(catalog)


def read_catalog(f: BinaryIO) -> Catalog | None:
    """The El Torito catalog of an ISO open for reading, None when it has no boot record."""
    lba = catalog_lba(f)
    if lba is None:
        return None
    return parse_catalog(lba, _read(f, lba * BLOCK, 4 * BLOCK))
