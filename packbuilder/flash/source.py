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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from packbuilder.errors import AssemblyError, InputError, VerificationError
from packbuilder.flash.bmap import BlockMap, Range, zero_runs
from packbuilder.flash.compressed import RawStream, decode_errors, kind, open_raw, raw_size


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
        """Buffers taken from ``pool`` (the consumer gives them back), in image order."""
        spans = self.block_map.ranges if self.block_map is not None else (Range(0, self.size),)
        wanted = [(r.start, r.end) for r in spans] if self.block_map is not None else None
        stream = open_raw(self.image, wanted)
        try:
            for span in spans:
                yield from self._span(stream, span, pool, chunk_size)
        except decode_errors() as exc:
            raise VerificationError(f"{self.image} is damaged: {exc}", hint="download the image again") from exc
        finally:
            stream.close()

    def _short(self, pos: int) -> Exception:
        message = f"{self.image} ends at byte {pos}, before its size {self.size}"
        if kind(self.image) == "raw":  # the image changed under us
            return AssemblyError(message, hint="do not change the image while flashing")
        return VerificationError(f"{message}: damaged or incomplete download", hint="download it again")

    def _span(self, stream: RawStream, span: Range, pool: queue.SimpleQueue[mmap.mmap], chunk_size: int) -> Iterator[Chunk]:
        stream.skip_to(span.start)
        check = hashlib.sha256() if self.block_map is not None else None
        if check is not None:
            self.extents.append([span.start, span.start])
        pos = span.start
        while pos < span.end:
            buf = pool.get()
            with memoryview(buf) as whole:
                n = stream.readinto(whole[: min(chunk_size, span.end - pos)])
                if not n:
                    pool.put(buf)
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
                f"{self.image} does not match its block map at bytes {span.start}-{span.end}",
                hint="the image or its .bmap is damaged or they are not from the same build: download both again",
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
            f"{path} describes an image of {block_map.image_size} bytes, but {image} holds {known}",
            hint="give the .bmap published with this image (--bmap), or remove the stale one",
        )
    return block_map, path
