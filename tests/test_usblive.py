"""usb-live images (packbuilder.image.usblive) from the fixture bases: read back with independent tools
(sfdisk, mtools, fsck.fat, e2fsck, debugfs) and booted in QEMU as a USB disk under SeaBIOS and OVMF.

The GRUB and ISOLINUX fixtures print ``PACKBUILDER-MARKER: yes`` when the medium they started from has
/PACK/marker.txt: the key's tree holds it, so a "yes" proves the boot stage reads the FAT32 partition
that carries the pack. Debian's iPXE image (ISOLINUX) and GRUB rescue image (GRUB) show their own
banner or menu.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from packbuilder.errors import AssemblyError, InputError
from packbuilder.image import usblive
from tests import qemu
from tests.test_iso_fixtures import isos  # noqa: F401  (the session fixture that builds the bases)

MIB = 1 << 20
SIZE = 96 * MIB
PERSISTENCE = 16 * MIB
EPOCH = 946684800
VOLUME_ID = 0x1234ABCD
MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
# name -> (base, persistence bytes)
IMAGES = {
    "grub": ("grub-hybrid.iso", PERSISTENCE),
    "isolinux": ("isolinux-hybrid.iso", None),
    "ipxe": ("ipxe.iso", None),
    "rescue": ("grub-rescue-cdrom.iso", PERSISTENCE),
}
# (image, firmware) -> what the serial console must show
BOOTS: dict[tuple[str, qemu.Firmware], str | re.Pattern[str]] = {
    ("grub", "bios"): qemu.MARKER,
    ("grub", "uefi"): qemu.MARKER,
    ("isolinux", "bios"): qemu.MARKER,
    ("ipxe", "bios"): "iPXE initialising devices",
    ("ipxe", "uefi"): "iPXE initialising devices",
    ("rescue", "bios"): "Memtest86+",  # an entry of the rescue image's own grub.cfg menu
}
TIMEOUT = {"bios": 45.0, "uefi": 120.0}  # TCG; measured here: BIOS about 1 s, UEFI about 6 s


def make_tree(root: Path) -> Path:
    """A small key: the menu, a Documents folder, an app with non-ASCII names, the fixtures' marker."""
    (root / "Documents").mkdir(parents=True)
    (root / "Documents" / "Lisez-moi.txt").write_text("Vos documents ici.\n")
    (root / "Apps" / "Éditeur").mkdir(parents=True)
    (root / "Apps" / "Éditeur" / "été.txt").write_text("été\n")
    (root / "Menu.html").write_text("<!doctype html><title>Menu</title>\n")
    (root / "PACK").mkdir()
    (root / "PACK" / "marker.txt").write_text("marker\n")
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tree(tmp_path_factory.mktemp("key") / "tree")


@dataclass(frozen=True)
class Built:
    path: Path
    seconds: float


@pytest.fixture(scope="module")
def images(isos: Path, tree: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:  # noqa: F811
    out = tmp_path_factory.mktemp("usblive")
    built = {}
    for name, (base, persistence) in IMAGES.items():
        start = time.monotonic()
        usblive.write_usb_live(isos / base, tree, out / f"{name}.img", SIZE, "PACKTEST", VOLUME_ID, EPOCH, persistence)
        built[name] = Built(out / f"{name}.img", time.monotonic() - start)
    return built


def _run(*args: str | Path) -> str:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=MTOOLS_ENV)
    assert proc.returncode == 0, f"{args[0]} failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}"
    return proc.stdout


@dataclass(frozen=True)
class Part:
    start: int  # sectors
    size: int
    type: str
    bootable: bool


def _partitions(image: Path) -> list[Part]:
    table = json.loads(_run("sfdisk", "--json", image))["partitiontable"]
    assert table["label"] == "dos" and table["sectorsize"] == 512
    assert int(table["id"], 16) == VOLUME_ID
    return [Part(p["start"], p["size"], p["type"], bool(p.get("bootable"))) for p in table["partitions"]]


