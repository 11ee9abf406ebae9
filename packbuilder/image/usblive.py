"""Bootable live USB images that also carry the pack: the files of a live ISO and the key's tree on one
FAT32 partition, as Rufus writes a key in its "ISO image" mode.

Layout of the raw disk image (512-byte sectors, MBR partition table, no GPT):

- sector 0: the MBR: boot code (GRUB's ``boot.img`` or SYSLINUX's ``mbr.bin``), disk id = volume id;
  entry 1: FAT32 (type 0x0C, LBA), active, from 1 MiB; entry 2 (with persistence only): Linux (0x83);
  CHS fields for a 255-head, 63-sector geometry, as BIOSes expect of a USB-HDD;
- sectors 1-2047: GRUB's ``core.img`` for a GRUB base (the "MBR gap", as ``grub-install`` uses it);
- partition 1: FAT32 over all the space the persistence volume leaves, holding the files of the base
  ISO (extracted with xorriso; the files of its El Torito EFI image too when the ISO has no
  ``/EFI/BOOT/BOOTX64.EFI`` of its own) and the key's tree at the root (``Menu.html``, apps, docs,
  ``Documents/``) side by side; Windows sees and writes it like a plain key's;
- partition 2 (optional): ext4 labelled ``persistence`` holding ``persistence.conf`` (``/ union``),
  which live-boot uses when the kernel command line says ``persistence``.

How each firmware starts the base:

- BIOS, ISOLINUX base (an ``isolinux.cfg`` in ``/isolinux``, ``/boot/isolinux``, ``/syslinux`` or
  ``/``): SYSLINUX is installed into the FAT partition by ``syslinux --install --offset`` (its mtools
  installer, no root) in the folder of ``isolinux.cfg``, which is copied to ``syslinux.cfg``. The
  folder's ``.c32`` modules that this machine's SYSLINUX also has are replaced by its copies, since a
  module only runs with the ``ldlinux`` of its own version.
- BIOS, GRUB base (``/boot/grub/grub.cfg``): this machine's GRUB (grub-pc-bin) builds a ``core.img``
  with FAT and MBR support whose early config finds the partition by its volume id and reads the base's
  ``/boot/grub/grub.cfg``; ``boot.img`` and ``core.img`` are written as ``grub-bios-setup`` writes them.
  ``/boot/grub/i386-pc`` holds this machine's GRUB modules, which must match the core image (the base's
  are only used by its CD boot image, which a disk never runs).
- UEFI (x64, and ia32 when the base has ``BOOTIA32.EFI``): the firmware reads FAT32 itself and starts
  the base's own ``/EFI/BOOT/BOOTX64.EFI``. A GRUB made by grub-mkrescue has the built-in prefix
  ``()/boot/grub``, "the drive I started from", which on a CD is the ISO but on a key is the whole disk,
  not a file system: that prefix is changed to ``(,1)/boot/grub`` (partition 1 of the same drive) in the
  copy on the key, so it reads the base's ``/boot/grub/grub.cfg`` and modules from the FAT32 partition.

Files of the base of 1 MiB or more (the live system's squashfs) are copied from the ISO straight into
the image (``copy_file_range``), the others are extracted by xorriso first: one copy of the big data.

Limits:

- The base's files must suit FAT32: no file over 4 GiB (a live ``filesystem.squashfs`` over 4 GiB
  cannot be copied), no names differing only by case. Symbolic links to files become copies (hard
  links to the extracted file); links to folders and dangling links are left out.
- A base whose BIOS loader is neither ISOLINUX nor GRUB with ``/boot/grub/grub.cfg`` (memtest, iPXE
  built without ISOLINUX, Windows installers) is refused. A GRUB base whose ``grub.cfg`` finds its files
  by the ISO's volume label or UUID (``search --label``) will not find the key: its config must search
  by file (``search --file``) or use the device it started from, as most live systems' do.
- Secure Boot is whatever the base's EFI loader is: its signed files (shim, the signed GRUB beside it)
  are copied byte for byte, so a shim + signed GRUB chain that finds its config by file or by the
  device it started from (Debian's: prefix ``/boot/grub``) keeps booting; nothing is signed here. A
  signed GRUB with the ``()`` prefix would lose its signature when patched: such a base is refused
  (grub-mkrescue's GRUBs are not signed).
- The BIOS GRUB and SYSLINUX are this machine's (grub-pc-bin, syslinux 6.x), not the base's: a base's
  ``grub.cfg`` or ``isolinux.cfg`` written for a much older or newer loader may use commands or
  ``.c32`` modules this one lacks (the base's ``.c32`` files without a counterpart here are kept).
- The persistence volume is used only when the base's boot entry passes ``persistence`` to live-boot
  (Debian live's menus have such an entry; the base's configs are not edited).
- Windows before 10 1703 shows only the first partition of a removable disk: the FAT32 partition is
  entry 1, so that is the one it shows; the persistence volume stays hidden from Windows.
- No GPT: UEFI firmware boots MBR keys, and Windows 7 refuses a GPT on removable disks.

The same base, tree, size, label, volume id, epoch and persistence size give the same bytes, with
the same versions of the tools used (xorriso, GRUB, SYSLINUX, mtools, e2fsprogs).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from packbuilder import tools
from packbuilder.errors import AssemblyError, InputError, ToolMissing
from packbuilder.image import fat
from packbuilder.image.authenticode import read_signature
from packbuilder.image.inspect import inspect_iso

SECTOR = fat.SECTOR
MIB = fat.MIB
PART_START = fat.PART_START
PART_TYPE_LINUX = 0x83
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
MBR_CODE = 440  # boot code bytes before the disk id and the partition table
PERSISTENCE_CONF = b"/ union\n"
# Tools and the Debian packages that provide them (tools.PACKAGES names the common ones).
PACKAGES = {
    "grub-mkimage": "grub-common",
    "syslinux": "syslinux",
    "debugfs": "e2fsprogs",
    "mke2fs": "e2fsprogs",
    "xorriso": "xorriso",
    "mcopy": "mtools",
    "mkfs.fat": "dosfstools",
}


@dataclass(frozen=True)
class Layout:
    """Sectors of the two partitions; ``persistence_sectors`` is 0 without a persistence volume."""

    fat_sectors: int
    persistence_start: int
    persistence_sectors: int


@dataclass(frozen=True)
class Loader:
    """How a BIOS starts the base: ``kind`` "grub" or "syslinux", ``folder`` the SYSLINUX folder."""

    kind: str
    folder: str = ""


def _require(*names: str) -> None:
    for name in names:
        if tools.find(name) is None:
            package = PACKAGES.get(name, tools.PACKAGES.get(name, name))
            raise ToolMissing(f"tool not found: {name}", hint=f"install it (Debian/Ubuntu: apt-get install {package})")


# --- layout ---------------------------------------------------------------------------------------


def plan_layout(size_bytes: int, persistence_bytes: int | None) -> Layout:
    """Where the partitions go: persistence (rounded up to MiB) at the end, FAT32 over the rest."""
    end = (size_bytes // MIB) * MIB // SECTOR  # the last partition ends on a MiB boundary
    pers = -(-(persistence_bytes or 0) // MIB) * MIB // SECTOR
    if persistence_bytes is not None and pers * SECTOR < 8 * MIB:
        raise InputError(f"a {persistence_bytes}-byte persistence volume is too small", hint="give at least 8 MiB")
    fat_sectors = end - pers - PART_START
    if end >= 2**32:
        raise AssemblyError(f"a {size_bytes}-byte image is too large for an MBR (at most 2 TiB)", hint="use a smaller --size")
    if fat_sectors <= 0 or fat._clusters_estimate(fat_sectors, fat._cluster_sectors(fat_sectors)) < fat.MIN_CLUSTERS:
        needed = pers * SECTOR + 2 * MIB + fat._min_image_bytes()
        raise AssemblyError(
            f"a {size_bytes}-byte image is too small: the FAT32 partition needs at least {fat._min_image_bytes() // MIB} MiB"
            + (f" besides the {pers * SECTOR}-byte persistence volume" if pers else "")
            + f" (an image of at least {needed // MIB} MiB)",
            hint="use a larger --size" + (" or a smaller --persistence" if pers else ""),
        )
    return Layout(fat_sectors, end - pers, pers)


def _check_room(root: fat._Node, layout: Layout, size_bytes: int) -> None:
    spc = fat._cluster_sectors(layout.fat_sectors)
    cluster_bytes = spc * SECTOR
    needed = fat._needed_clusters(root, cluster_bytes) * cluster_bytes
    available = fat._clusters_estimate(layout.fat_sectors, spc) * cluster_bytes
    if needed > available:
        pers = layout.persistence_sectors * SECTOR
        raise AssemblyError(
            f"the base's and the pack's files need {needed} bytes ({needed / MIB:.1f} MiB) but a {size_bytes}-byte image"
            + (f" with a {pers}-byte persistence volume" if pers else "")
            + f" leaves {available} bytes ({available / MIB:.1f} MiB) for them",
            hint="use a larger key (--size)" + (", a smaller --persistence" if pers else "") + " or leave apps out of the pack",
        )


# --- the files: the base ISO's, the boot extras, the key's ----------------------------------------


def _make_writable(path: Path) -> None:
    """xorriso gives extracted files the ISO's modes (read-only folders): make them ours to edit."""
    for folder, _dirs, _files in os.walk(path):
        os.chmod(folder, 0o755)


