"""Block maps in bmaptool's XML format (version 2.0): which 4 KiB blocks of an image hold data.

A writer given the map writes (and reads back) only those blocks; the rest of the target is
left as it is, which is what bmaptool does too. Format as bmap-tools reads it
(``bmaptools/BmapCopy.py``, SUPPORTED_BMAP_VERSION "2.0"): ``ImageSize``, ``BlockSize``,
``BlocksCount``, ``MappedBlocksCount``, ``ChecksumType``, ``BmapFileChecksum`` (the file's own
checksum, computed with that field's value replaced by as many ``0`` characters), and a
``BlockMap`` of ``<Range chksum="...">first-last</Range>`` in block numbers, inclusive, each
checksum taken over the range's bytes (the last range stops at the image's end).
"""

from __future__ import annotations

import hashlib
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from packbuilder.errors import InputError
from packbuilder.i18n import _
from packbuilder.ui import NO_METER, Meter

BLOCK = 4096
SCAN_CHUNK = 4 * 2**20
ZERO_BLOCK = bytes(BLOCK)
ZERO_CHUNK = bytes(SCAN_CHUNK)
VERSION = "2.0"


@dataclass(frozen=True)
class Range:
    """Bytes ``start`` to ``end`` (exclusive) of the image, and their sha256 when known."""

    start: int
    end: int
    sha256: str | None = None


@dataclass(frozen=True)
class BlockMap:
    image_size: int
    ranges: tuple[Range, ...]
    block_size: int = BLOCK

    @property
    def mapped_bytes(self) -> int:
        return sum(r.end - r.start for r in self.ranges)

    def blocks(self, r: Range) -> tuple[int, int]:
        return r.start // self.block_size, -(-r.end // self.block_size) - 1


def zero_runs(data: bytes, base: int) -> Iterator[tuple[int, int]]:
    """The non-zero ``(start, end)`` extents of ``data`` (at image offset ``base``), in whole blocks.

    ``data`` is bytes, not a memoryview: comparing a memoryview is item by item, ~20x slower."""
    if data == ZERO_CHUNK[: len(data)]:
        return
    start = None
    for pos in range(0, len(data), BLOCK):
        zero = data[pos : pos + BLOCK] == ZERO_BLOCK[: min(BLOCK, len(data) - pos)]
        if zero and start is not None:
            yield base + start, base + pos
            start = None
        elif not zero and start is None:
            start = pos
    if start is not None:
        yield base + start, base + len(data)


