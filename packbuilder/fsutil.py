"""Small file-system helpers: atomic writes, sizes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_texts(root: Path, texts: dict[str, str]) -> list[Path]:
    """Write UTF-8 texts at paths relative to ``root``, in sorted order; return the files written."""
    written = []
    for rel in sorted(texts):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(texts[rel].encode("utf-8"))
        written.append(path)
    return written


def tree_size(path: Path) -> int:
    """Bytes of the regular files under ``path`` (0 if it does not exist)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = Path(root, name)
            if not full.is_symlink():
                total += full.stat().st_size
    return total


_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


def parse_size(text: str) -> int:
    """``8G`` / ``8GB`` = 8×10⁹ bytes (as keys are sold), ``8GiB`` = 8×2³⁰, ``512M``, ``1000000``."""
    import re

    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]i?)?b?\s*", text.lower())
    if not match:
        raise ValueError(f"{text!r} is not a size: write e.g. 8G, 16GB, 7.5GiB or 512M")
    number, unit = float(match.group(1)), match.group(2) or ""
    value = int(number * _UNITS[unit])
    if value <= 0:
        raise ValueError(f"{text!r}: a size must be positive")
    return value
