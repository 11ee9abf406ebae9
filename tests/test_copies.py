"""publish's compressed copies: kept when the image and the settings are the same and the copy is sound,
made again otherwise; every copy still decompresses (real xz and zstd) to the image beside it."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from packbuilder import copies
from packbuilder.flash import compressed
from packbuilder.fsutil import hash_file
from packbuilder.publish import derived_files

MiB = 2**20
KINDS = ("xz", "zst")


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The records go to packbuilder's cache folder: this test's own."""
    monkeypatch.setenv("PACKBUILDER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "images" / "asso.img"
    path.parent.mkdir()
    rng = random.Random(3)
    with path.open("wb") as fh:
        fh.truncate(8 * MiB)
        fh.write(rng.randbytes(MiB) + b"texte du menu " * 20000)
    return path


def _inodes(image: Path) -> dict[str, int]:
    return {kind: Path(f"{image}.{kind}").stat().st_ino for kind in KINDS}


def _decompressed(copy: Path) -> bytes:
    tool = "xz" if copy.suffix == ".xz" else "zstd"
    return subprocess.run([tool, "-dc", str(copy)], capture_output=True, check=True, timeout=120).stdout


def _assert_sound(image: Path) -> None:
    for kind in KINDS:
        copy = Path(f"{image}.{kind}")
        assert _decompressed(copy) == image.read_bytes(), kind
        record = json.loads(copies.record_path(copy).read_text())
        assert record["sha256"] == hash_file(copy) and record["size"] == copy.stat().st_size
        assert record["made"]["source_sha256"] == hash_file(image) and record["made"]["source_name"] == image.name


def test_same_image_and_settings_keep_the_copies(image: Path) -> None:
    first = derived_files(image)
    inodes = _inodes(image)
    again = derived_files(image)
    assert _inodes(image) == inodes  # compressing writes a new file and renames it over the old one
    assert again == first
    _assert_sound(image)


def test_a_changed_image_is_compressed_again(image: Path) -> None:
    derived_files(image)
    inodes = _inodes(image)
    with image.open("r+b") as fh:  # same size, one byte different
        fh.seek(5 * MiB)
        fh.write(b"\x01")
    derived_files(image)
    assert all(_inodes(image)[k] != inodes[k] for k in KINDS)
    _assert_sound(image)


@pytest.mark.parametrize("change", ["truncated", "one byte changed", "record unreadable", "record of another image"])
def test_an_unsound_copy_or_record_is_not_trusted(image: Path, change: str) -> None:
    derived_files(image)
    copy = Path(f"{image}.zst")
    record = copies.record_path(copy)
    match change:
        case "truncated":
            copy.write_bytes(copy.read_bytes()[:-100])
        case "one byte changed":
            data = bytearray(copy.read_bytes())
            data[len(data) // 2] ^= 0x01
            copy.write_bytes(bytes(data))
        case "record unreadable":
            record.write_text("{not json")
        case _:
            doc = json.loads(record.read_text())
            doc["made"]["source_sha256"] = "0" * 64
            record.write_text(json.dumps(doc))
    inode = copy.stat().st_ino
    xz_inode = Path(f"{image}.xz").stat().st_ino
    derived_files(image)
    assert copy.stat().st_ino != inode and Path(f"{image}.xz").stat().st_ino == xz_inode
    _assert_sound(image)


def test_other_settings_or_encoder_compress_again(image: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    derived_files(image)
    inodes = _inodes(image)
    monkeypatch.setattr(compressed, "ZSTD_LEVEL", 18)
    monkeypatch.setattr(copies, "_xz_version", lambda: "xz (XZ Utils) 9.9.9")
    derived_files(image)
    assert all(_inodes(image)[k] != inodes[k] for k in KINDS)
    record = json.loads(copies.record_path(Path(f"{image}.zst")).read_text())
    assert "level 18" in record["made"]["settings"]
    _assert_sound(image)


def test_publish_run_twice_compresses_once(tmp_path: Path) -> None:
    """Through the command, with a built key image: the second publish leaves its copies as they were."""
    from tests.test_publish import make_outputs, publish_cli

    built = next(p for p in make_outputs(tmp_path / "built") if p.suffix == ".img")
    site = tmp_path / "site"
    publish_cli(built, "-o", site)
    image = site / "images" / built.name
    inodes = _inodes(image)
    sums = (site / "images" / "SHA256SUMS").read_text()
    publish_cli(built, "-o", site)
    assert _inodes(image) == inodes
    assert (site / "images" / "SHA256SUMS").read_text() == sums
    published = sorted(p.name for p in (site / "images").iterdir())  # the records are not published
    assert published == sorted([built.name, *(f"{built.name}{e}" for e in (".bmap", ".xz", ".zst")), "SHA256SUMS"])
    _assert_sound(image)
