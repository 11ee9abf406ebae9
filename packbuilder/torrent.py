"""BitTorrent files for published images, with the web site itself as the seed.

Each published file gets ``NAME.torrent`` beside it: a single-file BitTorrent v1 torrent whose
``url-list`` (BEP 19, "web seeds") is the file's address on the site. A client can therefore
download from the plain web server alone, with no peer and no tracker, and every client that
joins shares the load. Any mirror of the site is a seed too: add its address to ``url-list``.

Only v1: torf 4 (the library used here) writes no v2 or hybrid torrents.

Reproducible: the same files, addresses and date give the same bytes. There is no random field
(torf's ``randomize_infohash`` stays off, no ``source``), the creation date is
``SOURCE_DATE_EPOCH`` or the newest image's date, and the piece size is a function of the file
size decided here (not left to the library's defaults, which may change between versions).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from packbuilder import __version__
from packbuilder.errors import AssemblyError, InputError
from packbuilder.i18n import _
from packbuilder.ui import NO_METER, OUTPUT, Meter, Output

SUFFIX = ".torrent"
# When neither SOURCE_DATE_EPOCH nor an image date is known (the same constant as build dates).
DEFAULT_DATE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
# Pieces between 256 KiB and 16 MiB, about 1000 to 2000 of them: small .torrent files, and a
# web seed request per piece that is neither tiny nor huge.
MIN_PIECE = 256 * 1024
MAX_PIECE = 16 * 1024 * 1024
MAX_PIECES = 2048
TRACKER_SCHEMES = ("http", "https", "udp")


@dataclass(frozen=True)
class TorrentInfo:
    """One written ``.torrent``: the file it covers and what a download page shows of it."""

    file: Path
    torrent: Path
    info_hash: str  # hex sha1 of the bencoded info dictionary (the v1 BTIH)
    magnet: str
    web_seeds: tuple[str, ...]
    piece_size: int

    def entry(self, root: Path) -> dict[str, Any]:
        """What index.json says of it (paths relative to the site's root)."""
        return {
            "file": self.torrent.relative_to(root).as_posix(),
            "info_hash": self.info_hash,
            "magnet": self.magnet,
            "web_seeds": list(self.web_seeds),
            "piece_size": self.piece_size,
        }


def check_base_url(url: str) -> str:
    """The site's address, ending with ``/`` so that relative paths join under it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise InputError(
            _("--base-url {url!r} is not an http(s) address of a folder").format(url=url),
            hint=_("give the address where the site folder will be served, e.g. https://asso.example.org/cles/"),
        )
    # The path percent-encoded (what is already encoded stays so): clients want plain ASCII URLs.
    path = quote(parts.path, safe="/%:@!$&'()*+,;=~")
    url = parts._replace(path=path if path.endswith("/") else path + "/").geturl()
    return url


def check_tracker(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in TRACKER_SCHEMES or not parts.netloc:
        raise InputError(
            _("--tracker {url!r} is not a tracker address").format(url=url),
            hint=_("give an http(s):// or udp:// announce URL, e.g. udp://tracker.example.org:6969/announce"),
        )
    return url


def web_seed(base_url: str, relative: str) -> str:
    """The file's address under the site: percent-encoded, as a browser would ask for it."""
    return check_base_url(base_url) + quote(relative, safe="/")


def torrent_date(dates: Iterable[str | None]) -> dt.datetime:
    """SOURCE_DATE_EPOCH, else the newest of the images' dates (``YYYY-MM-DD``), else 2000-01-01."""
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env and env.isdigit():
        return dt.datetime.fromtimestamp(int(env), tz=dt.UTC)
    known = sorted(d for d in dates if d)
    if not known:
        return DEFAULT_DATE
    return dt.datetime.combine(dt.date.fromisoformat(known[-1]), dt.time(), tzinfo=dt.UTC)


def piece_size(size: int) -> int:
    """The smallest power of two from 256 KiB to 16 MiB that keeps the count at most MAX_PIECES."""
    piece = MIN_PIECE
    while piece < MAX_PIECE and size > piece * MAX_PIECES:
        piece *= 2
    return piece


def make_torrent(
    path: Path, web_seeds: list[str], trackers: list[str], created: dt.datetime, meter: Meter = NO_METER
) -> TorrentInfo:
    """Hash ``path`` into ``path.torrent`` (written beside it, replaced if there), the pieces hashed told to ``meter``."""
    import torf

    size = path.stat().st_size
    if size == 0:
        raise InputError(
            _("{path} is empty: a torrent cannot describe an empty file").format(path=path), hint=_("publish built images only")
        )
    torrent = torf.Torrent(
        path=path,
        webseeds=web_seeds,
        # A flat list gives one tier per tracker: clients try them in turn (BEP 12).
        trackers=trackers or None,
        creation_date=created,
        created_by=f"packbuilder {__version__}",
        piece_size=piece_size(size),
        private=None,
        randomize_infohash=False,
    )
    told = 0

    def hashed(_torrent: object, _path: object, pieces_done: int, _pieces_total: int) -> None:
        nonlocal told  # torf reports pieces done so far; the meter takes bytes added (None: go on hashing)
        done = min(size, pieces_done * torrent.piece_size)
        meter.advance(done - told)
        told = done

    try:
        torrent.generate(threads=max(1, min(4, os.cpu_count() or 1)), callback=hashed, interval=0.2)
        target = path.with_name(path.name + SUFFIX)
        torrent.write(target, overwrite=True)
    except torf.TorfError as exc:
        raise AssemblyError(
            _("{path}: the torrent could not be made: {exc}").format(path=path, exc=exc), hint=_("check the file and the disk")
        ) from exc
    return TorrentInfo(
        file=path,
        torrent=target,
        info_hash=str(torrent.infohash),
        magnet=str(torrent.magnet()),
        web_seeds=tuple(web_seeds),
        piece_size=int(torrent.piece_size),
    )


def write_torrents(
    files: list[Path], root: Path, base_url: str, trackers: list[str], created: dt.datetime, output: Output | None = None
) -> dict[str, TorrentInfo]:
    """One torrent per file (each under ``root``), web seed = base URL + its path in ``root``.

    Returns them by the covered file's path relative to ``root`` (as index.json writes it).
    """
    base = check_base_url(base_url)
    announce = [check_tracker(t) for t in trackers]
    made = {}
    for path in sorted(files):
        relative = path.relative_to(root).as_posix()
        label = _("Torrent of {name}").format(name=path.name)
        with (output or OUTPUT).meter(label, path.stat().st_size) as meter:
            made[relative] = make_torrent(path, [web_seed(base, relative)], announce, created, meter)
    return made


def remove_stale(folder: Path, keep: Iterable[TorrentInfo]) -> None:
    """Torrents of an earlier publish whose file is no longer published (or published without them)."""
    wanted = {t.torrent.name for t in keep}
    for old in folder.glob(f"*{SUFFIX}"):
        if old.name not in wanted:
            old.unlink()


def annotate(document: Any, root: Path, torrents: dict[str, TorrentInfo]) -> None:
    """Add ``"torrent": {...}`` to every dict of ``document`` whose ``"file"`` has a torrent.

    Walks the whole document so that any listed file (an image, a compressed copy) gets its own.
    """
    if isinstance(document, dict):
        covered = document.get("file")
        if isinstance(covered, str) and covered in torrents:
            document["torrent"] = torrents[covered].entry(root)
        for key, value in list(document.items()):
            if key != "torrent":
                annotate(value, root, torrents)
    elif isinstance(document, list):
        for value in document:
            annotate(value, root, torrents)
