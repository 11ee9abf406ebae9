"""Why a release does not run on a PC, as data (a code and a value, which locks keep) and as a
sentence in French or English (for plan, the key's menu and the download site).

Codes: ``platform`` (value: the PC's platform, the release has no build for it), ``arch`` (the
arch the build needs), ``os`` (the OS range it needs, ``windows>=6.1``), ``cpu`` (the CPU
features it needs, ``SSE2,PAE``), ``ram`` (the MiB of memory it needs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

CODES = ("platform", "arch", "os", "cpu", "ram")
VersionMisfit = tuple[str, str, str]  # (version, code, value)

_ARCH_WORDS = {
    "fr": {"x86_64": "un PC 64 bits (x86_64)", "x86": "un PC 32 bits (x86)", "arm64": "un PC ARM 64 bits"},
    "en": {"x86_64": "x86_64", "x86": "x86", "arm64": "arm64"},
}
_PLATFORM_WORDS = {"fr": {"windows": "Windows", "linux": "Linux"}, "en": {"windows": "Windows", "linux": "Linux"}}


def describe_os_range(text: str, lang: str = "en") -> str:
    """``windows>=6.1`` -> ``Windows 7 or later`` / ``Windows 7 ou plus récent``."""
    from packbuilder.versions import OsRange, windows_name

    rng = OsRange.parse(text)

    def name(version: str) -> str:
        return windows_name(version) if rng.family == "windows" else f"glibc {version}"

    words = {
        "fr": {">=": "{v} ou plus récent", ">": "plus récent que {v}", "<": "antérieur à {v}", "<=": "{v} au plus"},
        "en": {">=": "{v} or later", ">": "later than {v}", "<": "before {v}", "<=": "{v} at most"},
    }[lang]
    parts = [words[op].format(v=name(bound)) if op in words else f"{op} {name(bound)}" for op, bound in rng.specs]
    return (" et " if lang == "fr" else " and ").join(parts) or name("")


def phrase(code: str, value: str, lang: str = "en", plural: bool = False) -> str:
    """One reason as a verb phrase: ``needs x86_64``, ``demandent Windows 7 ou plus récent``."""
    if code == "platform":
        what = _PLATFORM_WORDS[lang].get(value, value)
        if lang == "fr":
            return f"n’existe{'nt' if plural else ''} pas pour {what}"
        return f"{'have' if plural else 'has'} no {what} build"
    verb = ("demandent" if plural else "demande") if lang == "fr" else ("need" if plural else "needs")
    return f"{verb} {_needed(code, value, lang)}"


def _needed(code: str, value: str, lang: str) -> str:
    if code == "arch":
        return _ARCH_WORDS[lang].get(value, value)
    if code == "os":
        return describe_os_range(value, lang)
    flags = value.replace(",", ", ")
    if code == "cpu":
        return f"un processeur avec {flags}" if lang == "fr" else f"a CPU with {flags}"
    return f"{value} Mio de mémoire" if lang == "fr" else f"{value} MiB of memory"


def explain(misfits: Sequence[VersionMisfit], lang: str = "en") -> str:
    """``3.0 needs x86_64; 2.1 and 2.0 need Windows 7 or later`` (versions newest first, as given);
    the same in French: ``3.0 demande un PC 64 bits (x86_64) ; 2.1 et 2.0 demandent …``."""
    if misfits and all(code == "platform" and (code, value) == misfits[0][1:] for _, code, value in misfits):
        what = _PLATFORM_WORDS[lang].get(misfits[0][2], misfits[0][2])
        return f"pas de version pour {what}" if lang == "fr" else f"no {what} build"
    groups: list[tuple[list[str], str, str]] = []
    for version, code, value in misfits:
        if groups and groups[-1][1:] == (code, value):
            groups[-1][0].append(version)
        else:
            groups.append(([version], code, value))
    parts = []
    for versions, code, value in groups:
        if len(versions) == 1:
            parts.append(f"{versions[0]} {phrase(code, value, lang)}")
        else:
            joined = f"{', '.join(versions[:-1])} {'et' if lang == 'fr' else 'and'} {versions[-1]}"
            parts.append(f"{joined} {phrase(code, value, lang, plural=True)}")
    return (" ; " if lang == "fr" else "; ").join(parts)
