"""A base laid out the way live-build writes Debian live ISOs (isohybrid MBR with a partition offset,
GPT with the ESP, and an Apple partition map whose "EFI" entry is typed Apple_HFS but holds FAT):
it is not an HFS+ hybrid, and the xorriso engine adds the pack to it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from packbuilder.image.inspect import inspect_iso
from packbuilder.image.iso import write_iso
from packbuilder.image.overlay import plan_overlay


def make_livebuild_like_iso(tmp: Path) -> Path:
    tree = tmp / "binary"
    (tree / "isolinux").mkdir(parents=True)
    (tree / "boot" / "grub").mkdir(parents=True)
    (tree / "live").mkdir()
    shutil.copy("/usr/lib/ISOLINUX/isolinux.bin", tree / "isolinux" / "isolinux.bin")
    (tree / "live" / "filesystem.squashfs").write_bytes(b"not really squashfs")
    efi = tree / "boot" / "grub" / "efi.img"
    subprocess.run(["mkfs.fat", "-C", str(efi), "2048"], check=True, capture_output=True)
    out = tmp / "live.iso"
    # The options of live-build's binary_iso stage for an iso-hybrid image with syslinux and grub-efi.
    subprocess.run(
        [
            "xorriso",
            "-as",
            "mkisofs",
            "-R",
            "-r",
            "-J",
            "-joliet-long",
            "-l",
            "-iso-level",
            "3",
            "-V",
            "d-live 12",
            "-isohybrid-mbr",
            "/usr/lib/ISOLINUX/isohdpfx.bin",
            "-partition_offset",
            "16",
            "-b",
            "isolinux/isolinux.bin",
            "-c",
            "isolinux/boot.cat",
            "-no-emul-boot",
            "-boot-load-size",
            "4",
            "-boot-info-table",
            "-eltorito-alt-boot",
            "-e",
            "boot/grub/efi.img",
            "-no-emul-boot",
            "-isohybrid-gpt-basdat",
            "-isohybrid-apm-hfsplus",
            "-o",
            str(out),
            str(tree),
        ],
        check=True,
        capture_output=True,
    )
    return out


def test_livebuild_layout_is_not_an_hfsplus_hybrid_and_takes_the_pack(tmp_path: Path) -> None:
    base = make_livebuild_like_iso(tmp_path)
    layout = inspect_iso(base)
    assert layout.apm is not None and any(p.type == "Apple_HFS" for p in layout.apm.partitions)
    assert not layout.hfsplus
    key = tmp_path / "key"
    (key / "Docs").mkdir(parents=True)
    (key / "Menu.html").write_text("<!doctype html><title>Menu</title>")
    (key / "Docs" / "guide.html").write_text("<!doctype html><title>Guide</title>")
    plan = plan_overlay(base, key, 946684800)
    out = tmp_path / "out.iso"
    assert write_iso(plan, out, "xorriso", layout) == "xorriso"
    listing = subprocess.run(
        ["xorriso", "-indev", str(out), "-find", "/PACK", "-type", "f"], check=True, capture_output=True, text=True
    ).stdout
    assert "/PACK/Docs/guide.html" in listing
    assert inspect_iso(out).boot_modes() == layout.boot_modes()