def _slice(image: Path, part: Part, dest: Path) -> Path:
    with image.open("rb") as src, dest.open("wb") as out:
        src.seek(part.start * 512)
        remaining = part.size * 512
        while remaining:
            chunk = src.read(min(remaining, 4 * MIB))
            out.write(chunk)
            remaining -= len(chunk)
    return dest


# --- structure -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", IMAGES)
def test_partition_table(name: str, images: dict[str, Built]) -> None:
    image = images[name].path
    assert image.stat().st_size == SIZE
    parts = _partitions(image)
    fat_part = parts[0]
    assert (fat_part.start, fat_part.type, fat_part.bootable) == (2048, "c", True)  # entry 1, active
    if IMAGES[name][1] is None:
        assert len(parts) == 1 and (fat_part.start + fat_part.size) * 512 == SIZE
    else:
        pers = parts[1]
        assert pers.type == "83" and not pers.bootable
        assert pers.start == fat_part.start + fat_part.size  # FAT32 takes all the rest
        assert (pers.start * 512, pers.size * 512) == (SIZE - PERSISTENCE, PERSISTENCE)
    mbr = image.read_bytes()[:512]
    assert mbr[510:] == b"\x55\xaa" and any(mbr[:440])  # boot code present
    # CHS of entry 1 for 255 heads x 63 sectors: LBA 2048 is cylinder 0, head 32, sector 33
    assert mbr[446 + 1 : 446 + 4] == bytes((32, 33, 0))


@pytest.mark.parametrize("name", IMAGES)
def test_fat_partition_is_clean_and_holds_both_trees(name: str, images: dict[str, Built], tmp_path: Path) -> None:
    image = images[name].path
    part = _partitions(image)[0]
    fsck = subprocess.run(["fsck.fat", "-n", str(_slice(image, part, tmp_path / "fat.img"))], capture_output=True, text=True)
    assert fsck.returncode == 0 and "differences" not in fsck.stdout, fsck.stdout + fsck.stderr
    at = f"{image}@@{part.start * 512}"
    root = _run("mdir", "-b", "-i", at, "::/")
    for path in ("::/Menu.html", "::/Documents/", "::/PACK/", "::/Apps/"):
        assert path in root, root
    assert _run("mtype", "-i", at, "::/PACK/marker.txt") == "marker\n"
    assert _run("mtype", "-i", at, "::/Apps/Éditeur/été.txt") == "été\n"
    assert "PACKTEST" in _run("mlabel", "-s", "-i", at, "::")


def test_boot_files_per_loader(images: dict[str, Built]) -> None:
    def listing(name: str, folder: str) -> str:
        return _run("mdir", "-a", "-b", "-i", f"{images[name].path}@@{MIB}", folder).upper()

    grub = listing("grub", "::/EFI/BOOT")  # from the ISO's El Torito EFI image: x64 and ia32
    assert "BOOTX64.EFI" in grub and "BOOTIA32.EFI" in grub
    assert "NORMAL.MOD" in listing("grub", "::/boot/grub/i386-pc")  # this machine's modules, for its core.img
    isolinux = listing("isolinux", "::/isolinux")
    assert "LDLINUX.SYS" in isolinux and "SYSLINUX.CFG" in isolinux and "LDLINUX.C32" in isolinux
    assert "LDLINUX.SYS" in listing("ipxe", "::/")  # iPXE's ISOLINUX lives at the root
    raw = images["grub"].path.read_bytes()[: MIB]
    assert raw[512:516] != bytes(4), "no GRUB core image after the MBR"
    assert b"(,1)/boot/grub" in _run_bytes("mtype", "-i", f"{images['grub'].path}@@{MIB}", "::/EFI/BOOT/BOOTX64.EFI")


