"""Verified, resumable, parallel downloads into the cache.

One pass over the bytes: each chunk is written to a partial file inside the cache and fed to
the hash at once. A partial download is resumed with ``Range`` + ``If-Range``; a server that
ignores the range (200 instead of 206) restarts the file cleanly. Only a file whose hash
matched is renamed to its final place, so nothing unverified is ever visible.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin, urlsplit

from packbuilder import __version__
from packbuilder.fetch.cache import Cache
from packbuilder.fetch.hashes import CHUNK, feed_file, new_hasher

if TYPE_CHECKING:
    import requests

USER_AGENT = f"packbuilder/{__version__} (USB keys of free software for associations)"
MAX_REDIRECTS = 10
SMALL_CAP = 4 << 20  # a checksum list or a signature: far more than any real one
# Attempts per source for errors in the middle of a body (connection cut, read timeout):
# each one resumes where the previous stopped.
BODY_ATTEMPTS = 4


@dataclass(frozen=True)
class SignatureCheck:
    """A detached signature to check once the hash matched."""

    url: str
    fingerprint: str
    key_file: Path
    required: bool = True


@dataclass(frozen=True)
class FetchItem:
    """One file to fetch: where from, and what it must hash to."""

    name: str
    urls: tuple[str, ...]
    algo: str
    digest: str
    size: int | None = None
    size_approx: int | None = None
    insecure: bool = False
    signature: SignatureCheck | None = None

    @property
    def cap(self) -> int | None:
        """Most bytes to accept: the exact size, or a generous bound over an estimate."""
        if self.size is not None:
            return self.size
        if self.size_approx is not None:
            return self.size_approx * 2 + 16 * 2**20
        return None


class SourceError(Exception):
    """One source failed for this item; the next mirror is tried."""


class BadSignature(SourceError):
    """The bytes match the manifest's hash, but the publisher's signature does not hold."""


class HashMismatch(SourceError):
    def __init__(self, url: str, expected: str, actual: str, quarantined: Path):
        super().__init__(f"{url}: hash mismatch: expected {expected}, got {actual} (kept in {quarantined})")
        self.expected = expected
        self.actual = actual


@dataclass
class Failure:
    item: FetchItem
    errors: list[str]
    mismatch: bool


@dataclass
class FetchResult:
    paths: dict[str, Path] = field(default_factory=dict)  # digest -> cached file
    downloaded: list[FetchItem] = field(default_factory=list)
    cached: list[FetchItem] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    bytes_downloaded: int = 0


class Progress(Protocol):
    """What the downloader reports (``ui.Bars`` shows it)."""

    def start(self, name: str, total: int | None) -> Any: ...

    def advance(self, task: Any, nbytes: int) -> None: ...

    def reset(self, task: Any, done: int) -> None: ...

    def finish(self, task: Any) -> None: ...


class NoProgress:
    """Reports nothing (no terminal, --quiet, --json)."""

    def start(self, name: str, total: int | None) -> Any:
        return None

    def advance(self, task: Any, nbytes: int) -> None:
        pass

    def reset(self, task: Any, done: int) -> None:
        pass

    def finish(self, task: Any) -> None:
        pass


def make_session(insecure_ok: bool = False) -> requests.Session:
    """A session that retries connection errors and 429/5xx with backoff (honouring Retry-After)."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    retry = Retry(
        total=5,
        connect=5,
        read=2,
        status=4,
        backoff_factor=float(os.environ.get("PACKBUILDER_BACKOFF", "0.5")),
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=("GET", "HEAD"),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    # Raw bytes: the hash is over what the publisher published, never a decoded stream.
    session.headers["Accept-Encoding"] = "identity"
    return session


