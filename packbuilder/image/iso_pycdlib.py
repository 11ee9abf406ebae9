"""Pure-Python ISO overlay writer (``--iso-engine pycdlib``): the base, byte for byte, plus our files.

Approach: an *appending* writer, not a pycdlib rewrite. Rewriting the volume with pycdlib moves the
El Torito images and the ESP and rebuilds the first 32 KiB, so every boot record pointing into the
volume (isohybrid MBR code, GRUB's boot_hybrid.img, MBR/GPT/APM partitions, the EFI El Torito entry
that *is* the ESP) would have to be found and re-pointed, and stock pycdlib 1.22 loses or crashes on
several real layouts (grub-rescue-cdrom.iso, ipxe.iso, memtest86+). Here instead:

1. the base is copied unchanged, so every LBA a boot record names stays valid by construction;
2. after its end (after any appended partition too) come new extents: a new copy of each directory
   on the path from the root to a changed one (untouched directories keep their old extents), new
   path tables, the added files' data;
3. the volume descriptors at block 16 are patched in place: root directory record, path tables,
   volume space size (the volume now spans the whole file), modification date; the boot record and
   the El Torito catalog are left alone. The Joliet tree is updated the same way, with UCS-2 names;
   Rock Ridge entries (PX, TF, NM, matching the base's PX length and modes) go on new records;
4. what depends on the image size is updated: MBR partitions that reach the old volume end
   (isohybrid partition 1, GRUB's 0xEE or 0xCD entry) with their CHS ends, GPT partitions that reach
   it, the GPT header (last usable LBA, backup at the new end, CRC32 over the whole entry array), and
   the APM entries that reach it. A partition is never grown over another one (EDK2 rejects MBRs
   with overlapping entries): appended partitions stay where they are.

Refused, with what would work: a partition offset (the partition holding the inner volume could not
grow past the appended ESP), UDF bridges and ISO 9660:1999 descriptors (their trees would not show
the files), other block sizes. The HFS+ hybrid of grub-mkrescue boots as before, but Macs reading
its HFS+ partition do not see the added files. Old ``..`` records of untouched subdirectories keep
pointing at the previous copy of their parent, as on any appended session.

Dates written are ``plan.epoch``; the volume creation date is the base's; memory stays small (data is
streamed, directories along the changed paths only are held).
"""

from __future__ import annotations

import os
import shutil
import struct
import unicodedata
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from packbuilder.errors import AssemblyError
from packbuilder.image.inspect import BLOCK, SECTOR, BootLayout, inspect_iso

CHUNK = 1 << 20
TAIL_PADDING = 300 * 1024  # as xorriso's -pad: old Linux CD read-ahead fails on the volume's last blocks
ALIGN = 1 << 20  # one cylinder of 64 heads x 32 sectors, as isohybrid pads
MAX_FILE = (1 << 32) - 1  # one extent; multi-extent files are not written
XORRISO_HINT = "use --iso-engine xorriso (install xorriso)"
D_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
JOLIET_ESCAPES = (b"%/@", b"%/C", b"%/E")
JOLIET_MAX = 64


class OverlayPlanLike(Protocol):
    """What the writer reads of ``packbuilder.image.iso.OverlayPlan``."""

    @property
    def base(self) -> Path: ...
    @property
    def files(self) -> tuple[tuple[str, Path], ...]: ...
    @property
    def dirs(self) -> tuple[str, ...]: ...
    @property
    def replace(self) -> tuple[tuple[str, bytes], ...]: ...
    @property
    def epoch(self) -> int: ...


