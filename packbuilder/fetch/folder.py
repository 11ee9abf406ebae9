"""A folder of downloads used as a mirror: files are found by their hash, whatever their names.

A USB stick of files downloaded by hand (``vlc-3.0.23-win32.7z``), an exported cache
(``sha256/xx/<hash>``), or both. The folder is walked once (names, sizes, dates: no data read);
only files whose size matches a wanted artifact are hashed, and those hashes are remembered in
the cache (``mirrors/<folder id>.json``, keyed by path, size and modification time), so the
next run over the same folder reads nothing again. What is found is still copied with its hash
checked (``copy_regular``): the index only says where to look.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from packbuilder.fetch.hashes import CHUNK, new_hasher
from packbuilder.fsutil import atomic_write_bytes, open_regular

INDEX_VERSION = 1
# Folders of a packbuilder cache that hold nothing verified: never offered.
_CACHE_INTERNALS = {"partial", "quarantine", "locks", "meta", "mirrors"}
_NAMED = re.compile(r"(sha256)/[0-9a-f]{2}/([0-9a-f]{64})|(sha512)/[0-9a-f]{2}/([0-9a-f]{128})")


@dataclass(frozen=True)
class Wanted:
    """A file looked for: its hash, and its exact size or the range an estimate allows."""

    algo: str
    digest: str
    size: int | None = None
    size_approx: int | None = None

    def fits(self, size: int) -> bool:
        if self.size is not None:
            return size == self.size
        if self.size_approx is not None:
            return self.size_approx // 2 <= size <= self.size_approx * 2 + 16 * 2**20
        return False  # no size at all: every file would be a candidate


@dataclass(frozen=True)
class FileInfo:
    rel: str  # path inside the folder, with /
    size: int
    mtime_ns: int
    regular: bool


@dataclass
class FolderMirror:
    root: Path
    memo_dir: Path | None = None
    _files: list[FileInfo] | None = None
    _found: dict[str, Path] = field(default_factory=dict)  # digest -> file
    _hashes: dict[str, dict[str, str]] = field(default_factory=dict)  # rel -> {algo: hex}, this run
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _locate_lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)  # set on Ctrl-C: hashing stops at its next block

    # -- the walk -----------------------------------------------------------------------------

    def files(self) -> list[FileInfo]:
        """Every file under the folder (links and devices listed, never followed or read)."""
        if self._files is None:
            self._files = list(self._walk())
        return self._files

    def _walk(self) -> Iterable[FileInfo]:
        for top, dirs, names in os.walk(self.root, followlinks=False):
            rel_top = os.path.relpath(top, self.root)
            at_root = rel_top == "."
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (at_root and d in _CACHE_INTERNALS))
            for name in sorted(names):
                if name.startswith("."):
                    continue
                rel = name if at_root else f"{rel_top}/{name}".replace(os.sep, "/")
                try:
                    st = os.lstat(os.path.join(top, name))
                except OSError:
                    continue
                yield FileInfo(rel, st.st_size, st.st_mtime_ns, stat.S_ISREG(st.st_mode))

    @staticmethod
    def named(info: FileInfo) -> tuple[str, str] | None:
        """(algo, digest) of a file stored in the cache layout (``sha256/xx/<hash>``)."""
        match = _NAMED.fullmatch(info.rel)
        if match is None:
            return None
        algo, digest = (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))
        return algo, digest

    # -- finding files by hash ----------------------------------------------------------------

    def locate(self, wanted: Iterable[Wanted], jobs: int = 4) -> dict[str, Path]:
        """Find the wanted files: digest -> path. Hashes only the files whose size fits one of
        them, and only once per file for as long as it keeps its size and date."""
        with self._locate_lock:
            return self._locate(wanted, jobs)

    def _locate(self, wanted: Iterable[Wanted], jobs: int) -> dict[str, Path]:
        wanted = [w for w in wanted if w.digest not in self._found]
        if not wanted:
            return dict(self._found)
        memo = self._load_memo()
        todo: list[tuple[FileInfo, set[str]]] = []
        for info in self.files():
            if not info.regular or self.named(info) is not None:
                continue
            algos = {w.algo for w in wanted if w.fits(info.size)}
            if not algos:
                continue
            known = memo.get(info.rel)
            if known and known.get("size") == info.size and known.get("mtime_ns") == info.mtime_ns:
                have = {a: h for a, h in known.items() if a in ("sha256", "sha512") and isinstance(h, str)}
                if algos <= have.keys():
                    self._hashes[info.rel] = have
                    continue
            todo.append((info, algos))
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        try:
            for (info, _), digests in zip(todo, pool.map(self._hash, todo), strict=True):
                if digests:
                    self._hashes[info.rel] = digests
        except BaseException:
            self.stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if todo:
            self._save_memo()
        by_digest = {h: rel for rel, hashes in self._hashes.items() for h in hashes.values()}
        for w in wanted:
            rel = by_digest.get(w.digest)
            if rel is not None:
                self._found[w.digest] = self.root / rel
        for info in self.files():
            pair = self.named(info)
            if pair is not None and pair[1] in {w.digest for w in wanted}:
                self._found[pair[1]] = self.root / info.rel
        return dict(self._found)

    def find(self, digest: str) -> Path | None:
        return self._found.get(digest)

    def hashes(self) -> dict[str, dict[str, str]]:
        """The hashes known for files of the folder (after ``locate``)."""
        return dict(self._hashes)

    def _hash(self, job: tuple[FileInfo, set[str]]) -> dict[str, str]:
        info, algos = job
        try:
            fd, _size = open_regular(self.root / info.rel)
        except OSError:
            return {}
        hashers = {algo: new_hasher(algo) for algo in sorted(algos)}
        with os.fdopen(fd, "rb") as fh:
            while block := fh.read(CHUNK):
                if self.stop.is_set():
                    return {}
                for hasher in hashers.values():
                    hasher.update(block)
        return {algo: hasher.hexdigest() for algo, hasher in hashers.items()}

    # -- the remembered index -----------------------------------------------------------------

    def _memo_path(self) -> Path | None:
        if self.memo_dir is None:
            return None
        key = hashlib.sha256(str(self.root.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:24]
        return self.memo_dir / f"{key}.json"

    def _load_memo(self) -> dict[str, dict[str, object]]:
        path = self._memo_path()
        if path is None:
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != INDEX_VERSION or data.get("root") != str(self.root.resolve()):
            return {}
        files = data.get("files")
        return {k: v for k, v in files.items() if isinstance(v, dict)} if isinstance(files, dict) else {}

    def _save_memo(self) -> None:
        path = self._memo_path()
        if path is None:
            return
        sizes = {info.rel: info for info in self.files()}
        with self._lock:
            files = dict(self._load_memo())
            for rel, hashes in self._hashes.items():
                info = sizes.get(rel)
                if info is not None:
                    files[rel] = {"size": info.size, "mtime_ns": info.mtime_ns, **hashes}
            files = {rel: entry for rel, entry in files.items() if rel in sizes}  # forget files gone
            document = {"version": INDEX_VERSION, "root": str(self.root.resolve()), "files": files}
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_bytes(path, json.dumps(document, sort_keys=True).encode("utf-8"))
            except OSError:
                pass  # only an index: the next run hashes again
