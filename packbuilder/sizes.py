"""Sizes as people write and read them: parsed the English or the French way, shown in the
language of the messages (decimal units, as keys are sold)."""

from __future__ import annotations

import re

from packbuilder.i18n import _

_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
# A number (decimal point or comma), a unit (k, M, G, T, with i for powers of 2), then bytes written the
# English or the French way: 8G, 8GB, 8 Go, 1,5Go, 7.5GiB, 7,5 Gio, 512M, 512 Mo, 1000000, 1000 octets.
_SIZE = re.compile(r"\s*([0-9]+(?:[.,][0-9]+)?)\s*([kmgt]i?)?(?:b|o|bytes?|octets?)?\s*")


def parse_size(text: str) -> int:
    """``8G`` / ``8GB`` / ``8 Go`` = 8×10⁹ bytes (as keys are sold), ``8GiB`` / ``8Gio`` = 8×2³⁰,
    ``1,5Go`` = 1.5×10⁹, ``512M``, ``1000000``."""
    match = _SIZE.fullmatch(text.lower())
    if not match:
        raise ValueError(_("{text!r} is not a size: write e.g. 8G, 16GB, 7.5GiB or 512M").format(text=text))
    number, unit = float(match.group(1).replace(",", ".")), match.group(2) or ""
    value = int(number * _UNITS[unit])
    if value <= 0:
        raise ValueError(_("{text!r}: a size must be positive").format(text=text))
    return value


def decimal(value: float, digits: int = 1, lang: str | None = None) -> str:
    """``value`` with ``digits`` decimals, a decimal comma in French: 1.5 -> "1,5"."""
    from packbuilder.i18n import current_language

    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if (lang or current_language()) == "fr" else text


def format_size(size: int, lang: str | None = None) -> str:
    """Decimal units, the way keys are sold: 7 600 000 000 bytes -> "7,6 Go" (French) / "7.6 GB";
    ``lang`` None: the language of the messages."""
    from packbuilder.i18n import current_language

    lang = lang or current_language()
    units = ("octets", "ko", "Mo", "Go", "To") if lang == "fr" else ("bytes", "kB", "MB", "GB", "TB")
    value, unit = float(size), 0
    while value >= 1000 and unit < len(units) - 1:
        value, unit = value / 1000, unit + 1
    text = decimal(value, 0 if unit == 0 or value >= 100 else 1, lang).removesuffix(".0").removesuffix(",0")
    return f"{text}\u00a0{units[unit]}"
