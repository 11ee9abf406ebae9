"""Disk image writers: raw USB images (an MBR and one FAT32 partition) built from a staged tree."""
