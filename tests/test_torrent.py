"""``publish --base-url``: a .torrent per image, web-seeded from the site.

The torrents are read back three ways: by a small bencode reader written here (raw structure,
info-hash), by torf (piece hashes against the files), and by a real BitTorrent client, aria2,
which downloads an image from the .torrent alone, from a local HTTPS server with Range support
and no peer at all (DHT, local peer discovery and peer exchange off: nothing leaves 127.0.0.1).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from packbuilder.torrent import piece_size
from tests.conftest import run_cli
from tests.httpserver import LocalServer
from tests.test_publish import make_outputs

pytestmark = pytest.mark.slow

SITE_PATH = "ok/site/"  # the site's folder on the test server (see tests/httpserver.py)


def bdecode(data: bytes, pos: int = 0) -> tuple[object, int]:
    """Minimal bencode reader (BEP 3), independent of torf: returns (value, end position)."""
    kind = data[pos : pos + 1]
    if kind == b"i":
        end = data.index(b"e", pos)
        return int(data[pos + 1 : end]), end + 1
    if kind in (b"l", b"d"):
        pos += 1
        items: list[object] = []
        while data[pos : pos + 1] != b"e":
            value, pos = bdecode(data, pos)
            items.append(value)
        if kind == b"l":
            return items, pos + 1
        keys = items[0::2]
        assert keys == sorted(keys), "dictionary keys must be sorted (BEP 3)"  # type: ignore[type-var]
        return dict(zip(keys, items[1::2], strict=True)), pos + 1
    colon = data.index(b":", pos)
    length = int(data[pos:colon])
    return data[colon + 1 : colon + 1 + length], colon + 1 + length


def info_hash(torrent: bytes) -> str:
    """sha1 of the info dictionary's exact bytes, found by walking the top-level dictionary."""
    assert torrent[:1] == b"d"
    pos = 1
    while torrent[pos : pos + 1] != b"e":
        key, pos = bdecode(torrent, pos)
        start = pos
        _, pos = bdecode(torrent, pos)
        if key == b"info":
            return hashlib.sha1(torrent[start:pos]).hexdigest()
    raise AssertionError("no info dictionary")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A zip and a 64 MB FAT32 usb image (a size no multiple of the piece size)."""
    return make_outputs(tmp_path_factory.mktemp("outputs"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> LocalServer:
    srv = LocalServer(tmp_path_factory.mktemp("server"))
    yield srv  # type: ignore[misc]
    srv.close()


@pytest.fixture(scope="module")
def site(outputs: list[Path], server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site") / "site"
    result = run_cli("publish", *map(str, outputs), "-o", str(site), "--base-url", server.url(SITE_PATH))
    assert result.returncode == 0, result.stderr
    # Serve the published folder: every file of images/ under /ok/site/images/.
    for path in (site / "images").iterdir():
        server.files.add(path.name, path.read_bytes())
    return site


def torrents_of(site: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((site / "images").glob("*.torrent"))}


def test_each_image_has_a_web_seeded_v1_torrent(site: Path, outputs: list[Path], server: LocalServer) -> None:
    torrents = torrents_of(site)
    assert sorted(torrents) == sorted(f"{p.name}.torrent" for p in outputs)
    for out in outputs:
        meta, end = bdecode(torrents[f"{out.name}.torrent"])
        assert isinstance(meta, dict) and end == len(torrents[f"{out.name}.torrent"])
        # Nothing random or machine-dependent: no comment, source, private flag, or file attributes.
        assert sorted(meta) == [b"created by", b"creation date", b"info", b"url-list"]
        assert meta[b"url-list"] == [server.url(f"{SITE_PATH}images/{out.name}").encode()]
        assert meta[b"creation date"] == int(dt.datetime(2025, 6, 1, tzinfo=dt.UTC).timestamp())  # the images' date
        info = meta[b"info"]
        assert isinstance(info, dict)
        assert sorted(info) == [b"length", b"name", b"piece length", b"pieces"]
        assert info[b"name"] == out.name.encode() and info[b"length"] == out.stat().st_size
        assert info[b"piece length"] == piece_size(out.stat().st_size)


def test_piece_hashes_match_the_files(site: Path, outputs: list[Path]) -> None:
    import torf

    for out in outputs:
        torrent = torf.Torrent.read(site / "images" / f"{out.name}.torrent")
        data = out.read_bytes()
        size = torrent.piece_size
        expected = [hashlib.sha1(data[i : i + size]).digest() for i in range(0, len(data), size)]
        if out.suffix == ".img":
            assert len(expected) > 100 and len(data) % size != 0  # many pieces, a short last one
        assert list(torrent.hashes) == expected
        assert torrent.verify(site / "images" / out.name)  # and torf agrees


def test_index_and_site_carry_magnet_and_info_hash(site: Path, outputs: list[Path], server: LocalServer) -> None:
    index = json.loads((site / "index.json").read_text(encoding="utf-8"))
    pages = {lang: (site / page).read_text(encoding="utf-8") for lang, page in (("fr", "index.html"), ("en", "index.en.html"))}
    for image in index["images"]:
        entry = image["torrent"]
        raw = (site / entry["file"]).read_bytes()
        assert entry["file"] == f"{image['file']}.torrent"
        assert entry["info_hash"] == info_hash(raw)
        magnet = urlsplit(entry["magnet"])
        query = parse_qs(magnet.query)
        assert magnet.scheme == "magnet"
        assert query["xt"] == [f"urn:btih:{entry['info_hash']}"]
        assert query["dn"] == [image["name"]] and query["xl"] == [str(image["size"])]
        assert query["ws"] == [server.url(f"{SITE_PATH}{image['file']}")] == entry["web_seeds"]
        for lang, page in pages.items():
            assert f'href="images/{image["name"]}.torrent"' in page, lang
            assert entry["info_hash"] in page
            assert entry["magnet"].replace("&", "&amp;") in page
    assert "lien magnet" in pages["fr"] and "magnet link" in pages["en"]


def test_sha256sums_cover_the_torrents(site: Path, outputs: list[Path]) -> None:
    result = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=site / "images", capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    checked = sorted(line.removesuffix(": OK") for line in result.stdout.splitlines())
    assert checked == sorted([p.name for p in outputs] + [f"{p.name}.torrent" for p in outputs])


def aria2(torrent: Path, dest: Path, ca: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "aria2c",
            "--no-conf",
            f"--dir={dest}",
            f"--ca-certificate={ca}",
            # No peers from anywhere: no DHT, no local peer discovery, no peer exchange, no tracker.
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--bt-exclude-tracker=*",
            "--interface=127.0.0.1",  # every socket bound to loopback
            "--seed-time=0",  # stop once complete instead of seeding
            "--file-allocation=none",
            "--summary-interval=0",
            "--console-log-level=warn",
            "--max-tries=3",
            "--timeout=20",
            *extra,
            str(torrent),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_aria2_downloads_an_image_from_the_web_seed_alone(
    site: Path, outputs: list[Path], server: LocalServer, tmp_path: Path
) -> None:
    image = outputs[1]  # the usb image: 64 MB, many pieces
    before = len(server.files.ranges)
    result = aria2(site / "images" / f"{image.name}.torrent", tmp_path, server.cert)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / image.name).read_bytes() == image.read_bytes()
    # It came from the web seed, asking for byte ranges whose end it knew from the torrent alone.
    ranges = [r for path, r in server.files.ranges[before:] if path.endswith(f"/images/{image.name}")]
    assert ranges and all(r.endswith(f"-{image.stat().st_size - 1}") for r in ranges), ranges


def test_aria2_refuses_a_web_seed_serving_other_bytes(outputs: list[Path], tmp_path: Path) -> None:
    """The client checks every piece against the torrent: one flipped byte on the server stops it."""
    from packbuilder.torrent import make_torrent

    image = outputs[1]
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad_server = LocalServer(tmp_path)
    try:
        bad_server.files.add(image.name, bytes(data))
        folder = tmp_path / "images"
        folder.mkdir()
        (folder / image.name).write_bytes(image.read_bytes())
        made = make_torrent(folder / image.name, [bad_server.url(f"ok/{image.name}")], [], dt.datetime(2025, 6, 1, tzinfo=dt.UTC))
        dest = tmp_path / "dl"
        result = aria2(made.torrent, dest, bad_server.cert, "--bt-stop-timeout=5")
    finally:
        bad_server.close()
    assert result.returncode != 0, result.stdout
    assert (dest / image.name).read_bytes() != image.read_bytes()


def test_torrents_are_reproducible(outputs: list[Path], tmp_path: Path) -> None:
    runs = []
    for n, epoch in ((1, None), (2, None), (3, "1700000000")):
        for out in outputs:  # other modification times: they must not matter
            out.touch()
        site = tmp_path / f"site{n}"
        env = {"SOURCE_DATE_EPOCH": epoch} if epoch else {}
        result = run_cli(
            "publish", *map(str, outputs), "-o", str(site), "--base-url", "https://asso.example.org/cles",
            "--tracker", "udp://tracker.example.org:6969/announce", env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        runs.append(torrents_of(site))
    assert runs[0] == runs[1]
    for name, raw in runs[2].items():
        meta, _ = bdecode(raw)
        assert isinstance(meta, dict)
        assert meta[b"creation date"] == 1700000000
        assert meta[b"announce"] == b"udp://tracker.example.org:6969/announce"
        assert meta[b"url-list"] == [f"https://asso.example.org/cles/images/{name.removesuffix('.torrent')}".encode()]
        assert info_hash(raw) == info_hash(runs[0][name])  # the date is outside the info dictionary


def test_publish_without_base_url_removes_old_torrents(outputs: list[Path], tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert run_cli("publish", *map(str, outputs), "-o", str(site), "--base-url", "https://a.example.org/").returncode == 0
    assert torrents_of(site)
    result = run_cli("publish", *map(str, outputs), "-o", str(site))
    assert result.returncode == 0, result.stderr
    assert not torrents_of(site)
    index = json.loads((site / "index.json").read_text(encoding="utf-8"))
    assert all("torrent" not in image for image in index["images"])
    assert ".torrent" not in (site / "images" / "SHA256SUMS").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base-url", "ftp://asso.example.org/"], "--base-url 'ftp://asso.example.org/' is not an http(s) address"),
        (["--base-url", "https://a.example.org/", "--tracker", "asso.example.org"], "--tracker 'asso.example.org' is not"),
        (["--tracker", "udp://t.example.org:6969/announce"], "--tracker needs --base-url"),
    ],
)
def test_bad_torrent_options_are_usage_errors(outputs: list[Path], tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli("publish", str(outputs[0]), "-o", str(tmp_path / "site"), *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "site").exists()  # refused before anything was written


def test_web_seed_addresses_are_percent_encoded_under_the_base() -> None:
    from packbuilder.torrent import web_seed

    assert web_seed("https://asso.example.org/clés", "images/clé asso#1.img") == (
        "https://asso.example.org/cl%C3%A9s/images/cl%C3%A9%20asso%231.img"
    )
    assert web_seed("http://10.0.0.2:8080", "images/a.img") == "http://10.0.0.2:8080/images/a.img"
    assert web_seed("https://a.example.org/d%C3%A9p%C3%B4t/", "images/a.img") == "https://a.example.org/d%C3%A9p%C3%B4t/images/a.img"


def test_publish_json_lists_the_torrents(outputs: list[Path], tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = run_cli("--json", "publish", *map(str, outputs), "-o", str(site), "--base-url", "https://a.example.org/")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["torrents"] == sorted(str(site / "images" / f"{p.name}.torrent") for p in outputs)
