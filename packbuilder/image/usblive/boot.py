"""How a usb-live key starts the base: BIOS through this machine's GRUB or SYSLINUX, UEFI through
the base's own EFI loader (a grub-mkrescue GRUB re-pointed at partition 1). See the package's
docstring for the whole picture.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from packbuilder import tools
from packbuilder.errors import AssemblyError, ToolMissing
from packbuilder.i18n import _
from packbuilder.image import mbr
from packbuilder.image.authenticode import read_signature
from packbuilder.image.fat.dirent import clamp_epoch
from packbuilder.image.fat.geometry import PART_START
from packbuilder.image.mbr import SECTOR
from packbuilder.image.usblive.base import find_nocase

GRUB_PC = Path("/usr/lib/grub/i386-pc")
SYSLINUX_MODULES = Path("/usr/lib/syslinux/modules/bios")
SYSLINUX_MBR = Path("/usr/lib/syslinux/mbr/mbr.bin")
# Where a base's ISOLINUX config may be, first match wins (Debian live: /isolinux; iPXE: /).
ISOLINUX_DIRS = ("isolinux", "boot/isolinux", "syslinux", "boot/syslinux", "")
GRUB_CFG = "boot/grub/grub.cfg"
# Modules built into the BIOS core image: enough to find the FAT partition and enter normal mode;
# the rest load from /boot/grub/i386-pc on the key.
GRUB_CORE_MODULES = (
    "biosdisk",
    "part_msdos",
    "part_gpt",
    "fat",
    "search",
    "search_fs_uuid",
    "search_fs_file",
    "configfile",
    "normal",
    "echo",
    "test",
)
# boot.img fields (grub-core/boot/i386/pc/boot.S, include/grub/i386/pc/boot.h)
GRUB_BPB = (0x03, 0x5A)  # the BPB area grub-bios-setup keeps from the old sector
GRUB_KERNEL_SECTOR = 0x5C  # 64-bit LBA of core.img's first sector
GRUB_DRIVE_CHECK = 0x66  # a jmp that grub-bios-setup turns into two nops for hard disks


@dataclass(frozen=True)
class Loader:
    """How a BIOS starts the base: ``kind`` "grub" or "syslinux", ``folder`` the SYSLINUX folder."""

    kind: str
    folder: str = ""



def grub_prefix(data: bytes | bytearray) -> tuple[int, int] | None:
    """(offset, room) of the built-in prefix of a GRUB EFI image, None if it is no GRUB image.
    The modules follow a "mimg" header (include/grub/kernel.h: grub_module_info32/64), each with a
    (type, size) header; type 3 is the prefix, a NUL-padded string."""
    at = data.find(b"mimg")
    while at >= 0:
        for fmt in ("<IIQQ", "<III"):  # 64-bit then 32-bit (magic, [padding,] offset, size)
            *_magic, offset, size = struct.unpack_from(fmt, data, at)
            if offset != struct.calcsize(fmt) or size > len(data) - at:
                continue
            pos, end = at + offset, at + size
            while pos + 8 <= end:
                kind, length = struct.unpack_from("<II", data, pos)
                if length < 8 or pos + length > end:
                    break
                if kind == 3:
                    return pos + 8, length - 8
                pos += length
        at = data.find(b"mimg", at + 1)
    return None


def patch_efi_grub(root: Path, extras: Path) -> list[str]:
    """A GRUB EFI loader whose prefix is "()/..." (grub-mkrescue's) reads the drive it started from,
    which on a key is the whole disk, not the FAT partition: give it "(,1)/...", partition 1 of the
    same drive. Unsigned images only lose nothing; a signature would no longer match (grub-mkrescue
    signs nothing). Returns the loaders patched."""
    patched = []
    for name in ("BOOTX64.EFI", "BOOTIA32.EFI"):
        path = find_nocase(root, f"EFI/BOOT/{name}")
        if path is None or not path.is_file():
            continue
        data = bytearray(path.read_bytes())
        found = grub_prefix(data)
        if found is None:
            continue
        offset, room = found
        prefix = bytes(data[offset : offset + room]).split(b"\0")[0]
        if not prefix.startswith(b"()"):
            continue
        signature = read_signature(bytes(data))
        if signature.signed:
            # Secure Boot firmware (or shim) would refuse the patched copy: the chain would be lost.
            raise AssemblyError(
                _(
                    "{file}: a signed GRUB whose prefix {prefix!r} reads the whole drive; on a key it must be patched,"
                    " which breaks its signature ({signature})"
                ).format(file=path.relative_to(root), prefix=prefix.decode(errors="replace"), signature=signature.describe()),
                hint=_(
                    "use --format iso for this base (its signed loaders are kept as they are), or a base whose signed"
                    " GRUB finds its config by file (Debian's and Ubuntu's do)"
                ),
            )
        new = b"(,1)" + prefix[2:]
        if len(new) >= room:
            raise AssemblyError(
                _("{file}: no room to point its GRUB prefix {prefix!r} at partition 1").format(
                    file=path.relative_to(root), prefix=prefix
                )
            )
        data[offset : offset + room] = new.ljust(room, b"\0")
        rel = path.relative_to(root)
        (extras / rel).parent.mkdir(parents=True, exist_ok=True)
        (extras / rel).write_bytes(bytes(data))
        patched.append(str(rel))
    return patched


def detect_loader(root: Path) -> Loader:
    """The base's BIOS loader, from its extracted files: ISOLINUX first (Debian live has both)."""
    for folder in ISOLINUX_DIRS:
        if (root / folder / "isolinux.cfg").is_file():
            return Loader("syslinux", folder)
    if (root / GRUB_CFG).is_file():
        return Loader("grub")
    raise AssemblyError(
        _(
            "the base has neither an ISOLINUX config (isolinux.cfg) nor /boot/grub/grub.cfg: its BIOS loader cannot be"
            " installed on a FAT32 key"
        ),
        hint=_("use a live ISO started by ISOLINUX or GRUB (Debian live, Ubuntu and most others), or --format iso"),
    )


def syslinux_extras(root: Path, extras: Path, loader: Loader) -> list[str]:
    """syslinux.cfg beside isolinux.cfg and this machine's .c32 modules; returns the base's files replaced."""
    folder = extras / loader.folder
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / loader.folder / "isolinux.cfg", folder / "syslinux.cfg")
    replaced = []
    for module in sorted((root / loader.folder).glob("*.c32")):
        ours = SYSLINUX_MODULES / module.name
        if module.name == "ldlinux.c32":
            module.unlink()  # the installer writes its own
        elif ours.is_file():
            shutil.copyfile(ours, folder / module.name)
            replaced.append(module.name)
    for stale in ("ldlinux.sys", "syslinux.cfg"):
        (root / loader.folder / stale).unlink(missing_ok=True)
    return replaced


