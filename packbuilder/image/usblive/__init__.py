"""Bootable live USB images that also carry the pack: the files of a live ISO and the key's tree on one
FAT32 partition, as Rufus writes a key in its "ISO image" mode.

Layout of the raw disk image (512-byte sectors, MBR partition table, no GPT):

- sector 0: the MBR: boot code (GRUB's ``boot.img`` or SYSLINUX's ``mbr.bin``), disk id = volume id;
  entry 1: FAT32 (type 0x0C, LBA), active, from 1 MiB; entry 2 (with persistence only): Linux (0x83);
  CHS fields for a 255-head, 63-sector geometry, as BIOSes expect of a USB-HDD;
- sectors 1-2047: GRUB's ``core.img`` for a GRUB base (the "MBR gap", as ``grub-install`` uses it);
- partition 1: FAT32 over all the space the persistence volume leaves, holding the files of the base
  ISO (extracted with xorriso; the files of its El Torito EFI image too when the ISO has no
  ``/EFI/BOOT/BOOTX64.EFI`` of its own) and the key's tree at the root (``Menu.html``, apps, docs,
  ``Documents/``) side by side; Windows sees and writes it like a plain key's;
- partition 2 (optional): ext4 labelled ``persistence`` holding ``persistence.conf`` (``/ union``),
  which live-boot uses when the kernel command line says ``persistence``.

How each firmware starts the base:

- BIOS, ISOLINUX base (an ``isolinux.cfg`` in ``/isolinux``, ``/boot/isolinux``, ``/syslinux`` or
  ``/``): SYSLINUX is installed into the FAT partition by ``syslinux --install --offset`` (its mtools
  installer, no root) in the folder of ``isolinux.cfg``, which is copied to ``syslinux.cfg``. The
  folder's ``.c32`` modules that this machine's SYSLINUX also has are replaced by its copies, since a
  module only runs with the ``ldlinux`` of its own version.
- BIOS, GRUB base (``/boot/grub/grub.cfg``): this machine's GRUB (grub-pc-bin) builds a ``core.img``
  with FAT and MBR support whose early config finds the partition by its volume id and reads the base's
  ``/boot/grub/grub.cfg``; ``boot.img`` and ``core.img`` are written as ``grub-bios-setup`` writes them.
  ``/boot/grub/i386-pc`` holds this machine's GRUB modules, which must match the core image (the base's
  are only used by its CD boot image, which a disk never runs).
- UEFI (x64, and ia32 when the base has ``BOOTIA32.EFI``): the firmware reads FAT32 itself and starts
  the base's own ``/EFI/BOOT/BOOTX64.EFI``. A GRUB made by grub-mkrescue has the built-in prefix
  ``()/boot/grub``, "the drive I started from", which on a CD is the ISO but on a key is the whole disk,
  not a file system: that prefix is changed to ``(,1)/boot/grub`` (partition 1 of the same drive) in the
  copy on the key, so it reads the base's ``/boot/grub/grub.cfg`` and modules from the FAT32 partition.

Files of the base of 1 MiB or more (the live system's squashfs) are copied from the ISO straight into
the image (``copy_file_range``), the others are extracted by xorriso first: one copy of the big data.

Limits:

- The base's files must suit FAT32: no file over 4 GiB (a live ``filesystem.squashfs`` over 4 GiB
  cannot be copied), no names differing only by case. Symbolic links to files become copies (hard
  links to the extracted file); links to folders and dangling links are left out.
- A base whose BIOS loader is neither ISOLINUX nor GRUB with ``/boot/grub/grub.cfg`` (memtest, iPXE
  built without ISOLINUX, Windows installers) is refused. A GRUB base whose ``grub.cfg`` finds its files
  by the ISO's volume label or UUID (``search --label``) will not find the key: its config must search
  by file (``search --file``) or use the device it started from, as most live systems' do.
- Secure Boot is whatever the base's EFI loader is: a shim signed for the ISO layout usually works,
  and nothing is signed here; a signed GRUB with the ``()`` prefix would lose its signature when
  patched (grub-mkrescue's are not signed; Debian's and Ubuntu's signed GRUBs use another prefix).
- The BIOS GRUB and SYSLINUX are this machine's (grub-pc-bin, syslinux 6.x), not the base's: a base's
  ``grub.cfg`` or ``isolinux.cfg`` written for a much older or newer loader may use commands or
  ``.c32`` modules this one lacks (the base's ``.c32`` files without a counterpart here are kept).
- The persistence volume is used only when the base's boot entry passes ``persistence`` to live-boot
  (Debian live's menus have such an entry; the base's configs are not edited).
- Windows before 10 1703 shows only the first partition of a removable disk: the FAT32 partition is
  entry 1, so that is the one it shows; the persistence volume stays hidden from Windows.
- No GPT: UEFI firmware boots MBR keys, and Windows 7 refuses a GPT on removable disks.

Modules: :mod:`.base` (the base's files), :mod:`.boot` (GRUB, SYSLINUX, the EFI loader),
:mod:`.persistence` (the ext4 volume), :mod:`.writer` (the image).

The same base, tree, size, label, volume id, epoch and persistence size give the same bytes, with
the same versions of the tools used (xorriso, GRUB, SYSLINUX, mtools, e2fsprogs).
"""

from packbuilder.image.usblive.base import extract_base
from packbuilder.image.usblive.boot import Loader, detect_loader
from packbuilder.image.usblive.writer import Layout, mbr_bytes, plan_layout, write_usb_live

__all__ = ["Layout", "Loader", "detect_loader", "extract_base", "mbr_bytes", "plan_layout", "write_usb_live"]
