"""What the downloader works on and reports: the items to fetch, their sources, the results,
the errors a source can give, and the progress interface (``ui.Bars`` implements it)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol


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
        from packbuilder.i18n import _

        super().__init__(
            _("{url}: hash mismatch: expected {expected}, got {actual} (kept in {quarantined})").format(
                url=url, expected=expected, actual=actual, quarantined=quarantined
            )
        )
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


@dataclass(frozen=True)
class Source:
    """One place to try: a URL or a folder; ``local`` for the --mirror ones (LAN, USB stick)."""

    location: str
    http_ok: bool
    local: bool

    @property
    def is_url(self) -> bool:
        return re.match(r"^https?://", self.location) is not None
