"""Partition offsets through the appending engine (``--iso-engine pycdlib``).

xorriso's ``-partition_offset 16`` (live-build's default, as in Debian's live images) writes a second
superblock at block 32: an inner ISO 9660 volume whose blocks count from block 16, where partition 1
starts, so that the partition mounts as well as the whole disk. The engine gives that inner volume the
added files too, and grows the partition holding it with the image, as xorriso keeps both when it adds
a session. Where partitions are appended after the inner volume (``grub-appended.iso``: the ESP as GPT
partition 2 and El Torito EFI image, as Ubuntu's ISOs), they move after the new files, the El Torito
entry with them, and the partition holding the inner volume grows up to them.

Bases: ``grub-offset.iso`` (grub-mkrescue, GPT with gap partitions around the ESP), ``grub-appended.iso``,
a live-build-like layout (isohybrid MBR with the type 0 partition from sector 64, GPT, APM), and a plain
data ISO with Joliet. The outputs are read back from the partition's bytes by xorriso, 7-Zip and
pycdlib, their tables by sfdisk and sgdisk, their layout by ``packbuilder inspect``; the QEMU boots of
``grub-offset.iso``'s output are in tests/test_iso_pycdlib.py's matrix, those of ``grub-appended.iso``'s
here.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from packbuilder.errors import AssemblyError
from packbuilder.image.inspect import BLOCK, SECTOR, inspect_iso
from packbuilder.image.iso import write_iso
from packbuilder.image.iso9660.append import write_overlay_append
from packbuilder.image.overlay import plan_overlay
from tests import qemu
from tests.conftest import run_cli
from tests.test_iso_fixtures import TIMEOUT, isos
from tests.test_iso_livebuild_layout import make_livebuild_like_iso
from tests.test_iso_pycdlib import GUIDE, check_path_tables, payload, plan_for

__all__ = ["isos", "payload"]  # fixtures shared with the other ISO tests

CASES = ("grub-offset.iso", "grub-appended.iso", "livebuild.iso", "joliet.iso", "mbr-appended.iso")
APPENDED = ("grub-appended.iso", "mbr-appended.iso")
MODES = (("bios", "cd"), ("bios", "disk"), ("uefi", "cd"), ("uefi", "disk"))


def _run(*args: str | Path) -> str:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture(scope="module")
def bases(isos: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("offset-bases")
    root = work / "root"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a long name.txt").write_text("a\n")
    _run("xorriso", "-as", "mkisofs", "-o", work / "joliet.iso", "-R", "-J", "-V", "OFFSET", "-partition_offset", "16", root)
    # an ESP appended in the MBR only, xorriso's 0xcd partition 1 holding the inner volume up to it
    esp = work / "esp.img"
    esp.write_bytes(bytes(1440 * 1024))
    _run("mformat", "-i", esp, "-f", "1440", "-v", "APPENDED", "::")
    _run("xorriso", "-as", "mkisofs", "-o", work / "mbr-appended.iso", "-R", "-partition_offset", "16",
         "-append_partition", "2", "0xef", esp, root)
    return {"grub-offset.iso": isos / "grub-offset.iso", "grub-appended.iso": isos / "grub-appended.iso",
            "livebuild.iso": make_livebuild_like_iso(work), "joliet.iso": work / "joliet.iso",
            "mbr-appended.iso": work / "mbr-appended.iso"}


@pytest.fixture(scope="module")
def outputs(bases: dict[str, Path], payload: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("offset-out")
    made = {}
    for name, base in bases.items():
        made[name] = work / name
        write_overlay_append(plan_for(base, payload), made[name])
    return made


def inner_volume(iso: Path, out: Path) -> Path:
    """The bytes from the partition offset to the end of the image: the volume a partition mount reads."""
    offset = inspect_iso(iso).partition_offset
    assert offset == 16
    with iso.open("rb") as f:
        f.seek(offset * BLOCK)
        out.write_bytes(f.read())
    return out


@pytest.mark.parametrize("name", CASES)
def test_inner_volume_has_the_files(name: str, outputs: dict[str, Path], payload: Path, tmp_path: Path) -> None:
    inner = inner_volume(outputs[name], tmp_path / "inner.iso")
    _run("xorriso", "-osirrox", "on", "-indev", inner, "-extract", "/PACK", tmp_path / "x")
    assert (tmp_path / "x" / "marker.txt").read_bytes() == (payload / "marker.txt").read_bytes()
    assert (tmp_path / "x" / "Docs" / "guide é.html").read_bytes() == (payload / "guide.html").read_bytes()
    assert (tmp_path / "x" / "big.bin").read_bytes() == (payload / "big.bin").read_bytes()
    _run("7z", "x", "-y", f"-o{tmp_path / 'z'}", inner, "PACK")
    assert (tmp_path / "z" / "PACK" / "Docs" / "guide é.html").read_bytes() == (payload / "guide.html").read_bytes()
    check_path_tables(inner)  # both path tables of the inner volume agree with its records
    # both volumes show the same tree (paths; xorriso marks the boot catalog of the outer one only)
    outer_list = _run("xorriso", "-indev", outputs[name], "-find", "/")
    inner_list = _run("xorriso", "-indev", inner, "-find", "/")
    assert sorted(outer_list.splitlines()) == sorted(inner_list.splitlines())
    assert f"'{GUIDE}'" in inner_list.splitlines()


@pytest.mark.parametrize("name", CASES)
def test_base_files_kept_in_both_volumes(name: str, bases: dict[str, Path], outputs: dict[str, Path],
                                         tmp_path: Path) -> None:
    def files(iso: Path) -> set[str]:
        listing = _run("xorriso", "-indev", iso, "-find", "/", "-type", "f")
        return {line for line in listing.splitlines() if line.startswith("'")}

    base_inner = files(inner_volume(bases[name], tmp_path / "base-inner.iso"))
    assert base_inner and base_inner <= files(inner_volume(outputs[name], tmp_path / "inner.iso"))
    assert files(bases[name]) <= files(outputs[name])


@pytest.mark.parametrize("name", CASES)
def test_descriptors_of_both_volumes(name: str, outputs: dict[str, Path]) -> None:
    """The outer volume spans the file; the inner one, counted from block 16, ends there too, or where
    the moved appended partitions start."""
    image = outputs[name].read_bytes()
    layout = inspect_iso(outputs[name])
    assert layout.partition_offset == 16
    assert layout.data_end == (layout.appended[0].offset if layout.appended else layout.file_size)
    for vd_block, origin, end in ((16, 0, len(image)), (32, 16, layout.data_end)):
        vd = image[vd_block * BLOCK : (vd_block + 1) * BLOCK]
        assert vd[:6] == b"\x01CD001"
        assert struct.unpack_from("<I", vd, 80)[0] == struct.unpack_from(">I", vd, 84)[0] == end // BLOCK - origin
        root_extent = struct.unpack_from("<I", vd, 158)[0] + origin
        assert image[root_extent * BLOCK + 33] == 0  # the root's "." record is where its descriptor says


def _sfdisk(iso: Path) -> list[dict[str, object]]:
    table = json.loads(_run("sfdisk", "--json", iso))["partitiontable"]
    parts: list[dict[str, object]] = table["partitions"]
    return parts


@pytest.mark.parametrize("name", [c for c in CASES if c not in APPENDED])
def test_partition_tables_follow_the_image(name: str, bases: dict[str, Path], outputs: dict[str, Path]) -> None:
    """sfdisk reads the same partitions; those that reached the base's end reach the new end."""
    base_sectors = bases[name].stat().st_size // SECTOR
    sectors = outputs[name].stat().st_size // SECTOR
    before, after = _sfdisk(bases[name]), _sfdisk(outputs[name])
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        assert (old["start"], old["type"], old.get("bootable")) == (new["start"], new["type"], new.get("bootable"))
        old_end = int(str(old["start"])) + int(str(old["size"]))
        new_end = int(str(new["start"])) + int(str(new["size"]))
        if old_end >= base_sectors - 64:  # reached the base's end (a GPT's last usable LBA is a bit before)
            assert sectors - 64 <= new_end <= sectors
        else:
            assert new_end == old_end
    # the partition holding the inner volume covers it: from block 16 to the volume's end
    holding = [p for p in after if p["start"] == 64 and int(str(p["size"])) >= (sectors - 64) - 64]
    assert holding or name == "grub-offset.iso"  # grub-mkrescue's GPT gaps hold it in pieces around the ESP


