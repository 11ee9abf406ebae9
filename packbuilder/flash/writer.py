"""Write an image to every target at once, then read each back.

Writing is a fan-out: each buffer of the image is read, checked and hashed once
(:mod:`packbuilder.flash.source`), then handed to one writer thread per target, which writes the
parts that hold data at their offsets and reads back exactly those parts. Block devices are
opened with ``O_EXCL`` (the kernel refuses a mounted or otherwise held device) and ``O_DIRECT``
where it works, so the read-back reaches the key itself rather than the page cache: a
fake-capacity key fails there, not at the first use.
"""

from __future__ import annotations

import errno
import mmap
import os
import queue
import stat
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from packbuilder.errors import AssemblyError, VerificationError
from packbuilder.flash.bmap import BlockMap
from packbuilder.flash.source import Check, Chunk, ImageReader
from packbuilder.flash.targets import Target
from packbuilder.fsutil import start_range_writeback
from packbuilder.i18n import N_, _

BLOCK_SIZE = 4 * 2**20
QUEUE_BLOCKS = 8  # buffers in flight: bounds memory to (QUEUE_BLOCKS + 2) * BLOCK_SIZE
DIRECT_ALIGN = 4096  # O_DIRECT needs aligned buffers and lengths; mmap buffers are page-aligned


class Progress(Protocol):
    """What :func:`flash` reports as it goes (the CLI draws one bar per target)."""

    def start(self, target: Target, phase: str, total: int) -> Any: ...

    def advance(self, task: Any, nbytes: int) -> None: ...


class _Silent:
    def start(self, target: Target, phase: str, total: int) -> Any:
        return None

    def advance(self, task: Any, nbytes: int) -> None:
        pass


# A target's status (the code) and its words.
STATES = {"OK": N_("OK"), "WRITTEN": N_("WRITTEN"), "FAILED": N_("FAILED"), "WRITE ERROR": N_("WRITE ERROR")}


@dataclass
class TargetResult:
    target: Target
    write_seconds: float = 0.0
    verify_seconds: float | None = None  # None: not read back
    mismatch: int | None = None  # image offset of the first buffer read back different from what was written
    error: str | None = None

    @property
    def status(self) -> str:
        if self.error:
            return "WRITE ERROR"
        if self.verify_seconds is None:
            return "WRITTEN"
        return "OK" if self.mismatch is None else "FAILED"

    @property
    def state(self) -> str:
        """:attr:`status` in the user's language (``status`` is the code --json gives)."""
        return _(STATES[self.status])


@dataclass
class FlashResult:
    image: Path
    size: int  # the raw image's
    results: list[TargetResult]
    written: int = 0
    image_sha256: str | None = None  # the whole raw image's, when it was all read (no block map)
    bmap: Path | None = None

    def check(self) -> None:
        """Raise for write errors (exit 5), then for read-backs that differ (exit 4)."""
        failed = [r for r in self.results if r.error]
        if failed:
            raise AssemblyError(
                _("writing failed on {targets}").format(targets=', '.join(r.target.name for r in failed)),
                hint=_("try another USB port or another key; the other targets are listed above"),
                details=[f"{r.target.name}: {r.error}" for r in failed],
            )
        bad = [r for r in self.results if r.status == "FAILED"]
        if bad:
            raise VerificationError(
                _("read-back differs from the image on {targets}").format(targets=", ".join(r.target.name for r in bad)),
                hint=_("the key may be faulty or fake (smaller than it claims): try another key"),
                details=[
                    _("{target}: read back different from what was written, from byte {offset}").format(
                        target=r.target.name, offset=r.mismatch
                    )
                    for r in bad
                ],
            )


class _Block:
    """A buffer shared by every writer; back to the pool once each has written it."""

    def __init__(self, chunk: Chunk, pool: queue.SimpleQueue[mmap.mmap], users: int):
        self.chunk, self.pool, self.users = chunk, pool, users
        whole = memoryview(chunk.buf)
        self.pieces = [(chunk.offset + a, whole[a:b]) for a, b in chunk.pieces]
        self.lock = threading.Lock()

    def release(self) -> None:
        with self.lock:
            self.users -= 1
            last = self.users == 0
        if last:
            for _, view in self.pieces:
                view.release()
            self.pool.put(self.chunk.buf)


