"""A build's output from a lock and its cached artifacts: stage, then write the folder, zip, FAT32
image, live ISO or live USB image, all or nothing.

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packbuilder.build.iso import IsoReport, IsoRequest, build_iso
from packbuilder.errors import AssemblyError, InputError, PackbuilderError
from packbuilder.i18n import _, ngettext
from packbuilder.fsutil import atomic_write_bytes, hash_file, staged_output
from packbuilder.sizes import format_size
from packbuilder.model.build import BuildOptions, OutputFormat
from packbuilder.plan.lock import key_bytes, lock_digest
from packbuilder.stage import MANIFEST, build_epoch, stage
from packbuilder.ui import NO_METER, Meter

if TYPE_CHECKING:
    from packbuilder.model.lock import Lock
    from packbuilder.ui import Output

ZIP_EPOCH_MIN = 315532800  # 1980-01-01: the earliest date a zip entry can hold


def default_output(lock: Lock, fmt: OutputFormat) -> Path:
    return Path(f"{lock.pack.id}-{lock.profile.id}{fmt.extension}")


def volume_id(lock: Lock) -> int:
    """The FAT volume id: from the lock, so the same lock gives the same image."""
    return int(lock_digest(lock)[:8], 16)


def write_zip(tree: Path, out: Path, epoch: int, meter: Meter = NO_METER) -> None:
    """A deterministic zip: sorted entries, one fixed date, fixed modes, streamed file by file."""
    date_time = time.gmtime(max(epoch, ZIP_EPOCH_MIN))[:6]
    paths = sorted(tree.rglob("*"), key=lambda p: p.relative_to(tree).as_posix())
    meter.total(sum(p.stat().st_size for p in paths if p.is_file()))
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
                while block := src.read(1 << 20):
                    dst.write(block)
                    meter.advance(len(block))


def write_sha256_file(out: Path, meter: Meter = NO_METER) -> str:
    """Hash ``out`` and write ``OUT.sha256`` beside it (``sha256sum -c`` format); return the digest."""
    digest = hash_file(out, meter=meter)
    atomic_write_bytes(out.with_name(out.name + ".sha256"), f"{digest}  {out.name}\n".encode())
    return digest


@dataclass(frozen=True)
class BuiltOutput:
    """What ``build`` made: the output, its sha256 (single-file outputs), and the ISO step's report."""

    path: Path
    sha256: str | None = None
    iso: IsoReport | None = None
    written: bool = True  # False for a dry run


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
            _("{out} exists and is {what} packbuilder did not make: not replaced").format(out=out, what=what),
            hint=_("choose another -o path, or move that one away yourself"),
        )


def check_image_size(size: int) -> None:
    if size > MAX_IMAGE_BYTES:
        raise InputError(
            _("an image of {size} is larger than the {limit} packbuilder writes").format(
                size=format_size(size), limit=format_size(MAX_IMAGE_BYTES)
            ),
            hint=_("give a smaller --size: a key larger than its image keeps the rest free"),
        )


