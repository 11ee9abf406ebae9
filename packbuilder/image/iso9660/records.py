"""ISO 9660 (ECMA-119) records: volume descriptors, directory records, SUSP and Rock Ridge fields.

Both-endian numbers (7.2.3, 7.3.3), the 7-byte record date (9.1.5) and the 17-byte descriptor date
(8.4.26.1), directory records (9.1) packed so none crosses a block (6.8.1.1), and the system use area
after the identifier where SUSP entries (IEEE P1281: PX, TF, NM, CE...) live.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from packbuilder.errors import AssemblyError
from packbuilder.i18n import N_, _

BLOCK = 2048
JOLIET_ESCAPES = (b"%/@", b"%/C", b"%/E")  # UCS-2 levels 1-3 of a supplementary descriptor
XORRISO_HINT = N_("use --iso-engine xorriso (install xorriso)")


def both16(n: int) -> bytes:
    return struct.pack("<H", n) + struct.pack(">H", n)


def both32(n: int) -> bytes:
    return struct.pack("<I", n) + struct.pack(">I", n)


def date7(epoch: int) -> bytes:
    t = datetime.fromtimestamp(epoch, UTC)
    return bytes((min(max(t.year - 1900, 0), 255), t.month, t.day, t.hour, t.minute, t.second, 0))


def date17(epoch: int) -> bytes:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%d%H%M%S00").encode("ascii") + b"\0"


def volume_descriptors(f: BinaryIO, base: Path, origin: int = 0) -> list[tuple[int, bytes]]:
    """(block, descriptor) of the primary and Joliet descriptors of the volume starting at block ``origin``
    (the inner volume of a partition offset), blocks from the image start; refuses descriptor sets it
    cannot update."""
    found: list[tuple[int, bytes]] = []
    block = origin + 16
    while True:
        f.seek(block * BLOCK)
        vd = f.read(BLOCK)
        if len(vd) < BLOCK or vd[1:6] != b"CD001":
            raise AssemblyError(
                _("{name}: no volume descriptor set terminator").format(name=base.name), hint=_("check the ISO file")
            )
        if vd[0] == 255:
            break
        if (vd[0] == 1 and not found) or (vd[0] == 2 and vd[88:91] in JOLIET_ESCAPES):
            found.append((block, vd))
        elif vd[0] != 0:
            kind = _("an ISO 9660:1999 descriptor") if vd[0] == 2 else _("volume descriptor type {type}").format(type=vd[0])
            raise AssemblyError(
                _("{name}: {kind} the pycdlib engine cannot update").format(name=base.name, kind=kind), hint=_(XORRISO_HINT)
            )
        block += 1
    f.seek((block + 1) * BLOCK)
    if f.read(6)[1:6] in (b"BEA01", b"NSR02", b"NSR03"):
        raise AssemblyError(_("{name}: a UDF bridge: systems reading UDF would not see the added files").format(name=base.name),
                            hint=_("use a base without UDF"))
    return found


def read_records(extent: bytes) -> list[bytes]:
    out = []
    pos = 0
    while pos < len(extent):
        length = extent[pos]
        if length == 0:
            pos = (pos // BLOCK + 1) * BLOCK
            continue
        out.append(extent[pos : pos + length])
        pos += length
    return out


def identifier(rec: bytes) -> bytes:
    return rec[33 : 33 + rec[32]]


def system_use(rec: bytes) -> tuple[int, bytes]:
    """(offset of the system use area in the record, its bytes)."""
    start = 33 + rec[32] + (1 - rec[32] % 2)
    return start, rec[start:]


def susp_entries(su: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(signature, offset, length) of each SUSP entry."""
    pos = 0
    while pos + 4 <= len(su):
        sig, length = su[pos : pos + 2], su[pos + 2]
        if length < 4 or pos + length > len(su) or sig == b"ST":
            return
        yield sig, pos, length
        pos += length


def is_directory(rec: bytes) -> bool:
    return bool(rec[25] & 0x02)


def repointed(rec: bytes, extent: int, size: int, epoch: int | None) -> bytes:
    """The record pointing at a new extent; with ``epoch``, dated then (record and Rock Ridge TF)."""
    out = bytearray(rec)
    out[2:10] = both32(extent)
    out[10:18] = both32(size)
    if epoch is not None:
        out[18:25] = date7(epoch)
        out[25] &= ~0x80  # one extent now, even where the old file had several
        start, su = system_use(rec)
        for sig, pos, length in susp_entries(su):
            if sig == b"TF":
                flags = su[pos + 4]
                stamp = date17(epoch) if flags & 0x80 else date7(epoch)
                count = min(bin(flags & 0x7F).count("1"), (length - 5) // len(stamp))
                out[start + pos + 5 : start + pos + 5 + len(stamp) * count] = stamp * count
    return bytes(out)


def new_record_bytes(ident: bytes, extent: int, size: int, date: bytes, is_dir: bool, su: bytes = b"") -> bytes:
    pad = b"\0" if len(ident) % 2 == 0 else b""
    body = (bytes([0]) + both32(extent) + both32(size) + date + bytes([2 if is_dir else 0, 0, 0])
            + both16(1) + bytes([len(ident)]) + ident + pad + su)
    if len(body) % 2 == 0:
        body += b"\0"
    if len(body) + 1 > 255:
        raise AssemblyError(_("a name is too long for an ISO 9660 directory record"), hint=_("shorten the file name"))
    return bytes([len(body) + 1]) + body


def packed(records: list[bytes]) -> bytes:
    out = bytearray()
    for rec in records:
        if len(out) % BLOCK + len(rec) > BLOCK:
            out += bytes(BLOCK - len(out) % BLOCK)
        out += rec
    return bytes(out) + bytes(-len(out) % BLOCK)


def sort_key(ident: bytes, joliet: bool) -> tuple[bytes, bytes, int]:
    """ECMA-119 9.3 order: name, then extension (shorter = padded with spaces, below every d-character)."""
    encoding = "utf-16-be" if joliet else "latin-1"
    text = ident.decode(encoding, errors="replace")
    name, _, version = text.rpartition(";") if ";" in text else (text, "", "")
    stem, _, ext = name.partition(".")
    return stem.encode(encoding), ext.encode(encoding), -int(version) if version.isdigit() else 0

