"""Workshop sharing on the local network: ``cache serve`` says where it is (mDNS / DNS-SD, the
protocol behind Bonjour and Avahi) and ``--mirror auto`` finds it.

Nothing found this way is trusted more than any mirror: every file is hashed by the client.
``PACKBUILDER_MDNS_INTERFACES`` (IPv4 addresses, comma-separated) limits both sides to some
network cards, e.g. ``127.0.0.1`` to stay on this machine.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zeroconf import Zeroconf

SERVICE = "_packbuilder._tcp.local."
AUTO_WAIT = 3.0  # seconds to listen for answers (most come within one)
SETTLE = 0.5  # after the first answer, time for the others


def _interfaces(bind: str | None = None) -> list[str] | None:
    """The IPv4 addresses to use, None for all network cards."""
    chosen = os.environ.get("PACKBUILDER_MDNS_INTERFACES", "")
    if chosen.strip():
        return [a.strip() for a in chosen.split(",") if a.strip()]
    if bind and bind not in ("0.0.0.0", ""):
        return [bind]
    return None


def _open(interfaces: list[str] | None) -> Zeroconf:
    import logging

    from zeroconf import InterfaceChoice, IPVersion, Zeroconf

    # A network card without multicast makes zeroconf log a warning per packet: what matters
    # (found or not) is said by packbuilder itself.
    logging.getLogger("zeroconf").setLevel(logging.ERROR)

    return Zeroconf(interfaces=interfaces or InterfaceChoice.All, ip_version=IPVersion.V4Only)


def _own_addresses(interfaces: list[str] | None) -> list[str]:
    """Addresses others can reach this machine at: the chosen ones, else every non-loopback IPv4."""
    if interfaces:
        return [a for a in interfaces if _is_ipv4(a)]
    import ifaddr

    found = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and _is_ipv4(ip.ip) and not ip.ip.startswith("127."):
                found.append(ip.ip)
    return sorted(set(found))


def _is_ipv4(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv4Address)
    except ValueError:
        return False


@contextmanager
def advertise(port: int, bind: str) -> Iterator[list[str]]:
    """Announce a cache served on ``port`` while the block runs; yields the addresses announced
    (empty when there is no network to announce on)."""
    from zeroconf import Error as ZeroconfError
    from zeroconf import ServiceInfo

    from packbuilder import __version__

    interfaces = _interfaces(bind)
    addresses = _own_addresses(interfaces)
    if not addresses:
        yield []
        return
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0])[:40] or "packbuilder"
    info = ServiceInfo(
        SERVICE,
        f"packbuilder cache {host}-{port}.{SERVICE}",
        addresses=[socket.inet_aton(a) for a in addresses],
        port=port,
        properties={"version": __version__, "layout": "sha256/xx/hash"},
        server=f"{host}.local.",
    )
    try:
        zc = _open(interfaces)
    except OSError:
        yield []  # no multicast here: serving goes on, unannounced
        return
    try:
        zc.register_service(info, allow_name_change=True)
    except (OSError, ZeroconfError):
        zc.close()
        yield []
        return
    try:
        yield addresses
    finally:
        try:
            zc.unregister_service(info)
        finally:
            zc.close()


def discover(wait: float = AUTO_WAIT) -> list[str]:
    """The URLs of the ``cache serve`` mirrors that answer on the local network within ``wait``."""
    from zeroconf import ServiceBrowser, ServiceStateChange

    names: list[str] = []
    first = threading.Event()

    def on_change(zeroconf: Any, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Added and name not in names:
            names.append(name)
            first.set()

    try:
        zc = _open(_interfaces())
    except OSError:
        return []  # no network card to listen on
    try:
        browser = ServiceBrowser(zc, SERVICE, handlers=[on_change])
        start = time.monotonic()
        if first.wait(wait):
            time.sleep(min(SETTLE, max(0.0, wait - (time.monotonic() - start))))
        browser.cancel()
        urls = []
        for name in sorted(names):
            info = zc.get_service_info(SERVICE, name, timeout=1500)
            if info is None or not info.port:
                continue
            for address in info.parsed_addresses():
                if _is_ipv4(address):
                    urls.append(f"http://{address}:{info.port}")
                    break
        return list(dict.fromkeys(urls))
    finally:
        zc.close()
