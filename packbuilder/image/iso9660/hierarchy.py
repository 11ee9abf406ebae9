"""One directory hierarchy of an ISO (the primary with its Rock Ridge fields, or the Joliet one),
read from the base along the paths the overlay changes.

A directory on such a path is written anew (its records pointing at the new extents); the others keep
their extents. New records sort into the base's order (ECMA-119 9.3) without reordering the base's
own; new names are ISO 9660 level 2 d-characters or Joliet UCS-2, Rock Ridge keeps the real name (NM)
with the base's owner, modes and PX length.
"""

from __future__ import annotations

import struct
import unicodedata
from dataclasses import dataclass
from typing import BinaryIO

from packbuilder.errors import AssemblyError
from packbuilder.i18n import _
from packbuilder.image.iso9660.files import FileData, PlanNode
from packbuilder.image.iso9660.records import (
    BLOCK,
    XORRISO_HINT,
    both32,
    date7,
    date17,
    identifier,
    is_directory,
    new_record_bytes,
    read_records,
    sort_key,
    susp_entries,
    system_use,
)

D_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
JOLIET_MAX = 64


@dataclass(eq=False)
class Entry:
    raw: bytes  # the record as in the base, or a new one with a zero extent
    sub: Directory | None = None  # a rewritten directory
    data: FileData | None = None  # an added or replaced file


@dataclass(eq=False)
class Directory:
    ident: bytes
    parent: Directory | None
    old_extent: int | None  # None: a new directory
    dot: bytes
    dotdot: bytes
    entries: list[Entry]
    nlink_delta: int = 0  # new subdirectories, counted where the base counts links
    lba: int = 0
    size: int = 0


def _insert_sorted(items: list[Entry], entry: Entry, key: tuple[bytes, bytes, int], joliet: bool) -> None:
    """Before the first record that sorts after ``key``: the base's own order is left as it is."""
    for i, item in enumerate(items):
        if sort_key(identifier(item.raw), joliet) > key:
            items.insert(i, entry)
            return
    items.append(entry)


