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
import os
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from packbuilder.errors import AssemblyError
from packbuilder.i18n import _

MAGIC = b"\xfd7zXZ\x00"
FOOTER_MAGIC = b"YZ"
CHECK_SIZES = (0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64)  # by check type (spec 2.1.1.2)
LZMA2 = 0x21


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
    for _block in range(count):
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
    """Raw image bytes from a seekable .xz file, for a reader that wants only ``wanted`` (start, end) spans.

    Blocks are independent, so the ones holding wanted bytes are decoded whole, ahead of the
    reader, on every core (the lzma module releases the GIL): at most ``ahead`` + 1 decoded blocks
    (24 MiB each at preset 6) are held. Blocks holding none of the wanted bytes are never decoded.
    """

    def __init__(self, path: Path, index: Index, wanted: Sequence[tuple[int, int]] = (), ahead: int = 2):
        from concurrent.futures import ThreadPoolExecutor

        self.path, self.index = path, index
        self.size: int | None = index.size
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self.starts = [b.raw_offset for b in index.blocks]
        needed = {n for start, end in wanted for n in range(self._block_at(start), self._block_at(max(start, end - 1)) + 1)}
        self.order = sorted(needed) if wanted else list(range(len(index.blocks)))
        self.ahead = ahead
        self.pool = ThreadPoolExecutor(max_workers=max(1, min(ahead, os.cpu_count() or 1)), thread_name_prefix="xz")
        self.pending: dict[int, Future[bytes]] = {}
        self.current, self.data, self.pos = -1, memoryview(b""), 0
        for n in self.order[:ahead]:  # the first blocks decode on every core from the start, not one by one
            self.pending[n] = self.pool.submit(self._decode, n)

    def _block_at(self, offset: int) -> int:
        return max(0, bisect.bisect_right(self.starts, offset) - 1)

    def _decode(self, number: int) -> bytes:
        block = self.index.blocks[number]
        raw = os.pread(self.fd, block.unpadded, block.offset)
        header_size = (raw[0] + 1) * 4
        dict_size = _lzma2_dict(raw[:header_size])
        decoder = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "dict_size": dict_size}])
        try:
            out = decoder.decompress(raw[header_size : block.unpadded - self.index.check_size])
        except lzma.LZMAError as exc:
            raise AssemblyError(
                _("{path}: xz block {block} is damaged: {exc}").format(path=self.path, block=number + 1, exc=exc),
                hint=_("download it again"),
            ) from exc
        if len(out) != block.raw_size:
            raise AssemblyError(
                _("{path}: xz block {block} is truncated or damaged").format(path=self.path, block=number + 1),
                hint=_("download it again"),
            )
        return out

    def _load(self, number: int) -> None:
        """Make block ``number`` current, and keep the next needed blocks decoding."""
        future = self.pending.pop(number, None)
        self.data.release()
        self.data = memoryview(future.result() if future is not None else self._decode(number))  # slices without copies
        self.current = number
        later = self.order[bisect.bisect_right(self.order, number) :]
        for n in later[: self.ahead]:
            if n not in self.pending:
                self.pending[n] = self.pool.submit(self._decode, n)

    def readinto(self, buf: memoryview) -> int:
        done = 0
        while done < len(buf) and self.pos < self.index.size:
            number = self._block_at(self.pos)
            if number != self.current:
                self._load(number)
            at = self.pos - self.index.blocks[number].raw_offset
            n = min(len(buf) - done, len(self.data) - at)
            buf[done : done + n] = self.data[at : at + n]
            done += n
            self.pos += n
        return done

    def skip_to(self, offset: int) -> None:
        self.pos = offset

    def close(self) -> None:
        self.data.release()
        for future in self.pending.values():
            future.cancel()
        self.pool.shutdown(wait=True)
        os.close(self.fd)