def _clear_direct(fd: int) -> None:
    import fcntl

    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~getattr(os, "O_DIRECT", 0))


def _open(target: Target, write: bool) -> tuple[int, bool]:
    """(fd, direct). Block devices: O_EXCL (EBUSY if mounted or held) and O_DIRECT when accepted."""
    flags = (os.O_WRONLY if write else os.O_RDONLY) | getattr(os, "O_CLOEXEC", 0)
    if target.device is None:
        return os.open(target.path, flags | (os.O_CREAT | os.O_TRUNC if write else 0), 0o644), False
    flags |= os.O_EXCL
    direct = getattr(os, "O_DIRECT", 0)
    if direct:
        try:
            return os.open(target.path, flags | direct), True
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
    return os.open(target.path, flags), False


def _write_all(fd: int, offset: int, view: memoryview, direct: bool) -> bool:
    done = 0
    while done < len(view):
        try:
            n = os.pwrite(fd, view[done:], offset + done)
        except OSError as exc:
            if direct and exc.errno == errno.EINVAL:  # unaligned tail, or a driver refusing O_DIRECT
                _clear_direct(fd)
                direct = False
                continue
            raise
        if n == 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        done += n
    return direct


def _pread(fd: int, start: int, end: int, whole: memoryview, direct: bool) -> tuple[int, bool]:
    """Read bytes ``start``..``end`` (at most one buffer) into ``whole``: (bytes read, whether O_DIRECT still holds)."""
    want = end - start
    done = 0
    while done < want:
        length = -(-(want - done) // DIRECT_ALIGN) * DIRECT_ALIGN if direct else want - done
        try:
            n = os.preadv(fd, [whole[done : done + length]], start + done)
        except OSError as exc:
            if not (direct and exc.errno == errno.EINVAL):
                raise
            _clear_direct(fd)
            direct = False
            continue
        if n == 0:
            break  # shorter than the image: the CRC will differ
        done += n
    return min(done, want), direct


def _piece_bytes(check: Check) -> int:
    return sum(b - a for a, b in check.pieces)


def _read_back(target: Target, checks: Sequence[Check], progress: Progress) -> int | None:
    """Read back the written bytes, buffer by buffer: a key's from the key itself (O_DIRECT, its page cache
    dropped first), a file's as its readers see it; the image offset of the first buffer whose CRC-32 differs, else None."""
    fd, direct = _open(target, write=False)
    buf = mmap.mmap(-1, BLOCK_SIZE)
    task = progress.start(target, "verify", sum(_piece_bytes(check) for check in checks))
    try:
        if target.device is not None and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        with memoryview(buf) as whole:
            for check in checks:
                n, direct = _pread(fd, check.start, check.end, whole, direct)
                crc = 0
                for a, b in check.pieces:
                    crc = zlib.crc32(whole[a - check.start : b - check.start], crc)
                if n < check.end - check.start or crc != check.crc:
                    return check.start
                progress.advance(task, _piece_bytes(check))
    finally:
        os.close(fd)
        buf.close()
    return None


def _start_writeback(fd: int, offset: int, length: int, direct: bool, device: bool) -> None:
    """Have the kernel start writing these pages out now, so the disk works while the image is still being
    decompressed and the closing fsync has little left to do. A key: fadvise DONTNEED (which starts writeback
    of dirty pages, mm/fadvise.c) also keeps a slow key from piling up gigabytes of dirty page cache. A file:
    sync_file_range, which keeps the pages cached, as a file read back through the cache is what its readers see."""
    if direct:
        return
    if device and hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)
    elif not device:
        start_range_writeback(fd, offset, length)  # best effort: fsync at the end waits for all


