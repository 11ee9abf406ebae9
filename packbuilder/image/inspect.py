"""Classify a live ISO's boot layout from its bytes: what a remaster has to carry over.

Pure Python, no external tool. Reads, through the module of each structure:

- the primary volume descriptor (block 16): the volume's size, hence whatever lies after the volume;
- the El Torito boot record and catalog (:mod:`~packbuilder.image.eltorito`): each boot entry's
  platform (BIOS, EFI), emulation, load block and size;
- the system area: the MBR (:mod:`~packbuilder.image.mbr`), the GPT (:mod:`~packbuilder.image.gpt`:
  primary header at LBA 1 with the CRC32 of the header and of the whole entry array, and the backup
  header), the Apple partition map (:mod:`~packbuilder.image.apm`);
- xorriso's partition offset (a second superblock at the start of the first partition, as
  ``-partition_offset 16`` writes it) and appended partitions (those starting at or after the
  volume's end, such as ``-append_partition``'s EFI images).

Sizes of El Torito entries and partitions are in 512-byte sectors, load addresses of El Torito entries
in 2048-byte blocks, APM positions in the map's own block size: the units of the structures themselves
and of ``xorriso -report_system_area``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from packbuilder.errors import InputError
from packbuilder.i18n import _
from packbuilder.image import apm as apm_map
from packbuilder.image import eltorito
from packbuilder.image import gpt as gpt_table
from packbuilder.image import mbr as mbr_table
from packbuilder.image.apm import Apm, ApmPartition
from packbuilder.image.eltorito import ElToritoEntry
from packbuilder.image.gpt import ESP_GUID, HFSPLUS_GUID, Gpt, GptPartition
from packbuilder.image.mbr import Mbr, MbrPartition
from packbuilder.sizes import decimal

BLOCK = 2048  # ISO 9660 logical block
SECTOR = 512  # MBR / GPT sector of a hybrid ISO
SYSTEM_AREA = 16 * BLOCK

@dataclass(frozen=True)
class AppendedPartition:
    """A partition that starts at or after the end of the ISO volume (bytes from the image start)."""

    table: str  # "MBR", "GPT" or "APM"
    index: int
    offset: int
    size: int
    kind: str


@dataclass(frozen=True)
class BootLayout:
    """What an ISO's boot needs, as read from its bytes."""

    file_size: int
    volume_id: str
    volume_blocks: int  # volume space size of the primary volume descriptor, in 2048-byte blocks
    catalog_lba: int | None  # El Torito boot catalog, None without a boot record
    catalog_valid: bool  # validation entry checksum and 55 AA key
    el_torito: tuple[ElToritoEntry, ...]
    mbr: Mbr | None
    gpt: Gpt | None
    apm: Apm | None
    partition_offset: int  # in 2048-byte blocks, as xorriso's -partition_offset; 0 when none
    data_end: int  # byte where the ISO 9660 data ends (with a partition offset: the inner volume's end)
    appended: tuple[AppendedPartition, ...]
    notes: tuple[str, ...]  # anomalies and facts a remaster must know about, in the user's language
    logical_block: int = BLOCK  # the primary volume descriptor's logical block size (2048 nearly always)

    @property
    def volume_bytes(self) -> int:
        return self.volume_blocks * BLOCK

    @property
    def tail_bytes(self) -> int:
        """Bytes of the file after the ISO volume (padding, backup GPT, appended partitions)."""
        return max(0, self.file_size - self.volume_bytes)

    @property
    def bios_entries(self) -> tuple[ElToritoEntry, ...]:
        return tuple(e for e in self.el_torito if e.platform == eltorito.PLATFORM_BIOS)

    @property
    def efi_entries(self) -> tuple[ElToritoEntry, ...]:
        return tuple(e for e in self.el_torito if e.platform == eltorito.PLATFORM_EFI)

    @property
    def isohybrid(self) -> bool:
        """Bootable as a disk by a BIOS: an MBR with boot code and a partition table."""
        return self.mbr is not None and self.mbr.boot_code and bool(self.mbr.partitions)

    @property
    def esp(self) -> tuple[int, int] | None:
        """(offset, size) in bytes of an EFI system partition a UEFI firmware finds on the disk."""
        if self.gpt is not None and self.gpt.header_crc_ok:
            for part in self.gpt.partition_of_type(ESP_GUID):
                return part.start * SECTOR, part.size * SECTOR
        if self.mbr is not None and not self.mbr.protective:
            for mpart in self.mbr.partitions:
                if mpart.type == mbr_table.TYPE_EFI:
                    return mpart.start * SECTOR, mpart.size * SECTOR
        return None

    @property
    def hfsplus(self) -> bool:
        """Carries an HFS+ hybrid (grub-mkrescue's default for Intel Macs)."""
        gpt_hfs = self.gpt is not None and bool(self.gpt.partition_of_type(HFSPLUS_GUID))
        # live-build writes an Apple_HFS entry named "EFI" over the FAT ESP, with no HFS+ in it: that
        # is not a hybrid xorriso refuses to replay, so the volume header decides.
        apm_hfs = self.apm is not None and any(p.type == "Apple_HFS" and p.hfs_volume for p in self.apm.partitions)
        return gpt_hfs or apm_hfs

    def boot_modes(self) -> tuple[str, ...]:
        """The (firmware, medium) pairs the structures support: bios-cd, bios-disk, uefi-cd, uefi-disk.

        Structural only: "uefi-disk" needs an EFI system partition in the GPT or MBR (some firmware,
        such as OVMF, also boots a disk's El Torito catalog, which real PCs mostly do not).
        """
        modes = []
        if any(e.bootable for e in self.bios_entries):
            modes.append("bios-cd")
        if self.isohybrid:
            modes.append("bios-disk")
        if self.efi_entries:
            modes.append("uefi-cd")
        if self.esp is not None:
            modes.append("uefi-disk")
        return tuple(modes)

    def efi_entry_partition(self, entry: ElToritoEntry) -> str | None:
        """The partition that is the same bytes as an El Torito EFI image, e.g. ``GPT 2``."""
        offset = entry.load_rba * BLOCK
        if self.gpt is not None:
            for part in self.gpt.partitions:
                if part.start * SECTOR == offset:
                    return f"GPT {part.index}"
        if self.mbr is not None:
            for mpart in self.mbr.partitions:
                if mpart.start * SECTOR == offset:
                    return f"MBR {mpart.index}"
        return None

    def summary_lines(self) -> list[str]:
        lines = [
            _(
                "ISO 9660 volume {volume_id!r}: {blocks} blocks ({volume_size}); file {file_size}, {tail} bytes after the volume"
            ).format(
                volume_id=self.volume_id,
                blocks=self.volume_blocks,
                volume_size=_size(self.volume_bytes),
                file_size=_size(self.file_size),
                tail=self.tail_bytes,
            )
        ]
        lines += self._el_torito_lines() + _mbr_lines(self.mbr) + _gpt_lines(self.gpt) + _apm_lines(self.apm)
        if self.partition_offset:
            start = self.partition_offset * BLOCK
            lines.append(
                _(
                    "partition offset: {offset} (a second ISO 9660 volume, its blocks counted from byte {start},"
                    " ends at byte {end})"
                ).format(offset=self.partition_offset, start=start, end=self.data_end)
            )
        else:
            lines.append(_("partition offset: none"))
        if self.appended:
            for a in self.appended:
                lines.append(
                    _("appended partition: {table} {index} ({kind}), byte {offset}, {size}").format(
                        table=a.table, index=a.index, kind=a.kind, offset=a.offset, size=_size(a.size)
                    )
                )
        else:
            lines.append(_("appended partitions: none"))
        lines.append(_("boots as: {modes}").format(modes=", ".join(self.boot_modes()) or _("nothing")))
        lines.extend(_("note: {note}").format(note=n) for n in self.notes)
        return lines

    def _el_torito_lines(self) -> list[str]:
        if self.catalog_lba is None:
            return [_("El Torito: none (not bootable as a CD)")]
        catalog = (
            _("El Torito catalog at block {block}") if self.catalog_valid else _("El Torito catalog at block {block} (INVALID)")
        )
        lines = [catalog.format(block=self.catalog_lba)]
        for i, e in enumerate(self.el_torito, 1):
            where = self.efi_entry_partition(e) if e.platform == eltorito.PLATFORM_EFI else None
            line = _("{index}: {platform}, {emulation}, block {block}, {sectors} sectors").format(
                index=i, platform=e.platform_name, emulation=e.emulation_name, block=e.load_rba, sectors=e.sector_count
            )
            lines.append("  " + line + ("" if e.bootable else _(", not bootable")) + (f" (= {where})" if where else ""))
        return lines


