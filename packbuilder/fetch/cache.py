"""The content-addressed download cache.

Layout under the cache root::

    sha256/<first 2 hex>/<hash>   verified files, named by their hash (sha512/ likewise)
    meta/<hash>.json              what the file is (name, URL): for `cache list`
    partial/<algo>-<hash>         downloads under way (resumable), with a .json sidecar
    quarantine/                   files whose hash did not match, kept for inspection
    locks/<hash>.lock             one lock per hash: concurrent builds share downloads

Nothing unverified is ever at a final path: files are renamed there only after their hash matched.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from packbuilder.fetch.hashes import ALGOS, hash_file


def default_cache_dir() -> Path:
    env = os.environ.get("PACKBUILDER_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("packbuilder", appauthor=False))


@dataclass(frozen=True)
class Entry:
    algo: str
    digest: str
    path: Path
    size: int
    meta: dict[str, Any]


class Cache:
    def __init__(self, root: Path):
        self.root = root

    def path(self, algo: str, digest: str) -> Path:
        return self.root / algo / digest[:2] / digest

    def partial(self, algo: str, digest: str) -> Path:
        return self.root / "partial" / f"{algo}-{digest}"

    def lock(self, digest: str) -> FileLock:
        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        return FileLock(str(locks / f"{digest}.lock"))

    def lookup(self, algo: str, digest: str, size: int | None = None) -> Path | None:
        """The cached file if present (and of the expected size, a cheap re-check)."""
        path = self.path(algo, digest)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        if size is not None and st.st_size != size:
            return None
        return path

    def commit(self, tmp: Path, algo: str, digest: str, meta: dict[str, Any]) -> Path:
        """Move a verified file into place (atomic rename within the cache)."""
        final = self.path(algo, digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
        self.write_meta(digest, meta)
        return final

    def write_meta(self, digest: str, meta: dict[str, Any]) -> None:
        folder = self.root / "meta"
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{digest}.json.tmp"
        tmp.write_text(json.dumps(meta, sort_keys=True), encoding="utf-8")
        os.replace(tmp, folder / f"{digest}.json")

    def quarantine(self, path: Path, algo: str, expected: str, actual: str) -> Path:
        folder = self.root / "quarantine"
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / f"{algo}-{expected[:16]}-got-{actual[:16]}"
        os.replace(path, dest)
        return dest

    def entries(self) -> Iterator[Entry]:
        for algo in ALGOS:
            base = self.root / algo
            if not base.is_dir():
                continue
            for sub in sorted(base.iterdir()):
                if not sub.is_dir():
                    continue
                for path in sorted(sub.iterdir()):
                    if path.name.startswith("."):
                        continue
                    meta_path = self.root / "meta" / f"{path.name}.json"
                    try:
                        meta = json.loads(meta_path.read_text(encoding="utf-8"))
                    except (OSError, ValueError):
                        meta = {}
                    yield Entry(algo, path.name, path, path.stat().st_size, meta)

    def verify(self, entry: Entry) -> str | None:
        """Re-hash one entry; return the actual hash when it does not match its name."""
        actual = hash_file(entry.path, entry.algo)
        return None if actual == entry.digest else actual

    def gc(self) -> tuple[int, int]:
        """Remove partial downloads, quarantined files and lock files: (files, bytes) freed."""
        files = freed = 0
        for name in ("partial", "quarantine", "locks"):
            folder = self.root / name
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if name == "locks":
                    lock = FileLock(str(path))
                    try:
                        lock.acquire(timeout=0)
                    except Timeout:  # held by a running build: keep it
                        continue
                    lock.release()
                files += 1
                freed += path.stat().st_size
                path.unlink()
        return files, freed

    def add_file(self, source: Path, algo: str, digest: str, meta: dict[str, Any]) -> bool:
        """Copy a file in if its hash matches its name (import); False when it does not."""
        with self.lock(digest):
            if self.lookup(algo, digest):
                return True
            tmp = self.root / "partial" / f".import-{digest}"
            tmp.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, tmp)
            if hash_file(tmp, algo) != digest:
                tmp.unlink()
                return False
            self.commit(tmp, algo, digest, meta)
            return True
