"""The compressed copies ``publish`` puts beside a USB image, made once per image and settings.

Compressing an 8 GiB image takes minutes and gives the same bytes every time, so each copy has a
record in packbuilder's cache folder (``copies/``, by the copy's path; the published folder holds
only what is published): the image's size and sha256, the encoder and its settings,
the copy's size and sha256. A later ``publish`` keeps the copy when the image and the settings
are the same and the copy still hashes to what was recorded; anything else (a new image, another
encoder version or setting, a copy truncated, damaged or replaced by hand, a record that does not
parse) compresses again. The copy's sha256 is needed for SHA256SUMS anyway, so checking it costs no
extra pass over the file.
"""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from packbuilder.fsutil import atomic_write_bytes, hash_file

RECORDS = "copies"  # in packbuilder's cache folder: the published folder holds only what is published


@dataclass(frozen=True)
class Made:
    """How a copy was made: from which image, by which encoder with which settings."""

    source_name: str
    source_size: int
    source_sha256: str
    encoder: str
    settings: str


@functools.cache
def _xz_version() -> str:
    from packbuilder import tools

    proc = subprocess.run([tools.require("xz"), "--version"], capture_output=True, text=True, check=False, timeout=60)
    return proc.stdout.splitlines()[0].strip() if proc.returncode == 0 and proc.stdout else "xz (version unknown)"


def _zstd_version() -> str:
    import zstandard

    return f"python-zstandard {zstandard.__version__} (zstd {'.'.join(map(str, zstandard.ZSTD_VERSION))})"


def encoder(kind: str) -> tuple[str, str]:
    """(encoder and version, settings) of the ``xz`` or ``zst`` copies: a change in either gives other bytes."""
    from packbuilder.flash import compressed

    if kind == "xz":
        argv = [a for a in compressed.xz_argv()[1:] if not a.startswith("--threads=")]  # same bytes for any count >= 2
        return _xz_version(), " ".join([*argv, "--threads=2+"])
    return _zstd_version(), f"level {compressed.ZSTD_LEVEL}, checksum, content size, multithreaded"


def record_path(copy: Path) -> Path:
    """Where the record of ``copy`` is kept: the cache folder, by the copy's absolute path (a copy
    moved elsewhere has no record and is made again)."""
    import hashlib

    from packbuilder.fetch.cache import default_cache_dir

    key = hashlib.sha256(str(copy.absolute()).encode()).hexdigest()[:32]
    return default_cache_dir() / RECORDS / f"{key}.json"


def _recorded(copy: Path, made: Made, hash_copy: Callable[[Path], str]) -> str | None:
    """The copy's sha256 when its record says it was made this way and the file still hashes to it, else None."""
    try:
        record = json.loads(record_path(copy).read_text(encoding="utf-8"))
        if record["copy"] != str(copy.absolute()) or Made(**record["made"]) != made or copy.stat().st_size != record["size"]:
            return None
        expected = record["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    actual = hash_copy(copy)
    return actual if actual == expected else None


def _write_record(copy: Path, made: Made, sha256: str) -> None:
    path = record_path(copy)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc: dict[str, Any] = {"copy": str(copy.absolute()), "size": copy.stat().st_size, "sha256": sha256, "made": asdict(made)}
    atomic_write_bytes(path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())


def ensure_copy(
    image: Path,
    image_sha256: str,
    kind: str,
    compress: Callable[[Path, Path], None],
    hash_copy: Callable[[Path], str] = hash_file,
) -> tuple[Path, str, bool]:
    """``image``'s ``kind`` copy beside it, compressed only when no sound earlier one exists:
    (path, its sha256, whether it was compressed now). ``hash_copy`` hashes the copy (a kept one
    too: its record is trusted only if the file still hashes to it)."""
    copy = image.with_name(f"{image.name}.{kind}")
    name, settings = encoder(kind)
    made = Made(image.name, image.stat().st_size, image_sha256, name, settings)
    kept = _recorded(copy, made, hash_copy)
    if kept is not None:
        return copy, kept, False
    record_path(copy).unlink(missing_ok=True)  # never a record beside a copy being replaced
    compress(image, copy)
    sha256 = hash_copy(copy)
    _write_record(copy, made, sha256)
    return copy, sha256, True