def _resolve_links(root: Path) -> list[str]:
    """Replace links to files inside ``root`` by hard links; drop the others. Returns what was dropped."""
    dropped = []
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder, name)
            if not path.is_symlink():
                continue
            target = path.resolve()
            path.unlink()
            if target.is_file() and target.is_relative_to(root.resolve()):
                os.link(target, path)
            else:
                dropped.append(str(path.relative_to(root)))
        dirs[:] = [d for d in dirs if Path(folder, d).is_dir() and not Path(folder, d).is_symlink()]
    return dropped


_LBA_LINE = re.compile(r"File data lba:\s*(\d+)\s*,\s*(\d+)\s*,\s*\d+\s*,\s*(\d+)\s*,\s*'(.*)'$")


def _large_files(base: Path) -> dict[str, tuple[int, int]]:
    """ISO path -> (byte offset, size) of the files of 1 MiB or more stored in one extent, which are
    copied from the ISO into the image directly rather than extracted first (one copy, not two)."""
    proc = tools.run(["xorriso", "-indev", base, "-find", "/", "-type", "f", "-exec", "report_lba", "--"])
    extents: dict[str, list[tuple[int, int]]] = {}
    for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
        found = _LBA_LINE.match(line.strip())
        if found:
            path = found.group(4).replace("'\"'\"'", "'")  # xorriso quotes ' as '"'"'
            extents.setdefault(path, []).append((int(found.group(2)) * 2048, int(found.group(3))))
    return {path: ext[0] for path, ext in extents.items() if len(ext) == 1 and ext[0][1] >= MIB}


