"""Write an image to every target at once, then read each back.

Writing is a fan-out: each block of the image is read and hashed once, then handed to one
writer thread per target. Block devices are opened with ``O_EXCL`` (the kernel refuses a
mounted or otherwise held device) and ``O_DIRECT`` where it works, so the read-back reaches the
key itself rather than the page cache: a fake-capacity key fails there, not at the first use.
"""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from packbuilder.errors import AssemblyError, VerificationError
from packbuilder.flash.targets import Target, image_size

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
    sha256: str | None = None
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
    size: int
    sha256: str
    results: list[TargetResult]

    def check(self) -> None:
        """Raise for write errors (exit 5), then for read-backs that differ (exit 4)."""
        failed = [r for r in self.results if r.error]
        if failed:
            raise AssemblyError(
                f"writing failed on {', '.join(r.target.name for r in failed)}",
                hint="try another USB port or another key; the other targets are listed above",
                details=[f"{r.target.name}: {r.error}" for r in failed],
            )
        bad = [r for r in self.results if r.status(self.sha256) == "FAILED"]
        if bad:
            raise VerificationError(
                f"read-back differs from the image on {', '.join(r.target.name for r in bad)}",
                hint="the key may be faulty or fake (smaller than it claims): try another key",
                details=[f"{r.target.name}: sha256 {r.sha256} != image sha256 {self.sha256}" for r in bad],
            )


class _Block:
    """An image block shared by every writer; back to the pool once each has written it."""

    def __init__(self, buf: mmap.mmap, pool: queue.SimpleQueue[mmap.mmap], length: int, offset: int, users: int):
        self.buf, self.pool, self.offset = buf, pool, offset
        self.view = memoryview(buf)[:length]
        self.users = users
        self.lock = threading.Lock()

    def release(self) -> None:
        with self.lock:
            self.users -= 1
            last = self.users == 0
        if last:
            self.view.release()
            self.pool.put(self.buf)


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


def _write_all(fd: int, view: memoryview, direct: bool) -> bool:
    done = 0
    while done < len(view):
        try:
            n = os.write(fd, view[done:])
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


def _read_back(target: Target, size: int, progress: Progress) -> str:
    """sha256 of the first ``size`` bytes of the target, read from the device, not the page cache."""
    fd, direct = _open(target, write=False)
    buf = mmap.mmap(-1, BLOCK_SIZE)
    digest = hashlib.sha256()
    task = progress.start(target, "verify", size)
    try:
        if target.device is not None and hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        left = size
        while left:
            want = min(BLOCK_SIZE, left)
            length = -(-want // DIRECT_ALIGN) * DIRECT_ALIGN if direct else want
            with memoryview(buf) as whole:
                try:
                    n = os.readv(fd, [whole[:length]])
                except OSError as exc:
                    if not (direct and exc.errno == errno.EINVAL):
                        raise
                    _clear_direct(fd)
                    direct = False
                    continue
                if n == 0:
                    break  # shorter than the image: the digest will differ
                n = min(n, want)
                digest.update(whole[:n])
            left -= n
            progress.advance(task, n)
    finally:
        os.close(fd)
        buf.close()
    return digest.hexdigest()


class _Writer(threading.Thread):
    def __init__(self, target: Target, size: int, verify: bool, progress: Progress, hook: Callable[[Target], None] | None):
        super().__init__(name=f"flash {target.name}", daemon=True)
        self.result = TargetResult(target)
        self.blocks: queue.SimpleQueue[_Block | None] = queue.SimpleQueue()
        self.size, self.verify, self.progress, self.hook = size, verify, progress, hook
        self.fd = -1
        self.direct = False
        self.started_at = 0.0
        self.cancelled = False  # set when the run stops early (Ctrl-C, unreadable image): no fsync wait, no read-back
        try:
            self.fd, self.direct = _open(target, write=True)
        except OSError as exc:
            busy = " (mounted or in use)" if exc.errno == errno.EBUSY else ""
            self.result.error = f"cannot open: {exc.strerror}{busy}"

    def run(self) -> None:
        try:
            self._write()
            if self.verify and self.result.error is None and not self.cancelled:
                if self.hook is not None:
                    self.hook(self.result.target)
                start = time.perf_counter()
                self.result.sha256 = _read_back(self.result.target, self.size, self.progress)
                self.result.verify_seconds = time.perf_counter() - start
        except OSError as exc:
            self.result.error = self.result.error or f"{exc.strerror or exc}"
        except Exception as exc:  # reported per target: one target's failure must not hide the others'
            self.result.error = self.result.error or f"{type(exc).__name__}: {exc}"

    def _write(self) -> None:
        task = self.progress.start(self.result.target, "write", self.size)
        while (block := self.blocks.get()) is not None:
            try:
                if self.result.error is None and not self.cancelled:
                    self.direct = _write_all(self.fd, block.view, self.direct)
                    self.progress.advance(task, len(block.view))
            except OSError as exc:
                self.result.error = f"write failed at byte {block.offset}: {exc.strerror}"
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


def flash(
    image: Path,
    targets: Sequence[Target],
    verify: bool = True,
    progress: Progress | None = None,
    before_verify: Callable[[Target], None] | None = None,
) -> FlashResult:
    """Write ``image`` to every target at once, then read each back. Per-target failures are in the result.

    ``before_verify`` runs in each target's thread between its write and its read-back (tests
    use it to damage a target on purpose).
    """
    progress = progress or _Silent()
    size = image_size(image)
    writers = [_Writer(t, size, verify, progress, before_verify) for t in targets]
    pool: queue.SimpleQueue[mmap.mmap] = queue.SimpleQueue()
    for _ in range(QUEUE_BLOCKS + 2):
        pool.put(mmap.mmap(-1, BLOCK_SIZE))
    digest = hashlib.sha256()
    start = time.perf_counter()
    for writer in writers:
        writer.started_at = start
        writer.start()
    try:
        with image.open("rb", buffering=0) as src:
            offset = 0
            while offset < size:
                buf = pool.get()
                with memoryview(buf) as whole:
                    n = src.readinto(whole[: min(BLOCK_SIZE, size - offset)])
                    if not n:
                        raise AssemblyError(f"{image} shrank while being written", hint="do not change the image while flashing")
                    digest.update(whole[:n])
                block = _Block(buf, pool, n, offset, len(writers))
                for writer in writers:
                    writer.blocks.put(block)
                offset += n
    except BaseException as exc:
        for writer in writers:
            writer.cancelled = True
        if isinstance(exc, OSError):
            raise AssemblyError(f"cannot read {image}: {exc.strerror}") from exc
        raise
    finally:
        for writer in writers:
            writer.blocks.put(None)
        for writer in writers:
            writer.join()
    _reread_partitions(targets)
    return FlashResult(image, size, digest.hexdigest(), [w.result for w in writers])


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
