"""Version strings as upstreams write them, and OS version ranges.

Upstream versions are not PEP 440: ``140.14.0esr``, ``2.10.38``, ``26.02``,
``5.4.7.2``, ``1.0rc2``. A version is split into numbers and words; numbers
compare numerically, pre-release words (alpha, beta, rc, ...) sort before the
release, other words (esr, lts) after it, and a missing part sorts between the two:
``1.0rc1 < 1.0 < 1.0esr < 1.0.1``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import total_ordering

from packbuilder.i18n import _

VERSION_RE = re.compile(r"^[0-9][0-9A-Za-z.+_~-]*$")
_TOKEN_RE = re.compile(r"\d+|[A-Za-z]+")
_PRE_RELEASE = {"dev": 0, "a": 1, "alpha": 1, "b": 2, "beta": 2, "pre": 3, "c": 3, "rc": 3}

# Sort ranks of one version part: pre-release word < end of version < other word < number.
_RANK_PRE, _RANK_END, _RANK_WORD, _RANK_NUM = 0, 1, 2, 3

VersionKey = tuple[tuple[int, int, str], ...]


def version_key(version: str) -> VersionKey:
    """Sort key of an upstream version string (see module docstring)."""
    tokens = _TOKEN_RE.findall(version)
    # The leading run of numbers is the release: trailing zeros there do not count (26.2 == 26.2.0).
    split = next((i for i, t in enumerate(tokens) if not t.isdigit()), len(tokens))
    release = [int(t) for t in tokens[:split]]
    while release and release[-1] == 0:
        release.pop()
    parts: list[tuple[int, int, str]] = [(_RANK_NUM, n, "") for n in release]
    for token in tokens[split:]:
        if token.isdigit():
            parts.append((_RANK_NUM, int(token), ""))
        else:
            word = token.lower()
            if word in _PRE_RELEASE:
                parts.append((_RANK_PRE, _PRE_RELEASE[word], word))
            else:
                parts.append((_RANK_WORD, 0, word))
    parts.append((_RANK_END, 0, ""))
    return tuple(parts)


def is_valid_version(version: str) -> bool:
    return bool(VERSION_RE.match(version))


@total_ordering
@dataclass(frozen=True)
class Version:
    text: str

    @property
    def key(self) -> VersionKey:
        return version_key(self.text)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.key < other.key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __str__(self) -> str:
        return self.text


# --- OS ranges -------------------------------------------------------------------

OS_FAMILIES = ("windows", "linux-glibc")
_SPEC_RE = re.compile(r"^(>=|<=|==|!=|>|<)\s*([0-9][0-9.]*)$")
# How each bound compares two version keys: shared by OS ranges and upstream version constraints.
COMPARATORS: dict[str, Callable[[VersionKey, VersionKey], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


@dataclass(frozen=True)
class OsRange:
    """``windows>=6.1,<10`` or ``linux-glibc>=2.28``: a family and version bounds."""

    family: str
    specs: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> OsRange:
        match = re.match(r"^\s*([a-z][a-z-]*[a-z])\s*(.*)$", text)
        if not match:
            raise ValueError(_("{text!r} is not an OS range like 'windows>=6.1' or 'linux-glibc>=2.28'").format(text=text))
        family, rest = match.group(1), match.group(2).strip()
        if family not in OS_FAMILIES:
            raise ValueError(
                _("unknown OS family {family!r}: expected one of {families}").format(
                    family=family, families=", ".join(OS_FAMILIES)
                )
            )
        specs: list[tuple[str, str]] = []
        if rest:
            for part in rest.split(","):
                spec = _SPEC_RE.match(part.strip())
                if not spec:
                    raise ValueError(
                        _("bad version bound {bound!r} in {text!r}: use e.g. '>=6.1' or '<10'").format(
                            bound=part.strip(), text=text
                        )
                    )
                specs.append((spec.group(1), spec.group(2)))
        return cls(family, tuple(specs))

    def contains(self, family: str, version: str) -> bool:
        if family != self.family:
            return False
        key = version_key(version)
        return all(COMPARATORS[op](key, version_key(bound)) for op, bound in self.specs)

    def __str__(self) -> str:
        return self.family + ",".join(op + bound for op, bound in self.specs)


# Windows marketing names and their NT versions, used in profiles and messages.
WINDOWS_VERSIONS: dict[str, str] = {
    "windows-xp": "5.1",
    "windows-vista": "6.0",
    "windows-7": "6.1",
    "windows-8": "6.2",
    "windows-8.1": "6.3",
    "windows-10": "10.0",
    "windows-11": "10.0.22000",
}


_WINDOWS_NAMES = {
    "5.1": "Windows XP",
    "5.2": "Windows XP x64",
    "6.0": "Windows Vista",
    "6.1": "Windows 7",
    "6.2": "Windows 8",
    "6.3": "Windows 8.1",
    "10.0": "Windows 10",
    "10.0.22000": "Windows 11",
}


def windows_name(nt_version: str) -> str:
    """``6.1`` -> ``Windows 7``: the newest marketing name at or below an NT version."""
    key = version_key(nt_version)
    best = f"Windows NT {nt_version}"
    for ver, name in sorted(_WINDOWS_NAMES.items(), key=lambda kv: version_key(kv[0])):
        if version_key(ver) <= key:
            best = name
    return best
