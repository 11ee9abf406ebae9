"""The image side of a write: raw bytes in buffers, and which parts of each buffer to write.

With a block map, only its ranges are read (the rest of the image is skipped, not decompressed
where the format allows) and each range is checked against the map's sha256 as it streams by,
once. Without one, every byte is read and hashed (the image's sha256), and blocks of zeros are
left out: new file targets get holes there, disks keep what they held, as with a block map.

What each target must read back is kept as one CRC-32 per buffer of written bytes (see
:class:`Check`), not as a second sha256: the read-back looks for a faulty or fake key, not for a
forger, and zlib's CRC-32 runs about eight times faster than sha256 here while detecting every
error of up to 32 bits in a row and any other change but for one chance in 2**32 per buffer.
"""

from __future__ import annotations

import hashlib
import mmap
import queue
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packbuilder.errors import AssemblyError, InputError, VerificationError
from packbuilder.flash.bmap import BlockMap, Range, zero_runs
from packbuilder.flash.compressed import RawStream, decode_errors, kind, open_raw, raw_size
from packbuilder.i18n import _


@dataclass
class Chunk:
    """``length`` raw bytes at image ``offset`` in ``buf``; ``pieces`` are the (start, end) parts of buf to write."""

    buf: mmap.mmap
    length: int
    offset: int
    pieces: list[tuple[int, int]]


@dataclass(frozen=True)
class Check:
    """What a target must hold at image bytes ``start``..``end``: the CRC-32 of the written ``pieces``
    in it, in order (image offsets; the bytes between them were left alone)."""

    start: int
    end: int
    pieces: tuple[tuple[int, int], ...]
    crc: int


@dataclass
class ImageReader:
    image: Path
    block_map: BlockMap | None = None
    size: int = 0
    keep_checks: bool = True  # False when nothing is written (verify): no CRC to compute
    written: int = 0  # bytes written to each target
    checks: list[Check] = field(default_factory=list)  # in image order: what the read-back compares
    image_digest: hashlib._Hash | None = None  # the whole image's, when it is all read

    def __post_init__(self) -> None:
        if self.block_map is not None:
            self.size = self.block_map.image_size
        else:
            self.size = raw_size(self.image)
            self.image_digest = hashlib.sha256()

    def _record(self, pos: int, data: memoryview, pieces: list[tuple[int, int]], crc: int | None) -> None:
        """The read-back check of one buffer at image offset ``pos``: its written pieces and their CRC-32
        (``crc``: already taken over the whole buffer, by the read-ahead thread)."""
        self.written += sum(b - a for a, b in pieces)
        if not pieces or not self.keep_checks:
            return
        if crc is None:
            crc = 0
            for a, b in pieces:
                crc = zlib.crc32(data[a:b], crc)  # releases the GIL above 5 KiB
        spans = tuple((pos + a, pos + b) for a, b in pieces)
        self.checks.append(Check(spans[0][0], spans[-1][1], spans, crc))

    def chunks(self, pool: queue.SimpleQueue[mmap.mmap], chunk_size: int) -> Iterator[Chunk]:
        """Buffers taken from ``pool`` (the consumer gives them back), in image order.

        A thread decompresses into the buffers ahead of this one, which hashes them (both release
        the GIL): on two cores, decompressing and hashing overlap instead of adding up."""
        spans = self.block_map.ranges if self.block_map is not None else (Range(0, self.size),)
        wanted = [(r.start, r.end) for r in spans] if self.block_map is not None else None
        stream = open_raw(self.image, wanted)
        # With a map every buffer is written whole: its CRC is taken in the read-ahead thread, beside the
        # decompression, leaving this one the sha256 alone (the two threads then take about as long).
        ahead = _ReadAhead(stream, spans, pool, chunk_size, self.keep_checks and self.block_map is not None)
        try:
            for span in spans:
                yield from self._span(ahead, span)
        except decode_errors() as exc:
            raise VerificationError(
                _("{image} is damaged: {exc}").format(image=self.image, exc=exc), hint=_("download the image again")
            ) from exc
        finally:
            ahead.stop()
            stream.close()

    def _short(self, pos: int) -> Exception:
        message = _("{image} ends at byte {pos}, before its size {size}").format(image=self.image, pos=pos, size=self.size)
        if kind(self.image) == "raw":  # the image changed under us
            return AssemblyError(message, hint=_("do not change the image while flashing"))
        return VerificationError(
            _("{message}: damaged or incomplete download").format(message=message), hint=_("download it again")
        )

    def _span(self, ahead: _ReadAhead, span: Range) -> Iterator[Chunk]:
        check = hashlib.sha256() if self.block_map is not None else None
        pos = span.start
        while pos < span.end:
            buf, n, crc = ahead.next()
            with memoryview(buf) as whole:
                if not n:
                    raise self._short(pos)
                data = whole[:n]
                for hasher in (check, self.image_digest):
                    if hasher is not None:
                        hasher.update(data)
                pieces = [(0, n)] if self.block_map is not None else [(a - pos, b - pos) for a, b in zero_runs(buf[:n], pos)]
                self._record(pos, data, pieces, crc)
            yield Chunk(buf, n, pos, pieces)
            pos += n
        if check is None:
            return
        if span.sha256 is not None and check.hexdigest() != span.sha256:
            raise VerificationError(
                _("{image} does not match its block map at bytes {start}-{end}").format(
                    image=self.image, start=span.start, end=span.end
                ),
                hint=_("the image or its .bmap is damaged or they are not from the same build: download both again"),
            )


