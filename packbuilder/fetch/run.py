"""Fetch everything a lock needs, with progress on a terminal and one summary of failures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from packbuilder.errors import NetworkError, VerificationError
from packbuilder.fetch.cache import Cache
from packbuilder.fetch.download import Downloader, FetchItem, FetchResult, Progress, SignatureCheck

if TYPE_CHECKING:
    from packbuilder.model.app import Artifact
    from packbuilder.model.base import Base
    from packbuilder.model.lock import Lock, LockedArtifact
    from packbuilder.ui import Output


def fetch_item(art: Artifact | LockedArtifact, name: str, keys_dir: Path | None = None) -> FetchItem:
    """What the downloader needs to fetch and check one artifact (from a manifest or a lock)."""
    algo, digest = art.digest
    signature = None
    if art.signature is not None:
        key_file = (keys_dir or Path("keys")) / art.signature.key
        signature = SignatureCheck(art.signature.url, art.signature.key_fingerprint, key_file, art.signature.required)
    return FetchItem(
        name=name,
        urls=(art.url, *art.mirrors),
        algo=algo,
        digest=digest,
        size=art.size,
        size_approx=art.size_approx,
        insecure=art.insecure,
        signature=signature,
    )


def item_for(art: LockedArtifact, keys_dir: Path | None = None) -> FetchItem:
    return fetch_item(art, f"{art.app} {art.version} ({art.platform.value}/{art.arch.value})", keys_dir)


class RichProgress(Progress):
    """One bar per file plus a total; only used on a terminal."""

    def __init__(self, total_bytes: int):
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as Bars

        self.bars = Bars(
            TextColumn("{task.description}", justify="left"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self.total = self.bars.add_task("[bold]total", total=total_bytes or None)

    def __enter__(self) -> RichProgress:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def start(self, item: FetchItem, total: int | None) -> Any:
        return self.bars.add_task(item.name, total=total)

    def advance(self, task: Any, nbytes: int) -> None:
        self.bars.advance(task, nbytes)
        self.bars.advance(self.total, nbytes)

    def reset(self, task: Any, done: int) -> None:
        self.bars.update(task, completed=done)
        self.bars.advance(self.total, done)

    def finish(self, task: Any) -> None:
        self.bars.remove_task(task)


def fetch_lock(
    lock: Lock,
    cache_dir: Path,
    output: Output,
    jobs: int = 4,
    mirrors: tuple[str, ...] = (),
    offline: bool = False,
    keys_dir: Path | None = None,
    rehash: bool = False,
) -> FetchResult:
    """Fetch every artifact of ``lock``; raise with every failure listed if any failed.

    ``rehash``: hash cached files again (for a build: what goes on a key is checked, not trusted)."""
    items = [item_for(art, keys_dir) for art in lock.items]
    cache = Cache(cache_dir)
    if output.progress_enabled and not offline:
        with RichProgress(sum(art.download_size for art in lock.items)) as progress:
            result = Downloader(cache, mirrors, offline, progress=progress, rehash_hits=rehash).fetch_all(items, jobs)
    else:
        result = Downloader(cache, mirrors, offline, rehash_hits=rehash).fetch_all(items, jobs)
    if result.failures:
        details = []
        for failure in result.failures:
            details.append(f"{failure.item.name}:")
            details.extend(f"  {error}" for error in failure.errors)
        ok = len(result.paths)
        summary = f"{len(result.failures)} of {len(items)} artifact(s) could not be fetched ({ok} ready in the cache)"
        if offline:
            raise NetworkError(
                f"offline: {len(result.failures)} artifact(s) are not in the cache",
                hint="fetch them on a connected machine (packbuilder fetch), then `packbuilder cache export/import`",
                details=[f.item.name for f in result.failures],
            )
        if any(f.mismatch for f in result.failures):
            raise VerificationError(
                summary,
                hint="a publisher or mirror served other bytes: check the manifest's hash"
                " and its checksum_source; bad files are kept in the cache's quarantine/",
                details=details,
            )
        raise NetworkError(
            summary,
            hint="check the connection and try again: finished files are kept, partial ones resume; or add --mirror",
            details=details,
        )
    return result


def _checksum_from_list(base: Base, downloader: Downloader, keys_dir: Path | None) -> str:
    """The base's sha256 read from its upstream checksum file (signature checked when declared)."""
    import tempfile
    from urllib.parse import urlsplit

    import requests

    from packbuilder.fetch.signature import verify_detached

    assert base.checksums is not None
    sums = base.checksums
    with tempfile.TemporaryDirectory(prefix="packbuilder-sums-") as tmp:
        listing = Path(tmp) / "SHA256SUMS"
        try:
            response = downloader.session.get(sums.url, timeout=downloader.timeout)
            response.raise_for_status()
            listing.write_bytes(response.content)
            if sums.signature is not None:
                sig = Path(tmp) / "SHA256SUMS.sign"
                signed = downloader.session.get(sums.signature.url, timeout=downloader.timeout)
                signed.raise_for_status()
                sig.write_bytes(signed.content)
                key_file = (keys_dir or Path("keys")) / sums.signature.key
                verify_detached(listing, sig, key_file, sums.signature.key_fingerprint, f"base {base.id}: {sums.url}")
        except requests.RequestException as exc:
            raise NetworkError(f"base {base.id}: cannot read {sums.url}: {exc}", hint="check the connection") from exc
        name = Path(urlsplit(base.url).path).name
        for line in listing.read_text(encoding="utf-8", errors="replace").splitlines():
            digest, _, path = line.partition("  ")
            if path.strip().lstrip("*").lstrip("./") == name and len(digest) == 64:
                return digest.lower()
    raise VerificationError(
        f"base {base.id}: {name} is not listed in {sums.url}",
        hint="the point release moved on: update the base's url (and check its notes)",
    )


def fetch_base(
    base: Base,
    cache_dir: Path,
    output: Output,
    mirrors: tuple[str, ...] = (),
    offline: bool = False,
    keys_dir: Path | None = None,
) -> Path:
    """The base live ISO in the cache, fetched and verified: by its sha256, else by the upstream list's."""
    cache = Cache(cache_dir)
    downloader = Downloader(cache, mirrors, offline)
    digest = base.sha256
    if digest is None:
        if offline:
            raise NetworkError(
                f"offline: base {base.id} has no sha256 of its own, and its checksum file cannot be read",
                hint="give the ISO file itself: --base FILE.iso",
            )
        digest = _checksum_from_list(base, downloader, keys_dir)
    item = FetchItem(
        name=f"base {base.id}", urls=(base.url, *base.mirrors), algo="sha256", digest=digest,
        size=base.size, size_approx=base.size_approx,
    )
    if output.progress_enabled and not offline:
        with RichProgress(base.size or base.size_approx or 0) as progress:
            result = Downloader(cache, mirrors, offline, progress=progress).fetch_all([item], 1)
    else:
        result = downloader.fetch_all([item], 1)
    if result.failures:
        failure = result.failures[0]
        error = VerificationError if failure.mismatch else NetworkError
        raise error(f"base {base.id} could not be fetched", hint="check the connection, or give --base FILE.iso",
                    details=failure.errors)
    return result.paths[digest]
