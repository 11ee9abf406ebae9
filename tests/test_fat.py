"""FAT32 USB images, read back with independent tools: sfdisk, fsck.fat and mtools."""

from __future__ import annotations

import calendar
import errno
import hashlib
import json
import os
import random
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from packbuilder.errors import AssemblyError, ExitCode, InputError
from packbuilder.image.fat import check_fat_tree, write_fat_image
from packbuilder.image.fat import writer as fat_writer
from packbuilder.image.fat.names import case_key, name_problems, short_names

MIB = 1 << 20
EPOCH = calendar.timegm((2026, 3, 14, 15, 9, 26))  # an odd second: FAT keeps 2-second steps and hundredths
LABEL = "ASSO-TEST"
VOLUME_ID = 0xDEADBEEF
TOOL_ENV = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC", "MTOOLS_SKIP_CHECK": "1"}


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a reading tool; a missing tool fails the test (install dosfstools, mtools and fdisk)."""
    return subprocess.run(argv, env=TOOL_ENV, capture_output=True, text=True, check=check, timeout=120)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_tree(root: Path, seed: int = 1) -> Path:
    """Nested folders, long and accented names, an empty folder, an empty file, a few MB of data."""
    rng = random.Random(seed)
    files = {
        "Documents/Compte rendu AG été 2026.odt": 70_000,
        "Documents/Budget prévisionnel/Budget 2026 (version finale) [v2].ods": 12_345,
        "Documents/été.txt": 11,  # short, single case, accented: needs a long name all the same
        "Documents/reçu.pdf": 513,
        "Documents/README.TXT": 512,  # a plain 8.3 name: no long name
        "Documents/lisez-moi.txt": 0,
        "Apps/Bureautique/LibreOffice Portable/App/program.bin": 3 * MIB + 17,
        "Apps/Internet/Navigateur/ℕavigateur Ω.exe": 4096,
        "AUTORUN.INF": 40,
        "menu.html": 1500,
        ".hidden-config": 5,
    }
    files.update({f"Guides/Fiche pratique numéro {i:02d} — très longue.html": 100 + i for i in range(40)})
    for rel, size in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))
    (root / "Dossier vide").mkdir()
    (root / "Apps/Graphisme").mkdir(parents=True)
    return root


def all_paths(root: Path) -> tuple[set[str], set[str]]:
    files, dirs = set(), set()
    for path in root.rglob("*"):
        (dirs if path.is_dir() else files).add(path.relative_to(root).as_posix())
    return files, dirs


def partition(image: Path, dest: Path) -> Path:
    """The partition (from 1 MiB) as a file of its own, for fsck.fat; holes stay holes."""
    with image.open("rb") as src, dest.open("wb") as out:
        src.seek(MIB)
        while chunk := src.read(MIB):
            if chunk.count(0) == len(chunk):
                out.seek(len(chunk), os.SEEK_CUR)
            else:
                out.write(chunk)
        out.truncate()
    return dest


def write(tree: Path, out: Path, size: int = 64 * MIB, epoch: int = EPOCH) -> Path:
    write_fat_image(tree, out, size, LABEL, VOLUME_ID, epoch)
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "tree")


@pytest.mark.parametrize("size", [64 * MIB, 300 * MIB], ids=["512B-clusters", "4KiB-clusters"])
def test_image_reads_back(tree: Path, tmp_path: Path, size: int) -> None:
    image = write(tree, tmp_path / "key.img", size)
    assert image.stat().st_size == size
    assert image.stat().st_blocks * 512 < size  # sparse

    table = json.loads(run("sfdisk", "--json", str(image)).stdout)["partitiontable"]
    assert table["label"] == "dos"
    [part] = table["partitions"]
    assert part["type"] == "c" and part["start"] == 2048 and "bootable" not in part
    assert part["size"] == size // 512 - 2048
    mbr = image.read_bytes()[:512]
    assert mbr[446] == 0x00 and mbr[450] == 0x0C and mbr[510:] == b"\x55\xaa"

    check = run("fsck.fat", "-n", "-v", str(partition(image, tmp_path / "part.img")), check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "2048 hidden sectors" in check.stdout

    info = run("minfo", "-i", f"{image}@@1M").stdout
    assert "serial number: DEADBEEF" in info and 'disk label="ASSO-TEST  "' in info
    assert "Volume in drive : is ASSO-TEST" in run("mdir", "-i", f"{image}@@1M", "::/").stdout

    want_files, want_dirs = all_paths(tree)
    listed = {line.removeprefix("::/") for line in run("mdir", "-/", "-b", "-i", f"{image}@@1M", "::/").stdout.splitlines()}
    assert listed == want_files | {d + "/" for d in want_dirs}

    back = tmp_path / "back"
    back.mkdir()
    run("mcopy", "-s", "-n", "-i", f"{image}@@1M", "::/*", str(back))
    assert all_paths(back) == (want_files, want_dirs)
    for rel in want_files:
        assert sha256(back / rel) == sha256(tree / rel), rel
    one = tmp_path / "one.odt"
    run("mcopy", "-n", "-i", f"{image}@@1M", "::/Documents/Compte rendu AG été 2026.odt", str(one))
    assert sha256(one) == sha256(tree / "Documents/Compte rendu AG été 2026.odt")


def test_every_timestamp_is_the_epoch(tree: Path, tmp_path: Path) -> None:
    image = write(tree, tmp_path / "key.img")
    listing = run("mdir", "-/", "-i", f"{image}@@1M", "::/").stdout
    stamps = re.findall(r"(\d{4}-\d\d-\d\d) +(\d+:\d\d)", listing)
    files, dirs = all_paths(tree)
    assert len(stamps) == len(files) + 3 * len(dirs)  # each folder also has "." and ".."
    assert set(stamps) == {("2026-03-14", "15:09")}
    # Seconds and hundredths, read from the root folder's entries (the label's included).
    data = image.read_bytes()
    boot = data[MIB : MIB + 512]
    reserved, fats = struct.unpack_from("<HB", boot, 14)
    (fat_sectors,) = struct.unpack_from("<I", boot, 36)
    root = MIB + (reserved + fats * fat_sectors) * 512
    entries = [data[root + i : root + i + 32] for i in range(0, 512, 32)]
    short = [e for e in entries if e[0] not in (0, 0xE5) and e[11] != 0x0F]
    assert short[0][:11] == b"ASSO-TEST  " and short[0][11] == 0x08
    fat_date = (2026 - 1980) << 9 | 3 << 5 | 14
    fat_time = 15 << 11 | 9 << 5 | 26 // 2
    for entry in short:
        tenths, ctime, cdate, adate, _hi, wtime, wdate = struct.unpack_from("<BHHHHHH", entry, 13)
        assert (tenths, ctime, cdate, adate, wtime, wdate) == (0, fat_time, fat_date, fat_date, fat_time, fat_date)


def test_epoch_before_1980_is_clamped(tree: Path, tmp_path: Path) -> None:
    early = write(tree, tmp_path / "early.img", epoch=0)
    assert "1980-01-01   0:00" in run("mdir", "-i", f"{early}@@1M", "::/").stdout
    assert sha256(early) == sha256(write(tree, tmp_path / "fat-epoch.img", epoch=calendar.timegm((1980, 1, 1, 0, 0, 0))))


def test_long_names_for_every_non_ascii_or_lower_case_name(tree: Path, tmp_path: Path) -> None:
    image = write(tree, tmp_path / "key.img")
    docs = run("mdir", "-i", f"{image}@@1M", "::/Documents").stdout
    assert "été.txt" in docs and "reçu.pdf" in docs  # the long names, shown beside ASCII short names
    short_names = [line.split()[0] for line in docs.splitlines()[4:] if line and not line.startswith(" ")]
    assert all(name.isascii() for name in short_names), short_names
    readme = next(line for line in docs.splitlines() if line.startswith("README   TXT"))
    assert readme.rstrip().endswith("15:09")  # no long name after the date: the 8.3 entry alone


def test_the_files_clusters_are_reserved_before_the_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One reservation of the disk space the files take, made before the first copy (writes into
    reserved blocks cost less than writes the file system books page by page); the image stays sparse."""
    events: list[tuple[str, int, int]] = []
    real_reserve, real_copy = fat_writer.reserve_space, fat_writer.copy_file

    def reserve(fd: int, offset: int, end: int) -> bool:
        events.append(("reserve", offset, end))
        return real_reserve(fd, offset, end)

    def copy(node: fat_writer.Node, dst: int, offset: int, advance: object = None) -> None:
        events.append(("copy", offset, offset + node.size))
        real_copy(node, dst, offset, advance)  # type: ignore[arg-type]

    monkeypatch.setattr(fat_writer, "reserve_space", reserve)
    monkeypatch.setattr(fat_writer, "copy_file", copy)
    folders = tmp_path / "folders"  # only folders at the top, as a key has: files are then not listed in cluster order
    for folder in ("A", "B", "C"):
        (folders / folder / "Sub").mkdir(parents=True)
        (folders / folder / "Sub" / "data.bin").write_bytes(os.urandom(5000))
        (folders / folder / "top.bin").write_bytes(os.urandom(3000))
    image = write(folders, tmp_path / "key.img", 300 * MIB)
    (kind, start, end), copies = events[0], events[1:]
    assert kind == "reserve" and copies and {k for k, _, _ in copies} == {"copy"}
    assert start == min(a for _, a, _ in copies) and end >= max(b for _, _, b in copies)
    assert end - start < 300 * MIB and image.stat().st_blocks * 512 < 300 * MIB  # only the files' clusters


