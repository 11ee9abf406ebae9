"""Small file-system helpers: staged (all-or-nothing) outputs, sizes."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from packbuilder.i18n import _
from packbuilder.ui import NO_METER, Meter

COPY_CHUNK = 1 << 20
FOLLOWED = 32 << 20  # files at least this large are followed while hashed (a progress bar moves through them)


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if relative.startswith("..") else relative


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


@contextmanager
def staged_file(out: Path, mode: int = 0o644) -> Iterator[tuple[Path, int]]:
    """``staged_output`` for a file written through a descriptor (``pwrite``, ``ftruncate``, tools
    given the path): created with ``mode`` (umask respected), open read-write during the block and
    closed before the rename."""
    with staged_output(out) as tmp:
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
        try:
            yield tmp, fd
        finally:
            os.close(fd)


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


_FALLOC_FL_KEEP_SIZE = 1  # linux/falloc.h: reserve the blocks, leave the file's size alone
_FALLOCATE_ARGS = ("c_int", "c_int", "c_int64", "c_int64")


def reserve_space(fd: int, offset: int, end: int) -> bool:
    """Reserve the disk blocks of bytes ``offset``..``end`` of a file about to be written there
    (Linux ``fallocate`` with KEEP_SIZE): the writes that follow cost less, the file system no longer
    books their space page by page (a download's writes 0.34 -> 0.23 s, a FAT image's copies 0.30 ->
    0.24 s). The file's size does not change, so a partial download still says how much was received.
    Only a hint: where it is not supported (another system, a file system without it) nothing
    happens, and a full disk is reported by the write that meets it. True when reserved."""
    fallocate = _libc("fallocate64", *_FALLOCATE_ARGS) or _libc("fallocate", *_FALLOCATE_ARGS)  # 64-bit offsets
    if fallocate is None or end <= offset:
        return False
    return bool(fallocate(fd, _FALLOC_FL_KEEP_SIZE, offset, end - offset) == 0)


@functools.cache
def _libc(name: str, *argtypes: Any) -> Any:
    """The C library's function ``name`` taking ``argtypes`` and returning an int, on Linux (the
    process's own symbols: libc's); None elsewhere or where it is missing. Looked up once."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = [getattr(ctypes, t) for t in argtypes]
    function.restype = ctypes.c_int
    return function


SYNC_FILE_RANGE_WRITE = 2  # linux/fs.h: start writeback of the range's dirty pages, do not wait


def start_range_writeback(fd: int, offset: int, length: int) -> bool:
    """Have the system start writing bytes ``offset``..``offset + length`` of a file to the disk now,
    without waiting and keeping the pages cached (Linux ``sync_file_range``), so the disk works while
    the rest is still arriving and a closing fsync has little left to wait for. Best effort: False
    where the call does not exist or fails; the closing fsync still waits for everything."""
    sync_range = _libc("sync_file_range", "c_int", "c_int64", "c_int64", "c_uint")
    return sync_range is not None and sync_range(fd, offset, length, SYNC_FILE_RANGE_WRITE) == 0


@contextmanager
def on_disk_as_written(
    path: Path, meter: Meter = NO_METER, step: int = 64 << 20, poll: float = 0.02
) -> Iterator[None]:
    """While another program writes the file ``path`` from start to end, send its pages to the disk
    every ``step`` bytes as it grows and tell ``meter`` of its bytes; once the block ends without
    error, fsync it: the file is on the disk when the block returns.

    The program itself is told not to sync (xorriso ``-stdio_sync off``): its own fsync every 16 MiB
    stops it while the disk catches up, and a single fsync at the end waits for the whole file at
    once (about 1 s for a 2.3 GiB ISO on a disk writing 1 GB/s). Started as the file grows, the
    disk works while the program does, and the closing fsync finds little left (that ISO: 2.4-3.4 s
    -> 1.4 s; 16 MiB steps were as fast at best but less steady, 256 MiB slower)."""
    follower = _Follower(path, step, meter)
    stop = threading.Event()
    thread = threading.Thread(target=follower.run, args=(poll, stop), name="writeback", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))  # Windows flushes only what is open for writing
    try:
        meter.advance(os.fstat(fd).st_size - follower.told)  # the last bytes, written after the last poll
        os.fsync(fd)
    finally:
        os.close(fd)


class _Follower:
    """The thread of ``on_disk_as_written``: the disk's work is a hint only, so it stops quietly on
    any error (the closing fsync still makes the file durable)."""

    def __init__(self, path: Path, step: int, meter: Meter):
        self.path, self.step, self.meter = path, step, meter
        self.sent = self.told = 0

    def run(self, poll: float, stop: threading.Event) -> None:
        fd = -1
        try:
            while not stop.wait(poll):
                if fd < 0:
                    try:
                        fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
                    except OSError:  # not created yet
                        continue
                self._grown(fd, os.fstat(fd).st_size)
        except OSError:
            return
        finally:
            if fd >= 0:
                os.close(fd)

    def _grown(self, fd: int, size: int) -> None:
        self.meter.advance(size - self.told)
        self.told = size
        if size - self.sent >= self.step:
            start_range_writeback(fd, self.sent, size - self.sent)
            self.sent = size


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


def sync_renames(root: Path, folders: list[Path]) -> None:
    """Renames inside ``root`` durable before a journal says they were made: one syncfs on Linux
    (a FAT key writes its folders back in no set order), else an fsync of each folder whose entries
    changed, where the system can open a folder."""
    if not _syncfs(root):
        _fsync_each([], sorted(set(folders)))


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
    syncfs = _libc("syncfs", "c_int")
    if syncfs is None:
        return False
    import ctypes

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


class NotRegularFile(OSError):
    """A local source that is a link, a device, a FIFO or a folder: never read as data."""


def open_regular(path: Path) -> tuple[int, int]:
    """Open ``path`` for reading only if it is a regular file (links not followed, FIFOs not waited
    on); return (fd, size). The check is made on the open file, so it cannot be swapped under us."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: the last part is a symbolic link
            raise NotRegularFile(_("{path} is a symbolic link: not read").format(path=path)) from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegularFile(_("{path} is not a regular file: not read").format(path=path))
    return fd, st.st_size


def copy_regular(source: Path, dest: Path, limit: int, feed: Callable[[bytes], object] | None = None) -> int:
    """Copy the regular file ``source`` to ``dest``, at most ``limit`` bytes (a file that is larger,
    or grows while read, is refused); ``feed`` sees every block (to hash while copying)."""
    fd, size = open_regular(source)
    with os.fdopen(fd, "rb") as src:
        if size > limit:
            raise NotRegularFile(
                _("{path} has {size} bytes, more than the {limit} expected: not read").format(path=source, size=size, limit=limit)
            )
        copied = 0
        with dest.open("wb") as out:
            while block := src.read(COPY_CHUNK):
                copied += len(block)
                if copied > limit:
                    raise NotRegularFile(
                        _("{path} grew past the {limit} bytes expected while it was read").format(path=source, limit=limit)
                    )
                out.write(block)
                if feed is not None:
                    feed(block)
    return copied


def hash_file(path: Path, algo: str = "sha256", meter: Meter = NO_METER) -> str:
    """The hex digest of a file (``algo``: a hashlib name, sha256 by default); ``meter`` is told of its
    bytes, and follows a large file while it is read. The one way the package hashes a file."""
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < FOLLOWED:  # a small file: told once read, no watching thread for it
            digest = hashlib.file_digest(fh, algo).hexdigest()
            meter.advance(size)
            return digest
        with meter.reading(fh.fileno()):
            return hashlib.file_digest(fh, algo).hexdigest()
