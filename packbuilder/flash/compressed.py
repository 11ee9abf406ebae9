"""Compressed disk images: writing ``.img.xz`` / ``.img.zst`` for publishing, and reading any of
``.img``, ``.img.xz``, ``.img.zst``, ``.img.gz`` as one stream of raw image bytes, never unpacked to disk.

Compression is multithreaded and reproducible: zstd through the ``zstandard`` library (level 19,
worker threads; its multithreaded output does not depend on the number of threads), xz through
the ``xz`` tool with a fixed argv (Python's lzma has no multithreaded encoder). xz's multithreaded
mode cuts the input into blocks of a size fixed by the preset and gives the same bytes for any
thread count of 2 or more, but ``-T1`` (what ``-T0`` means on a one-core machine) writes a single
block: hence ``--threads`` of at least 2.

Reading skips what a block map says is empty: a raw image seeks, an ``xz`` file made of several
blocks jumps to the block holding the offset (see :mod:`packbuilder.flash.xzblocks`), zstd and gzip
decompress and discard (zstd runs of zeros decompress at memory speed).
"""

from __future__ import annotations

import gzip
import lzma
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from packbuilder.errors import AssemblyError, InputError
from packbuilder.i18n import _
from packbuilder.ui import NO_METER, Meter

SUFFIXES = (".xz", ".zst", ".gz")
ZSTD_LEVEL = 19
XZ_PRESET = "-6"
IO_CHUNK = 4 * 2**20


class RawStream(Protocol):
    """The raw image bytes of an image file, compressed or not."""

    size: int | None  # raw size when the file says it, else None

    def readinto(self, buf: memoryview) -> int: ...

    def skip_to(self, offset: int) -> None: ...

    def close(self) -> None: ...


def kind(image: Path) -> str:
    """``raw``, ``xz``, ``zst`` or ``gz``, from the file's name."""
    suffix = image.suffix.lower()
    return suffix[1:] if suffix in SUFFIXES else "raw"


class _Decoder(Protocol):
    def readinto(self, buf: memoryview, /) -> int | None: ...

    def close(self) -> None: ...


class _Plain:
    def __init__(self, path: Path):
        self.fh = path.open("rb", buffering=0)
        self.size: int | None = os.fstat(self.fh.fileno()).st_size

    def readinto(self, buf: memoryview) -> int:
        return self.fh.readinto(buf) or 0

    def skip_to(self, offset: int) -> None:
        self.fh.seek(offset)

    def close(self) -> None:
        self.fh.close()


class _Sequential:
    """A decompressing reader (zstd, gzip, xz in one block): forward skips decompress and discard."""

    def __init__(self, reader: _Decoder, raw: BinaryIO, size: int | None):
        self.reader, self.raw, self.size, self.pos = reader, raw, size, 0
        self.scratch = bytearray(IO_CHUNK)

    def readinto(self, buf: memoryview) -> int:
        done = 0
        while done < len(buf):
            n = self.reader.readinto(buf[done:]) or 0
            if n == 0:
                break
            done += n
        self.pos += done
        return done

    def skip_to(self, offset: int) -> None:
        if offset < self.pos:
            raise AssemblyError(
                _("internal: cannot go back in a compressed stream ({offset} < {pos})").format(offset=offset, pos=self.pos)
            )
        with memoryview(self.scratch) as scratch:
            while self.pos < offset:
                if self.readinto(scratch[: min(IO_CHUNK, offset - self.pos)]) == 0:
                    return

    def close(self) -> None:
        self.reader.close()
        self.raw.close()


def _zstd(path: Path) -> RawStream:
    import zstandard

    raw = path.open("rb")
    size = zstandard.frame_content_size(raw.read(18))  # a frame header is at most 18 bytes
    raw.seek(0)
    reader = zstandard.ZstdDecompressor().stream_reader(raw, read_size=IO_CHUNK, closefd=False)
    return _Sequential(reader, raw, size if size >= 0 else None)


def open_raw(image: Path, wanted: Sequence[tuple[int, int]] | None = None) -> RawStream:
    """The raw bytes of ``image``. ``wanted``: the (start, end) spans the caller will read (a block map's
    ranges), in order; an xz file then decodes only its blocks holding them, without checking their CRC
    (the map's checksums cover the bytes read)."""
    from packbuilder.flash import xzblocks

    try:
        match kind(image):
            case "raw":
                return _Plain(image)
            case "zst":
                return _zstd(image)
            case "gz":
                raw = image.open("rb")
                return _Sequential(gzip.GzipFile(fileobj=raw), raw, None)
            case _:
                index = xzblocks.read_index(image)
                if wanted is not None and index is not None and index.seekable:
                    return xzblocks.BlockReader(image, index, wanted)
                raw = image.open("rb")
                return _Sequential(lzma.LZMAFile(raw), raw, index.size if index else None)
    except OSError as exc:
        raise InputError(_("cannot read image {image}: {reason}").format(image=image, reason=exc.strerror or exc)) from exc


def decode_errors() -> tuple[type[Exception], ...]:
    """What the decompressors raise on damaged input."""
    import zstandard

    return (lzma.LZMAError, gzip.BadGzipFile, EOFError, zstandard.ZstdError)


def raw_size(image: Path) -> int:
    """The raw image's size; gzip does not record it (only modulo 4 GiB), so a .gz is read through once."""
    stream = open_raw(image)
    errors: tuple[type[Exception], ...] = (*decode_errors(), OSError)
    try:
        if stream.size is not None:
            return stream.size
        buf = bytearray(IO_CHUNK)
        total = 0
        with memoryview(buf) as view:
            while n := stream.readinto(view):
                total += n
        return total
    except errors as exc:
        raise InputError(
            _("{image} is damaged or not a {kind} file: {exc}").format(image=image, kind=kind(image), exc=exc),
            hint=_("download it again"),
        ) from exc
    finally:
        stream.close()


# --- writing --------------------------------------------------------------------------------------


def _threads() -> int:
    return max(2, os.cpu_count() or 1)


def compress_zst(src: Path, dest: Path, meter: Meter = NO_METER) -> None:
    """``dest`` = ``src`` compressed by zstd level 19 on every core; the frame records size and checksum."""
    import zstandard

    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=_threads(), write_checksum=True, write_content_size=True)
    tmp = dest.with_name(f".{dest.name}.partial")
    try:
        with src.open("rb") as fin, tmp.open("wb") as fout, meter.reading(fin.fileno()):
            compressor.copy_stream(fin, fout, size=src.stat().st_size, read_size=IO_CHUNK, write_size=IO_CHUNK)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def xz_argv() -> list[str]:
    """Fixed options: preset, CRC64, multithreaded mode always (see the module's text), no silent downgrade."""
    return ["xz", "--compress", "--stdout", XZ_PRESET, "--check=crc64", f"--threads={_threads()}", "--no-adjust", "--quiet"]


def compress_xz(src: Path, dest: Path, meter: Meter = NO_METER) -> None:
    from packbuilder import tools

    argv = xz_argv()
    tool = tools.require(argv[0])
    tmp = dest.with_name(f".{dest.name}.partial")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    try:
        with src.open("rb") as fin, tmp.open("wb") as fout, meter.reading(fin.fileno()):  # xz reads our file offset
            proc = subprocess.run([tool, *argv[1:]], stdin=fin, stdout=fout, stderr=subprocess.PIPE, env=env, check=False)
        if proc.returncode != 0:
            raise AssemblyError(
                _("xz failed on {src} (exit {returncode}): {output}").format(
                    src=src, returncode=proc.returncode, output=proc.stderr.decode(errors="replace").strip()
                )
            )
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