def _data_extents(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """Where the file holds data (SEEK_DATA/SEEK_HOLE), block-aligned; the whole file where unsupported."""
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
            end = os.lseek(fd, start, os.SEEK_HOLE)
        except OSError:  # ENXIO: no data after pos; EINVAL: file system without the feature
            if pos == 0 and not hasattr(os, "SEEK_DATA"):
                yield 0, size
            return
        start -= start % BLOCK
        yield start, min(size, -(-end // BLOCK) * BLOCK)
        pos = end


def scan(image: Path, meter: Meter = NO_METER) -> BlockMap:
    """The map of ``image``: its data extents minus the blocks that are all zeros, each range hashed;
    ``meter`` follows the reading (holes are skipped at once)."""
    size = image.stat().st_size
    ranges: list[Range] = []
    current: tuple[int, int, hashlib._Hash] | None = None
    with image.open("rb", buffering=0) as fh, meter.reading(fh.fileno()):
        for ext_start, ext_end in _data_extents(fh.fileno(), size):
            fh.seek(ext_start)
            for base in range(ext_start, ext_end, SCAN_CHUNK):
                data = fh.read(min(SCAN_CHUNK, ext_end - base))
                for start, end in zero_runs(data, base):
                    if current is not None and current[1] != start:
                        ranges.append(Range(current[0], current[1], current[2].hexdigest()))
                        current = None
                    if current is None:
                        current = (start, end, hashlib.sha256())
                    current[2].update(data[start - base : end - base])
                    current = (current[0], end, current[2])
    if current is not None:
        ranges.append(Range(current[0], current[1], current[2].hexdigest()))
    return BlockMap(size, tuple(ranges))


def to_xml(bmap: BlockMap) -> str:
    """The bmap file's text, its own checksum included. Same map, same bytes."""
    blocks = -(-bmap.image_size // bmap.block_size)
    mapped = sum(last - first + 1 for first, last in map(bmap.blocks, bmap.ranges))
    lines = [
        '<?xml version="1.0" ?>',
        "<!-- Block map of a packbuilder image: the blocks that hold data; the others may be left unwritten. -->",
        f'<bmap version="{VERSION}">',
        f"    <ImageSize> {bmap.image_size} </ImageSize>",
        f"    <BlockSize> {bmap.block_size} </BlockSize>",
        f"    <BlocksCount> {blocks} </BlocksCount>",
        f"    <MappedBlocksCount> {mapped} </MappedBlocksCount>",
        "    <ChecksumType> sha256 </ChecksumType>",
        "    <BmapFileChecksum> {checksum} </BmapFileChecksum>",
        "    <BlockMap>",
    ]
    for r in bmap.ranges:
        first, last = bmap.blocks(r)
        lines.append(f'        <Range chksum="{r.sha256}"> {first}-{last} </Range>')
    lines += ["    </BlockMap>", "</bmap>", ""]
    template = "\n".join(lines)
    own = hashlib.sha256(template.replace("{checksum}", "0" * 64).encode()).hexdigest()
    return template.replace("{checksum}", own)


def _field(root: ET.Element, name: str, where: str) -> str:
    node = root.find(name)
    if node is None or not (node.text or "").strip():
        raise InputError(
            _("{where}: {name} is missing").format(where=where, name=name),
            hint=_("give the .bmap file published with this image"),
        )
    return (node.text or "").strip()


def _check_own_checksum(text: str, expected: str, where: str) -> None:
    if len(expected) != 64:
        raise InputError(_("{where}: BmapFileChecksum: expected a sha256 (64 hex digits)").format(where=where))
    actual = hashlib.sha256(text.replace(expected, "0" * 64, 1).encode()).hexdigest()
    if actual != expected:
        raise InputError(
            _("{where}: the bmap file is damaged (its own checksum differs)").format(where=where), hint=_("download it again")
        )


def _ranges(root: ET.Element, size: int, block: int, where: str) -> tuple[Range, ...]:
    ranges: list[Range] = []
    for node in root.iterfind("BlockMap/Range"):
        text = (node.text or "").strip()
        try:
            first, _sep, last = text.partition("-")
            start, end = int(first) * block, (int(last or first) + 1) * block
        except ValueError:
            raise InputError(
                _("{where}: Range {text!r}: expected FIRST-LAST block numbers").format(where=where, text=text)
            ) from None
        if start >= end or start >= size or (ranges and start < ranges[-1].end):
            raise InputError(
                _("{where}: Range {text!r}: out of order or outside the image ({size} bytes)").format(
                    where=where, text=text, size=size
                )
            )
        ranges.append(Range(start, min(end, size), node.get("chksum")))
    return tuple(ranges)


def parse(path: Path) -> BlockMap:
    """Read a bmap file (format 2.x with sha256 checksums); every problem names the file and field."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        root = ET.fromstring(text)
    except (OSError, UnicodeDecodeError, ET.ParseError) as exc:
        hint = _("give the .bmap file published with this image")
        raise InputError(_("{where}: not a readable bmap file: {exc}").format(where=where, exc=exc), hint=hint) from None
    version = root.get("version", "")
    if root.tag != "bmap" or not version.startswith("2."):
        raise InputError(
            _("{where}: bmap version {version}: only format 2.x is read").format(where=where, version=version or "?"),
            hint=_("create it with bmaptool 3.x"),
        )
    if _field(root, "ChecksumType", where) != "sha256":
        raise InputError(_("{where}: ChecksumType: only sha256 is read").format(where=where))
    _check_own_checksum(text, _field(root, "BmapFileChecksum", where), where)
    try:
        size, block = int(_field(root, "ImageSize", where)), int(_field(root, "BlockSize", where))
    except ValueError:
        raise InputError(_("{where}: ImageSize and BlockSize must be numbers").format(where=where)) from None
    if block <= 0 or block % 512:
        raise InputError(_("{where}: BlockSize {block}: expected a multiple of 512").format(where=where, block=block))
    return BlockMap(size, _ranges(root, size, block, where), block)


def beside(image: Path) -> Path | None:
    """The bmap published next to an image: ``asso.img.bmap`` for asso.img, asso.img.xz, asso.img.zst or asso.img.gz."""
    name = image.name
    for suffix in (".xz", ".zst", ".gz"):
        name = name.removesuffix(suffix)
    candidate = image.with_name(name + ".bmap")
    return candidate if candidate.is_file() else None