def test_appended_partitions_move_after_the_files(bases: dict[str, Path], outputs: dict[str, Path]) -> None:
    """sfdisk: partition 1 (the inner volume) now ends where the ESP starts, after the new files; the ESP
    and the filler after it keep their sizes, the filler still reaches the end; the El Torito EFI entry
    is the moved ESP, which still holds GRUB."""
    before, after = _sfdisk(bases["grub-appended.iso"]), _sfdisk(outputs["grub-appended.iso"])
    out = inspect_iso(outputs["grub-appended.iso"])
    sectors = out.file_size // SECTOR
    (iso, esp, gap), (old_iso, old_esp, old_gap) = after, before
    assert iso["start"] == old_iso["start"] == 64 and int(str(iso["start"])) + int(str(iso["size"])) == esp["start"]
    assert esp["size"] == old_esp["size"] and int(str(esp["start"])) * SECTOR == out.data_end
    assert esp["type"] == old_esp["type"] == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
    assert gap["size"] == old_gap["size"] and int(str(gap["start"])) + int(str(gap["size"])) >= sectors - 64
    (efi,) = out.efi_entries
    assert efi.load_rba * BLOCK == out.data_end and out.efi_entry_partition(efi) == "GPT 2"
    base = inspect_iso(bases["grub-appended.iso"])
    assert [(a.table, a.index, a.kind, a.size) for a in out.appended] == [
        (a.table, a.index, a.kind, a.size) for a in base.appended]
    listing = subprocess.run(["mdir", "-b", "-i", f"{outputs['grub-appended.iso']}@@{out.data_end}", "::/EFI/BOOT"],
                             capture_output=True, text=True, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}, timeout=60)
    assert "BOOTX64.EFI" in listing.stdout.upper(), listing.stderr
    mkisofs = _run("xorriso", "-indev", outputs["grub-appended.iso"], "-report_el_torito", "as_mkisofs")
    assert f"-e '--interval:appended_partition_2_start_{efi.load_rba}s_size_{efi.sector_count}d:all::'" in mkisofs


