"""The xorriso engine: a modifying remaster of the base with its boot equipment replayed.

``xorriso -indev BASE -outdev OUT -boot_image any replay`` reads the base's El Torito catalog,
system area (MBR, GPT, APM, boot code) and appended partitions, and writes them again for the new
image, pointing each at where its boot image now lies. The overlay's commands are written to a file
read with ``-options_from_file`` (names quoted: any byte but NUL survives): one ``-map`` for the
staged key as a whole when the plan adds exactly its content (as a build does), else one ``-map``
per file, so thousands of files need no huge argument list.

Reproducible: ``SOURCE_DATE_EPOCH`` in xorriso's environment fixes its "now" (``-iso_nowtime``) and
the dates of every file record (``-volume_date all_file_dates set_to_mtime``); every added file and
directory gets the plan's epoch as its dates and root as its owner, so neither the builder's clock,
umask nor user id reaches the output. They are set by walks over the copied tree (``-chown_r``, ...)
only where ``-map`` did not copy them right already (see ``unsettled``). The volume's dates (GRUB's
``--fs-uuid`` of the ISO) are the base's, so a grub-mkrescue image still finds itself.

``-uid 0 -gid 0`` would replace the owner walks but applies to the base's files too (all owned by
root in the distributions' images, yet not necessarily): the walks are kept, ~0.03 s per 3,000 files.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packbuilder import tools
from packbuilder.errors import AssemblyError
from packbuilder.fsutil import on_disk_as_written, staged_output
from packbuilder.i18n import _
from packbuilder.image.overlay import OverlayPlan, has_joliet, scan_tree, volume_uuid
from packbuilder.ui import NO_METER, Meter


def quote(word: str) -> str:
    """A word for xorriso's quoted input: double quotes, single quotes around a double quote."""
    if "\n" in word or "\0" in word:
        raise AssemblyError(_("{word!r}: a file name with a line break or NUL cannot go into the ISO").format(word=word))
    return "".join(f"'{part}'" if part == '"' else f'"{part}"' for part in _split_quotes(word)) or '""'


def _split_quotes(word: str) -> Iterable[str]:
    part = ""
    for ch in word:
        if ch == '"':
            if part:
                yield part
            part = ""
            yield '"'
        else:
            part += ch
    if part:
        yield part


@dataclass(frozen=True)
class WholeFolder:
    """A local folder that is exactly what the plan puts under a new ISO folder: its scan."""

    folder: Path
    dirs: list[str]  # relative POSIX paths
    files: list[str]


def _scan_whole(plan: OverlayPlan, top: str) -> WholeFolder | None:
    prefix = top + "/"
    files = [(iso_path[len(prefix) :], src) for iso_path, src in plan.files if iso_path.startswith(prefix)]
    if not files:
        return None
    rel, src = files[0]
    folder = src
    for _part in PurePosixPath(rel).parts:
        folder = folder.parent
    # Compared as strings: a Path per file would cost more than the scan itself.
    root = str(folder) + "/"
    if any(str(s) != root + r for r, s in files):
        return None
    found_dirs, found_files, others = scan_tree(folder)
    if others or len(found_files) != len(files) or set(found_files) != {r for r, _src in files}:
        return None
    if set(found_dirs) != {d[len(prefix) :] for d in plan.dirs if d.startswith(prefix)}:
        return None
    return WholeFolder(folder, found_dirs, found_files)


def whole_folder(plan: OverlayPlan, top: str) -> Path | None:
    """The local folder whose whole content is what the plan puts under the new ISO folder ``top``
    (the staged key under ``/PACK``), so that one ``-map`` adds it all; None when anything differs
    (a file from elsewhere, a file or folder of that folder left out, a link)."""
    found = _scan_whole(plan, top)
    return None if found is None else found.folder


def unsettled(whole: WholeFolder, epoch: int) -> tuple[set[str], list[str]]:
    """What xorriso must still set on the copy of a whole folder ("owner", "mode", "date": each one
    walk over the copied tree), and its executable files (relative paths).

    ``-map`` copies each file's owner, mode and modification time, and with ``SOURCE_DATE_EPOCH``
    xorriso sets the other dates to that one. A staged key has every time at the epoch already
    (``stage.normalise_times``) and, under the usual umask, modes 0644/0755: the walks that would
    change nothing are left out (one ``lstat`` per file costs less than a walk).
    """
    todo: set[str] = set()
    executables = []
    root = str(whole.folder) + "/"
    entries = [(root, True)] + [(root + d, True) for d in whole.dirs] + [(root + f, False) for f in whole.files]
    for path, is_dir in entries:
        st = os.lstat(path)
        mode = stat.S_IMODE(st.st_mode)
        if not is_dir and mode & 0o100:
            executables.append(path[len(root) :])
        if mode != (0o755 if is_dir or mode & 0o100 else 0o644):
            todo.add("mode")
        if st.st_uid or st.st_gid:
            todo.add("owner")
        if st.st_mtime_ns != epoch * 10**9:
            todo.add("date")
    return todo, executables


