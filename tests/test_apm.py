"""packbuilder.image.apm: maps read, resized, and the result read back by xorriso."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

from packbuilder.image import apm

FIXTURES = Path(__file__).resolve().parent.parent / "build" / "fixtures"


def _entry(block_size: int, count: int, start: int, size: int, name: str, kind: str, data: int | None = None) -> bytes:
    raw = bytearray(block_size)
    struct.pack_into(">2sHIII32s32sII", raw, 0, b"PM", 0, count, start, size, name.encode(), kind.encode(), 0,
                     size if data is None else data)
    return bytes(raw)


def _map(block_size: int, declared: int) -> bytes:
    head = bytearray(block_size)
    head[:4] = b"ER" + struct.pack(">H", declared)
    return bytes(head) + _entry(block_size, 3, 1, 3, "Apple", apm.MAP_TYPE) + _entry(
        block_size, 3, 16, 100, "EFI", "Apple_HFS"
    ) + _entry(block_size, 3, 116, 50, "Gap", "ISO9660_data", data=10)


def test_reads_a_map_whatever_block_size_it_declares() -> None:
    for block_size, declared in ((2048, 2048), (512, 512), (2048, 512)):  # the last: a wrong declaration
        found = apm.read_apm(_map(block_size, declared) + bytes(4096))
        assert found is not None and found.block_size == block_size
        assert [(p.index, p.name, p.type, p.start, p.size) for p in found.partitions] == [
            (1, "Apple", apm.MAP_TYPE, 1, 3),
            (2, "EFI", "Apple_HFS", 16, 100),
            (3, "Gap", "ISO9660_data", 116, 50),
        ]
    assert apm.read_apm(bytes(8192)) is None


def test_hfs_volume_header_is_looked_for(tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    with image.open("wb") as f:
        f.write(_map(2048, 2048))
        f.truncate(200 * 2048)
        f.seek(16 * 2048 + 1024)
        f.write(b"H+")
    with image.open("rb") as f:
        found = apm.with_hfs_volumes(f, apm.read_apm(f.read(32768)))
    assert found is not None and [p.hfs_volume for p in found.partitions] == [False, True, False]


def test_resize_changes_the_partition_and_a_data_area_spanning_it(tmp_path: Path) -> None:
    image = tmp_path / "disk.img"
    image.write_bytes(_map(2048, 2048) + bytes(4096))
    with image.open("r+b") as f:
        table = apm.read_apm(f.read(32768))
        assert table is not None
        apm.resize(f, table, table.partitions[1], 300)
        apm.resize(f, table, table.partitions[2], 70)
    raw = image.read_bytes()
    assert struct.unpack_from(">I", raw, 2 * 2048 + 12)[0] == 300 and struct.unpack_from(">I", raw, 2 * 2048 + 84)[0] == 300
    assert struct.unpack_from(">I", raw, 3 * 2048 + 12)[0] == 70 and struct.unpack_from(">I", raw, 3 * 2048 + 84)[0] == 10


def test_resized_fixture_map_as_xorriso_reads_it(tmp_path: Path) -> None:
    iso = tmp_path / "hfsplus.iso"
    shutil.copyfile(FIXTURES / "grub-hfsplus.iso", iso)
    with iso.open("r+b") as f:
        table = apm.read_apm(f.read(32768))
        assert table is not None
        last = table.partitions[-1]
        apm.resize(f, table, last, last.size + 40)
    report = subprocess.run(["xorriso", "-indev", str(iso), "-report_system_area", "plain"], capture_output=True,
                            text=True, timeout=60).stdout
    spans = [line.split(":", 1)[1].split() for line in report.splitlines() if line.startswith("APM start and size :")]
    assert spans[-1][1:] == [str(last.start), str(last.size + 40)]