def grub_core(work: Path, extras: Path, volume_id: int) -> bytes:
    """This machine's BIOS GRUB: a core image finding the FAT partition by its volume id, its modules
    in extras/boot/grub/i386-pc (they replace the base's, which belong to another core)."""
    tools.require("grub-mkimage")
    for needed in ("boot.img", "kernel.img", "diskboot.img"):
        if not (GRUB_PC / needed).is_file():
            raise ToolMissing(
                _("{path} not found").format(path=GRUB_PC / needed),
                hint=_("install it (Debian/Ubuntu: apt-get install grub-pc-bin)"),
            )
    early = work / "early.cfg"
    fs_uuid = f"{volume_id >> 16:04x}-{volume_id & 0xFFFF:04x}"  # how GRUB's fat module names the volume id
    early.write_text(f"search --no-floppy --fs-uuid --set=root {fs_uuid}\nset prefix=($root)/boot/grub\n")
    core = work / "core.img"
    tools.run(
        ["grub-mkimage", "-O", "i386-pc", "-o", core, "-c", early, "-p", "(,msdos1)/boot/grub", "-d", GRUB_PC, *GRUB_CORE_MODULES]
    )
    modules = extras / "boot" / "grub" / "i386-pc"
    modules.mkdir(parents=True)
    for path in sorted(GRUB_PC.iterdir()):
        if path.suffix in (".mod", ".lst") or path.name in ("efiemu32.o", "efiemu64.o", "modinfo.sh"):
            shutil.copyfile(path, modules / path.name)
    data = core.read_bytes()
    if len(data) > (PART_START - 1) * SECTOR:
        raise AssemblyError(
            _("GRUB's core image is {size} bytes, more than the 1 MiB gap before the partition").format(
                size=len(data)
            )
        )
    return data