class Downloader:
    def __init__(
        self,
        cache: Cache,
        mirrors: Iterable[str] = (),
        offline: bool = False,
        timeout: tuple[float, float] = (10.0, 60.0),
        progress: Progress | None = None,
        session_factory: Callable[[], requests.Session] = make_session,
    ):
        self.cache = cache
        self.mirrors = tuple(mirrors)
        self.offline = offline
        self.timeout = timeout
        self.progress: Progress = progress or NoProgress()
        self._session_factory = session_factory
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
        result = FetchResult()
        unique = list({item.digest: item for item in items}.values())
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for item, outcome in zip(unique, pool.map(self._fetch_safe, unique), strict=True):
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
        hit = self.cache.lookup(item.algo, item.digest, item.size)
        if hit is not None:
            return hit, False
        if self.offline:
            raise SourceError("not in the cache (offline)")
        with self.cache.lock(item.digest):
            # Another process may have finished it while we waited for the lock.
            hit = self.cache.lookup(item.algo, item.digest, item.size)
            if hit is not None:
                return hit, False
            errors: list[str] = []
            verification = False
            for source in self._sources(item):
                try:
                    return self._from_source(item, source), True
                except SourceError as exc:
                    errors.append(str(exc))
                    verification = verification or isinstance(exc, (HashMismatch, BadSignature))
            raise _AllSourcesFailed(errors, verification)

    # -- internals ------------------------------------------------------------------------------

    def _fetch_safe(self, item: FetchItem) -> tuple[Path, bool] | Failure:
        try:
            return self.fetch(item)
        except _AllSourcesFailed as exc:
            return Failure(item, exc.errors, exc.verification)
        except SourceError as exc:
            return Failure(item, [str(exc)], False)

    def _sources(self, item: FetchItem) -> list[tuple[str, bool]]:
        """(url or folder, plain http allowed) in order: the manifest's, then --mirror ones."""
        sources = [(url, item.insecure) for url in item.urls]
        for mirror in self.mirrors:
            if re.match(r"^https?://", mirror):
                # A packbuilder cache served over HTTP (`cache serve`): same layout as the cache.
                url = f"{mirror.rstrip('/')}/{item.algo}/{item.digest[:2]}/{item.digest}"
                sources.append((url, True))  # the user asked for this mirror explicitly
            else:
                sources.append((mirror, True))
        return sources

    def _from_source(self, item: FetchItem, source: tuple[str, bool]) -> Path:
        location, http_ok = source
        if not re.match(r"^https?://", location):
            return self._from_folder(item, Path(location))
        if location.startswith("http://") and not http_ok:
            raise SourceError(f"{location}: plain http refused (the manifest does not allow it)")
        last: SourceError | None = None
        for _ in range(BODY_ATTEMPTS):
            try:
                return self._download(item, location, http_ok)
            except _Resumable as exc:
                last = SourceError(f"{location}: {exc}")
        assert last is not None
        raise last

    def _from_folder(self, item: FetchItem, folder: Path) -> Path:
        candidate = folder / item.algo / item.digest[:2] / item.digest
        if not candidate.is_file():
            raise SourceError(f"{folder}: no {item.algo}/{item.digest[:2]}/{item.digest} there")
        partial = self.cache.partial(item.algo, item.digest)
        partial.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(candidate, partial)
        return self._verify_and_commit(item, partial, str(candidate))

    def _download(self, item: FetchItem, url: str, http_ok: bool) -> Path:
        import requests

        partial = self.cache.partial(item.algo, item.digest)
        sidecar = partial.with_name(partial.name + ".json")
        partial.parent.mkdir(parents=True, exist_ok=True)
        offset, validator = _resume_point(partial, sidecar, url)
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
            raise SourceError(f"{url}: {_describe(exc)}") from None
        try:
            with response:
                offset = self._check_status(response, url, offset, partial)
                if offset == 0:
                    hasher = new_hasher(item.algo)
                self.progress.reset(task, offset)
                _save_sidecar(sidecar, url, response)
                self._check_length(response, item, url, offset, partial)
                received = self._stream(response, item, url, partial, offset, hasher, task)
        finally:
            self.progress.finish(task)
        if item.size is not None and received != item.size:
            partial.unlink(missing_ok=True)
            raise SourceError(f"{url}: got {received} bytes, the manifest says {item.size}")
        return self._commit_hashed(item, partial, hasher.hexdigest(), url)

    def _get(self, url: str, headers: dict[str, str], http_ok: bool) -> requests.Response:
        """GET following redirects by hand, refusing a move from https to plain http."""
        for _ in range(MAX_REDIRECTS):
            response = self.session.get(url, headers=headers, stream=True, timeout=self.timeout, allow_redirects=False)
            if not response.is_redirect:
                return response
            target = urljoin(url, response.headers["Location"])
            response.close()
            if urlsplit(target).scheme == "http" and not http_ok:
                raise SourceError(f"{url}: redirect to plain http refused ({target})")
            if urlsplit(target).scheme not in ("http", "https"):
                raise SourceError(f"{url}: redirect to {target} refused")
            url = target
        raise SourceError(f"{url}: more than {MAX_REDIRECTS} redirects")

    def read_small(self, url: str, cap: int = SMALL_CAP, http_ok: bool = False) -> bytes:
        """A small document (a checksum list, a signature) in memory, under the downloads' rules:
        redirects followed by hand (never from https to http), HTTP errors raised, at most ``cap`` bytes.

        Raises :class:`SourceError` naming the URL.
        """
        import requests
        import urllib3

        if url.startswith("http://") and not http_ok:
            raise SourceError(f"{url}: plain http refused")
        try:
            with self._get(url, {}, http_ok) as response:
                if response.status_code != 200:
                    raise SourceError(f"{url}: HTTP {response.status_code} {response.reason or ''}".strip())
                length = response.headers.get("Content-Length", "")
                if length.isdigit() and int(length) > cap:
                    raise SourceError(f"{url}: the server announces {length} bytes, more than the {cap} allowed")
                data = response.raw.read(cap + 1, decode_content=False)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            raise SourceError(f"{url}: {_describe(exc)}") from None
        if len(data) > cap:
            raise SourceError(f"{url}: more than the {cap} bytes allowed: stopped")
        return bytes(data)

    def _check_status(self, response: requests.Response, url: str, offset: int, partial: Path) -> int:
        """Where the body starts: ``offset`` on 206, 0 when the server sends the whole file."""
        status = response.status_code
        if status == 206 and offset:
            match = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                partial.unlink(missing_ok=True)
                raise _Resumable(f"bad Content-Range {response.headers.get('Content-Range')!r} for offset {offset}")
            return offset
        if status == 200:
            if offset:
                partial.unlink(missing_ok=True)  # Range ignored (or If-Range said the file changed): restart
            return 0
        if status == 416:
            partial.unlink(missing_ok=True)
            raise _Resumable("range not satisfiable: restarting")
        partial.unlink(missing_ok=True) if status == 206 else None
        reason = f"HTTP {status} {response.reason or ''}".strip()
        raise SourceError(f"{url}: {reason}")

    def _check_length(self, response: requests.Response, item: FetchItem, url: str, offset: int, partial: Path) -> None:
        length = response.headers.get("Content-Length")
        cap = item.cap
        if cap is not None and length and length.isdigit() and offset + int(length) > cap:
            partial.unlink(missing_ok=True)
            raise SourceError(f"{url}: the server announces {offset + int(length)} bytes, more than the {cap} allowed")

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
                for block in _body_blocks(response):
                    received += len(block)
                    if cap is not None and received > cap:
                        out.close()
                        partial.unlink(missing_ok=True)
                        raise SourceError(f"{url}: more than the {cap} bytes allowed: stopped")
                    out.write(block)
                    hasher.update(block)
                    self.progress.advance(task, len(block))
                out.flush()
                _datasync(out.fileno())
        except (urllib3.exceptions.HTTPError, requests.RequestException, http.client.HTTPException, OSError) as exc:
            if isinstance(exc, OSError) and not isinstance(exc, (ConnectionError, TimeoutError)):
                raise SourceError(f"{url}: cannot write {partial}: {exc}") from None
            raise _Resumable(f"{_describe(exc)} after {received} bytes") from None
        if expected is not None and received < expected:
            raise _Resumable(f"connection closed after {received} bytes of {expected}")
        return received

    def _verify_and_commit(self, item: FetchItem, partial: Path, origin: str) -> Path:
        hasher = new_hasher(item.algo)
        feed_file(hasher, partial)
        return self._commit_hashed(item, partial, hasher.hexdigest(), origin)

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
            return "not checked (no verifier installed; the manifest allows it)"
        sig_path = partial.with_name(partial.name + ".sig")
        try:
            try:
                sig_path.write_bytes(self.read_small(spec.url, cap=1 << 20))
            except SourceError as exc:
                raise BadSignature(f"{exc} (signature)") from None
            verifier = verify_detached(partial, sig_path, spec.key_file, spec.fingerprint, item.name)
        except VerificationError as exc:
            self.cache.quarantine(partial, item.algo, item.digest, "badsignature")
            raise BadSignature(exc.message) from None
        finally:
            sig_path.unlink(missing_ok=True)
        return f"{verifier}: good signature by {spec.fingerprint}"


