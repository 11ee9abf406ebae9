"""Fetch everything a lock needs, with progress on a terminal and one summary of failures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from packbuilder.errors import NetworkError, VerificationError
from packbuilder.fetch.cache import Cache
from packbuilder.fetch.download import Downloader, FetchItem, FetchResult, SignatureCheck, SourceError

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


def fetch_lock(
    lock: Lock,
    cache_dir: Path,
    output: Output,
    jobs: int = 4,
    mirrors: tuple[str, ...] = (),
    offline: bool = False,
    keys_dir: Path | None = None,
) -> FetchResult:
    """Fetch every artifact of ``lock``; raise with every failure listed if any failed."""
    items = [item_for(art, keys_dir) for art in lock.items]
    cache = Cache(cache_dir)
    if output.progress_enabled and not offline:
        with output.bars(sum(art.download_size for art in lock.items)) as progress:
            result = Downloader(cache, mirrors, offline, progress=progress).fetch_all(items, jobs)
    else:
        result = Downloader(cache, mirrors, offline).fetch_all(items, jobs)
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
    """The base's sha256 read from its upstream checksum file (signature checked when declared).

    The list and its signature come through the downloader: its redirect rules and a size cap.
    """
    import tempfile
    from urllib.parse import urlsplit

    from packbuilder.fetch.signature import verify_detached

    assert base.checksums is not None
    sums = base.checksums
    try:
        listing = downloader.read_small(sums.url)
        signature = downloader.read_small(sums.signature.url, cap=1 << 20) if sums.signature is not None else None
    except SourceError as exc:
        raise NetworkError(f"base {base.id}: cannot read its checksum list: {exc}", hint="check the connection") from None
    if sums.signature is not None and signature is not None:
        with tempfile.TemporaryDirectory(prefix="packbuilder-sums-") as tmp:
            data, sig = Path(tmp) / "SHA256SUMS", Path(tmp) / "SHA256SUMS.sign"
            data.write_bytes(listing)
            sig.write_bytes(signature)
            key_file = (keys_dir or Path("keys")) / sums.signature.key
            verify_detached(data, sig, key_file, sums.signature.key_fingerprint, f"base {base.id}: {sums.url}")
    name = Path(urlsplit(base.url).path).name
    for line in listing.decode("utf-8", errors="replace").splitlines():
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
        with output.bars(base.size or base.size_approx or 0) as progress:
            result = Downloader(cache, mirrors, offline, progress=progress).fetch_all([item], 1)
    else:
        result = downloader.fetch_all([item], 1)
    if result.failures:
        failure = result.failures[0]
        error = VerificationError if failure.mismatch else NetworkError
        raise error(f"base {base.id} could not be fetched", hint="check the connection, or give --base FILE.iso",
                    details=failure.errors)
    return result.paths[digest]