def test_same_bytes_from_any_copy_any_folder(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = tmp_path / "a"
    first.mkdir()
    monkeypatch.chdir(first)
    one = write(tree, first / "key.img")
    # The same content created in another order, with other times, built from another folder.
    other = tmp_path / "elsewhere" / "tree"
    paths = sorted(tree.rglob("*"), key=lambda p: hashlib.md5(str(p).encode()).hexdigest())
    for path in paths:
        target = other / path.relative_to(tree)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    rng = random.Random(7)
    for path in other.rglob("*"):
        stamp = rng.randrange(10**9, 2 * 10**9)
        os.utime(path, (stamp, stamp))
    second = tmp_path / "b"
    second.mkdir()
    monkeypatch.chdir(second)
    two = write(other, second / "other-name.img")
    assert sha256(one) == sha256(two)
    assert sha256(write(tree, tmp_path / "c.img", epoch=EPOCH + 2)) != sha256(one)


def test_illegal_names_are_all_listed(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    bad = [
        "a:b.txt",
        "Docs/sub/x*y.txt",
        'q?"<>|.txt',
        "back\\slash.txt",
        "bell\x07.txt",
        "trailing.",
        "Docs/trailing space ",
        "CON",
        "con.txt",
        "Lpt1.log",
        "nul.tar.gz",
        "COM9",
    ]
    good = ["ok.txt", "CONSOLE.txt", "Docs/LPT10.txt", "é" * 127]
    for rel in bad + good:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(b"x")
    (tree / "Docs/Readme.txt").write_bytes(b"1")
    (tree / "Docs/README.TXT").write_bytes(b"2")
    (tree / "link").symlink_to("ok.txt")
    os.mkfifo(tree / "pipe")

    with pytest.raises(AssemblyError, match=r"^\d+ problems in .* for a FAT32 key$") as caught:
        check_fat_tree(tree)
    err = caught.value
    assert err.exit_code == ExitCode.ASSEMBLY and err.hint
    text = "\n".join(err.details)
    for rel in bad:
        assert any(line.startswith(rel + ": ") for line in err.details), rel
    assert "Docs/Readme.txt: differs only by case" in text or "Docs/README.TXT: differs only by case" in text
    assert "link: is a symbolic link" in text and "pipe: is a device, socket or pipe" in text
    assert "U+0007" in text and "reserved DOS device name" in text
    assert not any(line.startswith(("ok.txt", "CONSOLE.txt", "Docs/LPT10.txt", "é")) for line in err.details)
    assert len(err.details) == len(bad) + 3
    assert all(line.endswith(("it", "one", "instead", "out")) for line in err.details)

    out = tmp_path / "out" / "key.img"
    with pytest.raises(AssemblyError, match=rf"^{len(bad) + 3} problems in .* for a FAT32 key$"):
        write(tree, out)
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_names_too_long_for_fat32() -> None:
    # Linux file names stop at 255 bytes, which is never more than 255 UTF-16 units; other
    # file systems mounted there may allow more.
    assert name_problems("x" * 255) == []
    assert name_problems("x" * 256) == ["is 256 UTF-16 units long, FAT32 allows 255: shorten it"]
    assert name_problems("\U0001f4c1" * 128) == ["is 256 UTF-16 units long, FAT32 allows 255: shorten it"]


def test_file_of_4_gib_refused(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "iso").mkdir(parents=True)
    with (tree / "iso/huge.iso").open("wb") as fh:
        fh.truncate(4 * 2**30)
    with (tree / "iso/largest.iso").open("wb") as fh:
        fh.truncate(4 * 2**30 - 1)
    with pytest.raises(AssemblyError, match=r"1 problem in .* for a FAT32 key") as caught:
        check_fat_tree(tree)
    assert caught.value.details == [
        "iso/huge.iso: is 4294967296 bytes, FAT32 files stop at 4 GiB - 1 byte: split it or leave it out"
    ]


def test_content_too_big_refused_before_writing(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    with (tree / "big.bin").open("wb") as fh:
        fh.truncate(70 * MIB)  # sparse: costs nothing on disk
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    previous = out_dir / "key.img"
    previous.write_bytes(b"previous build")
    with pytest.raises(AssemblyError, match=r"need 7340\d{4} bytes .* image holds 6\d{7} bytes") as caught:
        write(tree, previous)
    assert caught.value.exit_code == ExitCode.ASSEMBLY
    assert sorted(out_dir.iterdir()) == [previous] and previous.read_bytes() == b"previous build"


def test_failure_while_writing_leaves_nothing(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def disk_full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fat_writer, "copy_file", disk_full)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(AssemblyError, match="No space left"):
        write(tree, out_dir / "key.img")
    assert list(out_dir.iterdir()) == []


def test_image_too_small_names_the_minimum(tree: Path, tmp_path: Path) -> None:
    with pytest.raises(AssemblyError, match="at least 34 MiB"):
        write(tree, tmp_path / "key.img", 33 * MIB)
    assert not (tmp_path / "key.img").exists()


def test_smallest_image_is_valid_fat32(tree: Path, tmp_path: Path) -> None:
    image = write(tree, tmp_path / "key.img", 34 * MIB)
    check = run("fsck.fat", "-n", "-v", str(partition(image, tmp_path / "part.img")), check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "32 bit entries" in check.stdout and "512 bytes per cluster" in check.stdout


def test_size_need_not_be_a_whole_number_of_mib(tree: Path, tmp_path: Path) -> None:
    image = write(tree, tmp_path / "key.img", 100_000_000)  # a "100 MB" key
    assert image.stat().st_size == 100_000_000
    [part] = json.loads(run("sfdisk", "--json", str(image)).stdout)["partitiontable"]["partitions"]
    assert (part["start"] + part["size"]) * 512 == 100_000_000 // MIB * MIB


def test_bad_label_refused(tree: Path, tmp_path: Path) -> None:
    for label in ("lower", "TWELVE-CHARS", "ÉTÉ", " LEADING", ""):
        with pytest.raises(InputError, match="is not a FAT volume label"):
            write_fat_image(tree, tmp_path / "key.img", 64 * MIB, label, VOLUME_ID, EPOCH)


def test_short_names_keep_exact_names_first() -> None:
    """A generated ~n name never takes an exact 8.3 name, whatever the order; mixed case gets a long name."""
    names = ["Read me.txt", "READ_M~1.TXT", "readme.txt", "MENU.HTM", "été.pdf", "README~1.TXT"]
    assert short_names(names) == [
        (b"README~2TXT", True),  # README~1.TXT is taken by a name listed after it
        (b"READ_M~1TXT", False),
        (b"README  TXT", True),
        (b"MENU    HTM", False),
        (b"_T_~1   PDF", True),  # short names are ASCII only
        (b"README~1TXT", False),
    ]


def test_case_key_follows_fat_not_unicode_folding() -> None:
    assert case_key("straße.txt") == "STRAßE.TXT" and case_key("Été") == "ÉTÉ"
