"""Raw USB disk images: an MBR with one FAT32 partition at 1 MiB, filled from a folder.

``mkfs.fat`` formats the partition (boot sector, backup, FSInfo, empty FATs, label, volume id).
This module then writes the directories, the FAT chains and the file data itself, straight into
the image, rather than through ``mcopy``:

- mcopy stores a short, single-case name with accents (``été.txt``, ``reçu.pdf``) as an 8.3
  entry in code page 850 with no long name; Windows writes a long name for any non-ASCII name,
  and a PC reading with another code page (Linux mounts with 437 by default) shows other
  letters. Here every name that is not plain upper-case 8.3 ASCII gets a long (UTF-16) name,
  and short names are ASCII only.
- mcopy does not encode characters beyond the BMP (surrogate pairs), treats ``[`` in target
  paths as a pattern, lists folders in readdir order and ``mcopy -b`` fails on an image offset
  (mtools 4.0.32): each would need a workaround.
- Writing ourselves gives sorted directory entries, one timestamp everywhere, files in
  contiguous clusters (directories first, then files in tree order) and copies done by the
  kernel (``copy_file_range``), as fast as ``cp``.

The same tree, size, label, volume id and epoch always give the same bytes: nothing depends on
the source files' times, their order on disk, the folder the build runs in or the clock.
FAT reference: Microsoft "FAT32 File System Specification" (fatgen103).
"""

from __future__ import annotations

import errno
import os
import re
import struct
import sys
import tempfile
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from packbuilder import tools
from packbuilder.errors import AssemblyError, InputError

SECTOR = 512
MIB = 1 << 20
PART_START = 2048  # first sector of the partition: 1 MiB, the alignment every OS uses since Vista
PART_TYPE_FAT32_LBA = 0x0C
HEADS, TRACK_SECTORS = 255, 63  # the usual geometry of a disk this size, in the MBR and the boot sector
# Below 65525 clusters the FAT type is defined as FAT16 whatever the boot sector says
# (fatgen103, "FAT Type Determination"); firmware and Windows would misread the volume.
MIN_CLUSTERS = 65525
MAX_FILE = 2**32 - 1  # FAT file sizes are 32-bit
MAX_DIR_ENTRIES = 65536  # fatgen103: a directory holds at most 65536 32-byte entries
MAX_NAME_UNITS = 255  # UTF-16 code units in a long name
FAT_TIME_MIN = 315532800  # 1980-01-01 00:00:00 UTC, the FAT epoch
FAT_TIME_MAX = 4354819198  # 2107-12-31 23:59:58 UTC, the last FAT timestamp
EOC = 0x0FFFFFFF
ATTR_DIR, ATTR_ARCHIVE, ATTR_LABEL, ATTR_LFN = 0x10, 0x20, 0x08, 0x0F
ILLEGAL_CHARS = set('\\/:*?"<>|')
RESERVED_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
SHORT_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'()-@^_`{}~")
LABEL_RE = re.compile(r"[A-Z0-9!#$%&'()@^_`{}~-][A-Z0-9 !#$%&'()@^_`{}~-]{0,10}")


@dataclass
class _Node:
    """A file or folder of the tree; ``children`` is None for a file."""

    name: str
    path: str
    rel: str
    size: int = 0
    entries: int = 0  # a folder's 32-byte directory entries
    children: list[_Node] | None = None
    first_cluster: int = 0
    clusters: int = 0
    short: bytes = b""  # 11-byte 8.3 name, set when the parent's entries are laid out
    long: bool = field(default=False)  # whether a long name precedes the short entry


# --- checking the tree -------------------------------------------------------------------


def _case_key(name: str) -> str:
    # FAT compares names upper-cased character by character (Windows' up-case table), so
    # "ß" stays "ß" rather than becoming "SS" as str.upper() would.
    if name.isascii():
        return name.upper()
    return "".join(c if len(c.upper()) != 1 else c.upper() for c in name)