def grub_boot_code() -> bytes:
    """GRUB's boot.img as grub-bios-setup patches it for a hard disk with core.img at sector 1."""
    img = bytearray((GRUB_PC / "boot.img").read_bytes()[:mbr.BOOT_CODE])
    img[GRUB_BPB[0] : GRUB_BPB[1]] = bytes(GRUB_BPB[1] - GRUB_BPB[0])  # our disk had no BPB there
    struct.pack_into("<Q", img, GRUB_KERNEL_SECTOR, 1)
    img[GRUB_DRIVE_CHECK : GRUB_DRIVE_CHECK + 2] = b"\x90\x90"  # trust DL only if it is a hard disk
    return bytes(img)


def check_core(core: bytes) -> None:
    """diskboot.img (core's first sector) must read the rest from sector 2, as embedded at sector 1."""
    start, count, segment = struct.unpack_from("<QHH", core, SECTOR - 12)
    if start != 2 or count != -(-len(core) // SECTOR) - 1 or segment != 0x820:
        raise AssemblyError(
            _("unexpected GRUB core image blocklist ({start}, {count}, {segment:#x})").format(
                start=start, count=count, segment=segment
            ),
            hint=_("install GRUB 2.02 or later (grub-pc-bin)"),
        )


def install_syslinux(image: Path, loader: Loader, epoch: int) -> None:
    """SYSLINUX's mtools installer: its boot sector into the partition, ldlinux.sys/.c32 into the folder."""
    tools.require("syslinux")
    tools.require("mcopy")
    # mtools stamps the files it writes with SOURCE_DATE_EPOCH: the same time as ours.
    env = {"SOURCE_DATE_EPOCH": str(clamp_epoch(epoch)), "MTOOLS_SKIP_CHECK": "1"}
    tools.run(["syslinux", "--install", "--offset", str(PART_START * SECTOR), "--directory", "/" + loader.folder, image], env=env)


def sync_backup_boot_sector(fd: int) -> None:
    """The installer rewrites the boot sector only: the FAT32 backup (BPB offset 50) gets the same
    copy, or fsck.fat and Windows' chkdsk report the two differ."""
    start = PART_START * SECTOR
    boot = os.pread(fd, SECTOR, start)
    (backup,) = struct.unpack_from("<H", boot, 50)
    if 0 < backup < 32:
        os.pwrite(fd, boot, start + backup * SECTOR)




def _edit(source: Path, target: Path, edit: Callable[[str, str], str | None], lang: str) -> bool:
    text = source.read_text(encoding="utf-8", errors="surrogateescape")
    new = edit(text, lang)
    if new is None:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(new, encoding="utf-8", errors="surrogateescape")
    return True


def persistence_menus(root: Path, extras: Path, loader: Loader, lang: str) -> list[str]:
    """Give the base's menus on the key a first entry that boots with ``persistence`` (see
    :mod:`packbuilder.image.bootcfg`); the edited copies go into ``extras``. Returns notes for the user."""
    from packbuilder.image.bootcfg import grub_add_persistence, syslinux_add_persistence

    edited = []
    if loader.kind == "syslinux":
        # syslinux.cfg (the copy of isolinux.cfg) first, then the files it includes (Debian live: live.cfg).
        folder = root / loader.folder
        candidates = [(extras / loader.folder / "syslinux.cfg", extras / loader.folder / "syslinux.cfg")]
        candidates += [
            (cfg, extras / loader.folder / cfg.name) for cfg in sorted(folder.glob("*.cfg")) if cfg.name != "isolinux.cfg"
        ]
        if any(_edit(source, target, syslinux_add_persistence, lang) for source, target in candidates):
            edited.append("SYSLINUX")
    grub = extras / GRUB_CFG if (extras / GRUB_CFG).is_file() else root / GRUB_CFG
    if grub.is_file() and _edit(grub, extras / GRUB_CFG, grub_add_persistence, lang):
        edited.append("GRUB")
    if edited:
        return []
    return [
        _(
            "the base's boot menus have no live entry (boot=live) to copy: the persistence volume is used only when"
            " 'persistence' is added to the kernel line by hand at boot"
        )
    ]
