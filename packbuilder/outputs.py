"""``build``: fetch, stage, then write the output (dir, zip, usb image or ISO), atomically.

Everything is built in a staging folder beside the output and moved into place last; a
failure removes the staging folder and leaves no partial output. zip and usb outputs are
byte-reproducible from the same lock, and get their sha256 written beside them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from packbuilder.errors import AssemblyError, InputError, PackbuilderError
from packbuilder.fetch.hashes import hash_file
from packbuilder.lock import key_bytes, lock_digest
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


# Largest disk image built: its sha256 is computed over every byte (~1 GB/s), holes included.
MAX_IMAGE_BYTES = 256 * 10**9


def is_own_output(out: Path) -> bool:
    """Whether ``out`` was made by packbuilder: a key (folder, zip, FAT image) with its manifest,
    or a file with the ``OUT.sha256`` line that ``build`` writes beside its outputs."""
    if out.is_symlink():
        return False
    if out.is_dir():
        return (out / MANIFEST).is_file()
    side = out.with_name(out.name + ".sha256")
    try:
        if side.read_text(encoding="utf-8").split()[1:] == [out.name]:
            return True
    except (OSError, UnicodeDecodeError, IndexError):
        pass
    from packbuilder.verify import read_manifest

    try:
        read_manifest(out)
    except (PackbuilderError, OSError, zipfile.BadZipFile, ValueError):
        return False
    return True


def check_target(out: Path) -> None:
    """Refuse an ``-o`` that packbuilder would replace but did not make (``-o precious.txt``)."""
    if (out.exists() or out.is_symlink()) and not is_own_output(out):
        what = "a folder" if out.is_dir() else "a file"
        raise InputError(
            f"{out} exists and is {what} packbuilder did not make: not replaced",
            hint="choose another -o path, or move that one away yourself",
        )


def check_image_size(size: int) -> None:
    if size > MAX_IMAGE_BYTES:
        raise InputError(
            f"an image of {size / 1e9:,.0f} GB is larger than the {MAX_IMAGE_BYTES // 10**9} GB packbuilder writes",
            hint="give a smaller --size: a key larger than its image keeps the rest free",
        )


@contextlib.contextmanager
def claim(out: Path) -> Iterator[None]:
    """One build at a time per output: a second one to the same ``-o`` stops with a clear error."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(out.with_name(f".{out.name}.lock")))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise InputError(f"another packbuilder is building {out} right now", hint="wait for it, or choose another -o") from None
    try:
        yield
    finally:
        lock.release()
        out.with_name(f".{out.name}.lock").unlink(missing_ok=True)


def _clear_previous(out: Path) -> None:
    """Remove a previous output of packbuilder (checked by ``check_target`` before the build)."""
    check_target(out)
    if out.is_dir():
        shutil.rmtree(out)
    elif out.exists():
        out.unlink()


def replace_dir(tree: Path, out: Path) -> None:
    """Put the new key folder at ``out``; a previous key's user data (Documents/, the apps'
    settings) moves into the new one, never deleted: it waits in ``.OUT.previous-PID`` until moved."""
    check_target(out)
    if not out.exists():
        os.replace(tree, out)
        return
    from packbuilder.verify import read_manifest, user_data

    try:
        keep = user_data(read_manifest(out))
    except PackbuilderError:
        keep = ("Documents/",)
    previous = out.with_name(f".{out.name}.previous-{os.getpid()}")
    os.replace(out, previous)
    os.replace(tree, out)
    for folder in keep:
        old = previous / folder.rstrip("/")
        if old.is_dir() and not old.is_symlink():
            new = out / folder.rstrip("/")
            if new.is_dir() and not any(new.iterdir()):
                new.rmdir()
            if not new.exists():
                new.parent.mkdir(parents=True, exist_ok=True)
                os.replace(old, new)
    shutil.rmtree(previous)


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
    if not lock.items:
        raise InputError("the lock holds no app: the key would be empty", hint="plan the pack for another profile")
    check_target(out)
    if fmt in ("usb", "usb-live"):
        check_image_size(key_bytes(lock, size_bytes))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with claim(out):
            return _build(lock, fmt, out, cached, overlays_dir, output, size_bytes, label, iso, persistence_bytes)
    except OSError as exc:
        raise InputError(f"cannot write {out}: {exc.strerror}", hint="choose an -o in a folder you can write to") from None


def _build(
    lock: Lock,
    fmt: str,
    out: Path,
    cached: dict[str, Path],
    overlays_dir: Path | None,
    output: Output,
    size_bytes: int | None,
    label: str | None,
    iso: IsoRequest | None,
    persistence_bytes: int | None,
) -> Path:
    staging = out.parent / f".{out.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    epoch = build_epoch(lock)
    try:
        tree = stage(lock, cached, staging / "tree", overlays_dir)
        output.info(f"staged {sum(1 for _ in tree.rglob('*'))} files and folders")
        if fmt == "dir":
            replace_dir(tree, out)
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
            size = key_bytes(lock, size_bytes)
            label_text = (label or lock.pack.label).upper()
            write_usb_live(iso.base, tree, target, size, label_text, volume_id(lock), epoch, persistence_bytes)
        else:
            from packbuilder.image.fat import write_fat_image

            size = key_bytes(lock, size_bytes)
            write_fat_image(tree, target, size, (label or lock.pack.label).upper(), volume_id(lock), epoch)
        _clear_previous(out)
        os.replace(target, out)
        write_sha256_file(out)
        return out
    except (OSError, zipfile.BadZipFile) as exc:
        raise AssemblyError(f"cannot build {out}: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
