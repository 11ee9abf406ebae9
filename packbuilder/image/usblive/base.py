"""The base ISO's files for a usb-live image: extracted with xorriso (Rock Ridge names), the large
ones left in the ISO to be copied straight into the image, the EFI image's files added when the ISO
has no ``/EFI/BOOT/BOOTX64.EFI`` of its own.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from packbuilder import tools
from packbuilder.image.fat.geometry import MIB
from packbuilder.image.fat.names import exact_short
from packbuilder.image.inspect import inspect_iso


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
    tools.require("xorriso")
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
    if find_nocase(dest, "EFI/BOOT/BOOTX64.EFI") is not None:
        return placeholders
    layout = inspect_iso(base)
    if not layout.efi_entries:
        return placeholders
    offset = layout.esp[0] if layout.esp is not None else layout.efi_entries[0].load_rba * 2048
    tools.require("mcopy")
    efi = dest.parent / f"{dest.name}.efi"
    efi.mkdir()
    try:
        tools.run(["mcopy", "-s", "-n", "-i", f"{base}@@{offset}", "::/*", efi], env={"MTOOLS_SKIP_CHECK": "1"})
        _add_missing(efi, dest)
    finally:
        remove_tree(efi)
    return placeholders


def find_nocase(root: Path, rel: str) -> Path | None:
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
        existing = find_nocase(dest, entry.name)
        if existing is None:
            name = entry.name.upper() if exact_short(entry.name) and entry.name == entry.name.lower() else entry.name
            shutil.move(entry, dest / name)
        elif existing.is_dir() and entry.is_dir():
            _add_missing(entry, existing)


def remove_tree(path: Path) -> None:
    if path.exists():
        _make_writable(path)
        shutil.rmtree(path)