def extract_base(base: Path, dest: Path) -> dict[tuple[int, int], tuple[int, int]]:
    """The base ISO's files (Rock Ridge names) into ``dest``, plus its EFI image's files it lacks.
    Large files are left as sparse placeholders of their size: returns their inode number ->
    (offset in the ISO, size)."""
    _require("xorriso")
    large = _large_files(base)
    # -rm only drops them from xorriso's view of the ISO; -rollback_end ends without writing anything.
    removals = ["-rm", *large, "--"] if large else []
    tools.run(
        ["xorriso", "-osirrox", "on", "-iso_rr_pattern", "off", "-indev", base, *removals, "-extract", "/", dest, "-rollback_end"]
    )
    _make_writable(dest)
    placeholders = {}
    for iso_path, (offset, size) in large.items():
        path = dest / iso_path.lstrip("/")
        if path.parent.is_dir() and not path.exists():
            with path.open("wb") as f:
                f.truncate(size)
            # by inode: a link to the file, made a hard link below, reads from the ISO too
            st = path.stat()
            placeholders[(st.st_dev, st.st_ino)] = (offset, size)
    _resolve_links(dest)
    if _find(dest, "EFI/BOOT/BOOTX64.EFI") is not None:
        return placeholders
    layout = inspect_iso(base)
    if not layout.efi_entries:
        return placeholders
    offset = layout.esp[0] if layout.esp is not None else layout.efi_entries[0].load_rba * 2048
    _require("mcopy")
    efi = dest.parent / f"{dest.name}.efi"
    efi.mkdir()
    try:
        tools.run(["mcopy", "-s", "-n", "-i", f"{base}@@{offset}", "::/*", efi], env={"MTOOLS_SKIP_CHECK": "1"})
        _add_missing(efi, dest)
    finally:
        _rmtree(efi)
    return placeholders