def load_map(image: Path, bmap: Path | None) -> tuple[BlockMap | None, Path | None]:
    """The block map to use: ``bmap`` if given, else the one published beside the image, if any."""
    from packbuilder.flash.bmap import beside, parse
    from packbuilder.flash.compressed import open_raw

    path = bmap or beside(image)
    if path is None:
        return None, None
    block_map = parse(path)
    stream = open_raw(image)
    try:
        known = stream.size
    finally:
        stream.close()
    if known is not None and known != block_map.image_size:
        raise InputError(
            _("{path} describes an image of {image_size} bytes, but {image} holds {known}").format(
                path=path, image_size=block_map.image_size, image=image, known=known
            ),
            hint=_("give the .bmap published with this image (--bmap), or remove the stale one"),
        )
    return block_map, path


class _ReadAhead:
    """Fills pool buffers from ``stream``, span after span, in a thread of its own; ``crc``: with each
    buffer's CRC-32."""

    def __init__(self, stream: RawStream, spans: Sequence[Range], pool: queue.SimpleQueue[mmap.mmap], chunk_size: int, crc: bool):
        self.stream, self.spans, self.pool, self.chunk_size, self.crc = stream, spans, pool, chunk_size, crc
        self.filled: queue.SimpleQueue[tuple[mmap.mmap, int, int | None] | BaseException] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="image read-ahead", daemon=True)
        self.thread.start()

    def _buffer(self) -> mmap.mmap | None:
        while not self.stopping.is_set():
            try:
                return self.pool.get(timeout=0.1)  # the writers give buffers back; stop() must not wait for them
            except queue.Empty:
                continue
        return None

    def _run(self) -> None:
        try:
            for span in self.spans:
                self.stream.skip_to(span.start)
                pos = span.start
                while pos < span.end:
                    buf = self._buffer()
                    if buf is None:
                        return
                    with memoryview(buf) as whole:
                        n = self.stream.readinto(whole[: min(self.chunk_size, span.end - pos)])
                        crc = zlib.crc32(whole[:n]) if self.crc else None
                    self.filled.put((buf, n, crc))
                    if not n:
                        return
                    pos += n
        except BaseException as exc:  # handed to the consumer, raised there
            self.filled.put(exc)

    def next(self) -> tuple[mmap.mmap, int, int | None]:
        item = self.filled.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
