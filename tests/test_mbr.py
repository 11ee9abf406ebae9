"""packbuilder.image.mbr: entries and CHS written, read back by sfdisk and by the module itself."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from packbuilder.image import mbr

MIB_SECTORS = 2048


def test_chs_of_known_sectors() -> None:
    # 1 MiB in the 255/63 geometry is cylinder 0, head 32, sector 33 (fdisk's classic 0/32/33).
    assert mbr.chs(2048) == bytes((32, 33, 0))
    assert mbr.chs(0) == bytes((0, 1, 0))
    assert mbr.chs(255 * 63) == bytes((0, 1, 1))  # cylinder 1
    assert mbr.chs(255 * 63 * 300) == bytes((0, 1 | 0x40, 300 & 0xFF))  # cylinder bits 8-9 in the sector byte
    assert mbr.chs(255 * 63 * 1024) == b"\xfe\xff\xff"  # past cylinder 1023: "use LBA"
    assert mbr.chs(64 * 32 * 5 + 32 + 3, 64, 32) == bytes((1, 4, 5))


def test_round_trip(tmp_path: Path) -> None:
    entries = [
        mbr.entry(mbr.TYPE_FAT32_LBA, MIB_SECTORS, 60 * MIB_SECTORS, active=True),
        mbr.entry(mbr.TYPE_LINUX, 61 * MIB_SECTORS, 3 * MIB_SECTORS),
    ]
    sector = mbr.sector0(b"\xeb\x63" + bytes(500), 0xCAFE1234, entries)
    assert len(sector) == 512 and sector[:2] == b"\xeb\x63" and sector[440:444] == bytes.fromhex("3412feca")
    table = mbr.read_mbr(sector)
    assert table == mbr.Mbr(
        boot_code=True,
        disk_signature=0xCAFE1234,
        partitions=(
            mbr.MbrPartition(1, 0x80, 0x0C, MIB_SECTORS, 60 * MIB_SECTORS),
            mbr.MbrPartition(2, 0x00, 0x83, 61 * MIB_SECTORS, 3 * MIB_SECTORS),
        ),
    )
    image = tmp_path / "disk.img"
    with image.open("wb") as f:
        f.write(sector)
        f.truncate(64 * MIB_SECTORS * 512)
    dump = json.loads(subprocess.run(["sfdisk", "--json", str(image)], capture_output=True, text=True, timeout=30,
                                     check=True).stdout)["partitiontable"]
    assert dump["id"] == "0xcafe1234"
    assert [(p["start"], p["size"], p["type"], p.get("bootable", False)) for p in dump["partitions"]] == [
        (MIB_SECTORS, 60 * MIB_SECTORS, "c", True),
        (61 * MIB_SECTORS, 3 * MIB_SECTORS, "83", False),
    ]


def test_no_signature_no_table() -> None:
    assert mbr.read_mbr(bytes(512)) is None
    assert mbr.read_mbr(b"\x55\xaa") is None


def test_resize_moves_the_chs_end_in_the_geometry_it_was_written_in() -> None:
    isohybrid = bytearray(mbr.sector0(b"", 1, []))
    # an isohybrid entry: 64 heads, 32 sectors, from sector 0 over 10 cylinders
    isohybrid[446:462] = bytes((0x80,)) + mbr.chs(0, 64, 32) + bytes((0x17,)) + mbr.chs(64 * 32 * 10 - 1, 64, 32) + (
        (0).to_bytes(4, "little") + (64 * 32 * 10).to_bytes(4, "little")
    )
    part = mbr.read_mbr(bytes(isohybrid))
    assert part is not None
    mbr.resize(isohybrid, part.partitions[0], 64 * 32 * 20)
    assert isohybrid[451:454] == mbr.chs(64 * 32 * 20 - 1, 64, 32)
    resized = mbr.read_mbr(bytes(isohybrid))
    assert resized is not None and resized.partitions[0].size == 64 * 32 * 20

    odd = bytearray(isohybrid)
    odd[451:454] = b"\x01\x02\x03"  # a CHS end in no known geometry is left alone
    mbr.resize(odd, mbr.MbrPartition(1, 0x80, 0x17, 0, 64 * 32 * 20), 64 * 32 * 30)
    assert odd[451:454] == b"\x01\x02\x03" and int.from_bytes(odd[458:462], "little") == 64 * 32 * 30
