"""``build``: fetch, stage, then write the output (dir, zip, usb image or ISO), atomically.

Everything is built in a staging folder beside the output and moved into place last; a
failure removes the staging folder and leaves no partial output. zip and usb outputs are
byte-reproducible from the same lock, and get their sha256 written beside them.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from packbuilder.errors import AssemblyError, InputError
from packbuilder.fetch.hashes import hash_file
from packbuilder.lock import lock_digest
from packbuilder.stage import MANIFEST, build_epoch, stage

if TYPE_CHECKING:
    from packbuilder.image.iso import IsoRequest
    from packbuilder.model.lock import Lock
    from packbuilder.ui import Output

FORMATS = ("dir", "zip", "usb", "iso", "usb-live")
EXTENSIONS = {"dir": "", "zip": ".zip", "usb": ".img", "iso": ".iso", "usb-live": ".img"}
ZIP_EPOCH_MIN = 315532800  # 1980-01-01: the earliest date a zip entry can hold


def default_output(lock: Lock, fmt: str) -> Path:
    return Path(f"{lock.pack.id}-{lock.profile.id}{EXTENSIONS[fmt]}")


def volume_id(lock: Lock) -> int:
    """The FAT volume id: from the lock, so the same lock gives the same image."""
    return int(lock_digest(lock)[:8], 16)


def write_zip(tree: Path, out: Path, epoch: int) -> None:
    """A deterministic zip: sorted entries, one fixed date, fixed modes, streamed file by file."""
    date_time = time.gmtime(max(epoch, ZIP_EPOCH_MIN))[:6]
    paths = sorted(tree.rglob("*"), key=lambda p: p.relative_to(tree).as_posix())
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6, allowZip64=True) as zf:
        for path in paths:
            rel = path.relative_to(tree).as_posix()
            is_dir = path.is_dir()
            info = zipfile.ZipInfo(rel + "/" if is_dir else rel, date_time)
            info.create_system = 3  # unix: keeps the exec bit of AppImages
            mode = 0o755 if is_dir or path.stat().st_mode & stat.S_IXUSR else 0o644
            info.external_attr = ((stat.S_IFDIR if is_dir else stat.S_IFREG) | mode) << 16 | (0x10 if is_dir else 0)
            if is_dir:
                zf.writestr(info, b"")
                continue
            info.compress_type = zipfile.ZIP_DEFLATED
            info.file_size = path.stat().st_size
            with path.open("rb") as src, zf.open(info, "w", force_zip64=info.file_size > 2**31) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def write_sha256_file(out: Path) -> Path:
    digest = hash_file(out)
    side = out.with_name(out.name + ".sha256")
    side.write_text(f"{digest}  {out.name}\n", encoding="utf-8")
    return side


def _clear_previous(out: Path) -> None:
    """Replace a previous output of packbuilder; refuse to overwrite anything else."""
    if not out.exists() and not out.is_symlink():
        return
    if out.is_dir():
        if not (out / MANIFEST).is_file():
            raise InputError(f"{out} exists and is not a packbuilder output", hint="choose another -o path")
        shutil.rmtree(out)
    else:
        out.unlink()


def build(
    lock: Lock,
    fmt: str,
    out: Path,
    cached: dict[str, Path],
    overlays_dir: Path | None,
    output: Output,
    size_bytes: int | None = None,
    label: str | None = None,
    iso: IsoRequest | None = None,
    persistence_bytes: int | None = None,
) -> Path:
    """Build ``out``; for ``iso``, ``iso`` names the base (a dry run stops before writing anything)."""
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    epoch = build_epoch(lock)
    try:
        tree = stage(lock, cached, staging / "tree", overlays_dir)
        output.info(f"staged {sum(1 for _ in tree.rglob('*'))} files and folders")
        if fmt == "dir":
            _clear_previous(out)
            os.replace(tree, out)
            return out
        target = staging / ("out" + EXTENSIONS[fmt])
        if fmt == "zip":
            write_zip(tree, target, epoch)
        elif fmt == "iso":
            from packbuilder.image.iso import build_iso

            if iso is None:
                raise InputError("--format iso needs a base live ISO", hint="add --base BASE_ID or --base FILE.iso")
            build_iso(lock, tree, iso, target, epoch, staging / "iso")
            if iso.dry_run:
                return out
        elif fmt == "usb-live":
            from packbuilder.image.usblive import write_usb_live

            if iso is None:
                raise InputError("--format usb-live needs a base live ISO", hint="add --base BASE_ID or --base FILE.iso")
            size = size_bytes or lock.profile.key_mb * 1_000_000
            label_text = (label or lock.pack.label).upper()
            write_usb_live(iso.base, tree, target, size, label_text, volume_id(lock), epoch, persistence_bytes)
        else:
            from packbuilder.image.fat import write_fat_image

            size = size_bytes or lock.profile.key_mb * 1_000_000
            write_fat_image(tree, target, size, (label or lock.pack.label).upper(), volume_id(lock), epoch)
        _clear_previous(out)
        os.replace(target, out)
        write_sha256_file(out)
        return out
    except (OSError, zipfile.BadZipFile) as exc:
        raise AssemblyError(f"cannot build {out}: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
