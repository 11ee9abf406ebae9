"""Writing a FAT32 volume: clusters laid out, directories, both FATs, FSInfo, then the files' data.

mcopy is not used to fill the volume: it stores a short, single-case name with accents as an 8.3
entry in code page 850 with no long name, does not encode characters beyond the BMP, treats ``[``
in target paths as a pattern, lists folders in readdir order, and ``mcopy -b`` fails on an image
offset (mtools 4.0.32). Writing ourselves gives sorted directory entries, one timestamp everywhere,
files in contiguous clusters (directories first, then files in tree order) and copies done by the
kernel (``copy_file_range``), as fast as ``cp``.
"""

from __future__ import annotations

import errno
import os
import struct
import sys
from array import array
from collections.abc import Callable
from pathlib import Path

from packbuilder.errors import AssemblyError
from packbuilder.fsutil import reserve_space
from packbuilder.i18n import _
from packbuilder.image.fat.dirent import dos_stamp, folder_bytes
from packbuilder.image.fat.geometry import MIB, Geometry, Room, format_partition, read_geometry, room
from packbuilder.image.fat.tree import Node, cluster_count
from packbuilder.image.mbr import SECTOR
from packbuilder.sizes import format_size
from packbuilder.ui import NO_METER, Meter

EOC = 0x0FFFFFFF
# copy_file_range is refused across some file systems and by some kernels: then read and write.
NO_COPY_RANGE = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM}

PIECE = 64 * MIB
# (node, image fd, byte offset in the image, told of the bytes copied)
CopyFile = Callable[[Node, int, int, Callable[[int], None]], None]


def check_room(got: Room, size_bytes: int) -> None:
    """Refuse a tree that does not fit the partition, naming both sizes."""
    if not got.fits:
        raise AssemblyError(
            _(
                "the files need {needed} bytes ({needed_size} in {cluster_bytes}-byte clusters)"
                " but a {size_bytes}-byte image holds {available} bytes ({available_size})"
            ).format(
                needed=got.needed,
                needed_size=format_size(got.needed),
                cluster_bytes=got.cluster_bytes,
                size_bytes=size_bytes,
                available=got.available,
                available_size=format_size(got.available),
            ),
            hint=_("use a larger key (--size) or leave apps out of the pack"),
        )


