"""Writing a usb-live image: the partitions planned, the trees merged, FAT32 filled, the boot code
and the persistence volume added. See the package's docstring for the layout and its limits."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from packbuilder import tools
from packbuilder.errors import AssemblyError, InputError, ToolMissing
from packbuilder.fsutil import staged_file
from packbuilder.i18n import _
from packbuilder.image import mbr
from packbuilder.image.fat import check_label
from packbuilder.image.fat.geometry import MIB, PART_START, estimated_room, is_fat32, min_image_bytes
from packbuilder.image.fat.tree import Node, drop_path, merge_trees, scan_tree, tree_error
from packbuilder.image.fat.writer import copy_file, copy_range, fill_partition, format_partition_at
from packbuilder.image.mbr import SECTOR
from packbuilder.image.usblive import boot
from packbuilder.image.usblive.base import extract_base, remove_tree
from packbuilder.image.usblive.persistence import write_persistence
from packbuilder.sizes import format_size
from packbuilder.ui import NO_METER, Meter


@dataclass(frozen=True)
class Layout:
    """Sectors of the two partitions; ``persistence_sectors`` is 0 without a persistence volume."""

    fat_sectors: int
    persistence_start: int
    persistence_sectors: int


def plan_layout(size_bytes: int, persistence_bytes: int | None) -> Layout:
    """Where the partitions go: persistence (rounded up to MiB) at the end, FAT32 over the rest."""
    end = (size_bytes // MIB) * MIB // SECTOR  # the last partition ends on a MiB boundary
    pers = -(-(persistence_bytes or 0) // MIB) * MIB // SECTOR
    if persistence_bytes is not None and pers * SECTOR < 8 * MIB:
        raise InputError(
            _("a {persistence_bytes}-byte persistence volume is too small").format(persistence_bytes=persistence_bytes),
            hint=_("give at least 8 MiB"),
        )
    fat_sectors = end - pers - PART_START
    if end >= 2**32:
        raise AssemblyError(
            _("a {size_bytes}-byte image is too large for an MBR (at most 2 TiB)").format(size_bytes=size_bytes),
            hint=_("use a smaller --size"),
        )
    if not is_fat32(fat_sectors):
        needed = pers * SECTOR + 2 * MIB + min_image_bytes()
        if pers:
            message = _(
                "a {size_bytes}-byte image is too small: the FAT32 partition needs at least {fat_mib} MiB"
                " besides the {persistence_bytes}-byte persistence volume (an image of at least {image_mib} MiB)"
            )
            hint = _("use a larger --size or a smaller --persistence")
        else:
            message = _(
                "a {size_bytes}-byte image is too small: the FAT32 partition needs at least {fat_mib} MiB"
                " (an image of at least {image_mib} MiB)"
            )
            hint = _("use a larger --size")
        raise AssemblyError(
            message.format(
                size_bytes=size_bytes, fat_mib=min_image_bytes() // MIB, persistence_bytes=pers * SECTOR, image_mib=needed // MIB
            ),
            hint=hint,
        )
    return Layout(fat_sectors, end - pers, pers)


def check_room(root: Node, layout: Layout, size_bytes: int) -> None:
    """Refuse, before anything is written, a merged tree the FAT32 partition cannot hold."""
    got = estimated_room(root, layout.fat_sectors)
    if not got.fits:
        pers = layout.persistence_sectors * SECTOR
        if pers:
            message = _(
                "the base's and the pack's files need {needed} bytes ({needed_size}) but a {size_bytes}-byte image"
                " with a {persistence_bytes}-byte persistence volume leaves {available} bytes ({available_size}) for them"
            )
            hint = _("use a larger key (--size), a smaller --persistence or leave apps out of the pack")
        else:
            message = _(
                "the base's and the pack's files need {needed} bytes ({needed_size}) but a {size_bytes}-byte image"
                " leaves {available} bytes ({available_size}) for them"
            )
            hint = _("use a larger key (--size) or leave apps out of the pack")
        raise AssemblyError(
            message.format(
                needed=got.needed,
                needed_size=format_size(got.needed),
                size_bytes=size_bytes,
                persistence_bytes=pers,
                available=got.available,
                available_size=format_size(got.available),
            ),
            hint=hint,
        )


def merged_tree(base_root: Path, extras: Path, tree: Path, drop: tuple[str, ...]) -> Node:
    """One FAT tree: the base's files, minus ``drop``, the boot extras over them, the key's tree beside."""
    root, problems = scan_tree(base_root)
    for rel in drop:
        drop_path(root, rel)
    extra_root, extra_problems = scan_tree(extras)
    key_root, key_problems = scan_tree(tree)
    problems = [_("base: {problem}").format(problem=p) for p in problems] + extra_problems + key_problems
    merge_trees(root, extra_root, True, problems)
    merge_trees(root, key_root, False, problems)
    if problems:
        raise tree_error(tree, sorted(problems))
    return root


def mbr_bytes(boot_code: bytes, layout: Layout, disk_id: int) -> bytes:
    """Boot code, disk id, FAT32 as active entry 1, the persistence volume as entry 2."""
    entries = [mbr.entry(mbr.TYPE_FAT32_LBA, PART_START, layout.fat_sectors, active=True)]
    if layout.persistence_sectors:
        entries.append(mbr.entry(mbr.TYPE_LINUX, layout.persistence_start, layout.persistence_sectors))
    return mbr.sector0(boot_code, disk_id, entries)


@dataclass(frozen=True)
class _Prepared:
    root: Node  # the merged tree
    loader: boot.Loader
    core: bytes | None  # GRUB's core image for a GRUB base
    # (device, inode) of a placeholder -> (offset in the ISO, size). The device matters: the key's tree
    # may live on another file system, where the same inode number names another file.
    from_iso: dict[tuple[int, int], tuple[int, int]]


def _prepare(base: Path, tree: Path, work: Path, volume_id: int, live: LiveExtras) -> _Prepared:
    """Extract the base, add its boot extras, merge the trees."""
    root, extras = work / "base", work / "extras"
    extras.mkdir()
    from_iso = extract_base(base, root)
    loader = boot.detect_loader(root)
    boot.patch_efi_grub(root, extras)
    for iso_path, source in live.files:  # the live layer, as on an ISO overlay
        target = extras / iso_path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    for iso_path, data in live.replace:
        target = extras / iso_path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    core = None
    drop: tuple[str, ...] = ()
    if loader.kind == "syslinux":
        tools.require("syslinux")
        if not boot.SYSLINUX_MBR.is_file():
            hint = _("install it (Debian/Ubuntu: apt-get install syslinux-common)")
            raise ToolMissing(_("{path} not found").format(path=boot.SYSLINUX_MBR), hint=hint)
        boot.syslinux_extras(root, extras, loader)
    if live.persistence_lang is not None:
        live.notes.extend(boot.persistence_menus(root, extras, loader, live.persistence_lang))
    if loader.kind != "syslinux":
        core = boot.grub_core(work, extras, volume_id)
        boot.check_core(core)
        drop = ("boot/grub/i386-pc",)
    return _Prepared(merged_tree(root, extras, tree, drop), loader, core, from_iso)


@dataclass
class LiveExtras:
    """What a live base gets besides its own files: the live layer's files to add and to replace
    (ISO paths), and, for a key with persistence, the language of the boot entries that use it."""

    files: tuple[tuple[str, Path], ...] = ()
    replace: tuple[tuple[str, bytes], ...] = ()
    persistence_lang: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Args:
    size_bytes: int
    label: str
    volume_id: int
    epoch: int
    layout: Layout
    meter: Meter = NO_METER


def _write(tmp: Path, fd: int, work: Path, args: _Args, prepared: _Prepared, iso: int) -> None:
    layout = args.layout

    def copy(node: Node, fd: int, offset: int, advance: Callable[[int], None]) -> None:
        """Files left as placeholders come from the ISO itself, the others from the trees."""
        st = os.stat(node.path)
        source = prepared.from_iso.get((st.st_dev, st.st_ino))
        if source is None:
            copy_file(node, fd, offset, advance)
        elif copy_range(iso, fd, source[1], source[0], offset, advance) != source[1]:
            raise AssemblyError(_("the base ISO is shorter than its directory says"), hint=_("download the base again"))

    os.ftruncate(fd, args.size_bytes)  # sparse: free clusters and the persistence volume's free blocks stay holes
    geo = format_partition_at(tmp, fd, layout.fat_sectors, args.label, args.volume_id)
    # mke2fs and debugfs write only the persistence volume's sectors, the fill only the FAT
    # partition's: the persistence volume is made while the files are copied (a second core).
    with ThreadPoolExecutor(max_workers=1) as pool:
        persistence = (
            pool.submit(write_persistence, tmp, work, layout.persistence_start, layout.persistence_sectors, args.volume_id,
                        args.epoch)
            if layout.persistence_sectors
            else None
        )
        fill_partition(fd, geo, prepared.root, (args.label, args.epoch), args.size_bytes, copy, args.meter)
        if persistence is not None:
            persistence.result()
    if prepared.core is not None:
        boot_code = boot.grub_boot_code()
        os.pwrite(fd, boot_code[: mbr.BOOT_CODE], 0)
        os.pwrite(fd, prepared.core, SECTOR)
    else:
        boot.install_syslinux(tmp, prepared.loader, args.epoch)
        boot.sync_backup_boot_sector(fd)
        boot_code = boot.SYSLINUX_MBR.read_bytes()
    os.pwrite(fd, mbr_bytes(boot_code, layout, args.volume_id), 0)


def write_usb_live(
    base: Path,
    tree: Path,
    out: Path,
    size_bytes: int,
    label: str,
    volume_id: int,
    epoch: int,
    persistence_bytes: int | None = None,
    live: LiveExtras | None = None,
    meter: Meter = NO_METER,
) -> list[str]:
    """Write a bootable live USB image of exactly ``size_bytes`` (see the package's docstring): the base
    ISO's files and ``tree`` on FAT32 partition 1 (label ``label``, volume id ``volume_id``, every time
    ``epoch``), and with ``persistence_bytes`` a persistence volume as partition 2. Everything is checked
    before the image is written; it appears at ``out`` only when complete; ``meter`` is told of the files'
    bytes as they are copied. Returns notes for the user (e.g. a base whose menus have no live entry to
    copy for persistence)."""
    live = live or LiveExtras()
    check_label(label, volume_id)
    if not base.is_file():
        raise InputError(_("{base} is not a file").format(base=base), hint=_("give the base live ISO"))
    if not tree.is_dir():
        raise AssemblyError(
            _("{tree} is not a folder").format(tree=tree), hint=_("pass the staged folder to write into the image")
        )
    layout = plan_layout(size_bytes, persistence_bytes)
    tools.require("mkfs.fat")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".work", dir=out.parent))
    args = _Args(size_bytes, label, volume_id, epoch, layout, meter)
    try:
        prepared = _prepare(base, tree, work, volume_id, live)
        check_room(prepared.root, layout, size_bytes)
        with staged_file(out) as (tmp, fd):
            iso = os.open(base, os.O_RDONLY)
            try:
                _write(tmp, fd, work, args, prepared, iso)
            finally:
                os.close(iso)
        return live.notes
    except OSError as exc:
        raise AssemblyError(
            _("cannot write {out}: {exc}").format(out=out, exc=exc), hint=_("check the free space and permissions there")
        ) from None
    finally:
        remove_tree(work)