def _find(root: Path, rel: str) -> Path | None:
    """``root/rel`` matched case-insensitively, as FAT and firmware match names."""
    path = root
    for part in rel.split("/"):
        if not path.is_dir():
            return None
        match = [p for p in sorted(path.iterdir()) if p.name.upper() == part.upper()]
        if not match:
            return None
        path = match[0]
    return path


def _add_missing(src: Path, dest: Path) -> None:
    """Move the files of ``src`` that ``dest`` lacks (names compared case-insensitively) into it.
    mcopy shows a plain 8.3 name in lower case: it goes back to upper case, as on the EFI image."""
    for entry in sorted(src.iterdir()):
        existing = _find(dest, entry.name)
        if existing is None:
            name = entry.name.upper() if fat._exact_short(entry.name) and entry.name == entry.name.lower() else entry.name
            shutil.move(entry, dest / name)
        elif existing.is_dir() and entry.is_dir():
            _add_missing(entry, existing)


def _rmtree(path: Path) -> None:
    if path.exists():
        _make_writable(path)
        shutil.rmtree(path)


def _grub_prefix(data: bytes | bytearray) -> tuple[int, int] | None:
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


def _patch_efi_grub(root: Path, extras: Path) -> list[str]:
    """A GRUB EFI loader whose prefix is "()/..." (grub-mkrescue's) reads the drive it started from,
    which on a key is the whole disk, not the FAT partition: give it "(,1)/...", partition 1 of the
    same drive. Unsigned images only lose nothing; a signature would no longer match (grub-mkrescue
    signs nothing). Returns the loaders patched."""
    patched = []
    for name in ("BOOTX64.EFI", "BOOTIA32.EFI"):
        path = _find(root, f"EFI/BOOT/{name}")
        if path is None or not path.is_file():
            continue
        data = bytearray(path.read_bytes())
        found = _grub_prefix(data)
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
                f"{path.relative_to(root)}: a signed GRUB whose prefix {prefix.decode(errors='replace')!r} reads the "
                f"whole drive; on a key it must be patched, which breaks its signature ({signature.describe()})",
                hint="use --format iso for this base (its signed loaders are kept as they are), or a base whose "
                "signed GRUB finds its config by file (Debian's and Ubuntu's do)",
            )
        new = b"(,1)" + prefix[2:]
        if len(new) >= room:
            raise AssemblyError(f"{path.relative_to(root)}: no room to point its GRUB prefix {prefix!r} at partition 1")
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
        "the base has neither an ISOLINUX config (isolinux.cfg) nor /boot/grub/grub.cfg: "
        "its BIOS loader cannot be installed on a FAT32 key",
        hint="use a live ISO started by ISOLINUX or GRUB (Debian live, Ubuntu and most others), or --format iso",
    )


def _syslinux_extras(root: Path, extras: Path, loader: Loader) -> list[str]:
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


def _grub_core(work: Path, extras: Path, volume_id: int) -> bytes:
    """This machine's BIOS GRUB: a core image finding the FAT partition by its volume id, its modules
    in extras/boot/grub/i386-pc (they replace the base's, which belong to another core)."""
    _require("grub-mkimage")
    for needed in ("boot.img", "kernel.img", "diskboot.img"):
        if not (GRUB_PC / needed).is_file():
            raise ToolMissing(f"{GRUB_PC / needed} not found", hint="install it (Debian/Ubuntu: apt-get install grub-pc-bin)")
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
        raise AssemblyError(f"GRUB's core image is {len(data)} bytes, more than the 1 MiB gap before the partition")
    return data


# --- merging trees -------------------------------------------------------------------------------


def _merge(into: fat._Node, other: fat._Node, replace: bool, problems: list[str]) -> None:
    """Add ``other``'s children to ``into``'s: same-named folders merge; a same-named file replaces the
    base's (``replace``, for boot extras) or is a clash (the key's tree against the base's files)."""
    assert into.children is not None and other.children is not None
    index = {fat._case_key(c.name): i for i, c in enumerate(into.children)}
    for child in other.children:
        i = index.get(fat._case_key(child.name))
        if i is None:
            into.children.append(child)
            continue
        mine = into.children[i]
        if mine.children is not None and child.children is not None:
            _merge(mine, child, replace, problems)
        elif replace:
            into.children[i] = child
        else:
            problems.append(f"{child.rel}: the base ISO has {mine.rel} too: rename or remove it in the pack")
    into.children.sort(key=lambda c: c.name)
    into.entries = (1 if into.rel == "" else 2) + sum(1 + fat._lfn_count(c.name) for c in into.children)