def allocate(root: Node, cluster_bytes: int, first: int) -> int:
    """Give every folder (the root first, at ``first``), then every non-empty file, a run of
    consecutive clusters in tree order; return the first cluster left free."""
    folders: list[Node] = []
    files: list[Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        if node.children is None:
            if node.size:
                files.append(node)
        else:
            folders.append(node)
            stack.extend(reversed(node.children))
    cluster = first
    for node in folders + files:
        node.clusters = cluster_count(node, cluster_bytes)
        node.first_cluster = cluster
        cluster += node.clusters
    return cluster


def fat_bytes(head: bytes, root: Node, end: int) -> bytes:
    """FAT entries 0 .. end-1: every used cluster points to the next, each run ends with EOC."""
    fat = array("I", range(1, end + 1))
    fat[0], fat[1] = struct.unpack("<II", head)  # media and clean-shutdown entries, as mkfs.fat wrote them
    stack = [root]
    while stack:
        node = stack.pop()
        if node.clusters:
            fat[node.first_cluster + node.clusters - 1] = EOC
        stack.extend(node.children or ())
    if sys.byteorder == "big":
        fat.byteswap()
    return fat.tobytes()


def copy_range(
    src: int, dst: int, size: int, src_offset: int, dst_offset: int, advance: Callable[[int], None] | None = None
) -> int:
    """Copy ``size`` bytes between two files in the kernel where it can; return the bytes copied
    (fewer when the source ends first). ``advance`` is told of every piece copied (a progress bar)."""
    done = 0
    in_kernel = True
    while done < size:
        if in_kernel:
            try:
                # In pieces of at most 64 MiB so that a bar moves through a 2 GB file too.
                n = os.copy_file_range(src, dst, min(size - done, PIECE), src_offset + done, dst_offset + done)
            except OSError as exc:
                if exc.errno not in NO_COPY_RANGE:
                    raise
                in_kernel = False
                continue
        else:
            chunk = os.pread(src, min(MIB, size - done), src_offset + done)
            n = os.pwrite(dst, chunk, dst_offset + done) if chunk else 0
        if n == 0:
            break
        done += n
        if advance is not None:
            advance(n)
    return done


def copy_file(node: Node, dst: int, offset: int, advance: Callable[[int], None] | None = None) -> None:
    """A file of the tree into the image at ``offset``; refused if it changed size meanwhile."""
    src = os.open(node.path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        if copy_range(src, dst, node.size, 0, offset, advance) != node.size or os.fstat(src).st_size != node.size:
            raise AssemblyError(
                _("{rel} changed while the image was written").format(rel=node.rel),
                hint=_("build again once nothing else writes to the folder"),
            )
    finally:
        os.close(src)


def _write_folders(fd: int, geo: Geometry, root: Node, label: str, epoch: int) -> list[Node]:
    """Every folder's entries at its clusters; returns the non-empty files in tree order."""
    stamp = dos_stamp(epoch)
    files = []
    stack: list[tuple[Node, int]] = [(root, 0)]
    while stack:
        folder, parent_cluster = stack.pop()
        assert folder.children is not None
        entries = folder_bytes(folder, parent_cluster, label if folder is root else None, stamp)
        os.pwrite(fd, entries.ljust(folder.clusters * geo.cluster_bytes, b"\0"), geo.offset(folder.first_cluster))
        for child in folder.children:
            if child.children is not None:
                stack.append((child, 0 if folder is root else folder.first_cluster))  # ".." of a top folder is 0
            elif child.size:
                files.append(child)
    return files


def _write_fats(fd: int, geo: Geometry, root: Node, end: int) -> None:
    """Both FATs, and FSInfo's free count and last allocated cluster."""
    fat = fat_bytes(os.pread(fd, 8, geo.fat_offsets[0]), root, end)
    for offset in geo.fat_offsets:
        os.pwrite(fd, fat, offset)
    for offset in geo.fsinfo_offsets:
        info = bytearray(os.pread(fd, SECTOR, offset))
        if info[:4] == b"RRaA" and info[484:488] == b"rrAa":
            struct.pack_into("<II", info, 488, geo.clusters - (end - 2), end - 1)
            os.pwrite(fd, bytes(info), offset)


def format_partition_at(image: Path, fd: int, part_sectors: int, label: str, volume_id: int) -> Geometry:
    """mkfs.fat on the partition at 1 MiB of ``image`` (open as ``fd``), its layout read back."""
    format_partition(image, part_sectors, label, volume_id)
    return read_geometry(fd, part_sectors, label, volume_id)


def fill_partition(
    fd: int,
    geo: Geometry,
    root: Node,
    volume: tuple[str, int],
    size_bytes: int,
    copy: CopyFile | None = None,
    meter: Meter = NO_METER,
) -> None:
    """Write ``root`` into the formatted partition of ``geo``: directories, both FATs, FSInfo, then
    every file's data with ``copy`` (default :func:`copy_file`: usb-live images copy some files
    straight from the base ISO), the bytes told to ``meter``. ``volume`` is (label, epoch);
    ``size_bytes`` is only named in errors."""
    label, epoch = volume
    check_room(room(root, geo.cluster_bytes, geo.clusters), size_bytes)  # exact now that the layout is known
    end = allocate(root, geo.cluster_bytes, geo.root_cluster)
    files = _write_folders(fd, geo, root, label, epoch)
    _write_fats(fd, geo, root, end)
    if files:  # the files' clusters: contiguous, after the folders', to the end of the allocation
        reserve_space(fd, geo.offset(min(node.first_cluster for node in files)), geo.offset(end))
    meter.total(sum(node.size for node in files))
    for node in files:
        (copy or copy_file)(node, fd, geo.offset(node.first_cluster), meter.advance)


def write_partition(
    image: Path,
    fd: int,
    part_sectors: int,
    root: Node,
    volume: tuple[str, int, int],
    size_bytes: int,
    meter: Meter = NO_METER,
) -> Geometry:
    """Format the partition at 1 MiB of ``image`` (open as ``fd``) as FAT32 and write ``root`` into it.
    ``volume`` is (label, volume id, epoch); ``size_bytes`` is only named in errors."""
    label, volume_id, epoch = volume
    geo = format_partition_at(image, fd, part_sectors, label, volume_id)
    fill_partition(fd, geo, root, (label, epoch), size_bytes, meter=meter)
    return geo
