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


def feed_file(hasher: Any, path: Path, limit: int) -> int:
    """Feed the first ``limit`` bytes of a file into ``hasher`` (a partial download being resumed);
    return the number of bytes read."""
    done = 0
    with path.open("rb") as fh:
        while done < limit:
            block = fh.read(min(CHUNK, limit - done))
            if not block:
                break
            hasher.update(block)
            done += len(block)
    return done
