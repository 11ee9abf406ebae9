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
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from packbuilder.fetch.hashes import ALGOS, new_hasher
from packbuilder.fsutil import copy_regular, hash_file, open_regular

_HEX = re.compile(r"[0-9a-f]{64}|[0-9a-f]{128}")


def _check_digest(algo: str, digest: str) -> None:
    """Cache paths are built from hashes that come from locks: refuse anything else (``../x``)."""
    if algo not in ALGOS or not _HEX.fullmatch(digest) or len(digest) != (64 if algo == "sha256" else 128):
        raise ValueError(f"{algo}:{digest!r} is not a hash: refusing to build a cache path from it")


def _size_of(source: Path) -> int:
    fd, size = open_regular(source)
    os.close(fd)
    return size


def default_cache_dir() -> Path:
    env = os.environ.get("PACKBUILDER_CACHE")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("packbuilder", appauthor=False))


def check_cache_dir(path: Path, what: str | None = None) -> Path:
    """A cache folder that exists (made if needed) and can be written, else a clear error.

    ``what``: how to name the folder in the error, translated (default: the cache folder)."""
    from packbuilder.errors import InputError
    from packbuilder.i18n import _

    what = what or _("the cache folder")

    if path.exists() and not path.is_dir():
        raise InputError(
            _("{what} {path} is a file, not a folder").format(what=what, path=path),
            hint=_("give a folder (--cache DIR or $PACKBUILDER_CACHE)"),
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise InputError(
            _("{what} {path} cannot be written: {reason}").format(what=what, path=path, reason=exc.strerror),
            hint=_("give a folder you can write to (--cache DIR or $PACKBUILDER_CACHE)"),
        ) from None
    return path


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
        _check_digest(algo, digest)
        return self.root / algo / digest[:2] / digest

    def partial(self, algo: str, digest: str) -> Path:
        _check_digest(algo, digest)
        return self.root / "partial" / f"{algo}-{digest}"

    def lock(self, digest: str) -> FileLock:
        if not _HEX.fullmatch(digest):
            raise ValueError(f"{digest!r} is not a hash")
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

    def checked(self, algo: str, digest: str, size: int | None = None) -> Path | None:
        """Like ``lookup``, but re-hash the file: one altered in place (same size) is moved to
        quarantine/ and reported missing, so it is fetched again rather than put on a key."""
        path = self.lookup(algo, digest, size)
        if path is None:
            return None
        actual = hash_file(path, algo)
        if actual == digest:
            return path
        with self.lock(digest):
            if path.exists():
                self.quarantine(path, algo, digest, actual)
        return None

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
                    if path.name.startswith(".") or not _HEX.fullmatch(path.name):
                        continue
                    meta_path = self.root / "meta" / f"{path.name}.json"
                    try:
                        meta = json.loads(meta_path.read_text(encoding="utf-8"))
                    except (OSError, ValueError):
                        meta = {}
                    yield Entry(algo, path.name, path, path.lstat().st_size, meta)

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
                if name in ("locks", "partial") and self._in_use(path, name):
                    continue  # a running fetch holds it: keep it
                try:
                    freed += path.stat().st_size
                    path.unlink()
                except FileNotFoundError:  # finished by a running fetch meanwhile
                    continue
                files += 1
        return files, freed

    def _in_use(self, path: Path, folder: str) -> bool:
        """Whether a running fetch holds the lock of this lock file or partial download."""
        if folder == "locks":
            lock = FileLock(str(path))
        else:
            digest = path.name.split("-", 1)[-1].split(".")[0]
            if not _HEX.fullmatch(digest):
                return False
            lock = self.lock(digest)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return True
        lock.release()
        return False

    def add_file(self, source: Path, algo: str, digest: str, meta: dict[str, Any], limit: int | None = None) -> bool:
        """Copy a regular file in (never a link, device or FIFO; at most ``limit`` bytes) if its hash
        matches ``digest`` (import); False when it does not."""
        with self.lock(digest):
            if self.lookup(algo, digest):
                return True
            tmp = self.root / "partial" / f".import-{digest}"
            tmp.parent.mkdir(parents=True, exist_ok=True)
            hasher = new_hasher(algo)
            try:
                copy_regular(source, tmp, limit if limit is not None else _size_of(source), hasher.update)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            if hasher.hexdigest() != digest:
                tmp.unlink()
                return False
            self.commit(tmp, algo, digest, meta)
            return True
