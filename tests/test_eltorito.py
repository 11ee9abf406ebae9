"""packbuilder.image.eltorito: catalogs parsed entry by entry, sections, extensions, checksums."""

from __future__ import annotations

import io
import struct

from packbuilder.image import eltorito


def _validation(platform: int) -> bytes:
    raw = bytearray(32)
    raw[0], raw[1], raw[30], raw[31] = 1, platform, 0x55, 0xAA
    struct.pack_into("<H", raw, 28, (-sum(struct.unpack("<16H", raw))) & 0xFFFF)
    return bytes(raw)


def _boot_entry(bootable: bool, media: int, count: int, rba: int) -> bytes:
    return struct.pack("<BBHBBHI20x", 0x88 if bootable else 0, media, 0x07C0, 0, 0, count, rba)


def _catalog() -> bytes:
    return b"".join(
        [
            _validation(eltorito.PLATFORM_BIOS),
            _boot_entry(True, 0, 4, 30),
            struct.pack("<BBH28x", eltorito.SECTION_HEADER, eltorito.PLATFORM_EFI, 1),
            _boot_entry(True, 0, 5760, 41),
            bytes([eltorito.EXTENSION]) + bytes(31),  # selection criteria, skipped
            struct.pack("<BBH28x", eltorito.LAST_SECTION_HEADER, 0x02, 1),
            _boot_entry(False, 4, 1, 99),
        ]
    ).ljust(2048, b"\0")


def test_every_section_and_entry() -> None:
    catalog = eltorito.parse_catalog(20, _catalog())
    assert catalog.valid and catalog.lba == 20
    assert [(e.platform_name, e.bootable, e.emulation_name, e.sector_count, e.load_rba) for e in catalog.entries] == [
        ("BIOS", True, "no emulation", 4, 30),
        ("EFI", True, "no emulation", 5760, 41),
        ("Mac", False, "hard disk", 1, 99),
    ]
    assert catalog.entries[0].load_segment == 0x07C0


def test_bad_checksum_is_invalid_but_read() -> None:
    raw = bytearray(_catalog())
    raw[4] ^= 1
    catalog = eltorito.parse_catalog(20, bytes(raw))
    assert not catalog.valid and len(catalog.entries) == 3
    assert eltorito.parse_catalog(20, bytes(32)) == eltorito.Catalog(20, False, ())


def _iso(descriptors: list[bytes], catalog_at: int, catalog: bytes) -> io.BytesIO:
    data = bytearray(16 * 2048)
    for vd in descriptors:
        data += vd.ljust(2048, b"\0")
    data += bytes(catalog_at * 2048 - len(data)) + catalog
    return io.BytesIO(bytes(data))


def test_boot_record_names_the_catalog() -> None:
    pvd = b"\x01CD001\x01"
    boot = b"\x00CD001\x01" + eltorito.BOOT_SYSTEM_ID.ljust(32, b"\0") + bytes(32) + struct.pack("<I", 20)
    end = b"\xffCD001\x01"
    found = eltorito.read_catalog(_iso([pvd, boot, end], 20, _catalog()))
    assert found is not None and found.lba == 20 and len(found.entries) == 3
    assert eltorito.read_catalog(_iso([pvd, end], 20, _catalog())) is None
