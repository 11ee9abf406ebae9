"""Raw USB disk images: an MBR with one FAT32 partition at 1 MiB, filled from a folder.

- :mod:`.names`: what a FAT32 name may be, long names and 8.3 names;
- :mod:`.tree`: the tree read from a folder, checked, merged;
- :mod:`.dirent`: directory entries and timestamps;
- :mod:`.geometry`: partition and cluster sizes, mkfs.fat and its boot sector read back;
- :mod:`.writer`: the volume written (directories, FATs, FSInfo, data);
- :mod:`.image`: the whole key image (:func:`write_fat_image`).

The same tree, size, label, volume id and epoch always give the same bytes: nothing depends on
the source files' times, their order on disk, the folder the build runs in or the clock.
FAT reference: Microsoft "FAT32 File System Specification" (fatgen103).
"""

from packbuilder.image.fat.image import check_label, write_fat_image
from packbuilder.image.fat.tree import check_fat_tree

__all__ = ["check_fat_tree", "check_label", "write_fat_image"]
