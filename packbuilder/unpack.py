"""Safe unpacking of downloaded artifacts.

Names from archives are never trusted: absolute paths, ``..``, drive letters, links, device
files and archives that grow far beyond their declared size (zip bombs) are refused, with the
artifact named. zip and tar are read by the standard library, 7z by py7zr; installers
(NSIS/7-Zip self-extracting .exe, .paf.exe, .msi, Inno Setup) by the external tools 7z,
msiextract and innoextract through the tool wrapper.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import shutil
import stat
import struct
import tarfile
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from packbuilder import tools
from packbuilder.errors import AssemblyError
from packbuilder.fsutil import start_writeback
from packbuilder.i18n import _

COPY_CHUNK = 1 << 20
# With ``flush``, the disk is asked to write what was copied at least this often.
WRITEBACK_EVERY = 8 << 20


class UnsafeArchive(AssemblyError):
    """An archive tried to write outside its folder, or to grow without bound."""


def safe_member(name: str, what: str) -> PurePosixPath:
    """A relative, normalised path for an archive member name, or UnsafeArchive."""
    cleaned = name.replace("\\", "/")
    if cleaned.startswith("/") or (len(cleaned) > 1 and cleaned[1] == ":"):
        raise UnsafeArchive(
            _("{what}: absolute path in the archive: {name!r}").format(what=what, name=name), hint=_("this archive is refused")
        )
    parts = [p for p in cleaned.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(
            _("{what}: path leaving the folder in the archive: {name!r}").format(what=what, name=name),
            hint=_("this archive is refused"),
        )
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


class _Budget:
    def __init__(self, cap: int, what: str):
        self.cap, self.what, self.used = cap, what, 0

    def take(self, nbytes: int) -> None:
        self.used += nbytes
        if self.used > self.cap:
            raise UnsafeArchive(
                _("{what}: unpacks to more than {cap:,} bytes, far beyond its declared size (a zip bomb?)").format(
                    what=self.what, cap=self.cap
                ),
                hint=_("check the manifest's installed_size; this archive is refused"),
            )


Hashes = dict[str, tuple[int, str]]


def unpack(archive: Path, kind: str, dest: Path, cap: int, what: str, hashes: Hashes | None = None, flush: bool = False) -> None:
    """Unpack ``archive`` (of manifest ``kind``) into the new folder ``dest``. ``hashes``, when given,
    receives (size, sha256) of files written from a zip, by path relative to ``dest`` (computed while
    unpacking, so that a key's manifest needs no second pass over them). ``flush``: the files of a
    zip are sent to the disk as they are written, not when the system gets to it (an update syncs
    them before going on: the disk writes while the next files are read)."""
    dest.mkdir(parents=True)
    budget = _Budget(cap, what)
    if kind == "zip":
        _unzip(archive, dest, budget, hashes, flush)
    elif kind == "tar":
        _untar(archive, dest, budget)
    elif kind == "7z":
        _un7z(archive, dest, budget)
    elif kind in ("exe", "paf", "msi"):
        _unpack_installer(archive, kind, dest, budget)
    else:
        raise AssemblyError(_("{what}: cannot unpack kind {kind!r}").format(what=what, kind=kind))
    check_tree(dest, what)


def _unzip(archive: Path, dest: Path, budget: _Budget, hashes: Hashes | None = None, flush: bool = False) -> None:
    with zipfile.ZipFile(archive) as zf, _Hashers() as hashers, _RawArchive(archive, flush, hashers) as raw:
        members = zf.infolist()
        for info in members:  # check every name before writing anything
            safe_member(info.filename, budget.what)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UnsafeArchive(
                    _("{what}: symbolic link in the archive: {filename!r}").format(what=budget.what, filename=info.filename)
                )
        budget_declared = sum(i.file_size for i in members)
        if budget_declared > budget.cap:
            budget.take(budget_declared)
        pending: list[tuple[str, int, Callable[[], str]]] = []
        made = {dest}  # folders made: one mkdir each, not one per member
        for info in members:
            rel = safe_member(info.filename, budget.what)
            target = dest / rel
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                made.add(target)
                continue
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            offset = raw.stored_offset(info)
            if offset is not None:
                budget.take(info.compress_size)
                digest = raw.copy(target, offset, info.compress_size, hashes is not None)
                pending.append((rel.as_posix(), info.compress_size, digest))
                continue
            feed, size = hashers.file() if hashes is not None else None, 0
            with zf.open(info) as src, target.open("wb") as out:
                # Count real bytes: sizes in zip headers can lie.
                while block := src.read(COPY_CHUNK):
                    budget.take(len(block))
                    size += len(block)
                    out.write(block)
                    if feed is not None:
                        feed.data(block)
                if flush:
                    out.flush()
                    hashers.writeback(out.fileno())
            if feed is not None:
                pending.append((rel.as_posix(), size, feed.sha.hexdigest))
    if hashes is not None:  # the hashers have finished
        hashes.update((rel_name, (size, digest())) for rel_name, size, digest in pending)


Job = tuple[Any, "bytes | memoryview", int, memoryview]


class _Hashers:
    """The sha256 of the files being unpacked, computed by HASHERS threads while this one reads
    and writes (hashlib lets go of the GIL): a busy machine gives each thread a share of its
    processors, and hashing in line made the reads and writes wait for the hash. A file's blocks
    go to one hasher, in order; the files go to the hashers in turn. Blocks are read into BUFFERS
    buffers that the hashers give back (a block already in memory takes one as a token): the
    memory used is bounded."""

    HASHERS = 2
    BUFFERS = 4 * HASHERS

    def __init__(self) -> None:
        self.free: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
        self.queues: list[queue.SimpleQueue[Job | None]] = []
        self.threads: list[threading.Thread] = []
        self.files = 0
        self.error: BaseException | None = None
        self.flushes: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self.flusher: threading.Thread | None = None

    def __enter__(self) -> _Hashers:
        return self

    def __exit__(self, *exc: object) -> None:
        for work in self.queues:
            work.put(None)
        if self.flusher is not None:
            self.flushes.put(None)
            self.flusher.join()
        for thread in self.threads:
            thread.join()
        if self.error is not None:
            raise self.error

    def writeback(self, fd: int) -> None:
        """Start writing a file to the disk, from another thread: starting it costs processor time
        (the file system places the blocks), which measured slowed the copy when done in line."""
        if self.flusher is None:
            self.flusher = threading.Thread(target=self._flush, name="writeback", daemon=True)
            self.flusher.start()
        self.flushes.put(os.dup(fd))

    def _flush(self) -> None:
        while (fd := self.flushes.get()) is not None:
            try:
                start_writeback(fd)
            except OSError:  # only a head start: the sync that follows writes it anyway
                pass
            finally:
                os.close(fd)

    def _run(self, work: queue.SimpleQueue[Job | None]) -> None:
        while (job := work.get()) is not None:
            sha, data, length, token = job
            try:
                sha.update(data[:length])
            except BaseException as exc:  # reported by __exit__; the buffer still goes back
                self.error = exc
            self.free.put(token)

    def file(self) -> _HashedFile:
        if not self.threads:
            for _ in range(self.BUFFERS):
                self.free.put(memoryview(bytearray(COPY_CHUNK)))
            for _ in range(self.HASHERS):
                self.queues.append(queue.SimpleQueue())
                self.threads.append(threading.Thread(target=self._run, args=(self.queues[-1],), name="hash", daemon=True))
                self.threads[-1].start()
        self.files += 1
        return _HashedFile(self, self.queues[self.files % self.HASHERS])


class _HashedFile:
    def __init__(self, hashers: _Hashers, work: queue.SimpleQueue[Job | None]) -> None:
        self.hashers, self.work, self.sha = hashers, work, hashlib.sha256()

    def buffer(self) -> memoryview:
        return self.hashers.free.get()

    def done(self, buffer: memoryview, length: int) -> None:
        """``buffer[:length]`` was written: hash it, then give the buffer back."""
        self.work.put((self.sha, buffer, length, buffer))

    def data(self, block: bytes) -> None:
        self.work.put((self.sha, block, len(block), self.buffer()))


class _RawArchive:
    """The archive's bytes, for members stored without compression: copied as they are, without
    their CRC (the whole archive's sha256 was checked when it was fetched). Wanted with its sha256,
    each block is read once: written here, hashed by ``_Hashers`` (hashing after a kernel copy
    would read every byte a second time)."""

    def __init__(self, archive: Path, flush: bool, hashers: _Hashers) -> None:
        self.archive, self.flush, self.hashers = archive, flush, hashers
        self.file = archive.open("rb", buffering=0)
        self.size = os.fstat(self.file.fileno()).st_size
        if hasattr(os, "posix_fadvise"):  # read ahead further: members are copied in the archive's order
            os.posix_fadvise(self.file.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)

    def __enter__(self) -> _RawArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()

    def stored_offset(self, info: zipfile.ZipInfo) -> int | None:
        """Where a stored (uncompressed, unencrypted) member's bytes start in the archive, or None."""
        if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
            return None
        self.file.seek(info.header_offset)
        header = self.file.read(30)
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            raise UnsafeArchive(_("zip member {filename!r}: its local header is damaged").format(filename=info.filename))
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        offset = int(info.header_offset) + 30 + int(name_len) + int(extra_len)
        if offset + info.compress_size > self.size:
            raise UnsafeArchive(_("{name}: a member ends past the end of the archive").format(name=self.archive.name))
        return offset

    def copy(self, target: Path, offset: int, size: int, digest: bool) -> Callable[[], str]:
        """Copy ``size`` bytes from ``offset`` to the new file ``target``; returns what gives their
        sha256 once the hashers are done (``digest``) or "" (the kernel copies, as ``cp`` does)."""
        if not digest and hasattr(os, "copy_file_range"):
            with target.open("wb") as out:
                if _kernel_copy(self.file.fileno(), out.fileno(), offset, size):
                    if self.flush:
                        self.hashers.writeback(out.fileno())
                    return lambda: ""
        feed = self.hashers.file()
        self.file.seek(offset)
        with target.open("wb") as out:
            done = 0
            while done < size:
                buffer = feed.buffer()
                got = self.file.readinto(buffer[: min(COPY_CHUNK, size - done)])
                if not got:
                    feed.done(buffer, 0)
                    raise UnsafeArchive(_("{name}: a member ends past the end of the archive").format(name=self.archive.name))
                out.write(buffer[:got])
                feed.done(buffer, got)
                done += got
                if self.flush and (done % WRITEBACK_EVERY < got or done == size):
                    out.flush()
                    self.hashers.writeback(out.fileno())
        return feed.sha.hexdigest


def _kernel_copy(src: int, out: int, offset: int, size: int) -> bool:
    """copy_file_range; False where the file system or kernel cannot (the caller copies by hand)."""
    done = 0
    while done < size:
        try:
            sent = os.copy_file_range(src, out, size - done, offset + done)
        except OSError as exc:  # EXDEV, ENOSYS, EINVAL, EOPNOTSUPP: not here (the file is opened again, emptied)
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            return False
        if sent == 0:
            raise UnsafeArchive(_("a member ends past the end of the archive"))
        done += sent
    return True


def _untar(archive: Path, dest: Path, budget: _Budget) -> None:
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for member in members:
            safe_member(member.name, budget.what)
            if member.isdev() or member.isfifo():
                raise UnsafeArchive(
                    _("{what}: device or fifo in the archive: {name!r}").format(what=budget.what, name=member.name)
                )
            if member.issym() or member.islnk():
                link = PurePosixPath(member.name).parent / member.linkname
                if member.linkname.startswith("/") or ".." in PurePosixPath(os.path.normpath(str(link))).parts:
                    raise UnsafeArchive(
                        _("{what}: link pointing outside the folder: {name!r} -> {linkname!r}").format(
                            what=budget.what, name=member.name, linkname=member.linkname
                        )
                    )
        budget.take(sum(m.size for m in members if m.isfile()))
        # The "data" filter refuses the same things again, and drops owners and odd modes.
        tf.extractall(dest, filter="data")


def _un7z(archive: Path, dest: Path, budget: _Budget) -> None:
    import py7zr

    with py7zr.SevenZipFile(archive, mode="r") as sz:
        for info in sz.list():
            safe_member(info.filename, budget.what)
            if info.is_symlink:
                raise UnsafeArchive(
                    _("{what}: symbolic link in the archive: {filename!r}").format(what=budget.what, filename=info.filename)
                )
        budget.take(int(sz.archiveinfo().uncompressed))
        sz.extractall(path=dest)


def _unpack_installer(archive: Path, kind: str, dest: Path, budget: _Budget) -> None:
    """Installers are unpacked, never run: msiextract for MSI, innoextract for Inno Setup, else 7z."""
    if kind == "msi" and tools.find("msiextract"):
        tools.run(["msiextract", "-C", dest, archive])
    elif (
        kind == "exe"
        and tools.find("innoextract")
        and tools.run(["innoextract", "--list", "--silent", archive], check=False).returncode == 0
    ):
        tools.run(["innoextract", "--silent", "--output-dir", dest, archive])
        inner = dest / "app"
        if inner.is_dir():  # Inno Setup puts the program under app/
            for child in inner.iterdir():
                child.rename(dest / child.name)
            inner.rmdir()
    else:
        listing = tools.run(["7z", "l", "-slt", "-ba", archive]).stdout.decode("utf-8", errors="replace")
        total = 0
        for line in listing.splitlines():
            if line.startswith("Path = "):
                safe_member(line.removeprefix("Path = "), budget.what)
            elif line.startswith("Size = ") and line[7:].strip().isdigit():
                total += int(line[7:])
        budget.take(total)
        tools.run(["7z", "x", "-y", "-bd", f"-o{dest}", archive])
        for junk in ("$PLUGINSDIR", "$TEMP"):  # NSIS internals, not part of the program
            shutil.rmtree(dest / junk, ignore_errors=True)
    budget.take(0)


def check_tree(root: Path, what: str) -> None:
    """After any extraction: only regular files and folders, all inside ``root``."""
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                raise UnsafeArchive(_("{what}: the archive made a link: {path}").format(what=what, path=path.relative_to(root)))
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                raise UnsafeArchive(
                    _("{what}: the archive made a special file: {path}").format(what=what, path=path.relative_to(root))
                )
