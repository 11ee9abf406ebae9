"""Random access into ``.xz`` files made of several blocks (what ``xz --threads`` writes).

The .xz format (tukaani.org/xz/xz-file-format.txt) ends with an index listing every block's
sizes, compressed and not; each block starts with a header naming its filters. A block whose
only filter is LZMA2 decodes on its own with a raw LZMA2 decoder, so a writer that knows from a
block map which parts of the image hold data decodes only the blocks that hold them: the gigabytes
of empty space in a key image are never decompressed. Files this module cannot map (several
streams, other filters) are read from start to end instead.
"""

from __future__ import annotations

import bisect
import lzma
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from packbuilder.errors import AssemblyError

MAGIC = b"\xfd7zXZ\x00"
FOOTER_MAGIC = b"YZ"
CHECK_SIZES = (0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64)  # by check type (spec 2.1.1.2)
LZMA2 = 0x21
CHUNK = 2**20


@dataclass(frozen=True)
class Block:
    offset: int  # where the block (its header) starts in the file
    unpadded: int  # header + compressed data + check, without the padding to 4 bytes
    raw_offset: int
    raw_size: int


@dataclass(frozen=True)
class Index:
    blocks: tuple[Block, ...]
    check_size: int
    size: int  # raw bytes in all
    seekable: bool  # one stream whose blocks are all plain LZMA2


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _footer(fh: BinaryIO, end: int) -> tuple[int, int]:
    """(index size, check type) from the stream footer ending at ``end``."""
    fh.seek(end - 12)
    footer = fh.read(12)
    if len(footer) != 12 or footer[10:] != FOOTER_MAGIC:
        raise ValueError("no xz stream footer")
    return (int.from_bytes(footer[4:8], "little") + 1) * 4, footer[9] & 0x0F


def _records(index: bytes) -> list[tuple[int, int]]:
    if index[:1] != b"\x00":
        raise ValueError("bad index indicator")
    count, pos = _varint(index, 1)
    records = []
    for _ in range(count):
        unpadded, pos = _varint(index, pos)
        raw, pos = _varint(index, pos)
        records.append((unpadded, raw))
    return records


def _lzma2_dict(header: bytes) -> int | None:
    """The dictionary size of a block whose only filter is LZMA2, else None (spec 3.1 and 5.3.1)."""
    flags, pos = header[1], 2
    if flags & 0x03:  # more than one filter
        return None
    if flags & 0x40:
        _, pos = _varint(header, pos)
    if flags & 0x80:
        _, pos = _varint(header, pos)
    filter_id, pos = _varint(header, pos)
    props_size, pos = _varint(header, pos)
    if filter_id != LZMA2 or props_size != 1:
        return None
    bits = header[pos] & 0x3F
    return 0xFFFFFFFF if bits == 40 else (2 | (bits & 1)) << (bits // 2 + 11)


def read_index(path: Path) -> Index | None:
    """The blocks of an .xz file, or None when it is not one this module can read (then: read it in order)."""
    try:
        with path.open("rb") as fh:
            end = fh.seek(0, 2)
            index_size, check = _footer(fh, end)
            fh.seek(end - 12 - index_size)
            records = _records(fh.read(index_size))
            fh.seek(0)
            single = fh.read(6) == MAGIC
            blocks, offset, raw = [], 12, 0
            for unpadded, size in records:
                blocks.append(Block(offset, unpadded, raw, size))
                offset += -(-unpadded // 4) * 4
                raw += size
            single = single and offset + index_size + 12 == end
            for block in blocks if single else ():
                fh.seek(block.offset)
                head = fh.read(1)
                header = head + fh.read((head[0] + 1) * 4 - 1) if head and head[0] else b""
                if not header or _lzma2_dict(header) is None:
                    single = False
                    break
    except (OSError, ValueError, IndexError):
        return None
    return Index(tuple(blocks), CHECK_SIZES[check], raw, single)


class BlockReader:
    """Raw image bytes from a seekable .xz file; :meth:`skip_to` jumps to the block holding the offset."""

    def __init__(self, path: Path, index: Index):
        self.fh = path.open("rb")
        self.index = index
        self.size: int | None = index.size
        self.starts = [b.raw_offset for b in index.blocks]
        self.current = -1
        self.decoder: lzma.LZMADecompressor | None = None
        self.left = 0  # compressed bytes of the current block not read yet
        self.pos = 0

    def _open(self, number: int) -> bool:
        if number >= len(self.index.blocks):
            self.decoder = None
            return False
        block = self.index.blocks[number]
        self.fh.seek(block.offset)
        header = self.fh.read((self.fh.read(1)[0] + 1) * 4 - 1)
        header = bytes([(len(header) + 1) // 4 - 1]) + header
        dict_size = _lzma2_dict(header)
        self.decoder = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "dict_size": dict_size}])
        self.left = block.unpadded - len(header) - self.index.check_size
        self.current = number
        return True

    def _decode(self, want: int) -> bytes:
        while True:
            if self.decoder is None or self.decoder.eof:
                if not self._open(self.current + 1):
                    return b""
                continue
            data = b""
            if self.decoder.needs_input:
                data = self.fh.read(min(CHUNK, self.left))
                self.left -= len(data)
                if not data:
                    raise AssemblyError(f"{self.fh.name}: xz block {self.current + 1} is truncated", hint="download it again")
            try:
                out = self.decoder.decompress(data, want)
            except lzma.LZMAError as exc:
                raise AssemblyError(f"{self.fh.name}: xz block {self.current + 1} is damaged: {exc}") from exc
            if out:
                return out

    def readinto(self, buf: memoryview) -> int:
        done = 0
        while done < len(buf):
            out = self._decode(len(buf) - done)
            if not out:
                break
            buf[done : done + len(out)] = out
            done += len(out)
        self.pos += done
        return done

    def skip_to(self, offset: int) -> None:
        number = bisect.bisect_right(self.starts, offset) - 1
        if number != self.current or offset < self.pos:
            self._open(number)
            self.pos = self.index.blocks[number].raw_offset
        while self.pos < offset and (out := self._decode(min(CHUNK * 4, offset - self.pos))):
            self.pos += len(out)

    def close(self) -> None:
        self.fh.close()