def _drop(root: fat._Node, rel: str) -> None:
    """Remove the node at ``rel`` (case-insensitive) so the boot extras replace it whole."""
    *parents, name = rel.split("/")
    node: fat._Node | None = root
    for part in parents:
        node = next((c for c in node.children or () if fat._case_key(c.name) == fat._case_key(part)), None) if node else None
    if node is not None and node.children is not None:
        node.children = [c for c in node.children if fat._case_key(c.name) != fat._case_key(name)]
        node.entries = (1 if node.rel == "" else 2) + sum(1 + fat._lfn_count(c.name) for c in node.children)


def merged_tree(base_root: Path, extras: Path, tree: Path, drop: tuple[str, ...]) -> fat._Node:
    """One FAT tree: the base's files, minus ``drop``, the boot extras over them, the key's tree beside."""
    root, problems = fat._scan(base_root)
    for rel in drop:
        _drop(root, rel)
    extra_root, extra_problems = fat._scan(extras)
    key_root, key_problems = fat._scan(tree)
    problems = [f"base: {p}" for p in problems] + extra_problems + key_problems
    _merge(root, extra_root, True, problems)
    _merge(root, key_root, False, problems)
    if problems:
        raise fat._tree_error(tree, sorted(problems))
    return root


# --- writing -------------------------------------------------------------------------------------


def _entry(active: bool, part_type: int, start: int, sectors: int) -> bytes:
    chs_first, chs_last = fat._chs(start), fat._chs(start + sectors - 1)
    return struct.pack("<B3sB3sII", 0x80 if active else 0, chs_first, part_type, chs_last, start, sectors)


def mbr_bytes(boot_code: bytes, layout: Layout, disk_id: int) -> bytes:
    """Boot code, disk id, FAT32 as active entry 1, the persistence volume as entry 2."""
    entries = _entry(True, fat.PART_TYPE_FAT32_LBA, PART_START, layout.fat_sectors)
    if layout.persistence_sectors:
        entries += _entry(False, PART_TYPE_LINUX, layout.persistence_start, layout.persistence_sectors)
    code = boot_code[:MBR_CODE].ljust(MBR_CODE, b"\0")
    return code + struct.pack("<IH", disk_id, 0) + entries.ljust(64, b"\0") + b"\x55\xaa"


def grub_boot_code() -> bytes:
    """GRUB's boot.img as grub-bios-setup patches it for a hard disk with core.img at sector 1."""
    img = bytearray((GRUB_PC / "boot.img").read_bytes()[:MBR_CODE])
    img[GRUB_BPB[0] : GRUB_BPB[1]] = bytes(GRUB_BPB[1] - GRUB_BPB[0])  # our disk had no BPB there
    struct.pack_into("<Q", img, GRUB_KERNEL_SECTOR, 1)
    img[GRUB_DRIVE_CHECK : GRUB_DRIVE_CHECK + 2] = b"\x90\x90"  # trust DL only if it is a hard disk
    return bytes(img)