@contextlib.contextmanager
def claim(out: Path) -> Iterator[None]:
    """One build at a time per output: a second one to the same ``-o`` stops with a clear error."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(out.with_name(f".{out.name}.lock")))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise InputError(_("another packbuilder is building {out} right now").format(out=out), hint=_("wait for it, or choose another -o")) from None
    try:
        yield
    finally:
        lock.release()
        out.with_name(f".{out.name}.lock").unlink(missing_ok=True)


def _clear_previous(out: Path) -> None:
    """Remove a previous output of packbuilder (anything else is refused)."""
    check_target(out)
    if out.is_dir():
        shutil.rmtree(out)
    elif out.exists() or out.is_symlink():
        out.unlink()


def replace_dir(tree: Path, out: Path) -> None:
    """Put the new key folder at ``out``; a previous key's user data (Documents/, the apps'
    settings) moves into the new one, never deleted: it waits in ``.OUT.previous-PID`` until moved."""
    check_target(out)
    if not out.exists():
        os.replace(tree, out)
        return
    from packbuilder.verify import USER_DATA, read_manifest, user_data

    try:
        keep = user_data(read_manifest(out))
    except PackbuilderError:
        keep = USER_DATA
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
    options: BuildOptions,
    out: Path,
    cached: dict[str, Path],
    overlays_dir: Path | None,
    output: Output,
    iso: IsoRequest | None = None,
) -> BuiltOutput:
    """Build ``out`` as ``options`` ask, in a staging folder beside it, then move it into place; a
    failure leaves nothing.

    ``iso`` names the base for the iso and usb-live formats (an iso dry run stops before writing).
    ``out`` may only be a previous output of packbuilder; one build at a time writes it.
    """
    fmt = options.format
    if fmt.needs_base and iso is None:
        raise fmt.missing_base()
    if not lock.items and not (iso is not None and iso.dry_run):
        raise InputError(_("the lock holds no app: the key would be empty"), hint=_("plan the pack for another profile"))
    out = out.absolute()
    check_target(out)
    if fmt in (OutputFormat.USB, OutputFormat.USB_LIVE):
        check_image_size(key_bytes(lock, options.size_bytes))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with claim(out):
            return _build(lock, options, out, cached, overlays_dir, output, iso)
    except OSError as exc:
        raise InputError(_("cannot write {out}: {strerror}").format(out=out, strerror=exc.strerror), hint=_("choose an -o in a folder you can write to")) from None


def _build(
    lock: Lock,
    options: BuildOptions,
    out: Path,
    cached: dict[str, Path],
    overlays_dir: Path | None,
    output: Output,
    iso: IsoRequest | None,
) -> BuiltOutput:
    fmt = options.format
    staging = out.parent / f".{out.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        tree = _stage(lock, cached, staging / "tree", overlays_dir, output)
        if fmt is OutputFormat.DIR:  # the key's tree is the output; a previous key's Documents/ stay
            replace_dir(tree, out)
            return BuiltOutput(out)
        if fmt is OutputFormat.ISO and iso is not None and iso.dry_run:
            dry = build_iso(lock, tree, iso, staging / "dry-run.iso", build_epoch(lock), staging / "iso")
            return BuiltOutput(out, iso=dry, written=False)
        with staged_output(out, before_replace=_clear_previous) as target:
            writing = _("Writing {output}").format(output=out.name)
            with output.step(writing), output.meter(writing) as meter:
                report = _write_format(lock, options, tree, target, staging, iso, output, meter)
        digest = None
        if fmt.has_sha256_file:
            hashing = _("Hashing {output}").format(output=out.name)
            with output.step(hashing), output.meter(hashing, out.stat().st_size) as meter:
                digest = write_sha256_file(out, meter)
        return BuiltOutput(out, digest, report)
    except (OSError, zipfile.BadZipFile) as exc:
        raise AssemblyError(_("cannot build {out}: {exc}").format(out=out, exc=exc)) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _stage(lock: Lock, cached: dict[str, Path], root: Path, overlays_dir: Path | None, output: Output) -> Path:
    tree = stage(lock, cached, root, overlays_dir)
    count = sum(1 for _path in tree.rglob("*"))
    output.info(ngettext("staged {count} file or folder", "staged {count} files and folders", count).format(count=count))
    return tree


def _write_format(
    lock: Lock,
    options: BuildOptions,
    tree: Path,
    target: Path,
    staging: Path,
    iso: IsoRequest | None,
    output: Output,
    meter: Meter,
) -> IsoReport | None:
    """Write ``tree`` as ``options.format`` (any format but dir) at ``target`` (a path that does not exist
    yet), its bytes told to ``meter``."""
    fmt = options.format
    epoch = build_epoch(lock)
    size = key_bytes(lock, options.size_bytes)
    label_text = (options.label or lock.pack.label).upper()
    persistence_bytes = options.persistence_bytes
    if fmt is OutputFormat.ZIP:
        write_zip(tree, target, epoch, meter)
    elif fmt is OutputFormat.ISO:
        assert iso is not None
        return build_iso(lock, tree, iso, target, epoch, staging / "iso", meter)
    elif fmt is OutputFormat.USB_LIVE:
        from packbuilder.image import live
        from packbuilder.image.overlay import PycdlibReader, live_kind
        from packbuilder.image.usblive import LiveExtras, write_usb_live

        assert iso is not None
        extras = LiveExtras(persistence_lang=lock.pack.locale if persistence_bytes else None)
        with PycdlibReader(iso.base) as reader:
            if live_kind(iso.base, reader) == "debian-live-boot":  # the same live layer as an ISO overlay, the tree at the root
                extras.files, extras.replace = live.layer_files(
                    lock, tree, iso.base, epoch, staging / "live", prefix="", reader=reader
                )
        notes = write_usb_live(
            iso.base, tree, target, size, label_text, volume_id(lock), epoch, persistence_bytes, extras, meter
        )
        for note in notes:
            output.warn(note)
    else:
        from packbuilder.image.fat import write_fat_image

        write_fat_image(tree, target, size, label_text, volume_id(lock), epoch, meter)
    return None
