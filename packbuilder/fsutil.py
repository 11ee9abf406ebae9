"""Small file-system helpers: staged (all-or-nothing) outputs, sizes."""

from __future__ import annotations

import os
import re
import shutil
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

COPY_CHUNK = 1 << 20


@contextmanager
def staged_output(out: Path, before_replace: Callable[[Path], None] | None = None) -> Iterator[Path]:
    """A path beside ``out`` to write a file or folder into; renamed to ``out`` when the block succeeds.

    On any failure the partial file or folder is removed and ``out`` is left as it was: a reader
    never sees half an output. ``before_replace(out)`` runs just before the rename (to remove a
    previous folder, which a rename cannot replace). Files are created by the caller with the
    usual modes (umask respected), unlike ``mkstemp``'s 0600.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}-{threading.get_ident()}")
    _remove(tmp)
    try:
        yield tmp
        if before_replace is not None:
            before_replace(out)
        os.replace(tmp, out)
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes, sync: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, synced (unless the
    caller syncs it with others, ``sync=False``), then renamed."""
    with staged_output(path) as tmp, tmp.open("wb") as fh:
        fh.write(data)
        if sync:
            fh.flush()
            os.fsync(fh.fileno())


def start_writeback(fd: int) -> None:
    """Ask the system to start writing a file's dirty pages now, without waiting for them.

    Linux starts that writing for POSIX_FADV_DONTNEED (and then forgets the pages already
    written, which a copy does not read again); where the advice does not exist, nothing."""
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def sync_tree(path: Path) -> None:
    """Make the files under ``path`` and their folders durable before a journal says they are there.

    Linux: one syncfs(2) of the file system that holds ``path`` (a key: its dirty data, FAT and
    folders in one flush, where an fsync per file would flush a USB key's cache thousands of times).
    Elsewhere: an fsync of each file, then of each folder where the system allows it."""
    if _syncfs(path):
        return
    if not path.is_dir():
        _fsync_each([path], [path.parent])
        return
    files, folders = [], []
    for root, _dirs, names in os.walk(path, topdown=False):
        files += [Path(root, name) for name in names]
        folders.append(Path(root))
    _fsync_each(files, folders)


def sync_files(root: Path, paths: list[Path]) -> None:
    """``sync_tree`` for some files under ``root`` (and their folders) rather than a whole tree."""
    if not _syncfs(root):
        _fsync_each(paths, sorted({p.parent for p in paths}))


def _fsync_each(files: list[Path], folders: list[Path]) -> None:
    for path in files:
        with path.open("rb+") as fh:  # Windows flushes only what is open for writing
            os.fsync(fh.fileno())
    for folder in folders:
        try:  # Windows cannot open a folder
            fd = os.open(folder, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _syncfs(path: Path) -> bool:
    """syncfs(2) of the file system holding ``path``, through the C library (Python has no
    binding); False where there is none."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(path))
    finally:
        os.close(fd)
    return True


def write_texts(root: Path, texts: dict[str, str]) -> list[Path]:
    """Write UTF-8 texts at paths relative to ``root``, in sorted order; return the files written."""
    from packbuilder.paths import join_within

    written = []
    for rel in sorted(texts):
        path = join_within(root, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(texts[rel].encode("utf-8"))
        written.append(path)
    return written


def tree_size(path: Path) -> int:
    """Bytes of the regular files under ``path`` (0 if it does not exist)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = Path(root, name)
            if not full.is_symlink():
                total += full.stat().st_size
    return total


_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
# A number (decimal point or comma), a unit (k, M, G, T, with i for powers of 2), then bytes written the
# English or the French way: 8G, 8GB, 8 Go, 1,5Go, 7.5GiB, 7,5 Gio, 512M, 512 Mo, 1000000, 1000 octets.
_SIZE = re.compile(r"\s*([0-9]+(?:[.,][0-9]+)?)\s*([kmgt]i?)?(?:b|o|bytes?|octets?)?\s*")


def parse_size(text: str) -> int:
    """``8G`` / ``8GB`` / ``8 Go`` = 8×10⁹ bytes (as keys are sold), ``8GiB`` / ``8Gio`` = 8×2³⁰,
    ``1,5Go`` = 1.5×10⁹, ``512M``, ``1000000``."""
    from packbuilder.i18n import _

    match = _SIZE.fullmatch(text.lower())
    if not match:
        raise ValueError(_("{text!r} is not a size: write e.g. 8G, 16GB, 7.5GiB or 512M").format(text=text))
    number, unit = float(match.group(1).replace(",", ".")), match.group(2) or ""
    value = int(number * _UNITS[unit])
    if value <= 0:
        raise ValueError(_("{text!r}: a size must be positive").format(text=text))
    return value


def format_size(size: int, lang: str | None = None) -> str:
    """Decimal units, the way keys are sold: 7 600 000 000 bytes -> "7,6 Go" (French) / "7.6 GB";
    ``lang`` None: the language of the messages."""
    from packbuilder.i18n import current_language

    lang = lang or current_language()
    units = ("octets", "ko", "Mo", "Go", "To") if lang == "fr" else ("bytes", "kB", "MB", "GB", "TB")
    value, unit = float(size), 0
    while value >= 1000 and unit < len(units) - 1:
        value, unit = value / 1000, unit + 1
    text = f"{value:.0f}" if unit == 0 or value >= 100 else f"{value:.1f}".removesuffix(".0")
    if lang == "fr":
        text = text.replace(".", ",")
    return f"{text}\u00a0{units[unit]}"


class NotRegularFile(OSError):
    """A local source that is a link, a device, a FIFO or a folder: never read as data."""


def open_regular(path: Path) -> tuple[int, int]:
    """Open ``path`` for reading only if it is a regular file (links not followed, FIFOs not waited
    on); return (fd, size). The check is made on the open file, so it cannot be swapped under us."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: the last part is a symbolic link
            raise NotRegularFile(f"{path} is a symbolic link: not read") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegularFile(f"{path} is not a regular file: not read")
    return fd, st.st_size


def copy_regular(source: Path, dest: Path, limit: int, feed: Callable[[bytes], object] | None = None) -> int:
    """Copy the regular file ``source`` to ``dest``, at most ``limit`` bytes (a file that is larger,
    or grows while read, is refused); ``feed`` sees every block (to hash while copying)."""
    fd, size = open_regular(source)
    with os.fdopen(fd, "rb") as src:
        if size > limit:
            raise NotRegularFile(f"{source} has {size} bytes, more than the {limit} expected: not read")
        copied = 0
        with dest.open("wb") as out:
            while block := src.read(COPY_CHUNK):
                copied += len(block)
                if copied > limit:
                    raise NotRegularFile(f"{source} grew past the {limit} bytes expected while it was read")
                out.write(block)
                if feed is not None:
                    feed(block)
    return copied