def _mbr_lines(mbr: Mbr | None) -> list[str]:
    if mbr is None:
        return [_("MBR: none")]
    code = _("boot code") if mbr.boot_code else _("no boot code")
    lines = [_("MBR: {code}, {count} partitions").format(code=code, count=len(mbr.partitions))]
    for mp in mbr.partitions:
        flag = _(", bootable") if mp.bootable else ""
        line = _("{index}: 0x{type:02x} {type_name}, sector {start}, {size} sectors").format(
            index=mp.index, type=mp.type, type_name=mp.type_name, start=mp.start, size=mp.size
        )
        lines.append(f"  {line}{flag}")
    return lines


def _gpt_lines(g: Gpt | None) -> list[str]:
    if g is None:
        return [_("GPT: none")]
    ok, wrong = _("ok"), _("WRONG")
    entries = ok if g.entries_crc_ok else _("over used entries only") if g.entries_crc_used_only else wrong
    backup = _("ok at {lba}") if g.backup_valid else _("MISSING or invalid at {lba}")
    checks = _("header CRC {header}, entry array CRC {entries}, backup {backup}").format(
        header=ok if g.header_crc_ok else wrong, entries=entries, backup=backup.format(lba=g.backup_lba)
    )
    lines = [_("GPT: {checks}; {count} entries at LBA {lba}").format(checks=checks, count=g.entry_count, lba=g.entries_lba)]
    for p in g.partitions:
        line = _("{index}: {type_name} {name!r}, LBA {first}..{last} ({size} sectors)").format(
            index=p.index, type_name=p.type_name, name=p.name, first=p.first_lba, last=p.last_lba, size=p.size
        )
        lines.append(f"  {line}")
    return lines


