"""packbuilder.image.gpt: tables made by sgdisk read back, rewritten for a larger disk, checked by
``sgdisk -v`` (gdisk, installed by ``make install``)."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from packbuilder.image import gpt

SECTOR = 512
MIB = 1 << 20


def _sgdisk(*args: str) -> str:
    return subprocess.run(["sgdisk", *args], capture_output=True, text=True, timeout=60, check=True).stdout


@pytest.fixture
def disk(tmp_path: Path) -> Path:
    """A 64 MiB disk: an ESP of 10 MiB at 1 MiB, a basic data partition over the rest."""
    image = tmp_path / "disk.img"
    with image.open("wb") as f:
        f.truncate(64 * MIB)
    _sgdisk("-n", "1:2048:+10M", "-t", "1:ef00", "-c", "1:EFI été", "-n", "2:0:0", "-t", "2:0700", str(image))
    return image


def _read(image: Path) -> gpt.Gpt:
    with image.open("rb") as f:
        table = gpt.read_gpt(f, image.stat().st_size)
    assert table is not None
    return table


def test_reads_what_sgdisk_wrote(disk: Path) -> None:
    table = _read(disk)
    assert table.valid and table.backup_lba == 64 * 2048 - 1
    assert [(p.index, p.type_guid, p.first_lba, p.name) for p in table.partitions] == [
        (1, gpt.ESP_GUID, 2048, "EFI été"),
        (2, gpt.BASIC_DATA_GUID, 2048 + 10 * 2048, ""),
    ]
    assert table.partitions[1].last_lba == table.last_usable_lba
    assert gpt.last_usable_lba(table, 64 * 2048) == table.last_usable_lba


def test_header_crc_is_sgdisk_s(disk: Path) -> None:
    with disk.open("rb") as f:
        f.seek(SECTOR)
        header = f.read(SECTOR)
    size = struct.unpack_from("<I", header, 12)[0]
    assert gpt.with_header_crc(header[:16] + b"\xde\xad\xbe\xef" + header[20:], size) == header


def test_rewrite_for_a_larger_disk(disk: Path) -> None:
    table = _read(disk)
    with disk.open("r+b") as f:
        f.truncate(96 * MIB)
        new_last = gpt.last_usable_lba(table, 96 * 2048)
        gpt.rewrite(f, table, 96 * 2048, {2: new_last})
    check = _sgdisk("-v", str(disk))
    assert "No problems found" in check, check
    grown = _read(disk)
    assert grown.valid and grown.backup_lba == 96 * 2048 - 1
    assert grown.partitions[1].last_lba == grown.last_usable_lba == new_last
    assert grown.partitions[0] == table.partitions[0]


def test_array_crc_over_the_whole_array_is_restored(disk: Path) -> None:
    """A table whose array CRC covers only the used entries (a known remastering bug) is read as
    such, and a rewrite puts the CRC over the whole array, as sgdisk wants it."""
    table = _read(disk)
    with disk.open("r+b") as f:
        f.seek(table.entries_lba * SECTOR)
        used = f.read(2 * table.entry_size)
        f.seek(SECTOR)
        header = bytearray(f.read(SECTOR))
        struct.pack_into("<I", header, 88, zlib.crc32(used))
        f.seek(SECTOR)
        f.write(gpt.with_header_crc(header, 92))
    broken = _read(disk)
    assert not broken.entries_crc_ok and broken.entries_crc_used_only and not broken.valid
    assert "The CRC for the main partition table is invalid" in _sgdisk("-v", str(disk))
    with disk.open("r+b") as f:
        gpt.rewrite(f, broken, 64 * 2048)
    assert _read(disk).valid
    assert "No problems found" in _sgdisk("-v", str(disk))


def test_no_header_no_table(tmp_path: Path) -> None:
    image = tmp_path / "empty.img"
    image.write_bytes(bytes(4 * SECTOR))
    with image.open("rb") as f:
        assert gpt.read_gpt(f, 4 * SECTOR) is None
