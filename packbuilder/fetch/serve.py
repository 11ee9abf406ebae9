"""``cache serve``: share verified cache files with the other volunteers of a workshop.

Only the verified part of the cache (``sha256/``, ``sha512/``) is served, read-only. Clients
check every hash themselves, so a plain-http mirror on the local network is safe to use.
"""

from __future__ import annotations

import re
import socket
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from packbuilder.ui import Output

_ALLOWED = re.compile(r"^/(sha256/[0-9a-f]{2}/[0-9a-f]{64}|sha512/[0-9a-f]{2}/[0-9a-f]{128})$")


class CacheHandler(SimpleHTTPRequestHandler):
    server_version = "packbuilder-cache"

    def do_GET(self) -> None:
        if not _ALLOWED.match(self.path.split("?", 1)[0]):
            self.send_error(404, "not a cache entry")
            return
        super().do_GET()

    def do_HEAD(self) -> None:
        if not _ALLOWED.match(self.path.split("?", 1)[0]):
            self.send_error(404, "not a cache entry")
            return
        super().do_HEAD()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_server(root: Path, bind: str, port: int) -> ThreadingHTTPServer:
    handler = partial(CacheHandler, directory=str(root))
    return ThreadingHTTPServer((bind, port), handler)


def serve_cache(root: Path, bind: str, port: int, output: Output) -> None:
    from packbuilder.errors import InputError

    try:
        server = make_server(root, bind, port)
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(
            f"cannot serve on {bind}:{port}: {reason}",
            hint="choose another --port (1024-65535, e.g. 8378) or a --bind address of this machine (0.0.0.0: all)",
        ) from None
    host = socket.gethostname()
    output.info(f"serving {root} on port {server.server_address[1]}")
    output.info(f"other volunteers: packbuilder fetch PACK --mirror http://{host}:{server.server_address[1]}")
    try:
        server.serve_forever()
    finally:
        server.server_close()