def _apm_lines(apm: Apm | None) -> list[str]:
    if apm is None:
        return [_("APM: none")]
    lines = [_("APM: block size {size}").format(size=apm.block_size)]
    for ap in apm.partitions:
        line = _("{index}: {type} {name!r}, block {start}, {size} blocks").format(
            index=ap.index, type=ap.type, name=ap.name, start=ap.start, size=ap.size
        )
        lines.append(f"  {line}")
    return lines


def inspect_iso(source: Path | BinaryIO) -> BootLayout:
    """Read the boot layout of an ISO file (a path or a binary file open for reading)."""
    if isinstance(source, Path):
        try:
            with source.open("rb") as f:
                return _inspect(f, str(source))
        except OSError as exc:
            raise InputError(
                _("cannot read {source}: {reason}").format(source=source, reason=exc.strerror or exc),
                hint=_("check the path of the ISO"),
            ) from exc
    return _inspect(source, getattr(source, "name", "ISO"))


def _inspect(f: BinaryIO, name: str) -> BootLayout:
    f.seek(0, 2)
    file_size = f.tell()
    pvd = _read(f, 16 * BLOCK, BLOCK)
    if len(pvd) < BLOCK or pvd[0] != 1 or pvd[1:6] != b"CD001":
        raise InputError(_("{name} is not an ISO 9660 image (no primary volume descriptor at block 16)").format(name=name),
                         hint=_("give the live ISO file itself"))
    volume_blocks = struct.unpack_from("<I", pvd, 80)[0]
    catalog = eltorito.read_catalog(f)
    system_area = _read(f, 0, SYSTEM_AREA)
    mbr = mbr_table.read_mbr(system_area)
    gpt = gpt_table.read_gpt(f, file_size)
    apm = apm_map.with_hfs_volumes(f, apm_map.read_apm(system_area))
    partition_offset, inner_blocks = _partition_offset(f, mbr, gpt)
    # The outer volume of a partition-offset image may span the appended partitions; the inner one does not.
    data_end = (partition_offset + inner_blocks) * BLOCK if partition_offset else volume_blocks * BLOCK
    layout = BootLayout(
        file_size=file_size,
        volume_id=pvd[40:72].decode("ascii", errors="replace").rstrip(" \x00"),
        volume_blocks=volume_blocks,
        catalog_lba=catalog.lba if catalog else None,
        catalog_valid=catalog.valid if catalog else False,
        el_torito=catalog.entries if catalog else (),
        mbr=mbr,
        gpt=gpt,
        apm=apm,
        partition_offset=partition_offset,
        data_end=data_end,
        appended=tuple(_appended(mbr, gpt, apm, data_end)),
        notes=(),
    )
    logical_block = struct.unpack_from("<H", pvd, 128)[0]
    return replace(layout, logical_block=logical_block, notes=tuple(_notes(layout, logical_block)))


