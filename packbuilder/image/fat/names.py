"""FAT names: what a FAT32 name may be, long (UTF-16) names and their 8.3 short names.

Every name that is not plain upper-case 8.3 ASCII gets a long name, and short names are ASCII
only, as Windows writes them for non-OEM characters: a PC reading the short names with another
code page (Linux mounts with 437 by default) would otherwise show other letters.
FAT reference: Microsoft "FAT32 File System Specification" (fatgen103), "FAT Long Directory Entries".
"""

from __future__ import annotations

import re

from packbuilder.i18n import _

MAX_NAME_UNITS = 255  # UTF-16 code units in a long name
LFN_UNITS_BYTES = 26  # 13 UTF-16 units per long-name entry
ILLEGAL_CHARS = set('\\/:*?"<>|')
RESERVED_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
SHORT_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'()-@^_`{}~")
LABEL_RE = re.compile(r"[A-Z0-9!#$%&'()@^_`{}~-][A-Z0-9 !#$%&'()@^_`{}~-]{0,10}")


def case_key(name: str) -> str:
    """The key FAT compares names by: upper-cased character by character (Windows' up-case table),
    so "ß" stays "ß" rather than becoming "SS" as str.upper() would."""
    if name.isascii():
        return name.upper()
    return "".join(c if len(c.upper()) != 1 else c.upper() for c in name)


def name_problems(name: str) -> list[str]:
    """What stops ``name`` going on FAT32 as it is, each with what to do; empty when it can."""
    problems = []
    bad = sorted({c for c in name if c in ILLEGAL_CHARS or ord(c) < 0x20})
    if bad:
        shown = " ".join(repr(c) if c in ILLEGAL_CHARS else f"U+{ord(c):04X}" for c in bad)
        problems.append(_("contains {characters}, not allowed in FAT32 names: rename it").format(characters=shown))
    if name.endswith((".", " ")):
        problems.append(_("ends with a dot or a space, which Windows drops: rename it"))
    if name.split(".", 1)[0].rstrip(" ").upper() in RESERVED_NAMES:
        problems.append(_("is a reserved DOS device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9): rename it"))
    try:
        units = len(name.encode("utf-16-le")) // 2
    except UnicodeEncodeError:
        problems.append(_("is not valid UTF-8: rename it"))
    else:
        if units > MAX_NAME_UNITS:
            problems.append(
                _("is {units} UTF-16 units long, FAT32 allows {limit}: shorten it").format(units=units, limit=MAX_NAME_UNITS)
            )
    return problems


def exact_short(name: str) -> tuple[str, str] | None:
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


def short_names(names: list[str]) -> list[tuple[bytes, bool]]:
    """For the names of one folder: each one's 11-byte 8.3 name and whether a long name precedes it.
    Exact 8.3 names are given first, so a generated ``~n`` name never takes one."""
    used: set[tuple[str, str]] = set()
    out: list[tuple[bytes, bool]] = [(b"", False)] * len(names)
    lossy = []
    for i, name in enumerate(names):
        exact = exact_short(name)
        if exact is None:
            lossy.append(i)
        else:
            used.add(exact)
            out[i] = ((exact[0].ljust(8) + exact[1].ljust(3)).encode("ascii"), name != name.upper())
    for i in lossy:
        base, ext = _short_basis(names[i])
        n = 1
        while (base[: 8 - len(f"~{n}")] + f"~{n}", ext) in used:
            n += 1
        short = (base[: 8 - len(f"~{n}")] + f"~{n}", ext)
        used.add(short)
        out[i] = ((short[0].ljust(8) + short[1].ljust(3)).encode("ascii"), True)
    return out


def lfn_count(name: str) -> int:
    """Long-name entries before a name's 8.3 entry (0 for a name that is its own 8.3 name)."""
    if name.isascii() and name == name.upper() and exact_short(name) is not None:
        return 0
    return -(-len(name.encode("utf-16-le", "surrogatepass")) // LFN_UNITS_BYTES)


def folder_entries(names: list[str], root: bool) -> int:
    """32-byte entries of a folder holding ``names``: '.' and '..' (the label in the root), then each
    child's long name and 8.3 entry."""
    return (1 if root else 2) + sum(1 + lfn_count(n) for n in names)
