"""Downloads against a real local HTTPS server that misbehaves on purpose."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from packbuilder.errors import NetworkError
from packbuilder.fetch.cache import Cache
from packbuilder.fetch.download import Downloader, FetchItem
from packbuilder.fetch.run import fetch_base
from packbuilder.model import Base
from packbuilder.plan.lock import lock_bytes
from packbuilder.ui import Output
from tests import factories
from tests.conftest import ROOT, run_cli
from tests.httpserver import LocalServer

MiB = 2**20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    srv = LocalServer(tmp_path_factory.mktemp("tls"))
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def trust_test_ca(server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.cert))
    monkeypatch.setenv("PACKBUILDER_BACKOFF", "0.01")


def content(name: str, size: int) -> bytes:
    """Deterministic, incompressible-looking bytes."""
    out = bytearray()
    seed = name.encode()
    while len(out) < size:
        seed = hashlib.sha256(seed).digest()
        out += seed * 64
    return bytes(out[:size])


def add(server: LocalServer, name: str, size: int = 300_000) -> tuple[bytes, str]:
    data = content(name, size)
    return data, server.files.add(name, data)


def item(url: str | list[str], digest: str, size: int | None, name: str = "app 1.0", insecure: bool = False) -> FetchItem:
    urls = (url,) if isinstance(url, str) else tuple(url)
    return FetchItem(name=name, urls=urls, algo="sha256", digest=digest, size=size, insecure=insecure)


def downloader(tmp_path: Path, **kw: object) -> Downloader:
    return Downloader(Cache(tmp_path / "cache"), timeout=(2.0, 1.0), **kw)  # type: ignore[arg-type]


def nothing_unverified(cache: Cache, digest: str) -> bool:
    return cache.lookup("sha256", digest) is None and not list((cache.root / "sha256").rglob("*"))


def test_download_lands_in_the_content_addressed_cache(server: LocalServer, tmp_path: Path) -> None:
    data, digest = add(server, "plain.zip")
    d = downloader(tmp_path)
    path, fresh = d.fetch(item(server.url("ok/plain.zip"), digest, len(data)))
    assert fresh and path == tmp_path / "cache" / "sha256" / digest[:2] / digest
    assert path.read_bytes() == data
    meta = json.loads((tmp_path / "cache" / "meta" / f"{digest}.json").read_text())
    assert meta["url"].endswith("/ok/plain.zip")
    hits = server.files.hits["/ok/plain.zip"]
    assert d.fetch(item(server.url("ok/plain.zip"), digest, len(data))) == (path, False)
    assert server.files.hits["/ok/plain.zip"] == hits  # a cache hit opens no connection


def test_cut_connection_resumes_with_range(server: LocalServer, tmp_path: Path) -> None:
    data, digest = add(server, "cut.7z", 1_000_000)
    path, _ = downloader(tmp_path).fetch(item(server.url("cut/cut.7z"), digest, len(data)))
    assert path.read_bytes() == data
    first, second = server.files.requests_for("cut.7z")  # exactly two: the cut one, then the resumed one
    etag = '"' + digest[:16] + '"'
    assert (first.range, first.if_range) == (None, None)
    assert (second.range, second.if_range) == (f"bytes={len(data) // 2}-", etag)  # the half that arrived is kept


def test_files_from_one_server_share_its_connections(server: LocalServer, tmp_path: Path) -> None:
    """A connection is kept for the next file once a body was read to its end (one TLS handshake per
    thread, not per file)."""
    items = []
    for n in range(6):
        data, digest = add(server, f"reuse{n}.zip", 200_000 + n)
        items.append(item(server.url(f"ok/reuse{n}.zip"), digest, len(data), name=f"reuse {n}"))
    result = downloader(tmp_path).fetch_all(items, jobs=2)
    assert not result.failures and len(result.downloaded) == 6
    peers = set().union(*(server.files.peers[f"/ok/reuse{n}.zip"] for n in range(6)))
    assert 1 <= len(peers) <= 2  # one connection per thread at most


def test_reserving_disk_space_leaves_the_resume_point_alone(tmp_path: Path) -> None:
    from packbuilder.fsutil import reserve_space as reserve

    partial = tmp_path / "partial"
    partial.write_bytes(b"x" * 1000)
    with partial.open("ab") as out:
        reserved = reserve(out.fileno(), 1000, 8 * MiB)
    assert partial.stat().st_size == 1000  # the resume point is still the bytes received
    if sys.platform.startswith("linux"):
        assert reserved and partial.stat().st_blocks * 512 >= 8 * MiB


def test_server_ignoring_range_restarts_cleanly(server: LocalServer, tmp_path: Path) -> None:
    data, digest = add(server, "norange.zip")
    url = server.url("norange/norange.zip")
    cache = Cache(tmp_path / "cache")
    partial = cache.partial("sha256", digest)
    partial.parent.mkdir(parents=True)
    junk = b"garbage that must not survive"
    partial.write_bytes(junk)
    partial.with_name(partial.name + ".json").write_text(json.dumps({"url": url, "validator": None}))
    path, _ = downloader(tmp_path).fetch(item(url, digest, len(data)))
    assert path.read_bytes() == data
    # One request asking to resume; the 200 answer restarted the file from its first byte, with no second request.
    (request,) = server.files.requests_for("norange.zip")
    assert (request.range, request.if_range) == (f"bytes={len(junk)}-", None)


def test_hash_mismatch_is_quarantined_and_exits_4(server: LocalServer, tmp_path: Path) -> None:
    data, digest = add(server, "wrong.zip")
    result = downloader(tmp_path).fetch_all([item(server.url("wrong/wrong.zip"), digest, len(data))])
    assert result.failures and result.failures[0].mismatch
    error = result.failures[0].errors[0]
    assert f"expected {digest}" in error and "got " in error
    cache = Cache(tmp_path / "cache")
    assert nothing_unverified(cache, digest)
    assert len(list((cache.root / "quarantine").iterdir())) == 1


@pytest.mark.parametrize(
    ("path", "exact", "message"),
    [
        ("status/404/{n}", True, "HTTP 404"),
        ("status/500/{n}", True, "HTTP 500"),
        ("tohttp/{n}", True, "redirect to plain http refused"),
        ("lie/{n}", True, "announces 201000 bytes, more than the 200000 allowed"),
        ("lie/{n}", False, "after 200000 bytes"),
        ("drip/{n}", True, "timed out"),
        ("big/{n}", True, "announces 400000 bytes"),
        ("big/{n}", False, "more than the"),
    ],
)
def test_misbehaving_servers_give_a_clear_error_and_cache_nothing(
    server: LocalServer, tmp_path: Path, path: str, exact: bool, message: str
) -> None:
    name = f"{path.split('/')[0]}-{exact}-case.bin"
    data, digest = add(server, name, 200_000)
    # Without an exact size, the cap is twice the estimate plus 16 MiB: make the estimate small.
    size, approx = (len(data), None) if exact else (None, 1000)
    if path.startswith("big") and not exact:
        data, digest = add(server, name, 17 * MiB)
    it = FetchItem(
        name="app 1.0", urls=(server.url(path.format(n=name)),), algo="sha256", digest=digest, size=size, size_approx=approx
    )
    result = downloader(tmp_path).fetch_all([it])
    assert result.failures, "the download should have failed"
    assert any(message in e for e in result.failures[0].errors), result.failures[0].errors
    assert nothing_unverified(Cache(tmp_path / "cache"), digest)


def test_500s_are_retried(server: LocalServer, tmp_path: Path) -> None:
    data, digest = add(server, "e500.bin")
    downloader(tmp_path).fetch_all([item(server.url("status/500/e500.bin"), digest, len(data))])
    assert server.files.hits["/status/500/e500.bin"] > 1


def test_transient_errors_and_rate_limits_recover(server: LocalServer, tmp_path: Path) -> None:
    a, da = add(server, "flaky.bin")
    b, db = add(server, "limited.bin")
    result = downloader(tmp_path).fetch_all(
        [item(server.url("flaky/2/flaky.bin"), da, len(a)), item(server.url("ratelimit/limited.bin"), db, len(b))]
    )
    assert not result.failures and len(result.downloaded) == 2
    assert server.files.hits["/flaky/2/flaky.bin"] == 3


def test_mirrors_are_tried_in_order(server: LocalServer, tmp_path: Path) -> None:
    data, digest = add(server, "mirrored.bin")
    # The manifest's URL first, then its mirrors: the mirrors are tried first, in order, upstream last.
    urls = [server.url("ok/mirrored.bin"), server.url("status/404/mirrored.bin"), server.url("wrong/mirrored.bin")]
    path, _ = downloader(tmp_path).fetch(item(urls, digest, len(data)))
    assert path.read_bytes() == data
    asked = [r.path for r in server.files.requests_for("mirrored.bin")]
    assert asked == ["/status/404/mirrored.bin", "/wrong/mirrored.bin", "/ok/mirrored.bin"]
    meta = json.loads((tmp_path / "cache" / "meta" / f"{digest}.json").read_text())
    assert meta["url"] == urls[0]


def test_plain_http_only_when_the_manifest_says_so(server: LocalServer, tmp_path: Path) -> None:
    data, digest = add(server, "insecure.exe")
    refused = downloader(tmp_path).fetch_all([item(server.http_url("ok/insecure.exe"), digest, len(data))])
    assert "plain http refused" in refused.failures[0].errors[0]
    allowed = downloader(tmp_path).fetch_all([item(server.http_url("ok/insecure.exe"), digest, len(data), insecure=True)])
    assert not allowed.failures


def test_good_artifacts_are_kept_when_others_fail(server: LocalServer, tmp_path: Path) -> None:
    good, dg = add(server, "good.bin")
    bad, db = add(server, "bad.bin")
    result = downloader(tmp_path, mirrors=()).fetch_all(
        [item(server.url("ok/good.bin"), dg, len(good)), item(server.url("status/404/bad.bin"), db, len(bad))]
    )
    assert len(result.failures) == 1 and dg in result.paths
    assert Cache(tmp_path / "cache").lookup("sha256", dg) is not None


def test_mirror_folder_and_served_cache(server: LocalServer, tmp_path: Path) -> None:
    from packbuilder.fetch.serve import make_server

    data, digest = add(server, "shared.bin")
    first = downloader(tmp_path / "a")
    first.fetch(item(server.url("ok/shared.bin"), digest, len(data)))
    # A folder mirror (an exported cache) and a served cache, with the upstream URL dead.
    dead = server.url("status/404/shared.bin")
    path, _ = downloader(tmp_path / "b", mirrors=[str(tmp_path / "a" / "cache")]).fetch(item(dead, digest, len(data)))
    assert path.read_bytes() == data
    assert [r.path for r in server.files.requests_for("shared.bin")] == ["/ok/shared.bin"]  # local first: upstream not asked
    assert json.loads((tmp_path / "b" / "cache" / "meta" / f"{digest}.json").read_text())["url"].startswith(str(tmp_path / "a"))
    import threading

    httpd = make_server(tmp_path / "a" / "cache", "127.0.0.1", 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        mirror = f"http://127.0.0.1:{httpd.server_address[1]}"
        path, _ = downloader(tmp_path / "c", mirrors=[mirror]).fetch(item(dead, digest, len(data)))
        assert path.read_bytes() == data
    finally:
        httpd.shutdown()
        httpd.server_close()


# --- through the command line ---------------------------------------------------------------------


def make_lock(tmp_path: Path, entries: list[tuple[str, str, int]]) -> Path:
    """A lock file whose items download from the test server: (app, url#sha256, size)."""
    items = [
        factories.item(app, url=url.rsplit("#", 1)[0], sha256=url.rsplit("#", 1)[1], size=size) for app, url, size in entries
    ]
    path = tmp_path / "test.lock"
    path.write_bytes(lock_bytes(factories.lock(items)))
    return path


def cli_env(server: LocalServer, tmp_path: Path) -> dict[str, str]:
    return {"REQUESTS_CA_BUNDLE": str(server.cert), "PACKBUILDER_CACHE": str(tmp_path / "cache"), "PACKBUILDER_BACKOFF": "0.01"}


def test_cli_fetch_exit_codes_and_offline(server: LocalServer, tmp_path: Path) -> None:
    a, da = add(server, "cli-a.zip")
    b, db = add(server, "cli-b.zip")
    env = cli_env(server, tmp_path)
    lock = make_lock(
        tmp_path,
        [("alpha", server.url("ok/cli-a.zip") + "#" + da, len(a)), ("beta", server.url("ok/cli-b.zip") + "#" + db, len(b))],
    )
    offline = run_cli("fetch", str(lock), "--offline", env=env)
    assert offline.returncode == 3
    assert "alpha 1.0" in offline.stderr and "beta 1.0" in offline.stderr  # every missing one, at once
    done = run_cli("--json", "fetch", str(lock), env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["downloaded"] == 2
    again = run_cli("fetch", str(lock), "--offline", env=env)
    assert again.returncode == 0 and "2 already in the cache" in again.stdout
    bad = make_lock(tmp_path, [("gamma", server.url("wrong/cli-a.zip") + "#" + "0" * 64, len(a))])
    mismatch = run_cli("fetch", str(bad), env=env)
    assert mismatch.returncode == 4 and "hash mismatch" in mismatch.stderr
    gone = make_lock(tmp_path, [("delta", server.url("status/404/cli-a.zip") + "#" + "1" * 64, len(a))])
    network = run_cli("fetch", str(gone), env=env)
    assert network.returncode == 3 and "HTTP 404" in network.stderr
    assert "Traceback" not in mismatch.stderr + network.stderr + offline.stderr


def test_cache_export_import_round_trip(server: LocalServer, tmp_path: Path) -> None:
    data, digest = add(server, "carry.zip")
    env = cli_env(server, tmp_path)
    lock = make_lock(tmp_path, [("carry", server.url("ok/carry.zip") + "#" + digest, len(data))])
    assert run_cli("fetch", str(lock), env=env).returncode == 0
    usb = tmp_path / "usb"
    assert run_cli("cache", "export", str(usb), env=env).returncode == 0
    other = {**env, "PACKBUILDER_CACHE": str(tmp_path / "offline-cache")}
    assert run_cli("cache", "import", str(usb), env=other).returncode == 0
    assert run_cli("fetch", str(lock), "--offline", env=other).returncode == 0
    # A file damaged on the way is refused by import.
    (usb / "sha256" / digest[:2] / digest).write_bytes(b"damaged")
    third = {**env, "PACKBUILDER_CACHE": str(tmp_path / "third")}
    refused = run_cli("cache", "import", str(usb), env=third)
    assert refused.returncode == 1 and "does not match" in refused.stderr
    assert not (tmp_path / "third" / "sha256" / digest[:2] / digest).exists()


def test_cache_verify_finds_damage(server: LocalServer, tmp_path: Path) -> None:
    data, digest = add(server, "rot.zip")
    env = cli_env(server, tmp_path)
    lock = make_lock(tmp_path, [("rot", server.url("ok/rot.zip") + "#" + digest, len(data))])
    assert run_cli("fetch", str(lock), env=env).returncode == 0
    assert run_cli("cache", "verify", env=env).returncode == 0
    cached = tmp_path / "cache" / "sha256" / digest[:2] / digest
    cached.write_bytes(b"x" + cached.read_bytes()[1:])
    result = run_cli("cache", "verify", env=env)
    assert result.returncode == 1 and "damaged" in result.stderr
    assert not cached.exists()


def _spawn_fetch(lock: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "packbuilder", "--quiet", "fetch", str(lock)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killed_download_resumes_and_fetches_less_than_everything(server: LocalServer, tmp_path: Path) -> None:
    data, digest = add(server, "resume.bin", 8 * MiB)  # 128 chunks of 64 KiB, 20 ms apart: about 2.6 s
    env = cli_env(server, tmp_path)
    lock = make_lock(tmp_path, [("resume", server.url("slow/resume.bin") + "#" + digest, len(data))])
    proc = _spawn_fetch(lock, env)
    partial = tmp_path / "cache" / "partial" / f"sha256-{digest}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not partial.exists() or partial.stat().st_size < 2 * MiB):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert partial.exists() and partial.stat().st_size >= 2 * MiB
    before = len([r for p, r in server.files.ranges if p == "/slow/resume.bin"])
    result = run_cli("fetch", str(lock), env=env)
    assert result.returncode == 0, result.stderr
    ranges = [r for p, r in server.files.ranges if p == "/slow/resume.bin"][before:]
    assert ranges and int(ranges[0].removeprefix("bytes=").rstrip("-")) >= 2 * MiB
    assert (tmp_path / "cache" / "sha256" / digest[:2] / digest).read_bytes() == data


def test_two_fetches_at_once_download_each_file_once(server: LocalServer, tmp_path: Path) -> None:
    entries = []
    for n in range(3):
        data, digest = add(server, f"shared-{n}.bin", 2 * MiB)
        entries.append((f"app{n}", server.url(f"slow/shared-{n}.bin") + "#" + digest, len(data)))
    env = cli_env(server, tmp_path)
    lock = make_lock(tmp_path, entries)
    procs = [_spawn_fetch(lock, env) for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    for n in range(3):
        assert server.files.hits[f"/slow/shared-{n}.bin"] == 1


# --- a base's upstream checksum list ------------------------------------------------------------


def _base(iso_url: str, sums_url: str) -> Base:
    return Base.model_validate(
        {
            "id": "test-live",
            "name": {"fr": "Test", "en": "Test"},
            "url": iso_url,
            "checksums": {"url": sums_url},
            "checksum_source": "the test server's SHA256SUMS",
            "size_approx": 1000,
            "size_source": "estimate",
            "arch": "x86_64",
            "firmware": ["bios"],
            "live": "plain",
        }
    )


def test_base_checked_against_its_upstream_checksum_list(server: LocalServer, tmp_path: Path) -> None:
    data, digest = add(server, "live-a.iso", 200_000)
    server.files.add("SUMS-a", f"{'0' * 64}  other.iso\n{digest}  live-a.iso\n".encode())
    base = _base(server.url("ok/live-a.iso"), server.url("ok/SUMS-a"))
    path = fetch_base(base, tmp_path / "cache", Output(quiet=True))
    assert path.read_bytes() == data and path.name == digest
    assert [r.path for r in server.files.requests_for("SUMS-a")] == ["/ok/SUMS-a"]


@pytest.mark.parametrize(
    ("route", "size", "message"),
    [
        ("tohttp", 100, "redirect to plain http refused"),  # a plain session.get followed it
        ("ok", 5 * MiB, "announces 5242880 bytes, more than the 4194304 allowed"),  # and read it whole
        ("nolength", 5 * MiB, "more than the 4194304 bytes allowed: stopped"),  # counted as it arrives
        ("status/404", 100, "HTTP 404"),
    ],
)
def test_base_checksum_list_obeys_the_download_rules(
    server: LocalServer, tmp_path: Path, route: str, size: int, message: str
) -> None:
    _, digest = add(server, "live-b.iso", 200_000)
    listing = f"{digest}  live-b.iso\n".encode().ljust(size, b"\n")
    name = f"SUMS-{route.replace('/', '-')}-{size}"
    server.files.add(name, listing)
    base = _base(server.url("ok/live-b.iso"), server.url(f"{route}/{name}"))
    with pytest.raises(NetworkError, match=re.escape(message)):
        fetch_base(base, tmp_path / "cache", Output(quiet=True))
    assert not server.files.requests_for("live-b.iso")  # nothing downloaded on an unchecked hash


def test_the_disk_works_while_the_body_arrives_and_the_data_is_durable_before_the_rename(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writeback is started every 4 MiB of body, from where the body starts (the resume point on the
    second request), and the file is fdatasync'ed before it appears in the cache."""
    import packbuilder.fetch.body as body

    data, digest = add(server, "durable.zip", 10 * MiB + 12_345)
    final = tmp_path / "cache" / "sha256" / digest[:2] / digest
    events: list[tuple[str, int, int]] = []

    def writeback(fd: int, offset: int, length: int) -> bool:
        events.append(("writeback", offset, length))
        return real_writeback(fd, offset, length)

    def fdatasync(fd: int) -> None:
        events.append(("sync", os.fstat(fd).st_size, int(final.exists())))
        real_sync(fd)

    real_writeback, real_sync = body.start_range_writeback, os.fdatasync
    monkeypatch.setattr(body, "start_range_writeback", writeback)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    path, _ = downloader(tmp_path).fetch(item(server.url("cut/durable.zip"), digest, len(data)))
    assert path == final and path.read_bytes() == data
    half = len(data) // 2  # the first request is cut there (what arrived is kept); the second resumes from it
    assert events == [
        ("writeback", 0, 4 * MiB),
        ("sync", half, 0),
        ("writeback", half, 4 * MiB),
        ("sync", len(data), 0),
    ]
