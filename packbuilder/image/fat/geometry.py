"""FAT32 geometry: the partition's size, its clusters, the boot sector mkfs.fat writes and reads back.

``mkfs.fat`` formats the partition (boot sector, backup, FSInfo, empty FATs, label, volume id);
the layout it chose is then read back from the boot sector, with a sanity check, so the writer
puts directories and data where mkfs.fat's FATs say they are.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from packbuilder import tools
from packbuilder.errors import AssemblyError
from packbuilder.i18n import _
from packbuilder.image.fat.tree import Node, needed_clusters
from packbuilder.image.mbr import HEADS, SECTOR, TRACK_SECTORS

MIB = 1 << 20
PART_START = 2048  # first sector of the partition: 1 MiB, the alignment every OS uses since Vista
# Below 65525 clusters the FAT type is defined as FAT16 whatever the boot sector says
# (fatgen103, "FAT Type Determination"); firmware and Windows would misread the volume.
MIN_CLUSTERS = 65525
RESERVED_SECTORS = 32


def cluster_sectors(part_sectors: int) -> int:
    """Sectors per cluster by partition size, as Windows and mkfs.fat choose (fatgen103 table):
    512 B up to 260 MiB, 4 KiB up to 8 GiB, then 8, 16 and 32 KiB."""
    for limit, spc in ((532_480, 1), (16_777_216, 8), (33_554_432, 16), (67_108_864, 32)):
        if part_sectors <= limit:
            return spc
    return 64


def clusters_estimate(part_sectors: int, spc: int) -> int:
    """A lower bound of the clusters mkfs.fat makes: two FATs sized as if every sector were a
    cluster, and 32 reserved sectors plus one cluster for mkfs.fat's alignment of the data area.
    mkfs.fat also ends the file system on a whole track (63 sectors with ``-g 255/63``)."""
    usable = part_sectors - part_sectors % TRACK_SECTORS
    fat = -(-(usable // spc + 2) * 4 // SECTOR)
    fat = -(-fat // spc) * spc
    return max(0, (usable - RESERVED_SECTORS - spc - 2 * fat) // spc)


def is_fat32(part_sectors: int) -> bool:
    """Whether a partition of ``part_sectors`` makes a FAT32 volume (enough clusters)."""
    return part_sectors > 0 and clusters_estimate(part_sectors, cluster_sectors(part_sectors)) >= MIN_CLUSTERS


def min_partition_bytes() -> int:
    """The smallest FAT32 volume in whole MiB: about 33 MiB, with 512-byte clusters."""
    mib = 1
    while clusters_estimate(mib * 2048, 1) < MIN_CLUSTERS:
        mib += 1
    return mib * MIB


def min_image_bytes() -> int:
    """The smallest image holding the MBR gap and a FAT32 partition."""
    return min_partition_bytes() + MIB


def partition_sectors(size_bytes: int) -> int:
    """The partition of a plain key: from 1 MiB to the end of the image, the end aligned down to 1 MiB."""
    part = (size_bytes // MIB) * 2048 - PART_START
    if part >= 2**32:
        raise AssemblyError(
            _("a {size_bytes}-byte image is too large for an MBR partition (at most 2 TiB)").format(size_bytes=size_bytes),
            hint=_("use a smaller --size"),
        )
    if not is_fat32(part):
        minimum = min_image_bytes()
        raise AssemblyError(
            _("a {size_bytes}-byte image is too small for FAT32: it needs at least {minimum_mib} MiB ({minimum} bytes)").format(
                size_bytes=size_bytes, minimum_mib=minimum // MIB, minimum=minimum
            ),
            hint=_("use a larger --size"),
        )
    return part


@dataclass(frozen=True)
class Room:
    """What a tree needs and what a partition offers, in bytes."""

    needed: int
    available: int
    cluster_bytes: int

    @property
    def fits(self) -> bool:
        return self.needed <= self.available


def room(root: Node, cluster_bytes: int, clusters: int) -> Room:
    """The tree's clusters against a volume's ``clusters`` of ``cluster_bytes``."""
    return Room(needed_clusters(root, cluster_bytes) * cluster_bytes, clusters * cluster_bytes, cluster_bytes)


def estimated_room(root: Node, part_sectors: int) -> Room:
    """The tree against the clusters mkfs.fat will at least make of ``part_sectors``."""
    spc = cluster_sectors(part_sectors)
    return room(root, spc * SECTOR, clusters_estimate(part_sectors, spc))


@dataclass(frozen=True)
class Geometry:
    cluster_bytes: int
    fat_offsets: tuple[int, ...]
    fsinfo_offsets: tuple[int, ...]
    data_offset: int
    root_cluster: int
    clusters: int  # data clusters, numbered 2 .. clusters + 1

    def offset(self, cluster: int) -> int:
        return self.data_offset + (cluster - 2) * self.cluster_bytes


def format_partition(image: Path, part_sectors: int, label: str, volume_id: int) -> None:
    """mkfs.fat on the partition at 1 MiB of ``image``, every field fixed by its arguments."""
    tools.run(
        [
            "mkfs.fat",
            "--invariant",  # no random or time-based values; it also sets a volume id, so -i comes after it
            *("-F", "32", "-S", str(SECTOR), "-s", str(cluster_sectors(part_sectors)), "-f", "2"),
            *("-R", str(RESERVED_SECTORS), "-n", label, "-i", f"{volume_id:08X}"),
            # hidden sectors = partition start
            *("-h", str(PART_START), "-g", f"{HEADS}/{TRACK_SECTORS}", f"--offset={PART_START}"),
            image,
            str(part_sectors // 2),  # size in 1 KiB blocks
        ]
    )


def read_geometry(fd: int, part_sectors: int, label: str, volume_id: int) -> Geometry:
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
            (_("not 512-byte sectors"), bps != SECTOR),
            (_("not FAT32"), fat16 != 0 or root_entries != 0 or total16 != 0 or boot[510:512] != b"\x55\xaa"),
            (_("larger than the partition"), total > part_sectors),
            (_("volume id {id:08X}").format(id=got_id), got_id != volume_id),
            (_("label {label!r}").format(label=got_label), got_label != label.ljust(11).encode("ascii")),
            (_("root folder not at cluster 2"), root_cluster != 2),
            (_("{count} clusters").format(count=clusters), clusters < MIN_CLUSTERS or fat_sectors * SECTOR // 4 < clusters + 2),
        )
        if bad
    ]
    if wrong:
        raise AssemblyError(
            _("mkfs.fat wrote an unexpected boot sector: {fields}").format(fields=", ".join(wrong)),
            hint=_("install dosfstools 4.1 or later"),
        )
    fsinfo_sectors = (fsinfo,) if not backup else (fsinfo, backup + fsinfo)
    return Geometry(
        cluster_bytes=spc * SECTOR,
        fat_offsets=tuple(base + (reserved + i * fat_sectors) * SECTOR for i in range(nfats)),
        fsinfo_offsets=tuple(base + s * SECTOR for s in fsinfo_sectors),
        data_offset=base + (reserved + nfats * fat_sectors) * SECTOR,
        root_cluster=root_cluster,
        clusters=clusters,
    )
