"""The image side of a write: raw bytes in buffers, and which parts of each buffer to write.

With a block map, only its ranges are read (the rest of the image is skipped, not decompressed
where the format allows) and each range is checked against the map's sha256 as it streams by.
Without one, every byte is read and hashed (the image's sha256), and blocks of zeros are left
out: new file targets get holes there, disks keep what they held, as with a block map.
"""

from __future__ import annotations

import hashlib
import mmap
import queue
import threading
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


@dataclass
class ImageReader:
    image: Path
    block_map: BlockMap | None = None
    size: int = 0
    extents: list[list[int]] = field(default_factory=list)  # [start, end) of the image written, merged
    # Over the written bytes in order; with a block map, over each range's sha256 in turn.
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    image_digest: hashlib._Hash | None = None  # the whole image's, when it is all read

    def __post_init__(self) -> None:
        if self.block_map is not None:
            self.size = self.block_map.image_size
        else:
            self.size = raw_size(self.image)
            self.image_digest = hashlib.sha256()

    @property
    def written(self) -> int:
        return sum(end - start for start, end in self.extents)

    def _add(self, start: int, end: int, data: memoryview) -> None:
        if self.block_map is not None:  # one extent per range, hashed in _span: one pass over the data, not two
            self.extents[-1][1] = end
            return
        self.digest.update(data)
        if self.extents and self.extents[-1][1] == start:
            self.extents[-1][1] = end
        else:
            self.extents.append([start, end])

    def chunks(self, pool: queue.SimpleQueue[mmap.mmap], chunk_size: int) -> Iterator[Chunk]:
        """Buffers taken from ``pool`` (the consumer gives them back), in image order.

        A thread decompresses into the buffers ahead of this one, which hashes them (both release
        the GIL): on two cores, decompressing and hashing overlap instead of adding up."""
        spans = self.block_map.ranges if self.block_map is not None else (Range(0, self.size),)
        wanted = [(r.start, r.end) for r in spans] if self.block_map is not None else None
        stream = open_raw(self.image, wanted)
        ahead = _ReadAhead(stream, spans, pool, chunk_size)
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
        if check is not None:
            self.extents.append([span.start, span.start])
        pos = span.start
        while pos < span.end:
            buf, n = ahead.next()
            with memoryview(buf) as whole:
                if not n:
                    raise self._short(pos)
                data = whole[:n]
                for hasher in (check, self.image_digest):
                    if hasher is not None:
                        hasher.update(data)
                pieces = [(0, n)] if self.block_map is not None else [(a - pos, b - pos) for a, b in zero_runs(buf[:n], pos)]
                for a, b in pieces:
                    self._add(pos + a, pos + b, whole[a:b])
            yield Chunk(buf, n, pos, pieces)
            pos += n
        if check is None:
            return
        # With a map, what each target must read back is each range's sha256 in turn: hash those.
        self.digest.update(check.digest())
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
    """Fills pool buffers from ``stream``, span after span, in a thread of its own."""

    def __init__(self, stream: RawStream, spans: Sequence[Range], pool: queue.SimpleQueue[mmap.mmap], chunk_size: int):
        self.stream, self.spans, self.pool, self.chunk_size = stream, spans, pool, chunk_size
        self.filled: queue.SimpleQueue[tuple[mmap.mmap, int] | BaseException] = queue.SimpleQueue()
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
                    self.filled.put((buf, n))
                    if not n:
                        return
                    pos += n
        except BaseException as exc:  # handed to the consumer, raised there
            self.filled.put(exc)

    def next(self) -> tuple[mmap.mmap, int]:
        item = self.filled.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