def command_lines(plan: OverlayPlan, work: Path, joliet: bool) -> list[str]:
    """xorriso commands (after -indev/-outdev/replay) for the plan; replaced contents go into ``work``."""
    epoch = f"={plan.epoch}"
    lines = ["-iso_rr_pattern off", "-disk_pattern off"]
    if joliet:  # xorriso writes a Joliet tree only when asked; Windows reads DVDs through it
        lines += ["-joliet on", "-compliance joliet_long_names"]
    uuid = volume_uuid(plan.base)
    if uuid is not None:
        lines.append(f"-volume_date uuid {uuid}")
    lines.append(f"-iso_nowtime {epoch}")
    new_dirs = set(plan.dirs)
    tops = [d for d in plan.dirs if str(PurePosixPath(d).parent) not in new_dirs]
    whole = {top: found for top in tops if (found := _scan_whole(plan, top)) is not None}
    inside_whole = tuple(top + "/" for top in whole)
    for directory in plan.dirs:
        if directory not in whole and not directory.startswith(inside_whole):
            lines.append(f"-mkdir {quote(directory)}")
    for top, found in whole.items():  # one command for a whole staged folder: much faster than one per file
        lines.append(f"-map {quote(str(found.folder))} {quote(top)}")
    for iso_path, src in plan.files:
        if not iso_path.startswith(inside_whole):
            lines.append(f"-map {quote(str(src))} {quote(iso_path)}")
    for n, (iso_path, data) in enumerate(plan.replace):
        content = work / f"replace-{n}"
        content.write_bytes(data)
        lines.append(f"-map {quote(str(content))} {quote(iso_path)}")
    return lines + _settle_lines(plan, tops, whole)


def _settle_lines(plan: OverlayPlan, tops: list[str], whole: dict[str, WholeFolder]) -> list[str]:
    """Owners, dates and modes: recursively on each new top folder (one command, not one per file;
    none when ``-map`` copied them right already), then one by one for what lies outside them (root
    pages, the live layer, replaced files)."""
    epoch = f"={plan.epoch}"
    lines: list[str] = []
    executables: list[str] = []
    for top in tops:
        q = quote(top)
        if top in whole:
            todo, found = unsettled(whole[top], plan.epoch)
            found_exec = [f"{top}/{rel}" for rel in found]
        else:
            todo = {"owner", "mode", "date"}
            found_exec = [p for p, src in plan.files if p.startswith(top + "/") and os.stat(src).st_mode & 0o100]
        if "owner" in todo:
            lines += [f"-chown_r 0 {q} --", f"-chgrp_r 0 {q} --"]
        if "date" in todo:
            lines.append(f"-alter_date_r b {epoch} {q} --")
        if "mode" in todo:
            lines += [f"-find {q} -type f -exec chmod 0644 --", f"-find {q} -type d -exec chmod 0755 --"]
            executables += found_exec
    inside = tuple(top + "/" for top in tops)
    loose = [(p, src) for p, src in plan.files if not p.startswith(inside)]
    for path in [p for p, _src in loose] + [p for p, _data in plan.replace]:
        q = quote(path)
        lines += [f"-chmod 0644 {q} --", f"-chown 0 {q} --", f"-chgrp 0 {q} --", f"-alter_date b {epoch} {q} --"]
    executables += [p for p, src in loose if os.stat(src).st_mode & 0o100]
    lines += [f"-chmod 0755 {quote(path)} --" for path in sorted(executables, key=lambda p: p.encode())]
    return lines


def write_overlay_xorriso(plan: OverlayPlan, out: Path, meter: Meter = NO_METER) -> None:
    """Write the overlaid ISO to ``out``: built in a temporary file beside it, renamed on success."""
    out = out.absolute()
    with tempfile.TemporaryDirectory(prefix=".xorriso-", dir=out.parent) as work_dir, staged_output(out) as tmp:
        work = Path(work_dir)
        commands = work / "commands"
        commands.write_text("\n".join(command_lines(plan, work, has_joliet(plan.base))) + "\n", encoding="utf-8")
        argv: list[str | Path] = [
            "xorriso", "-no_rc", "-abort_on", "FAILURE", "-return_with", "SORRY", "32",
            # No fsync of xorriso's own (by default one every 16 MiB): on_disk_as_written sends the
            # pages to the disk as they come and syncs the file once xorriso is done.
            "-indev", plan.base, "-outdev", tmp, "-stdio_sync", "off", "-boot_image", "any", "replay",
            "-options_from_file", commands, "-commit", "-end",
        ]  # fmt: skip
        with on_disk_as_written(tmp, meter):  # xorriso writes the new image from start to end
            tools.run(argv, env={"SOURCE_DATE_EPOCH": str(plan.epoch)})