def _body_blocks(response: requests.Response) -> Iterator[bytes | memoryview]:
    """The raw body (no content decoding), block by block.

    Where http.client carries the body (always, under requests), each block is read straight into
    one reused buffer: no new bytes object per block, one copy fewer than urllib3's ``stream``.
    A block is only valid until the next one is read: it is written and hashed at once.
    """
    body = getattr(response.raw, "_fp", None)
    if not callable(getattr(body, "readinto", None)):
        yield from response.raw.stream(CHUNK, decode_content=False)
        return
    assert body is not None
    view = memoryview(bytearray(CHUNK))
    while n := body.readinto(view):
        yield view[:n]


def _datasync(fd: int) -> None:
    """The data on disk before the file is renamed into the cache (fdatasync skips the times; Windows has fsync only)."""
    getattr(os, "fdatasync", os.fsync)(fd)


class _Resumable(Exception):
    """A body broke off: try the same source again, resuming."""


class _AllSourcesFailed(Exception):
    def __init__(self, errors: list[str], verification: bool):
        super().__init__("; ".join(errors))
        self.errors = errors
        self.verification = verification


def _resume_point(partial: Path, sidecar: Path, url: str) -> tuple[int, str | None]:
    """Bytes already downloaded from this URL, and the validator for If-Range."""
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        size = partial.stat().st_size
    except (OSError, ValueError):
        partial.unlink(missing_ok=True)
        return 0, None
    if meta.get("url") != url:
        partial.unlink(missing_ok=True)  # a partial from another source may not be the same bytes
        return 0, None
    return size, meta.get("validator")


def _save_sidecar(sidecar: Path, url: str, response: requests.Response) -> None:
    validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
    if validator and validator.startswith("W/"):
        validator = None  # a weak ETag cannot guarantee the same bytes
    sidecar.write_text(json.dumps({"url": url, "validator": validator}), encoding="utf-8")


def _describe(exc: BaseException) -> str:
    import requests

    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS certificate problem (is the server's certificate valid?)"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "Read timed out" in text:
            return "read timed out"
        if "Max retries exceeded" in text:
            return "could not connect (after retries)"
        return "connection failed"
    if "timed out" in str(exc).lower():
        return "read timed out"
    name = type(exc).__name__
    return f"{name}: {exc}" if str(exc) else name
