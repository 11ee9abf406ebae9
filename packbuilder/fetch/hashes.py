"""Strong hashes only, computed over raw bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

ALGOS = ("sha256", "sha512")
CHUNK = 1 << 20


def new_hasher(algo: str) -> Any:
    if algo not in ALGOS:
        raise ValueError(f"unsupported hash {algo!r}")
    return hashlib.new(algo)


def hash_file(path: Path, algo: str = "sha256", limit: int | None = None) -> str:
    """Hex digest of a file (or of its first ``limit`` bytes)."""
    hasher = new_hasher(algo)
    feed_file(hasher, path, limit)
    return str(hasher.hexdigest())


def feed_file(hasher: Any, path: Path, limit: int | None = None) -> int:
    """Feed a file into ``hasher``; return the number of bytes read."""
    done = 0
    with path.open("rb") as fh:
        while limit is None or done < limit:
            want = CHUNK if limit is None else min(CHUNK, limit - done)
            block = fh.read(want)
            if not block:
                break
            hasher.update(block)
            done += len(block)
    return done