def _name_problems(name: str) -> list[str]:
    problems = []
    bad = sorted({c for c in name if c in ILLEGAL_CHARS or ord(c) < 0x20})
    if bad:
        shown = " ".join(repr(c) if c in ILLEGAL_CHARS else f"U+{ord(c):04X}" for c in bad)
        problems.append(f"contains {shown}, not allowed in FAT32 names: rename it")
    if name.endswith((".", " ")):
        problems.append("ends with a dot or a space, which Windows drops: rename it")
    if name.split(".", 1)[0].rstrip(" ").upper() in RESERVED_NAMES:
        problems.append("is a reserved DOS device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9): rename it")
    try:
        units = len(name.encode("utf-16-le")) // 2
    except UnicodeEncodeError:
        problems.append("is not valid UTF-8: rename it")
    else:
        if units > MAX_NAME_UNITS:
            problems.append(f"is {units} UTF-16 units long, FAT32 allows {MAX_NAME_UNITS}: shorten it")
    return problems


def _scan(tree: Path) -> tuple[_Node, list[str]]:
    """Read the tree (children sorted by name) and every problem that stops it going on FAT32."""
    if not tree.is_dir():
        raise AssemblyError(f"{tree} is not a folder", hint="pass the staged folder to write into the image")
    root = _Node(name="", path=os.fspath(tree), rel="", children=[])
    problems: list[str] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        assert folder.children is not None
        shown = folder.rel or "."
        try:
            with os.scandir(folder.path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            problems.append(f"{shown}: cannot be read ({exc.strerror}): fix its permissions")
            continue
        seen: dict[str, str] = {}
        for entry in entries:
            rel = f"{folder.rel}/{entry.name}" if folder.rel else entry.name
            shown_rel = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            problems.extend(f"{shown_rel}: {p}" for p in _name_problems(entry.name))
            key = _case_key(entry.name)
            if key in seen:
                problems.append(f"{shown_rel}: differs only by case from {seen[key]!r} (FAT32 ignores case): rename one")
            seen[key] = entry.name
            node = _Node(name=entry.name, path=entry.path, rel=rel)
            try:
                if entry.is_symlink():
                    problems.append(f"{shown_rel}: is a symbolic link, FAT32 has none: copy its target instead")
                elif entry.is_dir(follow_symlinks=False):
                    node.children = []
                    stack.append(node)
                elif entry.is_file(follow_symlinks=False):
                    node.size = entry.stat(follow_symlinks=False).st_size
                    if node.size > MAX_FILE:
                        problems.append(
                            f"{shown_rel}: is {node.size} bytes, FAT32 files stop at 4 GiB - 1 byte: split it or leave it out"
                        )
                else:
                    problems.append(f"{shown_rel}: is a device, socket or pipe, not a file: remove it")
            except OSError as exc:
                problems.append(f"{shown_rel}: cannot be read ({exc.strerror}): fix its permissions")
                continue
            folder.children.append(node)
        # '.' and '..' (the label in the root), then each child's long name and 8.3 entry
        folder.entries = (1 if folder is root else 2) + sum(1 + _lfn_count(c.name) for c in folder.children)
        if folder.entries > MAX_DIR_ENTRIES:
            problems.append(f"{shown}: too many files for one FAT32 folder (at most {MAX_DIR_ENTRIES} entries): split it")
    return root, sorted(problems)


def check_fat_tree(tree: Path) -> None:
    """Raise AssemblyError listing every path under ``tree`` that FAT32 cannot hold as it is."""
    _root, problems = _scan(tree)
    if problems:
        raise _tree_error(tree, problems)


def _tree_error(tree: Path, problems: list[str]) -> AssemblyError:
    count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
    return AssemblyError(
        f"{count} in {tree} for a FAT32 key",
        hint="rename or remove the paths listed, then build again",
        details=problems,
    )


# --- names and directory entries ---------------------------------------------------------


def _exact_short(name: str) -> tuple[str, str] | None:
    """(base, ext) when the upper-cased name is already a plain ASCII 8.3 name."""
    if not name.isascii():
        return None
    base, dot, ext = name.upper().partition(".")
    if not base or "." in ext or (dot and not ext) or len(base) > 8 or len(ext) > 3:
        return None
    if not set(base + ext) <= SHORT_CHARS:
        return None
    return base, ext


def _short_basis(name: str) -> tuple[str, str]:
    """The 8.3 basis of a name that needs a numeric tail: ASCII only, like Windows for non-OEM characters."""

    def clean(text: str) -> str:
        return "".join(c if c in SHORT_CHARS else "_" for c in text.upper() if c not in " .")

    stripped = name.lstrip(". ")
    base, _dot, ext = stripped.rpartition(".") if "." in stripped else (stripped, "", "")
    return clean(base)[:8] or "_", clean(ext)[:3]


def _assign_short_names(children: list[_Node]) -> None:
    used: set[tuple[str, str]] = set()
    lossy = []
    for child in children:  # exact names first, so a generated name never takes one
        exact = _exact_short(child.name)
        if exact is None:
            lossy.append(child)
        else:
            used.add(exact)
            child.short = (exact[0].ljust(8) + exact[1].ljust(3)).encode("ascii")
            child.long = child.name != child.name.upper()
    for child in lossy:
        base, ext = _short_basis(child.name)
        n = 1
        while (base[: 8 - len(f"~{n}")] + f"~{n}", ext) in used:
            n += 1
        short = (base[: 8 - len(f"~{n}")] + f"~{n}", ext)
        used.add(short)
        child.short = (short[0].ljust(8) + short[1].ljust(3)).encode("ascii")
        child.long = True


def _lfn_count(name: str) -> int:
    """Long-name entries before a name's 8.3 entry (0 for a name that is its own 8.3 name)."""
    if name.isascii() and name == name.upper() and _exact_short(name) is not None:
        return 0
    return -(-len(name.encode("utf-16-le", "surrogatepass")) // 26)


def _checksum(short: bytes) -> int:
    total = 0
    for byte in short:
        total = (((total & 1) << 7) + (total >> 1) + byte) & 0xFF
    return total


def _dos_stamp(epoch: int) -> tuple[int, int, int]:
    """(hundredths, time, date) of a FAT timestamp; FAT stores local time, and our local time is UTC."""
    t = time.gmtime(epoch)
    fat_date = ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    fat_time = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    return (t.tm_sec % 2) * 100, fat_time, fat_date


def _short_entry(short: bytes, attr: int, cluster: int, size: int, stamp: tuple[int, int, int]) -> bytes:
    tenths, fat_time, fat_date = stamp
    return struct.pack(
        "<11sBBBHHHHHHHI", short, attr, 0, tenths, fat_time, fat_date, fat_date, cluster >> 16, fat_time, fat_date,
        cluster & 0xFFFF, size,
    )  # fmt: skip


def _long_entries(name: str, short: bytes) -> bytes:
    units = name.encode("utf-16-le")
    count = -(-len(units) // 26)
    padded = units + (b"\0\0" + b"\xff" * 26 if len(units) % 26 else b"")
    checksum = _checksum(short)
    out = []
    for seq in range(count, 0, -1):  # stored last part first
        part = padded[(seq - 1) * 26 : seq * 26]
        order = seq | (0x40 if seq == count else 0)
        out.append(struct.pack("<B10sBBB12sH4s", order, part[:10], ATTR_LFN, 0, checksum, part[10:22], 0, part[22:26]))
    return b"".join(out)


def _directory_bytes(folder: _Node, parent_cluster: int, label: str | None, stamp: tuple[int, int, int]) -> bytes:
    assert folder.children is not None
    out = []
    if label is not None:
        out.append(_short_entry(label.ljust(11).encode("ascii"), ATTR_LABEL, 0, 0, stamp))
    else:
        out.append(_short_entry(b".".ljust(11), ATTR_DIR, folder.first_cluster, 0, stamp))
        out.append(_short_entry(b"..".ljust(11), ATTR_DIR, parent_cluster, 0, stamp))
    _assign_short_names(folder.children)
    for child in folder.children:
        if child.long:
            out.append(_long_entries(child.name, child.short))
        attr = ATTR_DIR if child.children is not None else ATTR_ARCHIVE
        out.append(_short_entry(child.short, attr, child.first_cluster, child.size, stamp))
    return b"".join(out)


# --- geometry ------------------------------------------------------------------------------


def _cluster_sectors(part_sectors: int) -> int:
    """Sectors per cluster by partition size, as Windows and mkfs.fat choose (fatgen103 table):
    512 B up to 260 MiB, 4 KiB up to 8 GiB, then 8, 16 and 32 KiB."""
    for limit, spc in ((532_480, 1), (16_777_216, 8), (33_554_432, 16), (67_108_864, 32)):
        if part_sectors <= limit:
            return spc
    return 64


def _clusters_estimate(part_sectors: int, spc: int) -> int:
    """A lower bound of the clusters mkfs.fat makes: two FATs sized as if every sector were a
    cluster, and 32 reserved sectors plus one cluster for mkfs.fat's alignment of the data area.
    mkfs.fat also ends the file system on a whole track (63 sectors with ``-g 255/63``)."""
    usable = part_sectors - part_sectors % TRACK_SECTORS
    fat = -(-(usable // spc + 2) * 4 // SECTOR)
    fat = -(-fat // spc) * spc
    return max(0, (usable - 32 - spc - 2 * fat) // spc)


def _min_image_bytes() -> int:
    mib = 2
    while _clusters_estimate((mib - 1) * 2048, 1) < MIN_CLUSTERS:
        mib += 1
    return mib * MIB


def _partition_sectors(size_bytes: int) -> int:
    """The partition: from 1 MiB to the end of the image, the end aligned down to 1 MiB."""
    part = (size_bytes // MIB) * 2048 - PART_START
    if part >= 2**32:
        raise AssemblyError(
            f"a {size_bytes}-byte image is too large for an MBR partition (at most 2 TiB)", hint="use a smaller --size"
        )
    # FAT32 with fewer than 65525 clusters is FAT16 by definition: even with 512-byte clusters
    # the smallest FAT32 partition is about 33 MiB.
    if part <= 0 or _clusters_estimate(part, _cluster_sectors(part)) < MIN_CLUSTERS:
        minimum = _min_image_bytes()
        raise AssemblyError(
            f"a {size_bytes}-byte image is too small for FAT32: it needs at least {minimum // MIB} MiB ({minimum} bytes)",
            hint="use a larger --size",
        )
    return part


def _needed_clusters(root: _Node, cluster_bytes: int) -> int:
    """Clusters the tree takes: each file rounded up to clusters, each folder's entries too."""
    total = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if node.children is None:
            total += -(-node.size // cluster_bytes)
        else:
            total += max(1, -(-node.entries * 32 // cluster_bytes))
            stack.extend(node.children)
    return total


def _check_fit(root: _Node, cluster_bytes: int, clusters: int, size_bytes: int) -> None:
    needed = _needed_clusters(root, cluster_bytes) * cluster_bytes
    available = clusters * cluster_bytes
    if needed > available:
        raise AssemblyError(
            f"the files need {needed} bytes ({needed / MIB:.1f} MiB in {cluster_bytes}-byte clusters) but a "
            f"{size_bytes}-byte image holds {available} bytes ({available / MIB:.1f} MiB)",
            hint="use a larger key (--size) or leave apps out of the pack",
        )


@dataclass(frozen=True)
class _Geometry:
    cluster_bytes: int
    fat_offsets: tuple[int, ...]
    fsinfo_offsets: tuple[int, ...]
    data_offset: int
    root_cluster: int
    clusters: int  # data clusters, numbered 2 .. clusters + 1

    def offset(self, cluster: int) -> int:
        return self.data_offset + (cluster - 2) * self.cluster_bytes


def _format(image: Path, part_sectors: int, spc: int, label: str, volume_id: int) -> None:
    tools.run(
        [
            "mkfs.fat",
            "--invariant",  # no random or time-based values; it also sets a volume id, so -i comes after it
            *("-F", "32", "-S", str(SECTOR), "-s", str(spc), "-f", "2", "-R", "32"),
            *("-n", label, "-i", f"{volume_id:08X}"),
            *(
                "-h",
                str(PART_START),
                "-g",
                f"{HEADS}/{TRACK_SECTORS}",
                f"--offset={PART_START}",
            ),  # hidden sectors = partition start
            image,
            str(part_sectors // 2),  # size in 1 KiB blocks
        ]
    )


def _read_geometry(fd: int, part_sectors: int, label: str, volume_id: int) -> _Geometry:
    """The layout mkfs.fat chose, read back from the boot sector, with a sanity check."""
    base = PART_START * SECTOR
    boot = os.pread(fd, SECTOR, base)
    bps, spc, reserved, nfats, root_entries, total16 = struct.unpack_from("<HBHBHH", boot, 11)
    (fat16,) = struct.unpack_from("<H", boot, 22)
    total, fat_sectors = struct.unpack_from("<II", boot, 32)
    root_cluster, fsinfo, backup = struct.unpack_from("<IHH", boot, 44)
    got_id, got_label = struct.unpack_from("<I11s", boot, 67)
    clusters = (total - reserved - nfats * fat_sectors) // spc if spc else 0
    wrong = [
        what
        for what, bad in (
            ("not 512-byte sectors", bps != SECTOR),
            ("not FAT32", fat16 != 0 or root_entries != 0 or total16 != 0 or boot[510:512] != b"\x55\xaa"),
            ("larger than the partition", total > part_sectors),
            (f"volume id {got_id:08X}", got_id != volume_id),
            (f"label {got_label!r}", got_label != label.ljust(11).encode("ascii")),
            ("root folder not at cluster 2", root_cluster != 2),
            (f"{clusters} clusters", clusters < MIN_CLUSTERS or fat_sectors * SECTOR // 4 < clusters + 2),
        )
        if bad
    ]
    if wrong:
        raise AssemblyError(
            f"mkfs.fat wrote an unexpected boot sector: {', '.join(wrong)}", hint="install dosfstools 4.1 or later"
        )
    fsinfo_sectors = (fsinfo,) if not backup else (fsinfo, backup + fsinfo)
    return _Geometry(
        cluster_bytes=spc * SECTOR,
        fat_offsets=tuple(base + (reserved + i * fat_sectors) * SECTOR for i in range(nfats)),
        fsinfo_offsets=tuple(base + s * SECTOR for s in fsinfo_sectors),
        data_offset=base + (reserved + nfats * fat_sectors) * SECTOR,
        root_cluster=root_cluster,
        clusters=clusters,
    )


# --- writing -------------------------------------------------------------------------------


def _allocate(root: _Node, cluster_bytes: int, first: int) -> int:
    """Give every folder (the root first, at ``first``), then every non-empty file, a run of
    consecutive clusters in tree order; return the first cluster left free."""
    folders: list[_Node] = []
    files: list[_Node] = []
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
        if node.children is None:
            node.clusters = -(-node.size // cluster_bytes)
        else:
            node.clusters = max(1, -(-node.entries * 32 // cluster_bytes))
        node.first_cluster = cluster
        cluster += node.clusters
    return cluster


def _fat_bytes(head: bytes, root: _Node, end: int) -> bytes:
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


# copy_file_range is refused across some file systems and by some kernels: then read and write.
_NO_COPY_RANGE = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM}


def _copy_range(src: int, dst: int, size: int, offset: int) -> int:
    done = 0
    in_kernel = True
    while done < size:
        if in_kernel:
            try:
                n = os.copy_file_range(src, dst, size - done, done, offset + done)
            except OSError as exc:
                if exc.errno not in _NO_COPY_RANGE:
                    raise
                in_kernel = False
                continue
        else:
            chunk = os.pread(src, min(MIB, size - done), done)
            n = os.pwrite(dst, chunk, offset + done) if chunk else 0
        if n == 0:
            break
        done += n
    return done


def _copy_file(node: _Node, dst: int, offset: int) -> None:
    src = os.open(node.path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        if _copy_range(src, dst, node.size, offset) != node.size or os.fstat(src).st_size != node.size:
            raise AssemblyError(
                f"{node.rel} changed while the image was written",
                hint="build again once nothing else writes to the folder",
            )
    finally:
        os.close(src)


def _fill(
    fd: int,
    geo: _Geometry,
    root: _Node,
    label: str,
    stamp: tuple[int, int, int],
    size_bytes: int,
    copy: Callable[[_Node, int, int], None] | None = None,
) -> None:
    """Write the directories, both FATs, FSInfo, then every file's data (with ``copy`` if given:
    (node, fd, offset); usb-live images copy some files straight from the base ISO)."""
    _check_fit(root, geo.cluster_bytes, geo.clusters, size_bytes)  # exact now that the layout is known
    end = _allocate(root, geo.cluster_bytes, geo.root_cluster)
    files = []
    stack: list[tuple[_Node, int]] = [(root, 0)]
    while stack:
        folder, parent_cluster = stack.pop()
        assert folder.children is not None
        entries = _directory_bytes(folder, parent_cluster, label if folder is root else None, stamp)
        os.pwrite(fd, entries.ljust(folder.clusters * geo.cluster_bytes, b"\0"), geo.offset(folder.first_cluster))
        for child in folder.children:
            if child.children is not None:
                stack.append((child, 0 if folder is root else folder.first_cluster))  # ".." of a top folder is 0
            elif child.size:
                files.append(child)
    fat = _fat_bytes(os.pread(fd, 8, geo.fat_offsets[0]), root, end)
    for offset in geo.fat_offsets:
        os.pwrite(fd, fat, offset)
    for offset in geo.fsinfo_offsets:
        info = bytearray(os.pread(fd, SECTOR, offset))
        if info[:4] == b"RRaA" and info[484:488] == b"rrAa":
            struct.pack_into("<II", info, 488, geo.clusters - (end - 2), end - 1)  # free count, last allocated
            os.pwrite(fd, bytes(info), offset)
    for node in files:
        (copy or _copy_file)(node, fd, geo.offset(node.first_cluster))


def _chs(lba: int) -> bytes:
    """CHS address of a sector; beyond cylinder 1023, the usual 1023/254/63 meaning "use LBA"."""
    cylinder, rest = divmod(lba, HEADS * TRACK_SECTORS)
    if cylinder > 1023:
        return b"\xfe\xff\xff"
    head, sector = divmod(rest, TRACK_SECTORS)
    return bytes((head, ((cylinder >> 2) & 0xC0) | (sector + 1), cylinder & 0xFF))


def _mbr(part_sectors: int, disk_id: int) -> bytes:
    """A DOS partition table with one FAT32 (LBA) partition, not bootable; no boot code."""
    last = PART_START + part_sectors - 1
    entry = struct.pack("<B3sB3sII", 0x00, _chs(PART_START), PART_TYPE_FAT32_LBA, _chs(last), PART_START, part_sectors)
    return bytes(440) + struct.pack("<IH", disk_id, 0) + entry + bytes(48) + b"\x55\xaa"


def write_fat_image(tree: Path, out: Path, size_bytes: int, label: str, volume_id: int, epoch: int) -> None:
    """Write ``tree`` as a raw disk image of exactly ``size_bytes``: an MBR and one FAT32 partition
    from 1 MiB to the end, labelled ``label`` with volume id ``volume_id``, every timestamp at
    ``epoch`` (clamped to the FAT range, 1980-2107). Checks the tree and that it fits first; the
    image appears at ``out`` only when complete."""
    if not LABEL_RE.fullmatch(label):
        raise InputError(f"{label!r} is not a FAT volume label", hint="use 1 to 11 upper-case ASCII letters, digits, '_' or '-'")
    if not 0 <= volume_id < 2**32:
        raise ValueError(f"volume id {volume_id} is not a 32-bit number")
    root, problems = _scan(tree)
    if problems:
        raise _tree_error(tree, problems)
    part_sectors = _partition_sectors(size_bytes)
    spc = _cluster_sectors(part_sectors)
    _check_fit(root, spc * SECTOR, _clusters_estimate(part_sectors, spc), size_bytes)
    stamp = _dos_stamp(min(max(epoch, FAT_TIME_MIN), FAT_TIME_MAX))
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    tmp = Path(name)
    try:
        try:
            os.ftruncate(fd, size_bytes)  # sparse: unwritten clusters stay holes
            _format(tmp, part_sectors, spc, label, volume_id)
            geo = _read_geometry(fd, part_sectors, label, volume_id)
            _fill(fd, geo, root, label, stamp, size_bytes)
            os.pwrite(fd, _mbr(part_sectors, volume_id), 0)
        finally:
            os.close(fd)
        # No fsync: the image is rebuilt from the lock if a crash loses it, and syncing a
        # multi-GB file would cost more than writing it.
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AssemblyError(f"cannot write {out}: {exc}", hint="check the free space and permissions there") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
