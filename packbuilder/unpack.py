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
import shutil
import stat
import struct
import tarfile
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from packbuilder import tools
from packbuilder.errors import AssemblyError
from packbuilder.i18n import _

COPY_CHUNK = 1 << 20


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


def unpack(archive: Path, kind: str, dest: Path, cap: int, what: str, hashes: Hashes | None = None) -> None:
    """Unpack ``archive`` (of manifest ``kind``) into the new folder ``dest``. ``hashes``, when given,
    receives (size, sha256) of files written from a zip, by path relative to ``dest`` (computed while
    unpacking, so that a key's manifest needs no second pass over them)."""
    dest.mkdir(parents=True)
    budget = _Budget(cap, what)
    if kind == "zip":
        _unzip(archive, dest, budget, hashes)
    elif kind == "tar":
        _untar(archive, dest, budget)
    elif kind == "7z":
        _un7z(archive, dest, budget)
    elif kind in ("exe", "paf", "msi"):
        _unpack_installer(archive, kind, dest, budget)
    else:
        raise AssemblyError(_("{what}: cannot unpack kind {kind!r}").format(what=what, kind=kind))
    check_tree(dest, what)


def _unzip(archive: Path, dest: Path, budget: _Budget, hashes: Hashes | None = None) -> None:
    with zipfile.ZipFile(archive) as zf, ThreadPoolExecutor(max_workers=1) as hasher:
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
        pending: list[tuple[str, Future[tuple[int, str]]]] = []
        for info in members:
            rel = safe_member(info.filename, budget.what)
            target = dest / rel
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            offset = _stored_offset(archive, info)
            if offset is not None:
                budget.take(info.compress_size)
                _copy_range(archive, target, offset, info.compress_size)
                if hashes is not None:
                    pending.append((rel.as_posix(), hasher.submit(_hash_range, archive, offset, info.compress_size)))
                continue
            digest = hashlib.sha256()
            with zf.open(info) as src, target.open("wb") as out:
                # Count real bytes: sizes in zip headers can lie.
                while block := src.read(COPY_CHUNK):
                    budget.take(len(block))
                    out.write(block)
                    digest.update(block)
            if hashes is not None:
                hashes[rel.as_posix()] = (target.stat().st_size, digest.hexdigest())
        for rel_name, future in pending:
            hashes[rel_name] = future.result()  # type: ignore[index]


def _stored_offset(archive: Path, info: zipfile.ZipInfo) -> int | None:
    """Where a stored (uncompressed, unencrypted) member's bytes start in the archive, or None.

    Such a member is copied by the kernel (copy_file_range), like ``cp`` does, without its CRC:
    the whole archive's sha256 was checked when it was fetched."""
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1 or not hasattr(os, "copy_file_range"):
        return None
    with archive.open("rb") as fh:
        fh.seek(info.header_offset)
        header = fh.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise UnsafeArchive(_("zip member {filename!r}: its local header is damaged").format(filename=info.filename))
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return int(info.header_offset) + 30 + int(name_len) + int(extra_len)


def _copy_range(archive: Path, target: Path, offset: int, size: int) -> None:
    with archive.open("rb") as src, target.open("wb") as out:
        done = 0
        while done < size:
            try:
                sent = os.copy_file_range(src.fileno(), out.fileno(), size - done, offset + done)
            except OSError as exc:  # file systems or kernels without it (EXDEV, ENOSYS, EINVAL...): copy by hand
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                sent = len(block := os.pread(src.fileno(), min(COPY_CHUNK, size - done), offset + done))
                out.write(block)
            if sent == 0:
                raise UnsafeArchive(_("{name}: a member ends past the end of the archive").format(name=archive.name))
            done += sent


def _hash_range(archive: Path, offset: int, size: int) -> tuple[int, str]:
    digest = hashlib.sha256()
    with archive.open("rb") as fh:
        fh.seek(offset)
        left = size
        while left and (block := fh.read(min(COPY_CHUNK, left))):
            digest.update(block)
            left -= len(block)
    return size, digest.hexdigest()


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