class _Writer(threading.Thread):
    def __init__(
        self, target: Target, reader: ImageReader, verify: bool, progress: Progress, hook: Callable[[Target], None] | None
    ):
        super().__init__(name=f"flash {target.name}", daemon=True)
        self.result = TargetResult(target)
        self.blocks: queue.SimpleQueue[_Block | None] = queue.SimpleQueue()
        self.reader, self.verify, self.progress, self.hook = reader, verify, progress, hook
        self.fd = -1
        self.direct = False
        self.started_at = 0.0
        self.cancelled = False  # set when the run stops early (Ctrl-C, unreadable image): no fsync wait, no read-back
        try:
            self.fd, self.direct = _open(target, write=True)
            if stat.S_ISREG(os.fstat(self.fd).st_mode):
                os.ftruncate(self.fd, reader.size)  # a file target is the image's size; what is not written is a hole
        except OSError as exc:
            busy = _("cannot open: {reason} (mounted or in use)") if exc.errno == errno.EBUSY else _("cannot open: {reason}")
            self.result.error = self.result.error or busy.format(reason=exc.strerror)

    def run(self) -> None:
        try:
            self._write()
            if self.verify and self.result.error is None and not self.cancelled:
                if self.hook is not None:
                    self.hook(self.result.target)
                start = time.perf_counter()
                self.result.mismatch = _read_back(self.result.target, self.reader.checks, self.progress)
                self.result.verify_seconds = time.perf_counter() - start
        except OSError as exc:
            self.result.error = self.result.error or f"{exc.strerror or exc}"
        except Exception as exc:  # reported per target: one target's failure must not hide the others'
            self.result.error = self.result.error or f"{type(exc).__name__}: {exc}"

    def _write(self) -> None:
        mapped = self.reader.block_map.mapped_bytes if self.reader.block_map is not None else self.reader.size
        task = self.progress.start(self.result.target, "write", mapped)
        while (block := self.blocks.get()) is not None:
            try:
                if self.result.error is None and not self.cancelled:
                    for offset, view in block.pieces:
                        self.direct = _write_all(self.fd, offset, view, self.direct)
                        _start_writeback(self.fd, offset, len(view), self.direct, self.result.target.device is not None)
                    self.progress.advance(task, block.chunk.length)
            except OSError as exc:
                self.result.error = _("write failed at byte {offset}: {reason}").format(
                    offset=block.chunk.offset, reason=exc.strerror
                )
            finally:
                block.release()
        if self.fd < 0:
            return
        try:
            if self.result.error is None:
                os.fsync(self.fd)
                self.result.write_seconds = time.perf_counter() - self.started_at
        finally:
            os.close(self.fd)


def _feed(reader: ImageReader, writers: Sequence[_Writer]) -> None:
    pool: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
    for _slot in range(QUEUE_BLOCKS + 2):
        pool.put(mmap.mmap(-1, BLOCK_SIZE))
    try:
        for chunk in reader.chunks(pool, BLOCK_SIZE):
            block = _Block(chunk, pool, len(writers))
            for writer in writers:
                writer.blocks.put(block)
    except OSError as exc:
        raise AssemblyError(_("cannot read {image}: {reason}").format(image=reader.image, reason=exc.strerror or exc)) from exc


def flash(
    image: Path,
    targets: Sequence[Target],
    verify: bool = True,
    progress: Progress | None = None,
    before_verify: Callable[[Target], None] | None = None,
    block_map: BlockMap | None = None,
    bmap_path: Path | None = None,
) -> FlashResult:
    """Write ``image`` (raw or compressed) to every target at once, then read each back.

    With ``block_map``, only its ranges are written and read back. Per-target failures are in the
    result. ``before_verify`` runs in each target's thread between its write and its read-back
    (tests use it to damage a target on purpose).
    """
    progress = progress or _Silent()
    reader = ImageReader(image, block_map)
    writers = [_Writer(t, reader, verify, progress, before_verify) for t in targets]
    start = time.perf_counter()
    for writer in writers:
        writer.started_at = start
        writer.start()
    try:
        _feed(reader, writers)
    except BaseException:
        for writer in writers:
            writer.cancelled = True
        raise
    finally:
        for writer in writers:
            writer.blocks.put(None)
        for writer in writers:
            writer.join()
    _reread_partitions(targets)
    whole = reader.image_digest.hexdigest() if reader.image_digest is not None else None
    return FlashResult(image, reader.size, [w.result for w in writers], reader.written, whole, bmap_path)


def _reread_partitions(targets: Sequence[Target]) -> None:
    """Ask the kernel to read the new partition table (BLKRRPART), so the key's partition shows up at once."""
    import fcntl

    for target in (t for t in targets if t.device is not None):
        try:
            fd = os.open(target.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                fcntl.ioctl(fd, 0x125F)  # BLKRRPART, linux/fs.h
            finally:
                os.close(fd)
        except OSError:
            continue  # best effort: the partition appears anyway when the key is plugged in again
