"""The HTTP session, what a failed connection says about the network, and resume bookkeeping.

Retrying helps with a busy server (429, 5xx) or a connection cut in the middle of a body. It
does not help when the name does not resolve, the port is refused or the network is
unreachable: those mean "no network here" (or "no such host"), and each retry only makes the
user wait. Such errors are raised at once, and the downloader decides what they mean for the
rest of the run (``reach.Reach``).
"""

from __future__ import annotations

import errno
import json
import os
from typing import TYPE_CHECKING

from packbuilder import __version__
from packbuilder.i18n import N_, _

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType
    from typing import Self

    import requests
    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

USER_AGENT = f"packbuilder/{__version__} (USB keys of free software for associations)"

_UNREACHABLE = {
    errno.ECONNREFUSED: N_("connection refused"),
    errno.ENETUNREACH: N_("network unreachable"),
    errno.EHOSTUNREACH: N_("host unreachable"),
    errno.ENETDOWN: N_("network down"),
    errno.EHOSTDOWN: N_("host down"),
    errno.EADDRNOTAVAIL: N_("no address to connect from"),
}


def no_network_reason(exc: BaseException | None) -> str | None:
    """Why a connection could not be made, when the cause means "not reachable from here"
    (name not resolved, refused, unreachable, connect timeout); None for anything else."""
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NameResolutionError, NewConnectionError

    seen = 0
    while exc is not None and seen < 8:  # requests wraps urllib3, which wraps the socket error
        seen += 1
        if isinstance(exc, MaxRetryError):
            exc = exc.reason
            continue
        if isinstance(exc, NameResolutionError):
            return _("name not found (DNS)")
        if isinstance(exc, NewConnectionError):
            cause = exc.__cause__ or exc.__context__
            code = getattr(cause, "errno", None)
            return _(_UNREACHABLE.get(code, N_("could not connect")) if isinstance(code, int) else N_("could not connect"))
        if isinstance(exc, ConnectTimeoutError):
            return _("connection timed out")
        args = getattr(exc, "args", ())
        exc = args[0] if args and isinstance(args[0], BaseException) else None
    return None


def make_session(insecure_ok: bool = False) -> requests.Session:
    """A session that retries 429/5xx and broken reads with backoff (honouring Retry-After), a
    connect timeout once, and a refused, unreachable or unresolved host never."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.exceptions import MaxRetryError, NewConnectionError
    from urllib3.util.retry import Retry

    class _Retry(Retry):
        def increment(
            self,
            method: str | None = None,
            url: str | None = None,
            response: BaseHTTPResponse | None = None,
            error: Exception | None = None,
            _pool: ConnectionPool | None = None,
            _stacktrace: TracebackType | None = None,
        ) -> Self:
            if isinstance(error, NewConnectionError) and _pool is not None:
                # Retrying cannot make the name resolve or the network appear (a connect
                # timeout, which may be a lost packet, keeps its one retry).
                raise MaxRetryError(_pool, url or "", error) from error
            return super().increment(method, url, response, error, _pool, _stacktrace)

    retry = _Retry(
        total=5,
        connect=1,
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


def describe(exc: BaseException) -> str:
    """A short reason for a failed request, for people."""
    import requests

    if isinstance(exc, requests.exceptions.SSLError):
        return _("TLS certificate problem (is the server's certificate valid?)")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return _("connection timed out")
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = no_network_reason(exc)
        if reason is not None:
            return reason
        text = str(exc)
        if "Read timed out" in text:
            return _("read timed out")
        if "Max retries exceeded" in text:
            return _("could not connect (after retries)")
        return _("connection failed")
    if "timed out" in str(exc).lower():
        return _("read timed out")
    name = type(exc).__name__
    return f"{name}: {exc}" if str(exc) else name


def resume_point(partial: Path, sidecar: Path, url: str) -> tuple[int, str | None]:
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


def save_sidecar(sidecar: Path, url: str, response: requests.Response) -> None:
    validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
    if validator and validator.startswith("W/"):
        validator = None  # a weak ETag cannot guarantee the same bytes
    sidecar.write_text(json.dumps({"url": url, "validator": validator}), encoding="utf-8")
