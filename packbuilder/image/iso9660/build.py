"""The new extents of one directory hierarchy: its rewritten directories, its path tables (ECMA-119
9.4, both byte orders, the base's entries kept with the new and moved directories in 9.4.3 order),
and the fields of its volume descriptor that point at them.

Extents are allocated in blocks from the image's start; what is written counts from the hierarchy's
origin (the partition's start for the inner volume of a partition offset).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import BinaryIO

from packbuilder.errors import AssemblyError
from packbuilder.i18n import _
from packbuilder.image.iso9660.files import PlanNode
from packbuilder.image.iso9660.hierarchy import Directory, Hierarchy
from packbuilder.image.iso9660.records import BLOCK, XORRISO_HINT, both32, packed, repointed, sort_key


@dataclass(eq=False)
class PathTableNode:
    ident: bytes
    extent: int
    parent: PathTableNode | None
    children: list[PathTableNode] = field(default_factory=list)
    dir: Directory | None = None


class HierarchyBuild:
    """The new extents of one hierarchy: directories, path tables, and its descriptor's new fields."""

    def __init__(self, tree: Hierarchy, root: PlanNode) -> None:
        self.tree = tree
        self.dirs: list[Directory] = tree.directories(root)
        self.pt_l = self.pt_m = 0
        self.pt_order: list[PathTableNode] = []

    def _rel(self, lba: int) -> int:
        """An extent allocated from the image's start, as this hierarchy counts it (0: not allocated yet)."""
        return lba - self.tree.origin if lba else 0

    def _final_records(self, d: Directory) -> list[bytes]:
        date, rel = self.tree.epoch, self._rel
        parent = d.parent or d
        records = [repointed(d.dot, rel(d.lba), d.size, date), repointed(d.dotdot, rel(parent.lba), parent.size, date)]
        for e in d.entries:
            if e.sub is not None:
                records.append(repointed(e.raw, rel(e.sub.lba), e.sub.size, date))
            elif e.data is not None:
                records.append(repointed(e.raw, rel(e.data.lba), e.data.size, date))
            else:
                records.append(e.raw)
        return records

    def allocate_dirs(self, cursor: int) -> int:
        for d in self.dirs:
            d.size = len(packed(self._final_records(d)))  # record lengths do not depend on extents
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

    def _path_table_order(self) -> list[PathTableNode]:
        """The base's path table with the rewritten and new directories, in ECMA-119 9.4.3 order."""
        tree = self.tree
        raw = tree.path_table
        nodes: list[PathTableNode] = []
        pos = 0
        while pos + 8 <= len(raw) and raw[pos]:
            length, _ext_length, extent, parent_no = struct.unpack_from("<BBIH", raw, pos)
            ident = raw[pos + 8 : pos + 8 + length]
            parent = nodes[parent_no - 1] if nodes and 0 < parent_no <= len(nodes) else None
            node = PathTableNode(ident=ident, extent=extent, parent=parent)
            if parent is not None:
                parent.children.append(node)
            nodes.append(node)
            pos += 8 + length + length % 2
        root_extent = struct.unpack_from("<I", tree.root, 2)[0]
        if not nodes or nodes[0].extent != root_extent:
            raise AssemblyError(_("the base ISO's path table does not start at its root directory"), hint=_(XORRISO_HINT))
        by_extent = {n.extent: n for n in nodes}
        by_dir: dict[int, PathTableNode] = {}
        for d in self.dirs:
            if d.old_extent is not None and d.old_extent in by_extent:
                node = by_extent[d.old_extent]
            else:
                parent = by_dir[id(d.parent)]
                node = PathTableNode(ident=d.ident, extent=0, parent=parent)
                key = sort_key(d.ident, tree.joliet)
                index = next((i for i, c in enumerate(parent.children) if sort_key(c.ident, tree.joliet) > key),
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
            extent = self._rel(n.dir.lba) if n.dir is not None else n.extent
            parent = number[id(n.parent)] if n.parent is not None else 1
            out += struct.pack(fmt, len(n.ident), 0, extent, parent) + n.ident + bytes(len(n.ident) % 2)
        return bytes(out)

    def write(self, f: BinaryIO, volume_blocks: int) -> None:
        for d in self.dirs:
            f.seek(d.lba * BLOCK)
            f.write(packed(self._final_records(d)))
        for lba, big in ((self.pt_l, False), (self.pt_m, True)):
            f.seek(lba * BLOCK)
            f.write(self._path_table(big))
        root = self.dirs[0]
        vd = bytearray(self.tree.vd)
        vd[80:88] = both32(volume_blocks - self.tree.origin)  # the inner volume ends where the image does
        vd[132:140] = both32(self._path_table_size())
        vd[140:156] = struct.pack("<II", self._rel(self.pt_l), 0) + struct.pack(">II", self._rel(self.pt_m), 0)
        root_record = repointed(self.tree.root, self._rel(root.lba), root.size, self.tree.epoch)
        vd[156 : 156 + len(root_record)] = root_record
        vd[830:847] = self.tree.date17
        f.seek(self.tree.block * BLOCK)
        f.write(vd)


