"""What one run has learnt about the network, shared by the download threads.

A host that could not be reached (name not resolved, refused, unreachable) is not tried again
for the other files of the run. When the first internet hosts tried all fail that way and
none has answered, the verdict is "no network": the remaining internet sources are skipped,
so the user hears it in seconds rather than after every retry of every file.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from packbuilder.i18n import _

# Distinct unreachable internet hosts, with none answering, that make the "no network" verdict
# (fewer when the run needs fewer hosts).
VERDICT_HOSTS = 2


def host_of(url: str) -> str:
    return urlsplit(url).netloc.lower()


@dataclass
class Reach:
    internet_hosts: int = VERDICT_HOSTS
    answered: set[str] = field(default_factory=set)
    unreachable: dict[str, str] = field(default_factory=dict)  # host -> reason
    local: set[str] = field(default_factory=set)  # hosts of --mirror URLs (LAN): no verdict from them
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reached(self, url: str) -> None:
        with self._lock:
            self.answered.add(host_of(url))
            self.unreachable.pop(host_of(url), None)

    def failed(self, url: str, reason: str) -> None:
        with self._lock:
            host = host_of(url)
            if host not in self.answered:
                self.unreachable[host] = reason

    def why_not(self, url: str, internet: bool) -> str | None:
        """Why ``url`` is not worth trying now, or None."""
        with self._lock:
            host = host_of(url)
            if host in self.unreachable:
                reason = self.unreachable[host]
                return _("not tried: {host} could not be reached earlier ({reason})").format(host=host, reason=reason)
        if internet and self.no_network() is not None:
            return _("not tried: no network")
        return None

    def no_network(self) -> str | None:
        """The verdict: a summary of the unreachable internet hosts when the network looks down."""
        with self._lock:
            if any(host not in self.local for host in self.answered):
                return None
            down = {h: r for h, r in self.unreachable.items() if h not in self.local}
            if not down or len(down) < min(VERDICT_HOSTS, max(1, self.internet_hosts)):
                return None
            return "; ".join(f"{host}: {reason}" for host, reason in sorted(down.items()))
