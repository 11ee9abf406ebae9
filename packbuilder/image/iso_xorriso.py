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
umask nor user id reaches the output. The volume's dates (GRUB's ``--fs-uuid`` of the ISO) are the
base's, so a grub-mkrescue image still finds itself.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from packbuilder import tools
from packbuilder.errors import AssemblyError
from packbuilder.fsutil import staged_output
from packbuilder.image.overlay import OverlayPlan, has_joliet, scan_tree, volume_uuid


def quote(word: str) -> str:
    """A word for xorriso's quoted input: double quotes, single quotes around a double quote."""
    if "\n" in word or "\0" in word:
        raise AssemblyError(f"{word!r}: a file name with a line break or NUL cannot go into the ISO")
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


def whole_folder(plan: OverlayPlan, top: str) -> Path | None:
    """The local folder whose whole content is what the plan puts under the new ISO folder ``top``
    (the staged key under ``/PACK``), so that one ``-map`` adds it all; None when anything differs
    (a file from elsewhere, a file or folder of that folder left out, a link)."""
    prefix = top + "/"
    files = [(iso_path[len(prefix) :], src) for iso_path, src in plan.files if iso_path.startswith(prefix)]
    if not files:
        return None
    rel, src = files[0]
    folder = src
    for _ in PurePosixPath(rel).parts:
        folder = folder.parent
    # Compared as strings: a Path per file would cost more than the scan itself.
    root = str(folder) + "/"
    if any(str(s) != root + r for r, s in files):
        return None
    found_dirs, found_files, others = scan_tree(folder)
    if others or len(found_files) != len(files) or set(found_files) != {r for r, _ in files}:
        return None
    return folder if set(found_dirs) == {d[len(prefix) :] for d in plan.dirs if d.startswith(prefix)} else None


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
    whole = {top: folder for top in tops if (folder := whole_folder(plan, top)) is not None}
    inside_whole = tuple(top + "/" for top in whole)
    for directory in plan.dirs:
        if directory not in whole and not directory.startswith(inside_whole):
            lines.append(f"-mkdir {quote(directory)}")
    for top, folder in whole.items():  # one command for a whole staged folder: much faster than one per file
        lines.append(f"-map {quote(str(folder))} {quote(top)}")
    executables: list[str] = []
    for iso_path, src in plan.files:
        if not iso_path.startswith(inside_whole):
            lines.append(f"-map {quote(str(src))} {quote(iso_path)}")
        if os.stat(src).st_mode & 0o100:
            executables.append(iso_path)
    for n, (iso_path, data) in enumerate(plan.replace):
        content = work / f"replace-{n}"
        content.write_bytes(data)
        lines.append(f"-map {quote(str(content))} {quote(iso_path)}")
    # Owners, dates and modes: recursively on each new top folder (one command, not one per file),
    # then one by one for what lies outside them (root pages, the live layer, replaced files).
    for top in tops:
        q = quote(top)
        lines += [f"-chown_r 0 {q} --", f"-chgrp_r 0 {q} --", f"-alter_date_r b {epoch} {q} --"]
        lines += [f"-find {q} -type f -exec chmod 0644 --", f"-find {q} -type d -exec chmod 0755 --"]
    inside = tuple(top + "/" for top in tops)
    loose = [p for p, _ in plan.files if not p.startswith(inside)] + [p for p, _ in plan.replace]
    for path in loose:
        q = quote(path)
        lines += [f"-chmod 0644 {q} --", f"-chown 0 {q} --", f"-chgrp 0 {q} --", f"-alter_date b {epoch} {q} --"]
    lines += [f"-chmod 0755 {quote(path)} --" for path in executables]
    return lines


def write_overlay_xorriso(plan: OverlayPlan, out: Path) -> None:
    """Write the overlaid ISO to ``out``: built in a temporary file beside it, renamed on success."""
    out = out.absolute()
    with tempfile.TemporaryDirectory(prefix=".xorriso-", dir=out.parent) as work_dir, staged_output(out) as tmp:
        work = Path(work_dir)
        commands = work / "commands"
        commands.write_text("\n".join(command_lines(plan, work, has_joliet(plan.base))) + "\n", encoding="utf-8")
        argv: list[str | Path] = [
            "xorriso", "-no_rc", "-abort_on", "FAILURE", "-return_with", "SORRY", "32",
            "-indev", plan.base, "-outdev", tmp, "-boot_image", "any", "replay",
            "-options_from_file", commands, "-commit", "-end",
        ]  # fmt: skip
        tools.run(argv, env={"SOURCE_DATE_EPOCH": str(plan.epoch)})
