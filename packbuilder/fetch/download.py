"""Verified, resumable, parallel downloads into the cache.

One pass over the bytes: each chunk is written to a partial file inside the cache and fed to
the hash at once. A partial download is resumed with ``Range`` + ``If-Range``; a server that
ignores the range (200 instead of 206) restarts the file cleanly. Only a file whose hash
matched, its data on the disk (the disk set to work every 4 MiB as the body arrives, one
fdatasync per file at its end), is renamed to its final place, so nothing unverified or
half-written is ever visible, even after a power cut. Each thread keeps its connection from one
file to the next (``body.body_blocks``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from packbuilder.fetch.body import PartialWriter, body_blocks
from packbuilder.fetch.cache import Cache
from packbuilder.fetch.folder import FolderMirror, Wanted
from packbuilder.fetch.hashes import feed_file, new_hasher
from packbuilder.fetch.items import (  # re-exported: the downloader's public names
    BadSignature as BadSignature,
)
from packbuilder.fetch.items import (
    Failure as Failure,
)
from packbuilder.fetch.items import (
    FetchItem as FetchItem,
)
from packbuilder.fetch.items import (
    FetchResult as FetchResult,
)
from packbuilder.fetch.items import (
    HashMismatch as HashMismatch,
)
from packbuilder.fetch.items import (
    NoProgress as NoProgress,
)
from packbuilder.fetch.items import (
    Progress as Progress,
)
from packbuilder.fetch.items import (
    SignatureCheck as SignatureCheck,
)
from packbuilder.fetch.items import (
    Source as Source,
)
from packbuilder.fetch.items import (
    SourceError as SourceError,
)
from packbuilder.fetch.reach import Reach, host_of
from packbuilder.fetch.session import describe, no_network_reason, resume_point, save_sidecar
from packbuilder.fetch.session import make_session as make_session  # also used from here by packbuilder.updates
from packbuilder.fsutil import copy_regular, reserve_space
from packbuilder.i18n import N_, _

if TYPE_CHECKING:
    import requests

MAX_REDIRECTS = 10
SMALL_CAP = 4 << 20  # a checksum list or a signature: far more than any real one
# Attempts per source for errors in the middle of a body (connection cut, read timeout):
# each one resumes where the previous stopped.
BODY_ATTEMPTS = 4
# What an item that no source may provide says (offline, no --mirror); fetch.run tells it from the others.
NOT_CACHED = N_("not in the cache (offline)")


class Downloader:
    """Sources, local first: the cache, then the ``mirrors`` (folders, `cache serve` URLs), then
    each artifact's own mirrors, then its upstream URL. ``offline``: the internet is off, the
    cache and the ``mirrors`` are still used."""

    def __init__(
        self,
        cache: Cache,
        mirrors: Iterable[str] = (),
        offline: bool = False,
        timeout: tuple[float, float] = (10.0, 60.0),
        progress: Progress | None = None,
        session_factory: Callable[[], requests.Session] = make_session,
        rehash_hits: bool = False,
    ):
        self.cache = cache
        self.mirrors = tuple(mirrors)
        self.offline = offline
        self.timeout = timeout
        self.progress: Progress = progress or NoProgress()
        self._session_factory = session_factory
        # For a build: a cached file is hashed again before it goes on a key (altered in place: fetched again).
        self.rehash_hits = rehash_hits
        self.stop = threading.Event()
        self.reach = Reach()
        self.folders = {
            m: FolderMirror(Path(m), cache.root / "mirrors", stop=self.stop)
            for m in self.mirrors
            if not re.match(r"^https?://", m)
        }
        self.reach.local = {host_of(m) for m in self.mirrors if m not in self.folders}
        self._local = threading.local()
        self._lock = threading.Lock()

    # -- sessions are made lazily: a warm run (all cached) opens no connection ------------------

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._session_factory()
            self._local.session = session
        return session

    # -- public API ----------------------------------------------------------------------------

    def fetch_all(self, items: Iterable[FetchItem], jobs: int = 4) -> FetchResult:
        """Fetch in ``jobs`` threads. Interrupted (Ctrl-C, SIGTERM), every download stops at its next
        block, its partial file kept for a resume, and the interruption goes on up."""
        unique = list({item.digest: item for item in items}.values())
        self.reach.internet_hosts = len({host_of(url) for item in unique for url in item.urls})
        self._index_folders([i for i in unique if self.cache.lookup(i.algo, i.digest, i.size) is None], jobs)
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        try:
            return self._collect(unique, pool.map(self._fetch_safe, unique))
        except BaseException:
            self.stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _collect(self, unique: list[FetchItem], outcomes: Iterable[tuple[Path, bool] | Failure]) -> FetchResult:
        result = FetchResult()
        for item, outcome in zip(unique, outcomes, strict=True):
            with self._lock:
                if isinstance(outcome, Failure):
                    result.failures.append(outcome)
                else:
                    path, fresh = outcome
                    result.paths[item.digest] = path
                    (result.downloaded if fresh else result.cached).append(item)
                    if fresh:
                        result.bytes_downloaded += path.stat().st_size
        return result

    def fetch(self, item: FetchItem) -> tuple[Path, bool]:
        """The cached file for ``item``, downloading it if needed; (path, downloaded now)."""
        hit = self._hit(item)
        if hit is not None:
            return hit, False
        sources = self._sources(item)
        if not sources:
            raise SourceError(_(NOT_CACHED))
        with self.cache.lock(item.digest):
            # Another process may have finished it while we waited for the lock.
            hit = self._hit(item)
            if hit is not None:
                return hit, False
            errors: list[str] = []
            verification = False
            for source in sources:
                if self.stop.is_set():
                    raise _Stopped(_("interrupted"))
                skip = self.reach.why_not(source.location, not source.local) if source.is_url else None
                if skip is not None:
                    errors.append(_("{source}: {reason}").format(source=source.location, reason=skip))
                    continue
                try:
                    return self._from_source(item, source), True
                except SourceError as exc:
                    errors.append(str(exc))
                    verification = verification or isinstance(exc, (HashMismatch, BadSignature))
            raise _AllSourcesFailed(errors, verification)

    # -- internals ------------------------------------------------------------------------------

    def _hit(self, item: FetchItem) -> Path | None:
        if self.rehash_hits:
            return self.cache.checked(item.algo, item.digest, item.size)
        return self.cache.lookup(item.algo, item.digest, item.size)

    def _fetch_safe(self, item: FetchItem) -> tuple[Path, bool] | Failure:
        try:
            return self.fetch(item)
        except _AllSourcesFailed as exc:
            return Failure(item, exc.errors, exc.verification)
        except SourceError as exc:
            return Failure(item, [str(exc)], False)

    def _sources(self, item: FetchItem) -> list[Source]:
        """Local first: --mirror folders and LAN mirrors, then the artifact's mirrors, then upstream
        (``item.urls`` is upstream followed by its mirrors). Offline: the local ones only."""
        sources = []
        for mirror in self.mirrors:
            if mirror in self.folders:
                sources.append(Source(mirror, True, True))
            else:
                # A packbuilder cache served over HTTP (`cache serve`): same layout as the cache;
                # plain http is fine, the user named this mirror and every byte is hashed.
                sources.append(Source(f"{mirror.rstrip('/')}/{item.algo}/{item.digest[:2]}/{item.digest}", True, True))
        if not self.offline:
            sources += [Source(url, item.insecure, False) for url in (*item.urls[1:], *item.urls[:1])]
        return sources

    def _from_source(self, item: FetchItem, source: Source) -> Path:
        if not source.is_url:
            return self._from_folder(item, self.folders[source.location])
        location, http_ok = source.location, source.http_ok
        if location.startswith("http://") and not http_ok:
            raise SourceError(_("{url}: plain http refused (the manifest does not allow it)").format(url=location))
        last: SourceError | None = None
        for _attempt in range(BODY_ATTEMPTS):
            try:
                return self._download(item, location, http_ok)
            except _Resumable as exc:
                last = SourceError(_("{source}: {reason}").format(source=location, reason=exc))
        assert last is not None
        raise last

    def _index_folders(self, missing: list[FetchItem], jobs: int) -> None:
        """Look once through each folder mirror for the files not found under their hash name."""
        for folder in self.folders.values():
            unnamed = [i for i in missing if not _layout_path(folder.root, i).exists()]
            if unnamed:
                folder.locate([_wanted(i) for i in unnamed], jobs)

    def _from_folder(self, item: FetchItem, folder: FolderMirror) -> Path:
        candidate = _layout_path(folder.root, item)
        if not candidate.exists() and not candidate.is_symlink():
            found = folder.find(item.digest) or folder.locate([_wanted(item)]).get(item.digest)
            if found is None:
                message = _("{folder}: no file with this {algo} there (by name or by content)")
                raise SourceError(message.format(folder=folder.root, algo=item.algo))
            candidate = found
        partial = self.cache.partial(item.algo, item.digest)
        partial.parent.mkdir(parents=True, exist_ok=True)
        hasher = new_hasher(item.algo)
        limit = item.cap if item.cap is not None else 2**63
        task = self.progress.start(item.name, item.size or item.size_approx)

        def feed(block: bytes) -> None:
            if self.stop.is_set():
                raise _Stopped(_("{file}: copy stopped").format(file=candidate))
            hasher.update(block)
            self.progress.advance(task, len(block))

        try:
            copy_regular(candidate, partial, limit, feed)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise SourceError(_("{source}: {reason}").format(source=candidate, reason=exc.strerror or exc)) from None
        except _Stopped:
            partial.unlink(missing_ok=True)
            raise
        finally:
            self.progress.finish(task)
        return self._commit_hashed(item, partial, hasher.hexdigest(), str(candidate))

    def _download(self, item: FetchItem, url: str, http_ok: bool) -> Path:
        import requests

        partial = self.cache.partial(item.algo, item.digest)
        sidecar = partial.with_name(partial.name + ".json")
        partial.parent.mkdir(parents=True, exist_ok=True)
        offset, validator = resume_point(partial, sidecar, url)
        hasher = new_hasher(item.algo)
        headers = {}
        if offset:
            feed_file(hasher, partial, offset)
            headers["Range"] = f"bytes={offset}-"
            if validator:
                headers["If-Range"] = validator
        task = self.progress.start(item.name, item.size or item.size_approx)
        try:
            response = self._get(url, headers, http_ok)
        except requests.RequestException as exc:
            self.progress.finish(task)
            raise SourceError(_("{source}: {reason}").format(source=url, reason=_describe(exc))) from None
        try:
            with response:
                offset = self._check_status(response, url, offset, partial)
                if offset == 0:
                    hasher = new_hasher(item.algo)
                self.progress.reset(task, offset)
                save_sidecar(sidecar, url, response)
                self._check_length(response, item, url, offset, partial)
                received = self._stream(response, item, url, partial, offset, hasher, task)
        finally:
            self.progress.finish(task)
        if item.size is not None and received != item.size:
            partial.unlink(missing_ok=True)
            raise SourceError(
                _("{url}: got {received} bytes, the manifest says {size}").format(url=url, received=received, size=item.size)
            )
        return self._commit_hashed(item, partial, hasher.hexdigest(), url)

    def _get(self, url: str, headers: dict[str, str], http_ok: bool) -> requests.Response:
        """GET following redirects by hand, refusing a move from https to plain http; what each
        host does (answers, cannot be reached) is noted for the rest of the run."""
        import requests

        for _hop in range(MAX_REDIRECTS):
            try:
                response = self.session.get(url, headers=headers, stream=True, timeout=self.timeout, allow_redirects=False)
            except requests.RequestException as exc:
                reason = no_network_reason(exc)
                if reason is not None:
                    self.reach.failed(url, reason)
                raise
            self.reach.reached(url)
            if not response.is_redirect:
                return response
            target = urljoin(url, response.headers["Location"])
            response.close()
            if urlsplit(target).scheme == "http" and not http_ok:
                raise SourceError(_("{url}: redirect to plain http refused ({target})").format(url=url, target=target))
            if urlsplit(target).scheme not in ("http", "https"):
                raise SourceError(_("{url}: redirect to {target} refused").format(url=url, target=target))
            url = target
        raise SourceError(_("{url}: more than {count} redirects").format(url=url, count=MAX_REDIRECTS))

    def read_small(self, url: str, cap: int = SMALL_CAP, http_ok: bool = False) -> bytes:
        """A small document (a checksum list, a signature) in memory, under the downloads' rules:
        redirects followed by hand (never from https to http), HTTP errors raised, at most ``cap`` bytes.

        Raises :class:`SourceError` naming the URL.
        """
        import requests
        import urllib3

        if url.startswith("http://") and not http_ok:
            raise SourceError(_("{url}: plain http refused").format(url=url))
        try:
            with self._get(url, {}, http_ok) as response:
                if response.status_code != 200:
                    reason = f"HTTP {response.status_code} {response.reason or ''}".strip()
                    raise SourceError(_("{source}: {reason}").format(source=url, reason=reason))
                length = response.headers.get("Content-Length", "")
                if length.isdigit() and int(length) > cap:
                    message = _("{url}: the server announces {length} bytes, more than the {cap} allowed")
                    raise SourceError(message.format(url=url, length=length, cap=cap))
                data = response.raw.read(cap + 1, decode_content=False)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise SourceError(_("{source}: {reason}").format(source=url, reason=_describe(exc))) from None
        if len(data) > cap:
            raise SourceError(_("{url}: more than the {cap} bytes allowed: stopped").format(url=url, cap=cap))
        return bytes(data)

    def _check_status(self, response: requests.Response, url: str, offset: int, partial: Path) -> int:
        """Where the body starts: ``offset`` on 206, 0 when the server sends the whole file."""
        status = response.status_code
        if status == 206 and offset:
            match = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                partial.unlink(missing_ok=True)
                raise _Resumable(
                    _("bad Content-Range {header!r} for offset {offset}").format(
                        header=response.headers.get("Content-Range"), offset=offset
                    )
                )
            return offset
        if status == 200:
            if offset:
                partial.unlink(missing_ok=True)  # Range ignored (or If-Range said the file changed): restart
            return 0
        if status == 416:
            partial.unlink(missing_ok=True)
            raise _Resumable(_("range not satisfiable: restarting"))
        partial.unlink(missing_ok=True) if status == 206 else None
        reason = f"HTTP {status} {response.reason or ''}".strip()
        raise SourceError(_("{source}: {reason}").format(source=url, reason=reason))

    def _check_length(self, response: requests.Response, item: FetchItem, url: str, offset: int, partial: Path) -> None:
        length = response.headers.get("Content-Length")
        cap = item.cap
        if cap is not None and length and length.isdigit() and offset + int(length) > cap:
            partial.unlink(missing_ok=True)
            raise SourceError(
                _("{url}: the server announces {length} bytes, more than the {cap} allowed").format(
                    url=url, length=offset + int(length), cap=cap
                )
            )

    def _stream(
        self, response: requests.Response, item: FetchItem, url: str, partial: Path, offset: int, hasher: Any, task: Any
    ) -> int:
        import http.client

        import requests
        import urllib3

        cap = item.cap
        received = offset
        mode = "ab" if offset else "wb"
        length = response.headers.get("Content-Length", "")
        expected = offset + int(length) if length.isdigit() else None
        try:
            with partial.open(mode) as out:
                if expected is not None and cap is not None:  # never on a length the manifest does not bound
                    reserve_space(out.fileno(), offset, min(expected, cap))
                sink = PartialWriter(out, offset)
                for block in body_blocks(response):
                    if self.stop.is_set():
                        raise _Stopped(
                            _("{url}: stopped after {received} bytes (kept to resume)").format(url=url, received=received)
                        )
                    received += len(block)
                    if cap is not None and received > cap:
                        out.close()
                        partial.unlink(missing_ok=True)
                        raise SourceError(_("{url}: more than the {cap} bytes allowed: stopped").format(url=url, cap=cap))
                    sink.write(block)
                    hasher.update(block)
                    self.progress.advance(task, len(block))
                sink.finish()
        except (urllib3.exceptions.HTTPError, requests.RequestException, http.client.HTTPException, OSError) as exc:
            if isinstance(exc, OSError) and not isinstance(exc, (ConnectionError, TimeoutError)):
                raise SourceError(_("{url}: cannot write {file}: {reason}").format(url=url, file=partial, reason=exc)) from None
            raise _Resumable(_("{reason} after {received} bytes").format(reason=_describe(exc), received=received)) from None
        if expected is not None and received < expected:
            raise _Resumable(
                _("connection closed after {received} bytes of {expected}").format(received=received, expected=expected)
            )
        return received

    def _commit_hashed(self, item: FetchItem, partial: Path, actual: str, origin: str) -> Path:
        partial.with_name(partial.name + ".json").unlink(missing_ok=True)
        if actual != item.digest:
            quarantined = self.cache.quarantine(partial, item.algo, item.digest, actual)
            raise HashMismatch(origin, item.digest, actual, quarantined)
        meta: dict[str, Any] = {"name": item.name, "url": origin}
        if item.signature is not None:
            meta["signature"] = self._check_signature(item, partial)
        return self.cache.commit(partial, item.algo, item.digest, meta)

    def _check_signature(self, item: FetchItem, partial: Path) -> str:
        """Download the detached signature and check it; the file stays out of the cache if it fails."""
        from packbuilder import tools
        from packbuilder.errors import VerificationError
        from packbuilder.fetch.signature import verify_detached

        spec = item.signature
        assert spec is not None
        if not spec.required and not (tools.find("gpgv") or tools.find("sqv")):
            return "not checked (no verifier installed; the manifest allows it)"  # data for the cache's meta/: not translated
        sig_path = partial.with_name(partial.name + ".sig")
        try:
            try:
                sig_path.write_bytes(self.read_small(spec.url, cap=1 << 20))
            except SourceError as exc:
                raise BadSignature(_("{reason} (signature)").format(reason=exc)) from None
            verifier = verify_detached(partial, sig_path, spec.key_file, spec.fingerprint, item.name)
        except VerificationError as exc:
            self.cache.quarantine(partial, item.algo, item.digest, "badsignature")
            raise BadSignature(exc.message) from None
        finally:
            sig_path.unlink(missing_ok=True)
        return f"{verifier}: good signature by {spec.fingerprint}"


class _Stopped(SourceError):
    """The run is being interrupted: no other source is tried."""


class _Resumable(Exception):
    """A body broke off: try the same source again, resuming."""


class _AllSourcesFailed(Exception):
    def __init__(self, errors: list[str], verification: bool):
        super().__init__("; ".join(errors))
        self.errors = errors
        self.verification = verification


_describe = describe  # the name packbuilder.updates imports


def _layout_path(root: Path, item: FetchItem) -> Path:
    return root / item.algo / item.digest[:2] / item.digest


def _wanted(item: FetchItem) -> Wanted:
    return Wanted(item.algo, item.digest, item.size, item.size_approx)