def _check_core(core: bytes) -> None:
    """diskboot.img (core's first sector) must read the rest from sector 2, as embedded at sector 1."""
    start, count, segment = struct.unpack_from("<QHH", core, SECTOR - 12)
    if start != 2 or count != -(-len(core) // SECTOR) - 1 or segment != 0x820:
        raise AssemblyError(
            f"unexpected GRUB core image blocklist ({start}, {count}, {segment:#x})",
            hint="install GRUB 2.02 or later (grub-pc-bin)",
        )


def _install_syslinux(image: Path, loader: Loader, epoch: int) -> None:
    """SYSLINUX's mtools installer: its boot sector into the partition, ldlinux.sys/.c32 into the folder."""
    _require("syslinux", "mcopy")
    # mtools stamps the files it writes with SOURCE_DATE_EPOCH: the same time as ours.
    env = {"SOURCE_DATE_EPOCH": str(min(max(epoch, fat.FAT_TIME_MIN), fat.FAT_TIME_MAX)), "MTOOLS_SKIP_CHECK": "1"}
    tools.run(["syslinux", "--install", "--offset", str(PART_START * SECTOR), "--directory", "/" + loader.folder, image], env=env)


def _sync_backup_boot_sector(fd: int) -> None:
    """The installer rewrites the boot sector only: the FAT32 backup (BPB offset 50) gets the same
    copy, or fsck.fat and Windows' chkdsk report the two differ."""
    start = PART_START * SECTOR
    boot = os.pread(fd, SECTOR, start)
    (backup,) = struct.unpack_from("<H", boot, 50)
    if 0 < backup < 32:
        os.pwrite(fd, boot, start + backup * SECTOR)


def _write_persistence(image: Path, work: Path, layout: Layout, volume_id: int, epoch: int) -> None:
    """ext4 labelled ``persistence`` with /persistence.conf, made in place, every time and id fixed."""
    _require("mke2fs", "debugfs")
    content = work / "persistence"
    content.mkdir()
    (content / "persistence.conf").write_bytes(PERSISTENCE_CONF)
    fs_uuid = str(uuid.uuid5(uuid.NAMESPACE_OID, f"packbuilder-persistence-{volume_id:08x}"))
    hash_seed = str(uuid.uuid5(uuid.NAMESPACE_OID, f"packbuilder-hash-seed-{volume_id:08x}"))
    offset = layout.persistence_start * SECTOR
    env = {"E2FSPROGS_FAKE_TIME": str(epoch)}  # mke2fs and debugfs read "now" from it
    options = f"offset={offset},hash_seed={hash_seed},nodiscard,root_owner=0:0"
    argv: list[str | Path] = [
        "mke2fs",
        "-q",
        "-F",
        "-t",
        "ext4",
        "-b",
        "4096",
        "-L",
        "persistence",
        "-U",
        fs_uuid,
        "-d",
        content,
        image,
        str(layout.persistence_sectors * SECTOR // 4096),
    ]
    # The region is a hole of the new file, all zeros: e2fsprogs 1.47 can skip zeroing the inode tables
    # and the journal (a second for 1 GiB); older versions do not know the option.
    proc = tools.run([*argv[:-2], "-E", options + ",assume_storage_prezeroed=1", *argv[-2:]], env=env, check=False)
    if proc.returncode != 0:
        tools.run([*argv[:-2], "-E", options, *argv[-2:]], env=env)
    # -d copies the source file's times, and no one can set a ctime: set the four of them here.
    commands = work / "debugfs.cmd"
    commands.write_text("".join(f"sif /persistence.conf {field} @{epoch}\n" for field in ("atime", "mtime", "ctime", "crtime")))
    proc = tools.run(["debugfs", "-w", "-f", commands, f"{image}?offset={offset}"], env=env)
    if b"sif:" in proc.stderr or b"error" in proc.stderr.lower():
        raise AssemblyError(f"debugfs could not set the times of persistence.conf: {proc.stderr.decode(errors='replace')}")


@dataclass(frozen=True)
class _Prepared:
    root: fat._Node  # the merged tree
    loader: Loader
    core: bytes | None  # GRUB's core image for a GRUB base
    # (device, inode) of a placeholder -> (offset in the ISO, size). The device matters: the key's tree
    # may live on another file system, where the same inode number names another file.
    from_iso: dict[tuple[int, int], tuple[int, int]]


def _prepare(base: Path, tree: Path, work: Path, volume_id: int) -> _Prepared:
    """Extract the base, add its boot extras, merge the trees."""
    root, extras = work / "base", work / "extras"
    extras.mkdir()
    from_iso = extract_base(base, root)
    loader = detect_loader(root)
    _patch_efi_grub(root, extras)
    core = None
    drop: tuple[str, ...] = ()
    if loader.kind == "syslinux":
        _require("syslinux")
        if not SYSLINUX_MBR.is_file():
            raise ToolMissing(f"{SYSLINUX_MBR} not found", hint="install it (Debian/Ubuntu: apt-get install syslinux-common)")
        _syslinux_extras(root, extras, loader)
    else:
        core = _grub_core(work, extras, volume_id)
        _check_core(core)
        drop = ("boot/grub/i386-pc",)
    return _Prepared(merged_tree(root, extras, tree, drop), loader, core, from_iso)


def _copy_from_iso(iso: int, source: tuple[int, int], dst: int, offset: int) -> None:
    start, size = source
    done = 0
    while done < size:
        try:
            n = os.copy_file_range(iso, dst, size - done, start + done, offset + done)
        except OSError as exc:
            if exc.errno not in fat._NO_COPY_RANGE:
                raise
            chunk = os.pread(iso, min(MIB, size - done), start + done)
            n = os.pwrite(dst, chunk, offset + done) if chunk else 0
        if n == 0:
            raise AssemblyError("the base ISO is shorter than its directory says", hint="download the base again")
        done += n


def _fill(fd: int, geo: fat._Geometry, prepared: _Prepared, args: _Args, iso: int) -> None:
    """fat._fill, except that files left as placeholders are copied from the ISO itself."""
    stamp = fat._dos_stamp(min(max(args.epoch, fat.FAT_TIME_MIN), fat.FAT_TIME_MAX))

    def copy(node: fat._Node, fd: int, offset: int) -> None:
        st = os.stat(node.path)
        source = prepared.from_iso.get((st.st_dev, st.st_ino))
        if source is None:
            fat._copy_file(node, fd, offset)
        else:
            _copy_from_iso(iso, source, fd, offset)

    fat._fill(fd, geo, prepared.root, args.label, stamp, args.size_bytes, copy)


def _write(tmp: Path, fd: int, work: Path, args: _Args, prepared: _Prepared, iso: int) -> None:
    loader, core = prepared.loader, prepared.core
    layout = args.layout
    spc = fat._cluster_sectors(layout.fat_sectors)
    os.ftruncate(fd, args.size_bytes)  # sparse: free clusters and the persistence volume's free blocks stay holes
    fat._format(tmp, layout.fat_sectors, spc, args.label, args.volume_id)
    geo = fat._read_geometry(fd, layout.fat_sectors, args.label, args.volume_id)
    _fill(fd, geo, prepared, args, iso)
    if core is not None:
        os.pwrite(fd, grub_boot_code()[:MBR_CODE], 0)
        os.pwrite(fd, core, SECTOR)
        boot_code = grub_boot_code()
    else:
        _install_syslinux(tmp, loader, args.epoch)
        _sync_backup_boot_sector(fd)
        boot_code = SYSLINUX_MBR.read_bytes()
    os.pwrite(fd, mbr_bytes(boot_code, layout, args.volume_id), 0)
    if layout.persistence_sectors:
        _write_persistence(tmp, work, layout, args.volume_id, args.epoch)


@dataclass(frozen=True)
class _Args:
    size_bytes: int
    label: str
    volume_id: int
    epoch: int
    layout: Layout


def write_usb_live(
    base: Path,
    tree: Path,
    out: Path,
    size_bytes: int,
    label: str,
    volume_id: int,
    epoch: int,
    persistence_bytes: int | None = None,
) -> None:
    """Write a bootable live USB image of exactly ``size_bytes`` (see the module's docstring): the base
    ISO's files and ``tree`` on FAT32 partition 1 (label ``label``, volume id ``volume_id``, every time
    ``epoch``), and with ``persistence_bytes`` a persistence volume as partition 2. Everything is checked
    before the image is written; it appears at ``out`` only when complete."""
    if not fat.LABEL_RE.fullmatch(label):
        raise InputError(f"{label!r} is not a FAT volume label", hint="use 1 to 11 upper-case ASCII letters, digits, '_' or '-'")
    if not 0 <= volume_id < 2**32:
        raise ValueError(f"volume id {volume_id} is not a 32-bit number")
    if not base.is_file():
        raise InputError(f"{base} is not a file", hint="give the base live ISO")
    if not tree.is_dir():
        raise AssemblyError(f"{tree} is not a folder", hint="pass the staged folder to write into the image")
    layout = plan_layout(size_bytes, persistence_bytes)
    _require("mkfs.fat")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".work", dir=out.parent))
    tmp = work / "image"
    args = _Args(size_bytes, label, volume_id, epoch, layout)
    try:
        prepared = _prepare(base, tree, work, volume_id)
        _check_room(prepared.root, layout, size_bytes)
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        iso = os.open(base, os.O_RDONLY)
        try:
            _write(tmp, fd, work, args, prepared, iso)
        finally:
            os.close(iso)
            os.close(fd)
        os.replace(tmp, out)
    except OSError as exc:
        raise AssemblyError(f"cannot write {out}: {exc}", hint="check the free space and permissions there") from None
    finally:
        _rmtree(work)


__all__ = ["Layout", "Loader", "detect_loader", "extract_base", "mbr_bytes", "plan_layout", "write_usb_live"]