def write_overlay_pycdlib(plan: OverlayPlanLike, out: Path) -> None:
    """Write ``out``: the base ISO with the plan's directories and files, booting where the base booted."""
    base = Path(plan.base)
    layout = inspect_iso(base)
    _refuse_unsupported(layout, base)
    root = _plan_nodes(plan)
    with base.open("rb") as src:
        trees = [_Tree(src, block, vd, plan.epoch) for block, vd in _volume_descriptors(src, base)]
        builds = [tree.build(root) for tree in trees]
    cursor = -(-layout.file_size // BLOCK)
    for build in builds:
        cursor = build.allocate_dirs(cursor)
    for build in builds:
        cursor = build.allocate_path_tables(cursor)
    for data in _sources(root):
        data.lba = cursor
        cursor += -(-data.size // BLOCK)
    align = ALIGN if layout.file_size % ALIGN == 0 else BLOCK  # keep isohybrid's whole cylinders, add none
    total = -(-(cursor * BLOCK + TAIL_PADDING) // align) * align

    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(base, tmp)
        with tmp.open("r+b") as f:
            for build in builds:
                build.write(f, total // BLOCK)
            for data in _sources(root):
                data.write(f)
            f.truncate(total)
            _fix_system_area(f, layout, total)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _refuse_unsupported(layout: BootLayout, base: Path) -> None:
    def refuse(what: str, hint: str = XORRISO_HINT) -> AssemblyError:
        return AssemblyError(f"{base.name}: {what}: the pycdlib engine cannot keep this layout", hint=hint)

    if layout.partition_offset:
        raise refuse(f"partition offset {layout.partition_offset} (a second volume inside partition 1, "
                     "as Ubuntu and memtest86+ images have)")
    if any("logical block size" in n for n in layout.notes):
        raise refuse("a logical block size other than 2048")
    if layout.volume_bytes > layout.file_size:
        raise AssemblyError(f"{base.name} is truncated: its volume is larger than the file", hint="download the ISO again")
    if layout.gpt is not None and not layout.gpt.header_crc_ok:
        raise refuse("a GPT whose header CRC is wrong")


# --- the plan as a tree ------------------------------------------------------------------------


@dataclass(eq=False)
class _Data:
    """One added or replaced file's content and its extent."""

    size: int
    path: Path | None = None
    content: bytes | None = None
    lba: int = 0

    def write(self, f: BinaryIO) -> None:
        f.seek(self.lba * BLOCK)
        if self.content is not None:
            f.write(self.content)
            return
        assert self.path is not None
        copied = 0
        with self.path.open("rb") as src:
            while chunk := src.read(CHUNK):
                copied += len(chunk)
                if copied > self.size:
                    break
                f.write(chunk)
        if copied != self.size:
            raise AssemblyError(f"{self.path} changed size while the ISO was written", hint="build again")


@dataclass(eq=False)
class _Node:
    name: str
    data: _Data | None = None  # None: a directory
    children: dict[str, _Node] = field(default_factory=dict)


def _components(iso_path: str) -> list[str]:
    parts = [unicodedata.normalize("NFC", p) for p in iso_path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise AssemblyError(f"invalid ISO path {iso_path!r}", hint="ISO paths are absolute, like /PACK/Menu.html")
    return parts


def _node_at(root: _Node, parts: list[str], iso_path: str) -> _Node:
    node = root
    for part in parts:
        if node.data is not None:
            raise AssemblyError(f"{iso_path}: a parent folder is a file in the plan", hint="rename one of them")
        node = node.children.setdefault(part, _Node(part))
    return node


def _plan_nodes(plan: OverlayPlanLike) -> _Node:
    root = _Node("")
    for iso_dir in plan.dirs:
        _node_at(root, _components(iso_dir), iso_dir)
    entries: list[tuple[str, _Data]] = []
    for iso_path, source in plan.files:
        size = Path(source).stat().st_size
        entries.append((iso_path, _Data(size=size, path=Path(source))))
    entries += [(iso_path, _Data(size=len(content), content=content)) for iso_path, content in plan.replace]
    for iso_path, data in entries:
        if data.size > MAX_FILE:
            raise AssemblyError(f"{iso_path} is 4 GiB or larger", hint=XORRISO_HINT)
        parts = _components(iso_path)
        parent = _node_at(root, parts[:-1], iso_path)
        node = parent.children.setdefault(parts[-1], _Node(parts[-1], data))
        if node.data is None or node.children:
            raise AssemblyError(f"{iso_path} is both a file and a folder in the plan", hint="rename one of them")
        node.data = data
    return root


def _sources(node: _Node) -> Iterator[_Data]:
    """File contents in plan order (sorted paths), each once."""
    for name in sorted(node.children):
        child = node.children[name]
        if child.data is not None:
            yield child.data
        else:
            yield from _sources(child)


# --- ISO 9660 structures -----------------------------------------------------------------------


def _both16(n: int) -> bytes:
    return struct.pack("<H", n) + struct.pack(">H", n)


def _both32(n: int) -> bytes:
    return struct.pack("<I", n) + struct.pack(">I", n)


def _date7(epoch: int) -> bytes:
    t = datetime.fromtimestamp(epoch, UTC)
    return bytes((min(max(t.year - 1900, 0), 255), t.month, t.day, t.hour, t.minute, t.second, 0))


def _date17(epoch: int) -> bytes:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%d%H%M%S00").encode("ascii") + b"\0"


def _volume_descriptors(f: BinaryIO, base: Path) -> list[tuple[int, bytes]]:
    """(block, descriptor) of the primary and Joliet descriptors; refuses descriptor sets it cannot update."""
    found: list[tuple[int, bytes]] = []
    block = 16
    while True:
        f.seek(block * BLOCK)
        vd = f.read(BLOCK)
        if len(vd) < BLOCK or vd[1:6] != b"CD001":
            raise AssemblyError(f"{base.name}: no volume descriptor set terminator", hint="check the ISO file")
        if vd[0] == 255:
            break
        if (vd[0] == 1 and not found) or (vd[0] == 2 and vd[88:91] in JOLIET_ESCAPES):
            found.append((block, vd))
        elif vd[0] != 0:
            kind = "an ISO 9660:1999 descriptor" if vd[0] == 2 else f"volume descriptor type {vd[0]}"
            raise AssemblyError(f"{base.name}: {kind} the pycdlib engine cannot update", hint=XORRISO_HINT)
        block += 1
    f.seek((block + 1) * BLOCK)
    if f.read(6)[1:6] in (b"BEA01", b"NSR02", b"NSR03"):
        raise AssemblyError(f"{base.name}: a UDF bridge: systems reading UDF would not see the added files",
                            hint="use a base without UDF")
    return found


def _records(extent: bytes) -> list[bytes]:
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


def _ident(rec: bytes) -> bytes:
    return rec[33 : 33 + rec[32]]


def _su(rec: bytes) -> tuple[int, bytes]:
    """(offset of the system use area in the record, its bytes)."""
    start = 33 + rec[32] + (1 - rec[32] % 2)
    return start, rec[start:]


def _susp(su: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(signature, offset, length) of each SUSP entry."""
    pos = 0
    while pos + 4 <= len(su):
        sig, length = su[pos : pos + 2], su[pos + 2]
        if length < 4 or pos + length > len(su) or sig == b"ST":
            return
        yield sig, pos, length
        pos += length


def _is_dir(rec: bytes) -> bool:
    return bool(rec[25] & 0x02)


def _patch(rec: bytes, extent: int, size: int, epoch: int | None) -> bytes:
    """The record pointing at a new extent; with ``epoch``, dated then (record and Rock Ridge TF)."""
    out = bytearray(rec)
    out[2:10] = _both32(extent)
    out[10:18] = _both32(size)
    if epoch is not None:
        out[18:25] = _date7(epoch)
        out[25] &= ~0x80  # one extent now, even where the old file had several
        start, su = _su(rec)
        for sig, pos, length in _susp(su):
            if sig == b"TF":
                flags = su[pos + 4]
                stamp = _date17(epoch) if flags & 0x80 else _date7(epoch)
                count = min(bin(flags & 0x7F).count("1"), (length - 5) // len(stamp))
                out[start + pos + 5 : start + pos + 5 + len(stamp) * count] = stamp * count
    return bytes(out)


def _record(ident: bytes, extent: int, size: int, date: bytes, is_dir: bool, su: bytes = b"") -> bytes:
    pad = b"\0" if len(ident) % 2 == 0 else b""
    body = (bytes([0]) + _both32(extent) + _both32(size) + date + bytes([2 if is_dir else 0, 0, 0])
            + _both16(1) + bytes([len(ident)]) + ident + pad + su)
    if len(body) % 2 == 0:
        body += b"\0"
    if len(body) + 1 > 255:
        raise AssemblyError("a name is too long for an ISO 9660 directory record", hint="shorten the file name")
    return bytes([len(body) + 1]) + body


def _packed(records: list[bytes]) -> bytes:
    out = bytearray()
    for rec in records:
        if len(out) % BLOCK + len(rec) > BLOCK:
            out += bytes(BLOCK - len(out) % BLOCK)
        out += rec
    return bytes(out) + bytes(-len(out) % BLOCK)


def _sort_key(ident: bytes, joliet: bool) -> tuple[bytes, bytes, int]:
    """ECMA-119 9.3 order: name, then extension (shorter = padded with spaces, below every d-character)."""
    encoding = "utf-16-be" if joliet else "latin-1"
    text = ident.decode(encoding, errors="replace")
    name, _, version = text.rpartition(";") if ";" in text else (text, "", "")
    stem, _, ext = name.partition(".")
    return stem.encode(encoding), ext.encode(encoding), -int(version) if version.isdigit() else 0


# --- one directory hierarchy (primary with Rock Ridge, or Joliet) ----------------------------------


@dataclass(eq=False)
class _Entry:
    raw: bytes  # the record as in the base, or a new one with a zero extent
    sub: _Dir | None = None  # a rewritten directory
    data: _Data | None = None  # an added or replaced file


@dataclass(eq=False)
class _Dir:
    ident: bytes
    parent: _Dir | None
    old_extent: int | None  # None: a new directory
    dot: bytes
    dotdot: bytes
    entries: list[_Entry]
    nlink_delta: int = 0  # new subdirectories, counted where the base counts links
    lba: int = 0
    size: int = 0


@dataclass(eq=False)
class _PtNode:
    ident: bytes
    extent: int
    parent: _PtNode | None
    children: list[_PtNode] = field(default_factory=list)
    dir: _Dir | None = None


def _insert_sorted(items: list[_Entry], entry: _Entry, key: tuple[bytes, bytes, int], joliet: bool) -> None:
    """Before the first record that sorts after ``key``: the base's own order is left as it is."""
    for i, item in enumerate(items):
        if _sort_key(_ident(item.raw), joliet) > key:
            items.insert(i, entry)
            return
    items.append(entry)


class _Tree:
    """One volume descriptor's directory hierarchy, read from the base along the changed paths."""

    def __init__(self, f: BinaryIO, block: int, vd: bytes, epoch: int) -> None:
        self.f, self.block, self.vd = f, block, vd
        self.joliet = vd[0] == 2
        self.epoch = epoch
        self.date = _date7(epoch)
        self.date17 = _date17(epoch)
        self.root = vd[156 : 156 + vd[156]]
        dot = self.read_dir(self.root)[0]
        _, su = _su(dot)
        sigs = {sig: su[pos : pos + length] for sig, pos, length in _susp(su)}
        self.rr = not self.joliet and su[:2] == b"SP" and (b"PX" in sigs or b"RR" in sigs)
        if self.rr and su[6] != 0:
            raise AssemblyError("Rock Ridge with SUSP skip bytes: not supported by the pycdlib engine", hint=XORRISO_HINT)
        px = sigs.get(b"PX", b"")
        self.px_len = len(px) if len(px) in (36, 44) else 36
        fields = struct.unpack_from("<I4xI4xI4xI", px, 4) if len(px) >= 36 else (0o40555, 1, 0, 0)
        self.dir_mode, self.dir_nlink, self.uid, self.gid = (int(v) for v in fields)
        self.rr_entry = b"RR" in sigs
        self.next_ino = 0xF0000000  # RRIP 1.12 serial numbers of new entries, far above xorriso's counters
        f.seek(struct.unpack_from("<I", vd, 140)[0] * BLOCK)
        self.path_table = f.read(struct.unpack_from("<I", vd, 132)[0])

    # reading

    def read_dir(self, rec: bytes) -> list[bytes]:
        extent, size = struct.unpack_from("<I", rec, 2)[0], struct.unpack_from("<I", rec, 10)[0]
        self.f.seek(extent * BLOCK)
        return _records(self.f.read(size))

    def name_of(self, rec: bytes) -> str:
        ident = _ident(rec)
        if self.joliet:
            text = ident.decode("utf-16-be", errors="replace")
            return text.rpartition(";")[0] if ";" in text else text
        if self.rr:
            name = self._rr_name(rec)
            if name is not None:
                return name
        text = ident.decode("latin-1")
        text = text.rpartition(";")[0] if ";" in text else text
        return text[:-1] if text.endswith(".") else text

    def _rr_name(self, rec: bytes) -> str | None:
        parts: list[bytes] = []
        _, su = _su(rec)
        for _ in range(8):  # continuation areas chained by CE, bounded
            follow = None
            for sig, pos, length in _susp(su):
                if sig == b"NM":
                    parts.append(su[pos + 5 : pos + length])
                elif sig == b"CE":
                    block, offset, size = (struct.unpack_from("<I", su, pos + k)[0] for k in (4, 12, 20))
                    follow = (block, offset, size)
            if follow is None:
                break
            self.f.seek(follow[0] * BLOCK + follow[1])
            su = self.f.read(follow[2])
        return b"".join(parts).decode("utf-8", errors="surrogateescape") if parts else None

    # new records

    def _rr_su(self, mode: int, nlink: int, name: str | None) -> bytes:
        if not self.rr:
            return b""
        px = b"PX" + bytes((self.px_len, 1)) + b"".join(_both32(v) for v in (mode, nlink, self.uid, self.gid))
        if self.px_len == 44:
            px += _both32(self.next_ino)
            self.next_ino += 1
        su = px + b"TF" + bytes((26, 1, 0x0E)) + self.date * 3
        flags = 0x81
        if name is not None:
            raw = name.encode("utf-8", errors="surrogateescape")
            su += b"NM" + bytes((5 + len(raw), 1, 0)) + raw
            flags |= 0x08
        return (b"RR" + bytes((5, 1, flags)) if self.rr_entry else b"") + su

    def _file_mode(self) -> int:
        return 0o100000 | (self.dir_mode & 0o666)

    def new_dir_nlink(self) -> int:
        return 1 if self.dir_nlink < 2 else 2  # xorriso writes 1 ("unknown") for directories; others count

    def new_ident(self, name: str, is_dir: bool, taken: set[bytes]) -> bytes:
        """A free identifier: Joliet keeps the name (64 UCS-2 characters), ISO 9660 gets level 2 d-characters."""
        if self.joliet:
            text = "".join("_" if c in '*/:;?\\' or ord(c) < 32 or ord(c) > 0xFFFF else c for c in name)
            limit, encoding = JOLIET_MAX, "utf-16-be"
        else:
            text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").upper()
            limit, encoding = (31 if is_dir else 30), "ascii"  # level 2: name and extension, separators not counted
        stem, dot, ext = text.rpartition(".")
        if is_dir or not dot or not stem:
            stem, ext = text, ""
        if not self.joliet:
            stem = "".join(c if c in D_CHARS else "_" for c in stem) or "_"
            ext = "".join(c if c in D_CHARS else "_" for c in ext)[:8]
        sep = ("." if ext else "") if self.joliet or is_dir else "."  # ISO 9660 file names always have the dot
        ext = ext[: limit // 2]
        for n in range(100000):
            suffix = f"_{n}" if n else ""
            room = limit - len(suffix) - len(ext) - (len(sep) if self.joliet else 0)
            encoded = (stem[:room] + suffix + sep + ext).encode(encoding)
            if encoded.upper() not in taken:
                taken.add(encoded.upper())
                return encoded + ("" if is_dir else ";1").encode(encoding)
        raise AssemblyError(f"no free ISO 9660 name for {name!r}", hint="rename the files")

    def new_record(self, ident: bytes, is_dir: bool, name: str | None) -> bytes:
        mode, nlink = (self.dir_mode, self.new_dir_nlink()) if is_dir else (self._file_mode(), 1)
        return _record(ident, 0, 0, self.date, is_dir, self._rr_su(mode, nlink, name))

    # building

    def build(self, root: _Node) -> _Build:
        build = _Build(self)
        top = self._dir(root, b"\0", self.root, None, build)
        assert top is not None
        return build

    def _dir(self, node: _Node, ident: bytes, old: bytes | None, parent: _Dir | None, build: _Build) -> _Dir:
        if old is not None:
            records = self.read_dir(old)
            dot, dotdot, rest = records[0], records[1], records[2:]
            old_extent: int | None = struct.unpack_from("<I", old, 2)[0]
        else:
            su = self._rr_su(self.dir_mode, self.new_dir_nlink(), None)
            dot = _record(b"\0", 0, 0, self.date, True, su)
            dotdot = _record(b"\1", 0, 0, self.date, True, su)
            rest, old_extent = [], None
        d = _Dir(ident=ident, parent=parent, old_extent=old_extent, dot=dot, dotdot=dotdot,
                 entries=[_Entry(r) for r in rest])
        build.dirs.append(d)
        taken = {_ident(r).rpartition(b";")[0].upper() if b";" in _ident(r) else _ident(r).upper() for r in rest}
        by_name: dict[str, list[_Entry]] = {}
        for entry in d.entries:
            by_name.setdefault(self.name_of(entry.raw), []).append(entry)
        subs: list[tuple[_Node, _Entry, bytes | None]] = []
        new_subdirs = 0
        for name in sorted(node.children):
            child = node.children[name]
            found = by_name.get(name, [])
            if found and _is_dir(found[0].raw) != (child.data is None):
                kind = "folder" if _is_dir(found[0].raw) else "file"
                raise AssemblyError(f"{name!r} is a {kind} in the base ISO but not in the plan", hint="rename it in the pack")
            if found:
                for extra in found[1:]:  # the other extents of a multi-extent file
                    d.entries.remove(extra)
                entry = found[0]
            else:
                new_ident = self.new_ident(name, child.data is None, taken)
                entry = _Entry(self.new_record(new_ident, child.data is None, name))
                _insert_sorted(d.entries, entry, _sort_key(new_ident, self.joliet), self.joliet)
                new_subdirs += child.data is None
            if child.data is not None:
                entry.data = child.data
            else:
                subs.append((child, entry, entry.raw if found else None))
        if new_subdirs and self.dir_nlink >= 2:
            d.dot = _bump_nlink(d.dot, new_subdirs)
            d.nlink_delta = new_subdirs
        for child, entry, old_rec in subs:
            entry.sub = self._dir(child, _ident(entry.raw), old_rec, d, build)
            entry.raw = _bump_nlink(entry.raw, entry.sub.nlink_delta) if entry.sub.nlink_delta else entry.raw
        return d


def _bump_nlink(rec: bytes, delta: int) -> bytes:
    start, su = _su(rec)
    out = bytearray(rec)
    for sig, pos, length in _susp(su):
        if sig == b"PX" and length >= 36:
            nlink = struct.unpack_from("<I", su, pos + 12)[0] + delta
            out[start + pos + 12 : start + pos + 20] = _both32(nlink)
    return bytes(out)


class _Build:
    """The new extents of one hierarchy: directories, path tables, and its descriptor's new fields."""

    def __init__(self, tree: _Tree) -> None:
        self.tree = tree
        self.dirs: list[_Dir] = []
        self.pt_l = self.pt_m = 0
        self.pt_order: list[_PtNode] = []

    def _final_records(self, d: _Dir) -> list[bytes]:
        date = self.tree.epoch
        parent = d.parent or d
        records = [_patch(d.dot, d.lba, d.size, date), _patch(d.dotdot, parent.lba, parent.size, date)]
        for e in d.entries:
            if e.sub is not None:
                records.append(_patch(e.raw, e.sub.lba, e.sub.size, date))
            elif e.data is not None:
                records.append(_patch(e.raw, e.data.lba, e.data.size, date))
            else:
                records.append(e.raw)
        return records

    def allocate_dirs(self, cursor: int) -> int:
        for d in self.dirs:
            d.size = len(_packed(self._final_records(d)))  # record lengths do not depend on extents
            d.lba = cursor
            cursor += d.size // BLOCK
        return cursor

    def allocate_path_tables(self, cursor: int) -> int:
        self.pt_order = self._path_table_order()
        blocks = -(-self._path_table_size() // BLOCK)
        self.pt_l, self.pt_m = cursor, cursor + blocks
        return cursor + 2 * blocks

    def _path_table_size(self) -> int:
        return sum(8 + len(n.ident) + len(n.ident) % 2 for n in self.pt_order)

    def _path_table_order(self) -> list[_PtNode]:
        """The base's path table with the rewritten and new directories, in ECMA-119 9.4.3 order."""
        tree = self.tree
        raw = tree.path_table
        nodes: list[_PtNode] = []
        pos = 0
        while pos + 8 <= len(raw) and raw[pos]:
            length, _, extent, parent_no = struct.unpack_from("<BBIH", raw, pos)
            ident = raw[pos + 8 : pos + 8 + length]
            parent = nodes[parent_no - 1] if nodes and 0 < parent_no <= len(nodes) else None
            node = _PtNode(ident=ident, extent=extent, parent=parent)
            if parent is not None:
                parent.children.append(node)
            nodes.append(node)
            pos += 8 + length + length % 2
        root_extent = struct.unpack_from("<I", tree.root, 2)[0]
        if not nodes or nodes[0].extent != root_extent:
            raise AssemblyError("the base ISO's path table does not start at its root directory", hint=XORRISO_HINT)
        by_extent = {n.extent: n for n in nodes}
        by_dir: dict[int, _PtNode] = {}
        for d in self.dirs:
            if d.old_extent is not None and d.old_extent in by_extent:
                node = by_extent[d.old_extent]
            else:
                parent = by_dir[id(d.parent)]
                node = _PtNode(ident=d.ident, extent=0, parent=parent)
                key = _sort_key(d.ident, tree.joliet)
                index = next((i for i, c in enumerate(parent.children) if _sort_key(c.ident, tree.joliet) > key),
                             len(parent.children))
                parent.children.insert(index, node)
            node.dir = d
            by_dir[id(d)] = node
        order, level = [nodes[0]], [nodes[0]]
        while level:
            level = [c for n in level for c in n.children]
            order += level
        return order

    def _path_table(self, big_endian: bool) -> bytes:
        number = {id(n): i + 1 for i, n in enumerate(self.pt_order)}
        fmt = ">BBIH" if big_endian else "<BBIH"
        out = bytearray()
        for n in self.pt_order:
            extent = n.dir.lba if n.dir is not None else n.extent
            parent = number[id(n.parent)] if n.parent is not None else 1
            out += struct.pack(fmt, len(n.ident), 0, extent, parent) + n.ident + bytes(len(n.ident) % 2)
        return bytes(out)

    def write(self, f: BinaryIO, volume_blocks: int) -> None:
        for d in self.dirs:
            f.seek(d.lba * BLOCK)
            f.write(_packed(self._final_records(d)))
        for lba, big in ((self.pt_l, False), (self.pt_m, True)):
            f.seek(lba * BLOCK)
            f.write(self._path_table(big))
        root = self.dirs[0]
        vd = bytearray(self.tree.vd)
        vd[80:88] = _both32(volume_blocks)
        vd[132:140] = _both32(self._path_table_size())
        vd[140:156] = struct.pack("<II", self.pt_l, 0) + struct.pack(">II", self.pt_m, 0)
        root_record = _patch(self.tree.root, root.lba, root.size, self.tree.epoch)
        vd[156 : 156 + len(root_record)] = root_record
        vd[830:847] = self.tree.date17
        f.seek(self.tree.block * BLOCK)
        f.write(vd)


# --- system area: sizes that follow the image's ----------------------------------------------------


def _chs(lba: int, heads: int, sectors: int) -> bytes:
    cylinder, rest = divmod(lba, heads * sectors)
    if cylinder > 1023:
        return bytes((heads - 1, sectors | 0xC0, 0xFF))
    head, sector = divmod(rest, sectors)
    return bytes((head, (sector + 1) | ((cylinder >> 2) & 0xC0), cylinder & 0xFF))


def _grows(start: int, end: int, old_end: int, new_end: int, others: list[tuple[int, int]]) -> bool:
    """A partition reaching the old end grows to the new one, unless another partition is in the way."""
    return start < old_end <= end and not any(end <= o_start < new_end for o_start, _ in others)


def _fix_system_area(f: BinaryIO, layout: BootLayout, total: int) -> None:
    sectors = total // SECTOR
    volume_end = layout.volume_bytes // SECTOR
    _fix_mbr(f, layout, sectors, volume_end)
    _fix_gpt(f, layout, sectors, volume_end)
    _fix_apm(f, layout, total)


def _fix_mbr(f: BinaryIO, layout: BootLayout, sectors: int, volume_end: int) -> None:
    if layout.mbr is None:
        return
    f.seek(0)
    mbr = bytearray(f.read(SECTOR))
    spans = [(p.start, p.start + p.size) for p in layout.mbr.partitions if p.type != 0xEE]
    for p in layout.mbr.partitions:
        off = 446 + 16 * (p.index - 1)
        end = p.start + p.size
        if p.type != 0xEE and not _grows(p.start, end, volume_end, sectors, [s for s in spans if s != (p.start, end)]):
            continue
        size = min(sectors - p.start, 0xFFFFFFFF)
        old_chs = bytes(mbr[off + 5 : off + 8])
        for heads, per_track in ((64, 32), (255, 63)):
            if old_chs == _chs(end - 1, heads, per_track):
                mbr[off + 5 : off + 8] = _chs(p.start + size - 1, heads, per_track)
                break
        mbr[off + 12 : off + 16] = struct.pack("<I", size)
    f.seek(0)
    f.write(mbr)


def _fix_gpt(f: BinaryIO, layout: BootLayout, sectors: int, volume_end: int) -> None:
    gpt = layout.gpt
    if gpt is None:
        return
    f.seek(SECTOR)
    header = bytearray(f.read(SECTOR))
    header_size = struct.unpack_from("<I", header, 12)[0]
    array_bytes = gpt.entry_count * gpt.entry_size
    f.seek(gpt.entries_lba * SECTOR)
    array = bytearray(f.read(array_bytes))
    array_sectors = -(-array_bytes // SECTOR)
    backup_lba = sectors - 1
    backup_array = backup_lba - array_sectors
    last_usable = backup_array - 1
    old_reach = min(volume_end, (gpt.last_usable_lba + 1) // 4 * 4)
    new_reach = (last_usable + 1) // 4 * 4
    spans = [(p.first_lba, p.last_lba + 1) for p in gpt.partitions]
    for p in gpt.partitions:
        end = p.last_lba + 1
        if _grows(p.first_lba, end, old_reach, new_reach, [s for s in spans if s != (p.first_lba, end)]):
            struct.pack_into("<Q", array, (p.index - 1) * gpt.entry_size + 40, new_reach - 1)
    struct.pack_into("<QQQ", header, 32, backup_lba, gpt.first_usable_lba, last_usable)
    struct.pack_into("<I", header, 88, zlib.crc32(array))  # the whole array, as UEFI 2.x 5.3.2 says
    primary = _gpt_header_crc(header, header_size)
    backup = bytearray(primary)
    struct.pack_into("<QQ", backup, 24, backup_lba, 1)
    struct.pack_into("<Q", backup, 72, backup_array)
    backup_header = _gpt_header_crc(backup, header_size)
    for lba, head, entries_lba in ((1, primary, gpt.entries_lba), (backup_lba, backup_header, backup_array)):
        f.seek(entries_lba * SECTOR)
        f.write(array)
        f.seek(lba * SECTOR)
        f.write(head)


def _gpt_header_crc(header: bytearray, size: int) -> bytes:
    struct.pack_into("<I", header, 16, 0)
    struct.pack_into("<I", header, 16, zlib.crc32(bytes(header[:size])))
    return bytes(header)


def _fix_apm(f: BinaryIO, layout: BootLayout, total: int) -> None:
    apm = layout.apm
    if apm is None:
        return
    bs = apm.block_size
    old_end, new_end = layout.volume_bytes // bs, total // bs
    spans = [(p.start, p.start + p.size) for p in apm.partitions if p.type != "Apple_partition_map"]
    for p in apm.partitions:
        end = p.start + p.size
        others = [s for s in spans if s != (p.start, end)]
        if p.type == "Apple_partition_map" or not _grows(p.start, end, old_end, new_end, others):
            continue
        off = p.index * bs
        f.seek(off)
        entry = bytearray(f.read(128))
        struct.pack_into(">I", entry, 12, new_end - p.start)
        if struct.unpack_from(">I", entry, 84)[0] == p.size:  # the data area spans the partition too
            struct.pack_into(">I", entry, 84, new_end - p.start)
        f.seek(off)
        f.write(entry)