def test_appended_mbr_partition_moves_after_the_files(bases: dict[str, Path], outputs: dict[str, Path]) -> None:
    """MBR only: the 0xcd partition 1 (the inner volume) grows up to the ESP, which moved after the
    new files with its size, and is still the FAT file system it was."""
    (old_iso, old_esp), (iso, esp) = _sfdisk(bases["mbr-appended.iso"]), _sfdisk(outputs["mbr-appended.iso"])
    out = inspect_iso(outputs["mbr-appended.iso"])
    assert (iso["start"], iso["type"]) == (old_iso["start"], old_iso["type"]) == (64, "cd")
    assert int(str(iso["start"])) + int(str(iso["size"])) == esp["start"]
    assert (esp["size"], esp["type"]) == (old_esp["size"], old_esp["type"]) == (2880, "ef")
    assert int(str(esp["start"])) * SECTOR == out.data_end and out.esp == (out.data_end, 1440 * 1024)
    info = subprocess.run(["minfo", "-i", f"{outputs['mbr-appended.iso']}@@{out.data_end}", "::"],
                          capture_output=True, text=True, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}, timeout=60)
    assert "APPENDED" in info.stdout, info.stderr


@pytest.mark.parametrize("name", CASES)
def test_sgdisk_finds_no_new_problem(name: str, bases: dict[str, Path], outputs: dict[str, Path]) -> None:
    def problems(iso: Path) -> list[str]:
        proc = subprocess.run(["sgdisk", "-v", str(iso)], capture_output=True, text=True, timeout=60)
        return sorted(line for line in proc.stdout.splitlines() if line.startswith("Problem"))

    assert problems(outputs[name]) == problems(bases[name])  # live-build's own overlaps stay, no new one