def _notes(layout: BootLayout, logical_block: int) -> Iterator[str]:
    """Anomalies and facts a remaster must know about, in the order a reader meets them."""
    if logical_block != BLOCK:
        yield _("logical block size {size}, not 2048").format(size=logical_block)
    if layout.catalog_lba is not None and not layout.catalog_valid:
        yield _("El Torito validation entry is invalid (checksum or 55 AA key)")
    gpt, mbr = layout.gpt, layout.mbr
    if gpt is not None:
        if not gpt.header_crc_ok:
            yield _("GPT header CRC is wrong")
        if gpt.entries_crc_used_only:
            yield _("GPT entry array CRC covers only the used entries, not the whole array")
        elif not gpt.entries_crc_ok:
            yield _("GPT entry array CRC is wrong")
        if not gpt.backup_valid:
            yield _("backup GPT missing or invalid at LBA {lba}").format(lba=gpt.backup_lba)
        if gpt.backup_lba * SECTOR + SECTOR > layout.file_size:
            yield _("the GPT's backup LBA {lba} is beyond the end of the file").format(lba=gpt.backup_lba)
        yield from (_("GPT partitions {first} and {second} overlap").format(first=a, second=b) for a, b in gpt.overlaps)
    if mbr is not None and gpt is not None and not mbr.protective:
        yield _("GPT without a protective 0xEE MBR entry (hybrid MBR)")
    if mbr is None and gpt is not None:
        yield _("GPT without a valid MBR")
    for part_table, index, offset, size in _all_partitions(mbr, gpt, layout.apm):
        if offset + size > layout.file_size:
            yield _("{table} partition {index} extends past the end of the file").format(table=part_table, index=index)
    if layout.hfsplus:
        yield _(
            "HFS+ hybrid for Intel Macs: xorriso 1.5.4's -boot_image any replay refuses to rewrite it"
            " (it reports overlapping GPT partitions)"
        )
    if layout.volume_bytes > layout.file_size:
        yield _("the volume ({size} bytes) is larger than the file: truncated image").format(size=layout.volume_bytes)


def _read(f: BinaryIO, offset: int, size: int) -> bytes:
    """Up to ``size`` bytes at ``offset`` (fewer at the end of the file)."""
    f.seek(offset)
    return f.read(size)


def _partition_offset(f: BinaryIO, mbr: Mbr | None, gpt: Gpt | None) -> tuple[int, int]:
    """xorriso's -partition_offset: a partition starting at block N > 0 holds a second superblock.

    Returns (N, the inner volume's size in blocks), or (0, 0).
    """
    starts = sorted({p.start for p in (mbr.partitions if mbr else ())} | {p.start for p in (gpt.partitions if gpt else ())})
    for start in starts:
        if start == 0 or (start * SECTOR) % BLOCK:
            continue
        vd = _read(f, start * SECTOR + SYSTEM_AREA, BLOCK)
        if len(vd) == BLOCK and vd[:7] == b"\x01CD001\x01":
            return start * SECTOR // BLOCK, struct.unpack_from("<I", vd, 80)[0]
    return 0, 0


def _all_partitions(mbr: Mbr | None, gpt: Gpt | None, apm: Apm | None) -> Iterator[tuple[str, int, int, int]]:
    """(table, index, offset, size) of every partition, in bytes."""
    if mbr is not None:
        for mp in mbr.partitions:
            if mp.type != mbr_table.TYPE_GPT_PROTECTIVE:
                yield "MBR", mp.index, mp.start * SECTOR, mp.size * SECTOR
    if gpt is not None:
        for gp in gpt.partitions:
            yield "GPT", gp.index, gp.start * SECTOR, gp.size * SECTOR
    if apm is not None:
        for ap in apm.partitions:
            if ap.type != apm_map.MAP_TYPE:
                yield "APM", ap.index, ap.start * apm.block_size, ap.size * apm.block_size


def _appended(mbr: Mbr | None, gpt: Gpt | None, apm: Apm | None, data_end: int) -> Iterator[AppendedPartition]:
    kinds: dict[tuple[str, int], str] = {}
    if mbr is not None:
        kinds.update({("MBR", p.index): p.type_name for p in mbr.partitions})
    if gpt is not None:
        kinds.update({("GPT", p.index): p.type_name for p in gpt.partitions})
    if apm is not None:
        kinds.update({("APM", p.index): p.type for p in apm.partitions})
    for part_table, index, offset, size in _all_partitions(mbr, gpt, apm):
        if offset >= data_end and size > 0:
            yield AppendedPartition(table=part_table, index=index, offset=offset, size=size, kind=kinds[(part_table, index)])


def _size(n: int) -> str:
    if n >= 1 << 20:
        return _("{size} MiB").format(size=decimal(n / (1 << 20)))
    return _("{size} KiB").format(size=decimal(n / 1024))


__all__ = [
    "BLOCK",
    "ESP_GUID",
    "HFSPLUS_GUID",
    "SECTOR",
    "Apm",
    "ApmPartition",
    "AppendedPartition",
    "BootLayout",
    "ElToritoEntry",
    "Gpt",
    "GptPartition",
    "Mbr",
    "MbrPartition",
    "inspect_iso",
]
