"""Compressed images and block maps: our .xz/.zst read back by the real xz and zstd tools, our bmap
used by bmaptool (an independent writer), and ``flash`` from every format to file targets."""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from packbuilder import flash as fl
from packbuilder.errors import InputError, VerificationError
from packbuilder.flash import bmap, compressed, xzblocks
from packbuilder.publish import derived_files
from packbuilder.verify import verify_output
from tests.conftest import run_cli

MiB = 2**20
SIZE = 64 * MiB  # three xz blocks of 24 MiB at preset 6


def run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, check=True, capture_output=True, timeout=300, **kw)  # type: ignore[call-overload, no-any-return]


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sparse key image: random data, text, explicit zeros (not holes) and holes; with its .xz, .zst and .bmap."""
    path = tmp_path_factory.mktemp("img") / "asso.img"
    rng = random.Random(16)
    with path.open("wb") as fh:
        fh.truncate(SIZE)
        fh.write(rng.randbytes(MiB + 8192))  # ends mid-MiB: ranges are not MiB-aligned
        fh.seek(10 * MiB)
        fh.write(b"\0" * (2 * MiB) + rng.randbytes(4096) + b"\0" * 4096 + b"Menu.html texte " * 40000)
        fh.seek(SIZE - 4096)
        fh.write(rng.randbytes(4096))
    derived_files(path)
    return path


def test_compressed_copies_decompress_with_xz_and_zstd(image: Path) -> None:
    raw = image.read_bytes()
    assert run(["xz", "-dc", f"{image}.xz"]).stdout == raw
    assert run(["zstd", "-dc", f"{image}.zst"]).stdout == raw
    assert run(["xz", "-t", f"{image}.xz"]).returncode == 0 and run(["zstd", "-t", f"{image}.zst"]).returncode == 0
    listing = run(["xz", "--robot", "--list", f"{image}.xz"]).stdout.decode()
    assert int(next(line for line in listing.splitlines() if line.startswith("file")).split("\t")[2]) == 3  # blocks


def test_compression_is_reproducible_whatever_the_thread_count(
    image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for cpus in (1, 3):  # one core would mean xz -T1: a single block, other bytes
        monkeypatch.setattr(os, "cpu_count", lambda cpus=cpus: cpus)
        compressed.compress_xz(image, tmp_path / f"{cpus}.xz")
        compressed.compress_zst(image, tmp_path / f"{cpus}.zst")
    for suffix in ("xz", "zst"):
        published = Path(f"{image}.{suffix}").read_bytes()
        assert (tmp_path / f"1.{suffix}").read_bytes() == (tmp_path / f"3.{suffix}").read_bytes() == published


def test_sizes_close_to_the_reference_tools(image: Path, tmp_path: Path) -> None:
    ref_zst = run(["zstd", "-T0", "-19", "-c", str(image)]).stdout
    ref_xz = run(["xz", "-T0", "-6", "-c", str(image)]).stdout
    assert Path(f"{image}.zst").stat().st_size <= len(ref_zst) * 1.02
    assert Path(f"{image}.xz").stat().st_size <= len(ref_xz) * 1.02


def test_bmap_maps_data_only_and_round_trips(image: Path) -> None:
    parsed = bmap.parse(Path(f"{image}.bmap"))
    assert parsed == bmap.scan(image)
    raw = image.read_bytes()
    mapped = bytearray(SIZE)
    for r in parsed.ranges:
        mapped[r.start : r.end] = raw[r.start : r.end]
        for pos in range(r.start, r.end, 4096):
            assert raw[pos : pos + 4096] != bytes(4096), f"zero block {pos} mapped"
    assert bytes(mapped) == raw  # every non-zero byte is in a range
    starts = [(r.start, r.end) for r in parsed.ranges]
    assert starts[0] == (0, MiB + 8192) and starts[-1] == (SIZE - 4096, SIZE)
    assert parsed.mapped_bytes < SIZE // 10


def test_bmaptool_writes_our_image_from_our_bmap_byte_identical(image: Path, tmp_path: Path) -> None:
    for source in (image, Path(f"{image}.xz"), Path(f"{image}.zst")):
        out = tmp_path / f"copy-of-{source.name}"
        result = run(["bmaptool", "copy", "--bmap", f"{image}.bmap", str(source), str(out)])
        assert "mapped" in result.stderr.decode()
        assert out.read_bytes() == image.read_bytes(), source.name


def test_damaged_bmap_refused_naming_the_file(image: Path, tmp_path: Path) -> None:
    text = Path(f"{image}.bmap").read_text()
    bad = tmp_path / "bad.bmap"
    bad.write_text(text.replace("<BlockSize> 4096", "<BlockSize> 8192"))
    with pytest.raises(InputError, match=r"bad\.bmap: the bmap file is damaged"):
        bmap.parse(bad)
    bad.write_text(text.replace('version="2.0"', 'version="1.3"'))
    with pytest.raises(InputError, match=r"bmap version 1\.3: only format 2\.x"):
        bmap.parse(bad)


@pytest.mark.parametrize("suffix", ["", ".xz", ".zst", ".gz"])
@pytest.mark.parametrize("with_map", [True, False])
def test_flash_each_format_to_two_files(image: Path, tmp_path: Path, suffix: str, with_map: bool) -> None:
    source = Path(f"{image}{suffix}")
    if suffix == ".gz":
        source = tmp_path / "asso.img.gz"
        with source.open("wb") as out:
            subprocess.run(["gzip", "-n", "-c", str(image)], stdout=out, check=True, timeout=120)
    block_map = bmap.parse(Path(f"{image}.bmap")) if with_map else None
    targets = [fl.Target(tmp_path / f"key{n}.img") for n in range(2)]
    targets[0].path.write_bytes(b"\xaa" * (3 * MiB))  # an old file is replaced, not merged
    result = fl.flash(source, targets, block_map=block_map)
    result.check()
    assert [r.status for r in result.results] == ["OK", "OK"]
    for target in targets:
        assert target.path.read_bytes() == image.read_bytes()
    assert result.written == (block_map.mapped_bytes if block_map else result.written) < SIZE // 10
    assert (result.image_sha256 is None) == with_map


def _flip_one_bit(path: Path) -> None:
    with path.open("r+b") as fh:
        fh.seek(10 * MiB + 2 * MiB + 100)  # inside the mapped random block after the explicit zeros
        byte = fh.read(1)[0]
        fh.seek(-1, 1)
        fh.write(bytes([byte ^ 0x10]))


def _wrap_around(path: Path) -> None:
    """A fake-capacity key: what was written at the end reads back as what is at the start."""
    with path.open("r+b") as fh:
        start = fh.read(4096)
        fh.seek(SIZE - 4096)
        fh.write(start)


def _smaller_than_claimed(path: Path) -> None:
    os.truncate(path, 12 * MiB + 65536)  # inside the text written after the explicit zeros


@pytest.mark.parametrize(
    ("damage", "first_bad"),
    [(_flip_one_bit, 12 * MiB), (_wrap_around, SIZE - 4096), (_smaller_than_claimed, 12 * MiB + 65536)],
)
@pytest.mark.parametrize("with_map", [True, False])
def test_read_back_catches_a_key_that_lies(
    image: Path, tmp_path: Path, damage: Callable[[Path], None], first_bad: int, with_map: bool
) -> None:
    block_map = bmap.parse(Path(f"{image}.bmap")) if with_map else None
    targets = [fl.Target(tmp_path / "good.img"), fl.Target(tmp_path / "bad.img")]
    result = fl.flash(
        Path(f"{image}.zst"), targets, block_map=block_map, before_verify=lambda t: t.path.name == "bad.img" and damage(t.path)
    )
    assert [r.status for r in result.results] == ["OK", "FAILED"]
    # The buffer named is the one holding the first damaged byte (buffers start at the map's ranges or at 4 MiB steps).
    bad = result.results[1].mismatch
    assert bad is not None and bad <= first_bad < bad + 4 * MiB
    with pytest.raises(VerificationError, match=r"read-back differs from the image on .*bad\.img") as caught:
        result.check()
    assert caught.value.details == [f"{targets[1].name}: read back different from what was written, from byte {bad}"]


def test_cli_finds_the_bmap_beside_a_compressed_image(image: Path, tmp_path: Path) -> None:
    targets = [tmp_path / "a.img", tmp_path / "b.img"]
    result = run_cli("--json", "flash", f"{image}.zst", *map(str, targets), "--yes")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["bmap"] == f"{image}.bmap" and doc["size"] == SIZE and doc["written"] < SIZE // 10
    assert [t["status"] for t in doc["targets"]] == ["OK", "OK"]
    assert all(t.read_bytes() == image.read_bytes() for t in targets)


def test_bmap_leaves_unmapped_blocks_of_a_disk_alone(image: Path, tmp_path: Path) -> None:
    """A disk (here a file standing in for one) keeps its old bytes outside the map; the mapped ones are written and read back."""
    disk = tmp_path / "disk"
    disk.write_bytes(b"\xaa" * (SIZE + MiB))
    device = fl.BlockDevice("sdx", str(disk), SIZE + MiB, "disk", True, True, "usb", "Test Key", None, (), None, None, None)
    block_map = bmap.parse(Path(f"{image}.bmap"))
    result = fl.flash(Path(f"{image}.xz"), [fl.Target(disk, device)], block_map=block_map)
    result.check()
    raw, written = image.read_bytes(), disk.read_bytes()
    for r in block_map.ranges:
        assert written[r.start : r.end] == raw[r.start : r.end]
    assert written[5 * MiB : 6 * MiB] == b"\xaa" * MiB  # unmapped: not zeroed


def test_xz_with_a_map_decodes_only_the_blocks_holding_data(image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[int] = []
    real_decode = xzblocks.BlockReader._decode
    monkeypatch.setattr(xzblocks.BlockReader, "_decode", lambda self, n: opened.append(n) or real_decode(self, n))
    block_map = bmap.parse(Path(f"{image}.bmap"))
    fl.flash(Path(f"{image}.xz"), [fl.Target(tmp_path / "k.img")], block_map=block_map).check()
    assert sorted(opened) == [0, 2]  # once each; block 1 (24-48 MiB) holds only zeros: never decompressed


def test_image_not_matching_its_bmap_is_refused(image: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.img"
    data = bytearray(image.read_bytes())
    data[100] ^= 0xFF
    other.write_bytes(bytes(data))
    with pytest.raises(VerificationError, match="does not match its block map at bytes 0-"):
        fl.flash(other, [fl.Target(tmp_path / "k.img")], block_map=bmap.parse(Path(f"{image}.bmap")))


def test_truncated_download_is_a_clear_error(image: Path, tmp_path: Path) -> None:
    cut = tmp_path / "asso.img.zst"
    cut.write_bytes(Path(f"{image}.zst").read_bytes()[:-5000])
    result = run_cli("flash", str(cut), str(tmp_path / "k.img"), "--yes")
    assert result.returncode == 4 and "Traceback" not in result.stderr
    assert "asso.img.zst" in result.stderr and "download" in result.stderr


def test_verify_streams_a_compressed_image(image: Path, tmp_path: Path) -> None:
    for suffix in (".xz", ".zst"):
        report = verify_output(Path(f"{image}{suffix}"))
        assert report.ok and report.checked == len(bmap.parse(Path(f"{image}.bmap")).ranges)
    folder = tmp_path / "pub"
    folder.mkdir()
    bad = bytearray(image.read_bytes())
    bad[MiB + 100] ^= 1
    (folder / "asso.img").write_bytes(bytes(bad))
    run(["xz", "-T2", "-k", str(folder / "asso.img")])
    (folder / "asso.img.bmap").write_bytes(Path(f"{image}.bmap").read_bytes())
    report = verify_output(folder / "asso.img.xz")
    assert not report.ok and "does not match its block map" in report.changed[0]
    result = run_cli("verify", str(folder / "asso.img.xz"))
    assert result.returncode == 1 and "does not match its block map" in result.stderr
    result = run_cli("verify", f"{image}.zst")
    assert result.returncode == 0 and f"all {report.checked} block range(s) match" in result.stdout
