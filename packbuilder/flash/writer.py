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
import hashlib
import mmap
import os
import queue
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from packbuilder.errors import AssemblyError, VerificationError
from packbuilder.flash.bmap import BlockMap
from packbuilder.flash.source import Chunk, ImageReader
from packbuilder.flash.targets import Target
from packbuilder.i18n import _

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


@dataclass
class TargetResult:
    target: Target
    write_seconds: float = 0.0
    verify_seconds: float | None = None
    sha256: str | None = None  # of the bytes read back (the parts written)
    error: str | None = None

    def status(self, expected: str) -> str:
        if self.error:
            return "WRITE ERROR"
        if self.sha256 is None:
            return "WRITTEN"
        return "OK" if self.sha256 == expected else "FAILED"


@dataclass
class FlashResult:
    image: Path
    size: int  # the raw image's
    sha256: str  # of the bytes written, in order: what each read-back must give
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
        bad = [r for r in self.results if r.status(self.sha256) == "FAILED"]
        if bad:
            raise VerificationError(
                _("read-back differs from the image on {targets}").format(targets=', '.join(r.target.name for r in bad)),
                hint=_("the key may be faulty or fake (smaller than it claims): try another key"),
                details=[
                    _("{target}: sha256 {read} != written sha256 {written}").format(
                        target=r.target.name, read=r.sha256, written=self.sha256
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


def _read_extent(fd: int, start: int, end: int, buf: mmap.mmap, direct: bool, step: Callable[[memoryview], None]) -> bool:
    """Read bytes ``start``..``end`` of ``fd`` into ``step``, buffer by buffer; returns whether O_DIRECT still holds."""
    pos = start
    while pos < end:
        want = min(BLOCK_SIZE, end - pos)
        length = -(-want // DIRECT_ALIGN) * DIRECT_ALIGN if direct else want
        with memoryview(buf) as whole:
            try:
                n = os.preadv(fd, [whole[:length]], pos)
            except OSError as exc:
                if not (direct and exc.errno == errno.EINVAL):
                    raise
                _clear_direct(fd)
                direct = False
                continue
            if n == 0:
                return direct  # shorter than the image: the digest will differ
            n = min(n, want)
            step(whole[:n])
        pos += n
    return direct


def _read_back(target: Target, extents: Sequence[Sequence[int]], progress: Progress, per_extent: bool) -> str:
    """sha256 of the target's bytes at ``extents`` (``per_extent``: of each extent's sha256 in turn, as
    :class:`ImageReader` does with a block map), read from the device, not the page cache."""
    fd, direct = _open(target, write=False)
    buf = mmap.mmap(-1, BLOCK_SIZE)
    digest = hashlib.sha256()
    task = progress.start(target, "verify", sum(end - start for start, end in extents))
    hasher = digest

    def step(data: memoryview) -> None:
        hasher.update(data)
        progress.advance(task, len(data))

    try:
        if target.device is not None and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        for start, end in extents:
            hasher = hashlib.sha256() if per_extent else digest
            direct = _read_extent(fd, start, end, buf, direct, step)
            if per_extent:
                digest.update(hasher.digest())
    finally:
        os.close(fd)
        buf.close()
    return digest.hexdigest()


def _start_writeback(fd: int, offset: int, length: int, direct: bool) -> None:
    """Have the kernel start writing these pages out now (fadvise DONTNEED starts writeback of dirty pages,
    mm/fadvise.c), so the disk works while the image is still being decompressed and the closing fsync
    has little left to do; it also keeps a slow key from piling up gigabytes of dirty page cache."""
    if not direct and hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


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
                per_extent = self.reader.block_map is not None
                self.result.sha256 = _read_back(self.result.target, self.reader.extents, self.progress, per_extent)
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
                        _start_writeback(self.fd, offset, len(view), self.direct)
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
    results = [w.result for w in writers]
    return FlashResult(image, reader.size, reader.digest.hexdigest(), results, reader.written, whole, bmap_path)


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
