"""Fetch everything a lock needs, with progress on a terminal and one summary of failures."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from packbuilder.errors import NetworkError, PackbuilderError, VerificationError
from packbuilder.fetch.cache import Cache
from packbuilder.fetch.download import NOT_CACHED, Downloader, FetchItem, FetchResult, SignatureCheck, SourceError
from packbuilder.i18n import _

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
    rehash: bool = False,
) -> FetchResult:
    """Fetch every artifact of ``lock``; raise with every failure listed if any failed.

    ``rehash``: hash cached files again (for a build: what goes on a key is checked, not trusted)."""
    items = [item_for(art, keys_dir) for art in lock.items]
    cache = Cache(cache_dir)
    mirrors = resolve_mirrors(mirrors, output)
    downloader = Downloader(cache, mirrors, offline, rehash_hits=rehash)
    if output.progress_enabled and (mirrors or not offline):
        with output.bars(sum(art.download_size for art in lock.items)) as progress:
            downloader.progress = progress
            result = downloader.fetch_all(items, jobs)
    else:
        result = downloader.fetch_all(items, jobs)
    if result.failures:
        raise fetch_error(result, len(items), downloader, f"{lock.pack.id} --profile {lock.profile.id}")
    return result


def resolve_mirrors(mirrors: tuple[str, ...], output: Output) -> tuple[str, ...]:
    """The ``--mirror`` values as sources: ``auto`` becomes the `cache serve` mirrors announced on
    the local network; a folder must exist."""
    import re

    from packbuilder.errors import InputError

    resolved: list[str] = []
    for mirror in mirrors:
        if mirror == "auto":
            found = discovered()
            if not found:
                output.warn(_("--mirror auto: no `packbuilder cache serve` answered on the local network"))
            resolved += found
        elif re.match(r"^https?://", mirror):
            resolved.append(mirror)
        else:
            folder = Path(mirror).expanduser()
            if not folder.is_dir():
                raise InputError(
                    _("--mirror {mirror}: no such folder").format(mirror=mirror),
                    hint=_("give a folder of downloads (a USB stick), an exported cache,"
                           " http://HOST:PORT of `packbuilder cache serve`, or auto"),
                )
            resolved.append(str(folder))
    return tuple(dict.fromkeys(resolved))


@functools.cache
def discovered() -> tuple[str, ...]:
    """The LAN mirrors, looked for once per command (a build may fetch a pack and a base)."""
    from packbuilder.fetch.lan import discover

    return tuple(discover())


def fetch_error(result: FetchResult, total: int, downloader: Downloader, target: str) -> PackbuilderError:
    """One error for every failure: a hash problem (4), no network (3, with the ways out), or
    downloads that failed (3)."""
    details = []
    for failure in result.failures:
        details.append(f"{failure.item.name}:")
        details.extend(f"  {error}" for error in failure.errors)
    ok = len(result.paths)
    summary = _("{failed} of {total} artifact(s) could not be fetched ({ok} ready in the cache)").format(
        failed=len(result.failures), total=total, ok=ok
    )
    if any(f.mismatch for f in result.failures):
        return VerificationError(
            summary,
            hint=_("a publisher or mirror served other bytes: check the manifest's hash"
                   " and its checksum_source; bad files are kept in the cache's quarantine/"),
            details=details,
        )
    verdict = downloader.reach.no_network()
    if downloader.offline or verdict is not None:
        return offline_error(result, total, downloader, target, verdict)
    if downloader.mirrors:
        hint = _("check the connection and try again: finished files are kept, partial ones resume")
    else:
        hint = _("check the connection and try again: finished files are kept, partial ones resume;"
                 " or add --mirror (a folder of downloads, or auto: a `cache serve` nearby)")
    return NetworkError(
        summary,
        hint=hint,
        details=details,
    )


def offline_error(result: FetchResult, total: int, downloader: Downloader, target: str, verdict: str | None) -> NetworkError:
    """What is missing and the ways out, in one block, when there is no internet (or --offline)."""
    missing = len(result.failures)
    if downloader.offline and downloader.mirrors:
        message = _("offline: {missing} of {total} artifact(s) are not in the cache nor in the mirrors given")
    elif downloader.offline:
        message = _("offline: {missing} of {total} artifact(s) are not in the cache")
    else:
        message = _("no network: {missing} of {total} artifact(s) could not be fetched ({reason})")
    message = message.format(missing=missing, total=total, reason=verdict)
    details = [_("missing:")]
    for failure in result.failures:
        item = failure.item
        file = item.urls[0].rsplit("/", 1)[-1] if item.urls else "?"
        details.append(f"  {item.name}: {file} ({_size(item.size, item.size_approx)}, {item.algo} {item.digest[:16]}…)")
        # What the folders and LAN mirrors said; the internet's failures are the message above.
        details.extend(f"    {e}" for e in failure.errors if _from_local(e, downloader))
    ways = [_("ways out:")]
    if not downloader.mirrors:
        ways.append("  - " + _("a folder of these files (a USB stick: downloaded by hand, any names, or a `cache export`):"
                               " add --offline --mirror FOLDER"))
    ways.append("  - " + _("or copy such a folder into the cache once: packbuilder cache import FOLDER"
                           " --for {target}").format(target=target))
    if not downloader.mirrors:
        ways.append("  - " + _("a PC of the workshop that has them: run `packbuilder cache serve` there, then add --mirror auto"
                               " (or --mirror http://ITS-ADDRESS:8377)"))
    ways.append("  - " + _("on a connected machine: packbuilder fetch {target}, then packbuilder cache export FOLDER,"
                           " and bring FOLDER here").format(target=target))
    return NetworkError(message, hint="\n".join(ways), details=details)


def _size(size: int | None, approx: int | None = None) -> str:
    from packbuilder.sizes import format_size

    if size is not None:
        return format_size(size)
    return "~" + format_size(approx) if approx is not None else _("size unknown")


def _from_local(error: str, downloader: Downloader) -> bool:
    """Whether a source error came from a --mirror (folder or LAN), not from the internet."""
    import re

    from packbuilder.fetch.reach import host_of

    match = re.match(r"https?://[^/\s]+", error)
    if match is None:
        return error != _(NOT_CACHED)
    return host_of(match.group(0)) in downloader.reach.local


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
        raise NetworkError(
            _("base {base}: cannot read its checksum list: {reason}").format(base=base.id, reason=exc),
            hint=_("check the connection"),
        ) from None
    if sums.signature is not None and signature is not None:
        with tempfile.TemporaryDirectory(prefix="packbuilder-sums-") as tmp:
            data, sig = Path(tmp) / "SHA256SUMS", Path(tmp) / "SHA256SUMS.sign"
            data.write_bytes(listing)
            sig.write_bytes(signature)
            key_file = (keys_dir or Path("keys")) / sums.signature.key
            verify_detached(
                data, sig, key_file, sums.signature.key_fingerprint,
                _("base {base}: {url}").format(base=base.id, url=sums.url),
            )
    name = Path(urlsplit(base.url).path).name
    for line in listing.decode("utf-8", errors="replace").splitlines():
        digest, _sep, path = line.partition("  ")
        if path.strip().lstrip("*").lstrip("./") == name and len(digest) == 64:
            return digest.lower()
    raise VerificationError(
        _("base {base}: {name} is not listed in {url}").format(base=base.id, name=name, url=sums.url),
        hint=_("the point release moved on: update the base's url (and check its notes)"),
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
    mirrors = resolve_mirrors(mirrors, output)
    downloader = Downloader(cache, mirrors, offline)
    digest = base.sha256
    if digest is None:
        if offline:
            raise NetworkError(
                _("offline: base {base} has no sha256 of its own, and its checksum file cannot be read").format(base=base.id),
                hint=_("give the ISO file itself: --base FILE.iso"),
            )
        digest = _checksum_from_list(base, downloader, keys_dir)
    item = FetchItem(
        name=_("base {base}").format(base=base.id), urls=(base.url, *base.mirrors), algo="sha256", digest=digest,
        size=base.size, size_approx=base.size_approx,
    )
    if output.progress_enabled and (mirrors or not offline):
        with output.bars(base.size or base.size_approx or 0) as progress:
            downloader.progress = progress
            result = downloader.fetch_all([item], 1)
    else:
        result = downloader.fetch_all([item], 1)
    if result.failures:
        failure = result.failures[0]
        if failure.mismatch:
            raise VerificationError(
                _("base {base} could not be fetched").format(base=base.id),
                hint=_("check the base's sha256"),
                details=failure.errors,
            )
        verdict = downloader.reach.no_network()
        if verdict:
            message = _("base {base}: no network ({reason})")
        else:
            message = _("base {base}: offline") if offline else _("base {base}: could not be fetched")
        raise NetworkError(
            message.format(base=base.id, reason=verdict),
            hint=_("give the ISO file itself (--base FILE.iso), or --mirror a folder that holds it (any name)"
                   " or auto (a `cache serve` nearby)") if not mirrors else _("give the ISO file itself: --base FILE.iso"),
            details=failure.errors,
        )
    return result.paths[digest]
