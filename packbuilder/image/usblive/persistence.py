"""The persistence volume of a usb-live key: ext4 labelled ``persistence`` holding
``persistence.conf`` (``/ union``), which live-boot uses when the kernel command line says
``persistence``. Made by mke2fs in place; its UUID, hash seed and times follow from the volume id
and the epoch, so the same inputs give the same bytes.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from packbuilder import tools
from packbuilder.errors import AssemblyError
from packbuilder.i18n import _
from packbuilder.image.mbr import SECTOR

PERSISTENCE_CONF = b"/ union\n"


def write_persistence(image: Path, work: Path, start: int, sectors: int, volume_id: int, epoch: int) -> None:
    """ext4 labelled ``persistence`` with /persistence.conf, made in place at sector ``start`` of ``image``
    (``sectors`` long), every time and id fixed."""
    tools.require("mke2fs")
    tools.require("debugfs")
    content = work / "persistence"
    content.mkdir()
    (content / "persistence.conf").write_bytes(PERSISTENCE_CONF)
    fs_uuid = str(uuid.uuid5(uuid.NAMESPACE_OID, f"packbuilder-persistence-{volume_id:08x}"))
    hash_seed = str(uuid.uuid5(uuid.NAMESPACE_OID, f"packbuilder-hash-seed-{volume_id:08x}"))
    offset = start * SECTOR
    env = {"E2FSPROGS_FAKE_TIME": str(epoch)}  # mke2fs and debugfs read "now" from it
    options = f"offset={offset},hash_seed={hash_seed},nodiscard,root_owner=0:0"
    argv: list[str | Path] = [
        "mke2fs",
        "-q",
        "-F",
        "-t",
        "ext4",
        "-b",
        "4096",
        "-L",
        "persistence",
        "-U",
        fs_uuid,
        "-d",
        content,
        image,
        str(sectors * SECTOR // 4096),
    ]
    # The region is a hole of the new file, all zeros: e2fsprogs 1.47 can skip zeroing the inode tables
    # and the journal (a second for 1 GiB); older versions do not know the option.
    proc = tools.run([*argv[:-2], "-E", options + ",assume_storage_prezeroed=1", *argv[-2:]], env=env, check=False)
    if proc.returncode != 0:
        tools.run([*argv[:-2], "-E", options, *argv[-2:]], env=env)
    # -d copies the source file's times, and no one can set a ctime: set the four of them here.
    commands = work / "debugfs.cmd"
    commands.write_text("".join(f"sif /persistence.conf {field} @{epoch}\n" for field in ("atime", "mtime", "ctime", "crtime")))
    proc = tools.run(["debugfs", "-w", "-f", commands, f"{image}?offset={offset}"], env=env)
    if b"sif:" in proc.stderr or b"error" in proc.stderr.lower():
        raise AssemblyError(
            _("debugfs could not set the times of persistence.conf: {output}").format(output=proc.stderr.decode(errors="replace"))
        )
