"""``cache serve``: share verified cache files with the other volunteers of a workshop.

Only the verified part of the cache (``sha256/``, ``sha512/``: files land there only once their
hash matched) is served, read-only (GET and HEAD), regular files only (a link is never
followed), with ``Range`` so an interrupted copy resumes. Clients check every hash themselves,
so a plain-http mirror on the local network is safe to use. The server announces itself on the
local network (mDNS) so that ``--mirror auto`` finds it.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from email.utils import formatdate
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packbuilder.fsutil import open_regular

if TYPE_CHECKING:
    from packbuilder.ui import Output

_ALLOWED = re.compile(r"^/(sha256/[0-9a-f]{2}/([0-9a-f]{64})|sha512/[0-9a-f]{2}/([0-9a-f]{128}))$")
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class CacheHandler(BaseHTTPRequestHandler):
    server_version = "packbuilder-cache"
    protocol_version = "HTTP/1.1"  # keep-alive: a pack is many files

    def __init__(self, *args: Any, directory: str, **kwargs: Any):
        self.directory = directory
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, body: bool) -> None:
        match = _ALLOWED.match(self.path.split("?", 1)[0])
        if match is None:
            self.send_error(404, "not a cache entry")
            return
        try:
            fd, size = open_regular(Path(self.directory) / match.group(1))
        except OSError:
            self.send_error(404, "not in this cache")
            return
        with os.fdopen(fd, "rb") as fh:
            etag = f'"{match.group(2) or match.group(3)}"'  # content-addressed: the hash is a strong validator
            wanted = self._range(size, etag)
            if wanted is None:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start, end, partial_reply = wanted
            self.send_response(206 if partial_reply else 200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", formatdate(os.fstat(fh.fileno()).st_mtime, usegmt=True))
            if partial_reply:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.send_header("Content-Length", str(end - start + 1))
            self.end_headers()
            if body and end >= start:
                try:
                    self.wfile.flush()
                    self.connection.sendfile(fh, start, end - start + 1)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

    def _range(self, size: int, etag: str) -> tuple[int, int, bool] | None:
        """The bytes to send: (first, last, as a range); None when the range cannot be satisfied.
        One range only (a multi-range request gets the whole file, which HTTP allows)."""
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        whole = (0, size - 1, False)
        if not wanted or (if_range is not None and if_range != etag):
            return whole
        match = _RANGE.match(wanted.strip())
        if match is None or not (match.group(1) or match.group(2)):
            return whole
        first, last = match.group(1), match.group(2)
        if not first:  # the last N bytes
            n = int(last)
            return (max(0, size - n), size - 1, True) if n > 0 and size > 0 else None
        start = int(first)
        if start >= size:
            return None
        return start, min(int(last), size - 1) if last else size - 1, True

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def make_server(root: Path, bind: str, port: int) -> ThreadingHTTPServer:
    handler = partial(CacheHandler, directory=str(root))
    return _Server((bind, port), handler)


def _usable(address: str) -> bool:
    """An IPv4 address other PCs may reach: not loopback, not link-local, not unspecified."""
    return address.count(".") == 3 and not address.startswith(("127.", "169.254.", "0."))


def lan_addresses(bind: str) -> list[str]:
    """The IPv4 addresses other PCs of the network can reach this server at, sorted.

    A host name (``vm``, ``atelier-pc``) is no use to them: workshop networks rarely resolve local
    names. With a bind address, that one; otherwise every network card's address (ifaddr, where
    installed), plus the address of the route out, found by "connecting" a UDP socket to a
    documentation address (no packet is sent) for systems where ifaddr is missing.
    """
    if bind not in ("", "0.0.0.0", "::"):
        return [bind]
    found: set[str] = set()
    try:
        import ifaddr  # type: ignore[import-not-found,unused-ignore]

        for adapter in ifaddr.get_adapters():
            found.update(ip.ip for ip in adapter.ips if isinstance(ip.ip, str))
    except ImportError:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            found.add(probe.getsockname()[0])
    except OSError:  # no route at all: no network
        pass
    return sorted((a for a in found if _usable(a)), key=lambda a: tuple(int(p) for p in a.split(".")))


def print_mirror_lines(output: Output, root: Path, bind: str, port: int) -> None:
    """Where the cache is served, and the ``--mirror`` line the other volunteers copy."""
    from packbuilder.i18n import _

    output.info(_("serving {root} on port {port}").format(root=root, port=port))
    addresses = lan_addresses(bind)
    if not addresses:
        output.warn(_("no network address found: connect this machine to the workshop's network"))
        return
    output.info(_("on the other PCs of this network, copy one of these lines:"))
    for address in addresses:
        output.info(f"  packbuilder fetch PACK --mirror http://{address}:{port}")


def serve_cache(root: Path, bind: str, port: int, output: Output) -> None:
    from packbuilder.errors import InputError
    from packbuilder.fetch.lan import advertise
    from packbuilder.i18n import _

    try:
        server = make_server(root, bind, port)
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(
            _("cannot serve on {bind}:{port}: {reason}").format(bind=bind, port=port, reason=reason),
            hint=_("choose another --port (1024-65535, e.g. 8378) or a --bind address of this machine (0.0.0.0: all)"),
        ) from None
    real_port = server.server_address[1]
    print_mirror_lines(output, root, bind, real_port)
    # Serve at once; announcing (a second or two of mDNS probing) happens meanwhile.
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with advertise(real_port, bind) as addresses:
            if addresses:
                output.info(
                    _("announced on the local network ({addresses}): others use --mirror auto").format(
                        addresses=", ".join(addresses)
                    )
                )
            else:
                output.warn(_("no network card to announce the cache on: others must name it"))
            while thread.is_alive():
                thread.join(0.5)
    except KeyboardInterrupt:  # Ctrl-C is how a server is stopped: not an error
        output.info(_("stopped serving"))
    finally:
        server.shutdown()
        server.server_close()
