"""Offline first: folders of hand-named downloads, LAN mirrors (`cache serve`, found by mDNS on
the loopback interface), and a fast, clear diagnosis when no network is there.

Upstream is a real local HTTPS server whose hits are counted, a closed local port, or a name
under the reserved ``.invalid`` top-level domain: nothing leaves this machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from packbuilder.fetch.cache import Cache
from packbuilder.fetch.download import Downloader, FetchItem
from packbuilder.fetch.folder import FileInfo, FolderMirror, Wanted
from packbuilder.model.base import Base
from packbuilder.plan.lock import lock_bytes
from tests import factories, test_fetch
from tests.conftest import ROOT, run_cli
from tests.httpserver import LocalServer

LOOPBACK_ONLY = {"PACKBUILDER_MDNS_INTERFACES": "127.0.0.1"}


# The test server and its certificate, as in the download tests (the fixtures are shared, not copied).
server = test_fetch.server
trust_test_ca = test_fetch.trust_test_ca


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def archives(tag: str, n: int, size: int = 20_000) -> list[bytes]:
    """``n`` different zip archives (incompressible contents, so no bomb guard fires)."""
    out = []
    for i in range(n):
        seed, body = f"{tag}-{i}".encode(), bytearray(b"MZ")
        while len(body) < size:
            seed = hashlib.sha256(seed).digest()
            body += seed
        out.append(factories.zip_bytes({f"App{i}/app{i}.exe": bytes(body)}))
    return out


def write_lock(tmp_path: Path, items: list[dict[str, object]], name: str = "pack.lock") -> Path:
    path = tmp_path / name
    path.write_bytes(lock_bytes(factories.lock(items)))
    return path


def served_lock(server: LocalServer, tmp_path: Path, datas: list[bytes], behaviour: str = "ok") -> Path:
    """A lock whose upstream URLs are on the test server (``behaviour`` chooses how it answers)."""
    items = []
    for i, data in enumerate(datas):
        name = f"up-{hashlib.sha256(data).hexdigest()[:12]}.zip"
        server.files.add(name, data)
        items.append(factories.item(f"app{i}", url=server.url(f"{behaviour}/{name}"), data=data))
    return write_lock(tmp_path, items)


def upstream_hits(server: LocalServer, datas: list[bytes]) -> int:
    names = {f"up-{hashlib.sha256(d).hexdigest()[:12]}.zip" for d in datas}
    return sum(count for path, count in server.files.hits.items() if path.rsplit("/", 1)[-1] in names)


def env_for(server: LocalServer, tmp_path: Path, cache: str = "cache") -> dict[str, str]:
    return {
        "REQUESTS_CA_BUNDLE": str(server.cert),
        "PACKBUILDER_CACHE": str(tmp_path / cache),
        "PACKBUILDER_BACKOFF": "0.01",
        **LOOPBACK_ONLY,
    }


def hand_named_stick(folder: Path, datas: list[bytes]) -> Path:
    """The files under names a person gives them, in sub-folders, with a decoy of the same size
    as one of them and files that are nothing."""
    (folder / "Téléchargements" / "vieux").mkdir(parents=True)
    for i, data in enumerate(datas):
        sub = folder / "Téléchargements" if i % 2 else folder / "Téléchargements" / "vieux"
        (sub / f"Logiciel n°{i} (1).zip").write_bytes(data)
    decoy = bytearray(datas[0])
    decoy[-1] ^= 0xFF
    (folder / "copie abîmée.zip").write_bytes(bytes(decoy))
    (folder / "notes.txt").write_text("liste des logiciels\n", encoding="utf-8")
    return folder


# -- a folder of downloads is a mirror -------------------------------------------------------------


def test_a_build_from_a_folder_of_hand_named_files_never_waits_on_upstream(server: LocalServer, tmp_path: Path) -> None:
    datas = archives("stick", 5)
    lock = served_lock(server, tmp_path, datas, behaviour="slow")  # upstream would take seconds per file
    stick = hand_named_stick(tmp_path / "stick", datas)
    env = env_for(server, tmp_path)
    started = time.monotonic()
    result = run_cli("build", str(lock), "--format", "dir", "-o", str(tmp_path / "key"), "--mirror", str(stick), env=env)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert upstream_hits(server, datas) == 0
    assert (tmp_path / "key" / "Apps" / "Bureautique" / "App3" / "App3" / "app3.exe").read_bytes().startswith(b"MZ")
    cache = Cache(tmp_path / "cache")
    for data in datas:
        digest = hashlib.sha256(data).hexdigest()
        assert json.loads((cache.root / "meta" / f"{digest}.json").read_text())["url"].startswith(str(stick))
    assert elapsed < 30, f"{elapsed:.1f} s"
    memo = list((cache.root / "mirrors").glob("*.json"))
    assert len(memo) == 1 and "copie abîmée.zip" in json.loads(memo[0].read_text(encoding="utf-8"))["files"]


def test_offline_with_a_folder_holding_links_and_fifos_reads_only_the_real_files(server: LocalServer, tmp_path: Path) -> None:
    datas = archives("fifo", 2)
    lock = served_lock(server, tmp_path, datas)
    stick = hand_named_stick(tmp_path / "stick", datas)
    os.mkfifo(stick / "attente.zip")  # opening it would wait for a writer forever
    (stick / "zéros.zip").symlink_to("/dev/zero")
    (stick / "ailleurs").symlink_to("/", target_is_directory=True)  # never walked into
    started = time.monotonic()
    build = ["build", str(lock), "--format", "dir", "-o", str(tmp_path / "key"), "--offline", "--mirror", str(stick)]
    result = run_cli(*build, env=env_for(server, tmp_path))
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30 and upstream_hits(server, datas) == 0
    memo = json.loads(next((tmp_path / "cache" / "mirrors").glob("*.json")).read_text(encoding="utf-8"))
    assert not [rel for rel in memo["files"] if "attente" in rel or "zéros" in rel or rel.startswith("ailleurs")]


def test_the_folder_index_is_remembered_and_follows_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    datas = archives("memo", 3)
    stick = hand_named_stick(tmp_path / "stick", datas)
    wanted = [Wanted("sha256", hashlib.sha256(d).hexdigest(), len(d)) for d in datas]
    hashed: list[str] = []
    real_hash = FolderMirror._hash

    def counting(self: FolderMirror, job: tuple[FileInfo, set[str]]) -> dict[str, str]:
        hashed.append(job[0].rel)
        return real_hash(self, job)

    monkeypatch.setattr(FolderMirror, "_hash", counting)
    memo = tmp_path / "cache" / "mirrors"
    first = FolderMirror(stick, memo).locate(wanted)
    assert {w.digest for w in wanted} == set(first)
    # Only files whose size is an artifact's were read: the three, and the decoy of the same size.
    assert sorted(hashed) == sorted(
        ["copie abîmée.zip", *(p.relative_to(stick).as_posix() for p in stick.rglob("Logiciel*"))]
    )
    hashed.clear()
    assert FolderMirror(stick, memo).locate(wanted) == first
    assert hashed == []  # a second run reads nothing
    moved = stick / "Téléchargements" / "Logiciel n°1 (1).zip"
    moved.write_bytes(datas[2])  # same size, other content: its date changed, so it is read again
    os.utime(moved, ns=(time.time_ns(), time.time_ns() + 10**9))
    again = FolderMirror(stick, memo).locate(wanted)
    assert hashed == ["Téléchargements/Logiciel n°1 (1).zip"]
    assert wanted[1].digest not in again


def test_local_sources_come_first_then_artifact_mirrors_then_upstream(server: LocalServer, tmp_path: Path) -> None:
    a, b = archives("order", 2)
    da, db = server.files.add("order-a.zip", a), server.files.add("order-b.zip", b)
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "whatever.zip").write_bytes(a)
    downloader = Downloader(Cache(tmp_path / "cache"), mirrors=[str(stick)], timeout=(2.0, 2.0))
    item_a = FetchItem("a 1.0", (server.url("ok/order-a.zip"),), "sha256", da, len(a))
    item_b = FetchItem("b 1.0", (server.url("ok/order-b.zip"), server.url("norange/order-b.zip")), "sha256", db, len(b))
    result = downloader.fetch_all([item_a, item_b])
    assert not result.failures
    assert server.files.hits["/ok/order-a.zip"] == 0  # the folder had it
    assert server.files.hits["/norange/order-b.zip"] == 1 and server.files.hits["/ok/order-b.zip"] == 0


def test_a_missing_mirror_folder_is_a_usage_error(server: LocalServer, tmp_path: Path) -> None:
    lock = served_lock(server, tmp_path, archives("nofolder", 1))
    result = run_cli("fetch", str(lock), "--mirror", str(tmp_path / "nowhere"), env=env_for(server, tmp_path))
    assert result.returncode == 2 and "no such folder" in result.stderr, result.stderr


# -- no network: said in seconds, with the ways out -------------------------------------------------


def unreachable_lock(tmp_path: Path, n: int, hosts: list[str], mirrors: list[str]) -> Path:
    """``n`` artifacts on ``hosts``, with ``mirrors``, that cannot be reached."""
    items = []
    for i, data in enumerate(archives("dead", n)):
        mirror = [f"https://{mirrors[i % len(mirrors)]}/app{i}.zip"] if mirrors else []
        url = f"https://{hosts[i % len(hosts)]}/app{i}-1.0-win32.zip"
        items.append(factories.item(f"app{i}", url=url, mirrors=mirror, data=data))
    return write_lock(tmp_path, items)


def test_no_network_is_said_in_seconds_with_the_ways_out(server: LocalServer, tmp_path: Path) -> None:
    hosts = ["nothing.invalid", f"127.0.0.1:{closed_port()}", "files.nothing.invalid"]
    lock = unreachable_lock(tmp_path, 40, hosts, ["mirror0.nothing.invalid", "mirror1.nothing.invalid"])
    env = env_for(server, tmp_path)
    started = time.monotonic()
    result = run_cli("build", str(lock), "--format", "zip", "-o", str(tmp_path / "k.zip"), env=env)
    elapsed = time.monotonic() - started
    assert result.returncode == 3, result.stderr
    assert elapsed < 10, f"{elapsed:.1f} s"
    err = result.stderr
    assert "no network: 40 of 40 artifact(s) could not be fetched" in err
    assert "name not found (DNS)" in err
    assert "app7 1.0 (windows/x86): app7-1.0-win32.zip" in err  # what is missing, with its file name
    for way in ("--offline --mirror FOLDER", "cache import FOLDER", "cache serve", "--mirror auto", "cache export"):
        assert way in err, way
    assert "Traceback" not in err and not (tmp_path / "k.zip").exists()


def test_with_a_mirror_given_the_diagnosis_does_not_suggest_one(server: LocalServer, tmp_path: Path) -> None:
    lock = unreachable_lock(tmp_path, 4, [f"127.0.0.1:{closed_port()}", f"127.0.0.1:{closed_port()}"], [])
    empty = tmp_path / "empty-stick"
    empty.mkdir()
    result = run_cli("fetch", str(lock), "--mirror", str(empty), env=env_for(server, tmp_path))
    assert result.returncode == 3, result.stderr
    assert "no network" in result.stderr and "connection refused" in result.stderr
    assert "cache import FOLDER" in result.stderr
    assert "--mirror" not in result.stderr.split("ways out:", 1)[1]
    offline = run_cli("fetch", str(lock), "--offline", env=env_for(server, tmp_path))
    assert offline.returncode == 3 and "offline: 4 of 4 artifact(s) are not in the cache" in offline.stderr
    assert "--offline --mirror FOLDER" in offline.stderr


def test_an_unreachable_host_is_tried_once_and_server_errors_keep_their_retries(server: LocalServer, tmp_path: Path) -> None:
    port = closed_port()
    datas = archives("retry", 3)
    items = [
        FetchItem(f"x{i} 1.0", (f"https://127.0.0.1:{port}/x{i}.zip",), "sha256", hashlib.sha256(d).hexdigest(), len(d))
        for i, d in enumerate(datas)
    ]
    flaky, digest = datas[0] + b"!", ""
    digest = server.files.add("flaky-offline.zip", flaky)
    items.append(FetchItem("f 1.0", (server.url("flaky/2/flaky-offline.zip"),), "sha256", digest, len(flaky)))
    result = Downloader(Cache(tmp_path / "cache"), timeout=(2.0, 2.0)).fetch_all(items, jobs=1)
    errors = [e for f in result.failures for e in f.errors]
    assert sum("connection refused" in e and "not tried" not in e for e in errors) == 1, errors
    assert sum("could not be reached earlier" in e for e in errors) == 2, errors
    assert digest in result.paths and server.files.hits["/flaky/2/flaky-offline.zip"] == 3  # 503, 503, then the file


# -- cache import of a folder of downloads ----------------------------------------------------------


def _catalog_with(mini: Path, writer: bytes, light: bytes) -> Path:
    """The mini catalog whose two apps are these bytes (hash and size)."""
    for app, data, old_sha, old_size in (("writer", writer, "a1" * 32, "1000"), ("lightwriter", light, "b2" * 32, "500")):
        path = mini / "apps" / f"{app}.yaml"
        text = path.read_text(encoding="utf-8").replace(old_sha, hashlib.sha256(data).hexdigest(), 1)
        path.write_text(text.replace(f"size: {old_size}", f"size: {len(data)}", 1), encoding="utf-8")
    return mini


def test_cache_import_of_hand_named_files_makes_the_offline_build_work(
    server: LocalServer, tmp_path: Path, mini: Path
) -> None:
    writer, light, other = archives("import", 3)
    catalog = _catalog_with(mini, writer, light)
    env = {**env_for(server, tmp_path), "PACKBUILDER_CATALOG": str(catalog)}
    target = ["--for", "office", "--profile", "win7-32"]
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "Writer-2.0.1 portable.zip").write_bytes(writer)
    (stick / "autre.zip").write_bytes(other)
    (stick / "link.zip").symlink_to("/dev/zero")
    first = run_cli("--json", "cache", "import", str(stick), *target, env=env)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["imported"] == [{"file": "Writer-2.0.1 portable.zip", "artifact": "writer 2.0.1 (windows/x86)"}]
    assert report["unrecognised"] == ["autre.zip"] and report["missing"] == ["lightwriter 1.0 (windows/x86)"]
    assert "link.zip: not a regular file" in report["skipped"][0]
    build = ["build", "office", "--profile", "win7-32", "--format", "dir", "-o", str(tmp_path / "k"), "--offline"]
    offline = run_cli(*build, env=env)
    assert offline.returncode == 3 and "lightwriter" in offline.stderr
    (stick / "sous-dossier").mkdir()
    (stick / "sous-dossier" / "light.zip").write_bytes(light)
    second = run_cli("cache", "import", str(stick), *target, env=env)
    assert second.returncode == 0, second.stderr
    assert "lightwriter 1.0 (windows/x86) (imported)" in second.stdout
    assert "writer 2.0.1 (windows/x86) (already in the cache)" in second.stdout
    assert "nothing missing for office" in second.stdout
    built = run_cli(*build, env=env)
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "k" / ".packbuilder" / "manifest.json").is_file()


# -- workshop sharing: cache serve, Range, mDNS -----------------------------------------------------


@pytest.fixture
def served_cache(server: LocalServer, tmp_path: Path) -> Iterator[tuple[str, list[bytes], Path]]:
    """`packbuilder cache serve` on 127.0.0.1 (announced on the loopback interface only), with a
    cache holding three artifacts; yields (its URL, the artifacts, the lock)."""
    datas = archives("lan", 3)
    lock = served_lock(server, tmp_path, datas)
    env = env_for(server, tmp_path, cache="lan-cache")
    assert run_cli("fetch", str(lock), env=env).returncode == 0
    port = closed_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "packbuilder", "cache", "serve", "--bind", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.head(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", datas, lock
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def test_cache_serve_is_found_by_mirror_auto_and_used_offline(
    served_cache: tuple[str, list[bytes], Path], server: LocalServer, tmp_path: Path
) -> None:
    url, datas, lock = served_cache
    before = upstream_hits(server, datas)
    result = run_cli("--json", "fetch", str(lock), "--offline", "--mirror", "auto", env=env_for(server, tmp_path, "c2"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["downloaded"] == 3
    assert upstream_hits(server, datas) == before
    meta = Cache(tmp_path / "c2").root / "meta" / f"{hashlib.sha256(datas[0]).hexdigest()}.json"
    assert json.loads(meta.read_text())["url"].startswith(url)  # the one announced on loopback


def test_cache_serve_answers_ranges_and_serves_only_cache_files(served_cache: tuple[str, list[bytes], Path]) -> None:
    url, datas, _ = served_cache
    digest = hashlib.sha256(datas[1]).hexdigest()
    file_url = f"{url}/sha256/{digest[:2]}/{digest}"
    whole = requests.get(file_url, timeout=5)
    assert whole.status_code == 200 and whole.content == datas[1] and whole.headers["Accept-Ranges"] == "bytes"
    part = requests.get(file_url, headers={"Range": "bytes=10-19"}, timeout=5)
    assert part.status_code == 206 and part.content == datas[1][10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(datas[1])}"
    tail = requests.get(file_url, headers={"Range": "bytes=-7", "If-Range": whole.headers["ETag"]}, timeout=5)
    assert tail.status_code == 206 and tail.content == datas[1][-7:]
    changed = requests.get(file_url, headers={"Range": "bytes=5-", "If-Range": '"other"'}, timeout=5)
    assert changed.status_code == 200 and changed.content == datas[1]
    beyond = requests.get(file_url, headers={"Range": f"bytes={len(datas[1])}-"}, timeout=5)
    assert beyond.status_code == 416
    for path in ("/", "/meta/", f"/partial/sha256-{digest}", "/sha256/../../etc/passwd", f"/sha256/{digest[:2]}/"):
        assert requests.get(url + path, timeout=5).status_code == 404, path
    assert requests.put(file_url, data=b"x", timeout=5).status_code in (501, 405)


def test_a_link_in_a_served_cache_is_not_followed(tmp_path: Path) -> None:
    import threading

    from packbuilder.fetch.serve import make_server

    digest = "ab" * 32
    (tmp_path / "sha256" / "ab").mkdir(parents=True)
    (tmp_path / "secret").write_text("not for the network")
    (tmp_path / "sha256" / "ab" / digest).symlink_to(tmp_path / "secret")
    httpd = make_server(tmp_path, "127.0.0.1", 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        reply = requests.get(f"http://127.0.0.1:{httpd.server_address[1]}/sha256/ab/{digest}", timeout=5)
        assert reply.status_code == 404 and "not for the network" not in reply.text
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_mirror_auto_with_nothing_announced_warns_and_goes_on(server: LocalServer, tmp_path: Path) -> None:
    datas = archives("alone", 1)
    lock = served_lock(server, tmp_path, datas)
    result = run_cli("fetch", str(lock), "--mirror", "auto", env=env_for(server, tmp_path))
    assert result.returncode == 0, result.stderr
    assert re.search(r"--mirror auto: no `packbuilder cache serve` answered", result.stderr)


# -- a base live ISO, found on a stick under its own name ------------------------------------------


def _base(data: bytes, url: str) -> Base:
    return Base.model_validate(
        {
            "id": "tiny-live", "name": {"fr": "Petite", "en": "Tiny"}, "url": url,
            "sha256": hashlib.sha256(data).hexdigest(), "checksum_source": "test", "size": len(data),
            "arch": "x86_64", "firmware": ["bios"], "live": "plain",
        }
    )  # fmt: skip


def test_a_base_iso_comes_from_a_folder_or_the_diagnosis_says_no_network(tmp_path: Path) -> None:
    from packbuilder.errors import NetworkError
    from packbuilder.fetch.run import fetch_base
    from packbuilder.ui import Output

    iso = archives("iso", 1, size=300_000)[0]
    base = _base(iso, f"https://cdimage.nothing.invalid/tiny-live-{closed_port()}.iso")
    quiet = Output(quiet=True)
    with pytest.raises(NetworkError) as info:
        fetch_base(base, tmp_path / "cache", quiet)
    assert "base tiny-live: no network (cdimage.nothing.invalid: name not found (DNS))" in info.value.message
    assert "--mirror a folder" in (info.value.hint or "")
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "live.iso").write_bytes(iso)
    path = fetch_base(base, tmp_path / "cache", quiet, mirrors=(str(stick),), offline=True)
    assert path.read_bytes() == iso
