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

    try:
        server = make_server(root, bind, port)
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InputError(
            f"cannot serve on {bind}:{port}: {reason}",
            hint="choose another --port (1024-65535, e.g. 8378) or a --bind address of this machine (0.0.0.0: all)",
        ) from None
    print_mirror_lines(output, root, bind, server.server_address[1])
    try:
        server.serve_forever()
    finally:
        server.server_close()