class Hierarchy:
    """One volume descriptor's directory hierarchy, read from the base along the changed paths."""

    def __init__(self, f: BinaryIO, block: int, vd: bytes, epoch: int, origin: int = 0) -> None:
        # ``origin``: the block its LBAs count from (a partition offset's inner volume counts from the
        # partition's start); ``block``, where its descriptor is, counts from the image's start.
        self.f, self.block, self.vd, self.origin = f, block, vd, origin
        self.joliet = vd[0] == 2
        self.epoch = epoch
        self.date = date7(epoch)
        self.date17 = date17(epoch)
        self.root = vd[156 : 156 + vd[156]]
        dot = self.read_dir(self.root)[0]
        _size, su = system_use(dot)
        sigs = {sig: su[pos : pos + length] for sig, pos, length in susp_entries(su)}
        self.rr = not self.joliet and su[:2] == b"SP" and (b"PX" in sigs or b"RR" in sigs)
        if self.rr and su[6] != 0:
            raise AssemblyError(_("Rock Ridge with SUSP skip bytes: not supported by the pycdlib engine"), hint=_(XORRISO_HINT))
        px = sigs.get(b"PX", b"")
        self.px_len = len(px) if len(px) in (36, 44) else 36
        fields = struct.unpack_from("<I4xI4xI4xI", px, 4) if len(px) >= 36 else (0o40555, 1, 0, 0)
        self.dir_mode, self.dir_nlink, self.uid, self.gid = (int(v) for v in fields)
        self.rr_entry = b"RR" in sigs
        self.next_ino = 0xF0000000  # RRIP 1.12 serial numbers of new entries, far above xorriso's counters
        f.seek((struct.unpack_from("<I", vd, 140)[0] + origin) * BLOCK)
        self.path_table = f.read(struct.unpack_from("<I", vd, 132)[0])

    # reading

    def read_dir(self, rec: bytes) -> list[bytes]:
        extent, size = struct.unpack_from("<I", rec, 2)[0], struct.unpack_from("<I", rec, 10)[0]
        self.f.seek((extent + self.origin) * BLOCK)
        return read_records(self.f.read(size))

    def name_of(self, rec: bytes) -> str:
        ident = identifier(rec)
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
        _size, su = system_use(rec)
        for _area in range(8):  # continuation areas chained by CE, bounded
            follow = None
            for sig, pos, length in susp_entries(su):
                if sig == b"NM":
                    parts.append(su[pos + 5 : pos + length])
                elif sig == b"CE":
                    block, offset, size = (struct.unpack_from("<I", su, pos + k)[0] for k in (4, 12, 20))
                    follow = (block, offset, size)
            if follow is None:
                break
            self.f.seek((follow[0] + self.origin) * BLOCK + follow[1])
            su = self.f.read(follow[2])
        return b"".join(parts).decode("utf-8", errors="surrogateescape") if parts else None

    # new records

    def _rr_su(self, mode: int, nlink: int, name: str | None) -> bytes:
        if not self.rr:
            return b""
        px = b"PX" + bytes((self.px_len, 1)) + b"".join(both32(v) for v in (mode, nlink, self.uid, self.gid))
        if self.px_len == 44:
            px += both32(self.next_ino)
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
        raise AssemblyError(_("no free ISO 9660 name for {name!r}").format(name=name), hint=_("rename the files"))

    def new_record(self, ident: bytes, is_dir: bool, name: str | None) -> bytes:
        mode, nlink = (self.dir_mode, self.new_dir_nlink()) if is_dir else (self._file_mode(), 1)
        return new_record_bytes(ident, 0, 0, self.date, is_dir, self._rr_su(mode, nlink, name))

    # building

    def directories(self, root: PlanNode) -> list[Directory]:
        """The directories to write anew, the root first, parents before children: every one on
        the path to a changed file, their records pointing at the new entries."""
        dirs: list[Directory] = []
        self._dir(root, b"\0", self.root, None, dirs)
        return dirs

    def _open_dir(self, ident: bytes, old: bytes | None, parent: Directory | None) -> Directory:
        """A directory as in the base (``old`` its record), or a new empty one."""
        if old is not None:
            records = self.read_dir(old)
            dot, dotdot, rest = records[0], records[1], records[2:]
            old_extent: int | None = struct.unpack_from("<I", old, 2)[0]
        else:
            su = self._rr_su(self.dir_mode, self.new_dir_nlink(), None)
            dot = new_record_bytes(b"\0", 0, 0, self.date, True, su)
            dotdot = new_record_bytes(b"\1", 0, 0, self.date, True, su)
            rest, old_extent = [], None
        return Directory(ident=ident, parent=parent, old_extent=old_extent, dot=dot, dotdot=dotdot,
                         entries=[Entry(r) for r in rest])

    def _dir(self, node: PlanNode, ident: bytes, old: bytes | None, parent: Directory | None,
             dirs: list[Directory]) -> Directory:
        d = self._open_dir(ident, old, parent)
        dirs.append(d)
        subs = self._place_children(d, node)
        new_subdirs = sum(old_rec is None for _name, _rec, old_rec in subs)
        if new_subdirs and self.dir_nlink >= 2:
            d.dot = bump_nlink(d.dot, new_subdirs)
            d.nlink_delta = new_subdirs
        for child, entry, old_rec in subs:
            entry.sub = self._dir(child, identifier(entry.raw), old_rec, d, dirs)
            entry.raw = bump_nlink(entry.raw, entry.sub.nlink_delta) if entry.sub.nlink_delta else entry.raw
        return d

    def _place_children(self, d: Directory, node: PlanNode) -> list[tuple[PlanNode, Entry, bytes | None]]:
        """Point the records of ``node``'s children (found in ``d`` or added to it, in order) at their
        data; return the subdirectories with their base record (None for a new one)."""
        rest = [e.raw for e in d.entries]
        taken = {identifier(r).rpartition(b";")[0].upper() if b";" in identifier(r) else identifier(r).upper() for r in rest}
        by_name: dict[str, list[Entry]] = {}
        for entry in d.entries:
            by_name.setdefault(self.name_of(entry.raw), []).append(entry)
        subs: list[tuple[PlanNode, Entry, bytes | None]] = []
        for name in sorted(node.children):
            child = node.children[name]
            found = by_name.get(name, [])
            if found and is_directory(found[0].raw) != (child.data is None):
                kind = "folder" if is_directory(found[0].raw) else "file"
                raise AssemblyError(
                    _("{name!r} is a {kind} in the base ISO but not in the plan").format(name=name, kind=kind),
                    hint=_("rename it in the pack"),
                )
            if found:
                for extra in found[1:]:  # the other extents of a multi-extent file
                    d.entries.remove(extra)
                entry = found[0]
            else:
                new_ident = self.new_ident(name, child.data is None, taken)
                entry = Entry(self.new_record(new_ident, child.data is None, name))
                _insert_sorted(d.entries, entry, sort_key(new_ident, self.joliet), self.joliet)
            if child.data is not None:
                entry.data = child.data
            else:
                subs.append((child, entry, entry.raw if found else None))
        return subs


def bump_nlink(rec: bytes, delta: int) -> bytes:
    start, su = system_use(rec)
    out = bytearray(rec)
    for sig, pos, length in susp_entries(su):
        if sig == b"PX" and length >= 36:
            nlink = struct.unpack_from("<I", su, pos + 12)[0] + delta
            out[start + pos + 12 : start + pos + 20] = both32(nlink)
    return bytes(out)

