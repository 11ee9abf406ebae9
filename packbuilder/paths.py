"""Paths built from data: every one goes through ``join_within``.

Names in locks, manifests, archives, overlay folders and mirrors are data, not trusted: a name
may try to climb out of the key (``../``), to name an absolute place (``/etc``, ``C:\\``), to be a
device on Windows (``CON``, ``AUX``, ``COM1``) or to pass through a symbolic link. ``check_relpath``
refuses all of them with a sentence that says why; ``join_within`` also refuses a path whose
existing parts are links, so nothing written under ``root`` can land outside it.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

from packbuilder.i18n import _

# Device names Windows reserves in every folder, whatever the extension (``aux.txt`` too); the
# superscript digits count as digits there. https://learn.microsoft.com/windows/win32/fileio/naming-a-file
_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$", re.IGNORECASE)
# Characters FAT and NTFS refuse in a name (``/`` separates parts and is checked apart).
_FORBIDDEN = set('<>:"|?*\\')


class UnsafePath(ValueError):
    """A path from data that would leave its root or cannot exist on the key."""


def has_control(text: str) -> bool:
    """True when ``text`` holds a control character (C0, DEL or C1): line breaks included."""
    return any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text)


def is_reserved_name(name: str) -> bool:
    """A name Windows keeps for a device (``CON``, ``aux.txt``, ``COM¹``, ``CONIN$``)."""
    return bool(_RESERVED.match(name.rstrip(" .")))


def check_name(name: str) -> str:
    """One file or folder name that every OS the key meets can hold; raises UnsafePath."""
    if name in ("", ".", ".."):
        raise UnsafePath(_("{name!r} is not a file name").format(name=name))
    if has_control(name):
        raise UnsafePath(_("{name!r} holds a control character").format(name=name))
    bad = sorted(_FORBIDDEN.intersection(name))
    if bad:
        raise UnsafePath(
            _("{name!r} holds {characters}, which Windows refuses in file names").format(name=name, characters=" ".join(bad))
        )
    if name != name.rstrip(" ."):
        raise UnsafePath(_("{name!r} ends with a dot or a space, which Windows drops").format(name=name))
    if is_reserved_name(name):
        raise UnsafePath(
            _("{name!r} is a device name on Windows (CON, PRN, AUX, NUL, COM1-9, LPT1-9, CONIN$, CONOUT$)").format(name=name)
        )
    return name


def check_relpath(value: str) -> str:
    """A relative path with ``/`` separators whose every part is a safe name; raises UnsafePath."""
    if not value:
        raise UnsafePath(_("the path is empty"))
    if value.startswith("/") or re.match(r"^[A-Za-z]:", value):
        raise UnsafePath(_("{value!r} is absolute: give a path relative to its folder").format(value=value))
    if "\\" in value:
        raise UnsafePath(_("{value!r} uses '\\': separate folders with '/'").format(value=value))
    for part in value.split("/"):
        if part == "..":
            raise UnsafePath(_("{value!r} climbs out of its folder with '..'").format(value=value))
        check_name(part)
    return value


def join_within(root: Path, rel: str) -> Path:
    """``root / rel`` after checking ``rel``, refusing any existing part of it that is a link.

    The parts that exist must be real folders (the last one a folder or a regular file): a link
    or a device planted in the tree cannot redirect what is written under ``root``.
    """
    check_relpath(rel)
    path = root
    parts = rel.split("/")
    for i, part in enumerate(parts):
        path = path / part
        try:
            st = path.lstat()
        except FileNotFoundError:
            break
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePath(_("{rel!r}: {path} is a symbolic link").format(rel=rel, path=path.relative_to(root).as_posix()))
        last = i == len(parts) - 1
        if not (stat.S_ISDIR(st.st_mode) or (last and stat.S_ISREG(st.st_mode))):
            raise UnsafePath(_("{rel!r}: {path} is not a folder").format(rel=rel, path=path.relative_to(root).as_posix()))
    return root / rel