def test_large_base_files_copied_from_the_iso(isos: Path, images: dict[str, Built], tmp_path: Path) -> None:  # noqa: F811
    """Files of 1 MiB or more go from the ISO straight into the image: efi.img (2.8 MiB) is the same."""
    _run("xorriso", "-osirrox", "on", "-indev", isos / "grub-hybrid.iso", "-extract", "/efi.img", tmp_path / "efi.img")
    expected = (tmp_path / "efi.img").read_bytes()
    assert len(expected) >= MIB
    assert _run_bytes("mtype", "-i", f"{images['grub'].path}@@{MIB}", "::/efi.img") == expected


def _run_bytes(*args: str) -> bytes:
    proc = subprocess.run(list(args), capture_output=True, env=MTOOLS_ENV)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("name", ["grub", "rescue"])
def test_persistence_volume(name: str, images: dict[str, Built], tmp_path: Path) -> None:
    image = images[name].path
    ext4 = _slice(image, _partitions(image)[1], tmp_path / "persistence.img")
    check = subprocess.run(["e2fsck", "-fn", str(ext4)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert _run("debugfs", "-R", "cat /persistence.conf", ext4) == "/ union\n"
    stats = _run("dumpe2fs", "-h", ext4)
    assert re.search(r"Filesystem volume name:\s+persistence\n", stats), stats
    assert "extent" in stats and re.search(r"Filesystem created:\s+Sat Jan  1 00:00:00 2000", stats), stats


def test_image_is_sparse(images: dict[str, Built]) -> None:
    st = images["grub"].path.stat()
    assert st.st_blocks * 512 < st.st_size // 2


def test_reproducible(isos: Path, tree: Path, images: dict[str, Built], tmp_path: Path) -> None:  # noqa: F811
    """Same inputs, same bytes: a second write of the GRUB (with persistence) and ISOLINUX images."""
    for name in ("grub", "isolinux"):
        base, persistence = IMAGES[name]
        again = tmp_path / f"{name}.img"
        usblive.write_usb_live(isos / base, tree, again, SIZE, "PACKTEST", VOLUME_ID, EPOCH, persistence)
        assert again.read_bytes() == images[name].path.read_bytes(), name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grub.img", "isolinux.img"]  # no work files left


# --- refusals ---------------------------------------------------------------------------------------


def test_refuses_files_that_do_not_fit(isos: Path, tmp_path: Path) -> None:  # noqa: F811
    big = make_tree(tmp_path / "big")
    with (big / "Documents" / "big.bin").open("wb") as f:
        f.truncate(80 * MIB)  # sparse here, but 80 MiB on FAT32
    out = tmp_path / "out.img"
    with pytest.raises(AssemblyError, match=r"need \d+ bytes .* with a 16777216-byte persistence volume leaves \d+ bytes"):
        usblive.write_usb_live(isos / "grub-hybrid.iso", big, out, SIZE, "PACKTEST", VOLUME_ID, EPOCH, PERSISTENCE)
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["big"]


def test_refuses_sizes(isos: Path, tree: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "out.img"
    with pytest.raises(AssemblyError, match="too small: the FAT32 partition needs at least"):
        usblive.write_usb_live(isos / "grub-hybrid.iso", tree, out, 40 * MIB, "PACKTEST", VOLUME_ID, EPOCH, 16 * MIB)
    with pytest.raises(InputError, match="persistence volume is too small"):
        usblive.write_usb_live(isos / "grub-hybrid.iso", tree, out, SIZE, "PACKTEST", VOLUME_ID, EPOCH, MIB)
    with pytest.raises(InputError, match="not a FAT volume label"):
        usblive.write_usb_live(isos / "grub-hybrid.iso", tree, out, SIZE, "bad label!", VOLUME_ID, EPOCH)
    assert not any(tmp_path.iterdir())


def test_refuses_a_tree_clashing_with_the_base(isos: Path, tmp_path: Path) -> None:  # noqa: F811
    clash = make_tree(tmp_path / "clash")
    (clash / "BOOT" / "GRUB").mkdir(parents=True)
    (clash / "BOOT" / "GRUB" / "grub.cfg").write_text("not the base's\n")
    with pytest.raises(AssemblyError, match=r"problems? in .* for a FAT32 key") as caught:
        usblive.write_usb_live(isos / "grub-hybrid.iso", clash, tmp_path / "out.img", SIZE, "PACKTEST", VOLUME_ID, EPOCH)
    assert any("BOOT/GRUB/grub.cfg: the base ISO has boot/grub/grub.cfg too" in d for d in caught.value.details)


def test_refuses_a_base_without_a_known_bios_loader(tree: Path, tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "readme.txt").write_text("no loader\n")
    plain = tmp_path / "plain.iso"
    _run("xorriso", "-as", "mkisofs", "-o", plain, "-R", "-J", tmp_path / "root")
    with pytest.raises(AssemblyError, match=r"neither an ISOLINUX config .* nor /boot/grub/grub\.cfg"):
        usblive.write_usb_live(plain, tree, tmp_path / "out.img", SIZE, "PACKTEST", VOLUME_ID, EPOCH)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.iso", "root"]


def test_plan_layout() -> None:
    layout = usblive.plan_layout(8 * 1024 * MIB + 12345, 1024 * MIB + 1)  # persistence rounds up to 1 MiB
    assert layout.persistence_sectors * 512 == 1025 * MIB
    assert (layout.persistence_start + layout.persistence_sectors) * 512 == 8 * 1024 * MIB
    assert layout.fat_sectors == layout.persistence_start - 2048
    assert usblive.plan_layout(SIZE, None).persistence_sectors == 0


# --- QEMU boots ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Boot:
    text: str
    seconds: float


def _boot(image: Path, firmware: qemu.Firmware, expect: str | re.Pattern[str]) -> Boot:
    start = time.monotonic()
    text = qemu.boot(image, firmware, "disk", timeout=TIMEOUT[firmware], expect=expect)
    return Boot(text, time.monotonic() - start)


@pytest.fixture(scope="module")
def boots(images: dict[str, Built]) -> Iterator[dict[tuple[str, qemu.Firmware], Future[Boot]]]:
    """Every boot, two at a time (TCG runs one guest per core), started on first use."""
    missing = qemu.missing_tools()
    assert not missing, f"install the Debian packages {' '.join(missing)} (make install does)"
    pool = ThreadPoolExecutor(max_workers=2)
    futures = {key: pool.submit(_boot, images[key[0]].path, key[1], expect) for key, expect in BOOTS.items()}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)
    done = [(key, f.result()) for key, f in futures.items() if f.done() and not f.cancelled() and f.exception() is None]
    print("\nusb-live build times (s): " + ", ".join(f"{n} {b.seconds:.2f}" for n, b in images.items()))
    print("usb-live boot times (s): " + ", ".join(f"{'/'.join(k)} {b.seconds:.1f}" for k, b in done))


@pytest.mark.boot
@pytest.mark.parametrize(("name", "firmware"), list(BOOTS))
def test_boot_as_usb_disk(name: str, firmware: qemu.Firmware, boots: dict[tuple[str, qemu.Firmware], Future[Boot]]) -> None:
    result = boots[name, firmware].result()
    expect = BOOTS[name, firmware]
    tail = result.text[-1500:]
    if isinstance(expect, re.Pattern):
        assert qemu.marker(result.text) == "yes", f"no 'PACKBUILDER-MARKER: yes' after {result.seconds:.1f} s:\n{tail}"
    else:
        assert expect in result.text, f"no {expect!r} after {result.seconds:.1f} s:\n{tail}"
    if firmware == "bios":
        assert "Booting from Hard Disk" in result.text  # SeaBIOS started the USB key's MBR, not a CD