@pytest.mark.parametrize("name", CASES)
def test_layout_kept(name: str, bases: dict[str, Path], outputs: dict[str, Path]) -> None:
    base, out = inspect_iso(bases[name]), inspect_iso(outputs[name])
    moved = {e.load_rba for e in base.el_torito} - {e.load_rba for e in out.el_torito}
    assert [replace(e, load_rba=0) for e in out.el_torito] == [replace(e, load_rba=0) for e in base.el_torito]
    assert all(rba * BLOCK >= base.data_end for rba in moved)  # only images of appended partitions move
    assert out.boot_modes() == base.boot_modes() and out.notes == base.notes
    report = _run("xorriso", "-indev", outputs[name], "-report_system_area", "plain")
    assert "Partition offset   : 16" in report


def test_inspect_names_the_offset(outputs: dict[str, Path]) -> None:
    result = run_cli("inspect", str(outputs["livebuild.iso"]))
    assert result.returncode == 0, result.stderr
    assert "partition offset: 16 (a second ISO 9660 volume, its blocks counted from byte 32768" in result.stdout
    assert "0x00 empty, sector 64" in result.stdout  # live-build's partition 1 holding the inner volume


def test_build_path_takes_the_livebuild_layout(bases: dict[str, Path], tmp_path: Path) -> None:
    """``build --format iso --iso-engine pycdlib`` on a live-build layout: the plan of the CLI's own path."""
    key = tmp_path / "key"
    (key / "Docs").mkdir(parents=True)
    (key / "Menu.html").write_text("<!doctype html><title>Menu</title>")
    (key / "Docs" / "guide.html").write_text("<!doctype html><title>Guide</title>")
    base = bases["livebuild.iso"]
    layout = inspect_iso(base)
    out = tmp_path / "out.iso"
    assert write_iso(plan_overlay(base, key, 946684800), out, "pycdlib", layout) == "pycdlib"
    inner = inner_volume(out, tmp_path / "inner.iso")
    listing = _run("xorriso", "-indev", inner, "-find", "/PACK", "-type", "f")
    assert "/PACK/Docs/guide.html" in listing


def test_offset_with_an_appended_apm_partition_is_refused(tmp_path: Path, payload: Path) -> None:
    """Apple partition map entries are not moved: an appended one behind a partition offset is refused."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.txt").write_text("a\n")
    esp = tmp_path / "esp.img"
    esp.write_bytes(bytes(1440 * 1024))
    _run("mformat", "-i", esp, "-f", "1440", "::")
    iso = tmp_path / "offset.iso"
    _run("xorriso", "-as", "mkisofs", "-o", iso, "-partition_offset", "16", "-append_partition", "2", "0xef", esp,
         "-appended_part_as_apm", root)
    out = tmp_path / "out.iso"
    with pytest.raises(AssemblyError, match="partition offset 16 with an Apple partition map entry") as err:
        write_overlay_append(plan_for(iso, payload), out)
    assert err.value.hint is not None and "xorriso" in err.value.hint
    assert not out.exists()


@pytest.mark.boot
@pytest.mark.parametrize(("firmware", "medium"), MODES)
def test_appended_output_boots(firmware: qemu.Firmware, medium: qemu.Medium, outputs: dict[str, Path]) -> None:
    """The output of grub-appended.iso boots everywhere the base did (UEFI disk: from the moved ESP)."""
    missing = qemu.missing_tools()
    assert not missing, f"install the Debian packages {' '.join(missing)} (make install does)"
    text = qemu.boot(outputs["grub-appended.iso"], firmware, medium, timeout=TIMEOUT[firmware])
    assert qemu.marker(text) == "yes", text[-1500:]
