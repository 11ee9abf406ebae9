"""Hostile inputs: locks, manifests, overlays, caches, mirrors and outputs that try to reach outside
the key or the test's folder (tests/hostile/ holds the corpus).

Every victim path lies inside the test's temporary folder, so even a regression writes nowhere else.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from packbuilder.model.lock import Lock
from packbuilder.paths import UnsafePath, join_within
from packbuilder.plan.lock import lock_bytes
from tests import factories
from tests.conftest import FIXTURES, ROOT, TESTS, run_cli
from tests.httpserver import LocalServer

HOSTILE = TESTS / "hostile"
LOCKS = sorted((HOSTILE / "locks").glob("*.json"))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("hostile")
    server = LocalServer(base)
    archive = factories.zip_bytes({"Writer/writer.exe": b"MZ" + os.urandom(5000), "Writer/lisez-moi.txt": b"texte"})
    server.files.add("writer.zip", archive)
    items = [factories.item("writer", url=server.url("ok/writer.zip"), data=archive, launch="Writer/writer.exe")]
    lock = factories.lock(items, pack="office", label="OFFICE", overlays=["docs-fr"], key_mb=64)
    shutil.copytree(FIXTURES / "mini", base / "mini")
    cli_env = {"REQUESTS_CA_BUNDLE": str(server.cert), "PACKBUILDER_CACHE": str(base / "cache")}
    yield {
        "base": base,
        "lock": lock,
        "archive": archive,
        "catalog": base / "mini" / "manifests",
        "env": cli_env,
        "server": server,
    }
    server.close()


def write_lock(path: Path, lock: Lock | dict[str, Any]) -> Path:
    data = lock if isinstance(lock, dict) else json.loads(lock_bytes(lock))
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def cli(env: dict[str, Any], *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return run_cli("--catalog", str(env["catalog"]), *args, env={**env["env"], **kw.pop("extra_env", {})}, **kw)


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    keys: list[Any] = [int(k) if k.isdigit() else k for k in dotted.split(".")]
    target: Any = data
    for key in keys[:-1]:
        target = target[key]
    if value is None:
        target.pop(keys[-1], None)
    else:
        target[keys[-1]] = value


def hostile_lock(env: dict[str, Any], case: Path, tmp: Path) -> tuple[dict[str, Any], str]:
    spec = json.loads(case.read_text(encoding="utf-8"))
    data = json.loads(lock_bytes(env["lock"]))
    for dotted, value in spec["set"].items():
        text = json.dumps(value).replace("{tmp}", str(tmp))
        _set(data, dotted, json.loads(text))
    return data, spec["field"]


# -- locks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", LOCKS, ids=[c.stem for c in LOCKS])
def test_hostile_lock_is_refused_by_the_model(env: dict[str, Any], case: Path, tmp_path: Path) -> None:
    data, field = hostile_lock(env, case, tmp_path)
    with pytest.raises(ValidationError) as info:
        Lock.model_validate(data)
    locs = {".".join(str(p) for p in e["loc"]) for e in info.value.errors()}
    assert any(loc == field or loc.startswith(field + ".") for loc in locs), locs


@pytest.mark.parametrize("case", ["sha256-climbs", "dest-absolute", "app-id-climbs", "overlay-climbs"])
@pytest.mark.parametrize("command", ["fetch", "build"])
def test_hostile_lock_writes_nothing_outside(env: dict[str, Any], case: str, command: str, tmp_path: Path) -> None:
    """The CLI refuses the lock before anything is fetched or written: the victims stay as they were."""
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    data, _ = hostile_lock(env, HOSTILE / "locks" / f"{case}.json", tmp_path)
    lock_path = write_lock(work / "hostile.lock", data)
    extra = ["--format", "dir", "-o", str(work / "key")] if command == "build" else []
    result = cli(env, command, str(lock_path), *extra, cwd=work, extra_env={"PACKBUILDER_CACHE": str(work / "cache")})
    assert result.returncode == 2, result.stderr
    assert "is not a valid lock file" in result.stderr and "Traceback" not in result.stderr
    assert victim.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "victim"]
    assert not (work / "key").exists()


# -- manifests and YAML -------------------------------------------------------------------------


HOSTILE_MANIFESTS = sorted((HOSTILE / "manifests").rglob("*.yaml"))


@pytest.mark.parametrize("case", HOSTILE_MANIFESTS, ids=[f"{c.parent.name}/{c.stem}" for c in HOSTILE_MANIFESTS])
def test_hostile_manifest_fails_lint_with_its_field(mini: Path, case: Path) -> None:
    expect = case.read_text(encoding="utf-8").splitlines()[0].removeprefix("# expect: ")
    target = mini / case.parent.name / case.name
    shutil.copy(case, target)
    result = run_cli("manifest", "lint", str(mini))
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if line.startswith(str(target)) and "warning" not in line]
    assert any(f": {expect}:" in line for line in errors), result.stdout


@pytest.mark.parametrize("case", sorted((HOSTILE / "yaml").glob("*.yaml")), ids=lambda p: p.stem)
def test_yaml_bombs_are_refused_quickly(mini: Path, case: Path) -> None:
    target = mini / "apps" / case.name
    shutil.copy(case, target)
    started = time.monotonic()
    result = run_cli("manifest", "lint", str(mini))
    assert time.monotonic() - started < 20
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"{target}:" in result.stdout and "refused" in result.stdout


# -- paths from data (property) -----------------------------------------------------------------

_PARTS = st.sampled_from(["..", ".", "", "a", "B c", "con", "aux.txt", "x:", "C:", "\\", "..\\x", "~", "é", "\x00", "a/b"])


@given(st.lists(st.one_of(_PARTS, st.text(string.printable, max_size=6)), min_size=1, max_size=6), st.booleans())
@settings(max_examples=400, deadline=None)
def test_join_within_never_leaves_its_root(tmp_path_factory: pytest.TempPathFactory, parts: list[str], absolute: bool) -> None:
    root = tmp_path_factory.getbasetemp() / "root"
    root.mkdir(exist_ok=True)
    rel = ("/" if absolute else "") + "/".join(parts)
    try:
        path = join_within(root, rel)
    except UnsafePath:
        return
    assert os.path.commonpath([os.path.realpath(path), os.path.realpath(root)]) == os.path.realpath(root)
    assert ".." not in Path(rel).parts and not Path(rel).is_absolute()


@given(st.text(string.printable, min_size=1, max_size=30))
@settings(max_examples=300, deadline=None)
def test_any_dest_a_lock_accepts_stays_on_the_key(dest: str) -> None:
    data = json.loads(lock_bytes(factories.lock([factories.item("a", url="https://a.example.org/a.zip", data=b"x")])))
    data["items"][0]["dest"] = dest
    try:
        Lock.model_validate(data)
    except ValidationError:
        return
    root = Path("/key")
    resolved = os.path.normpath(root / dest)
    assert resolved.startswith(("/key/Apps/", "/key/AppImages/")), dest


def test_join_within_refuses_a_planted_link(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "key" / "Apps").mkdir(parents=True)
    (tmp_path / "key" / "Apps" / "Bureautique").symlink_to(tmp_path / "outside")
    with pytest.raises(UnsafePath, match="symbolic link"):
        join_within(tmp_path / "key", "Apps/Bureautique/Writer")


def test_autorun_refuses_line_breaks() -> None:
    from packbuilder.stage import autorun_inf

    assert autorun_inf("Bureau").startswith(b"[autorun]\r\nlabel=Bureau\r\n")
    from packbuilder.errors import AssemblyError

    with pytest.raises(AssemblyError, match="control character"):
        autorun_inf("Bureau\r\nopen=evil.exe")


# -- overlays -----------------------------------------------------------------------------------


def test_overlay_symlinks_are_refused_not_followed(env: dict[str, Any], tmp_path: Path) -> None:
    catalog = tmp_path / "mini"
    shutil.copytree(FIXTURES / "mini", catalog)
    secret = tmp_path / "secret"
    secret.write_text("root:password-hash")
    (catalog / "overlays" / "docs-fr" / "shadow").symlink_to(secret)
    lock_path = write_lock(tmp_path / "k.lock", env["lock"])
    result = run_cli(
        "--catalog", str(catalog / "manifests"), "build", str(lock_path), "--format", "dir", "-o", str(tmp_path / "key"),
        env=env["env"],
    )
    assert result.returncode == 5, result.stderr
    assert "docs-fr/shadow is a symbolic link: refused" in result.stderr
    assert not (tmp_path / "key").exists()
    assert not list(tmp_path.glob(".key.staging-*"))


def test_overlay_symlinked_folder_is_refused(env: dict[str, Any], tmp_path: Path) -> None:
    catalog = tmp_path / "mini"
    shutil.copytree(FIXTURES / "mini", catalog)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "id_rsa").write_text("key")
    (catalog / "overlays" / "docs-fr" / "root").symlink_to(tmp_path / "home")
    lock_path = write_lock(tmp_path / "k.lock", env["lock"])
    result = run_cli(
        "--catalog", str(catalog / "manifests"), "build", str(lock_path), "--format", "zip", "-o", str(tmp_path / "k.zip"),
        env=env["env"],
    )
    assert result.returncode == 5 and "docs-fr/root is a symbolic link" in result.stderr, result.stderr
    assert not (tmp_path / "k.zip").exists()


# -- the cache ------------------------------------------------------------------------------------


def _cached(cache: Path, data: bytes) -> Path:
    digest = hashlib.sha256(data).hexdigest()
    return cache / "sha256" / digest[:2] / digest


def test_a_cache_file_altered_in_place_never_reaches_the_key(env: dict[str, Any], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    lock_path = write_lock(tmp_path / "k.lock", env["lock"])
    run = {"PACKBUILDER_CACHE": str(cache)}
    assert cli(env, "fetch", str(lock_path), extra_env=run).returncode == 0
    cached = _cached(cache, env["archive"])
    tampered = factories.zip_bytes({"Writer/writer.exe": b"EVIL"})
    tampered = tampered.ljust(len(env["archive"]), b"\0")[: len(env["archive"])]
    cached.write_bytes(tampered)
    offline = cli(env, "build", str(lock_path), "--format", "dir", "-o", str(tmp_path / "k0"), "--offline", extra_env=run)
    assert offline.returncode == 3, offline.stderr
    assert not (tmp_path / "k0").exists()
    assert [p.name.split("-got-")[0] for p in (cache / "quarantine").iterdir()] == [f"sha256-{cached.name[:16]}"]
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(tampered)
    result = cli(env, "build", str(lock_path), "--format", "dir", "-o", str(tmp_path / "key"), extra_env=run)
    assert result.returncode == 0, result.stderr
    assert cached.read_bytes() == env["archive"]  # fetched again from the server
    assert (tmp_path / "key" / "Apps" / "Bureautique" / "Writer" / "Writer" / "writer.exe").read_bytes().startswith(b"MZ")


def test_cache_import_reads_only_regular_files(env: dict[str, Any], tmp_path: Path) -> None:
    src = tmp_path / "stick"
    zero = "0" * 64
    fifo_name = "1" * 64
    (src / "sha256" / "00").mkdir(parents=True)
    (src / "sha256" / "00" / zero).symlink_to("/dev/zero")
    (src / "sha256" / "11").mkdir(parents=True)
    os.mkfifo(src / "sha256" / "11" / fifo_name)
    result = cli(env, "cache", "import", str(src), extra_env={"PACKBUILDER_CACHE": str(tmp_path / "cache")})
    assert result.returncode == 1, result.stderr
    assert "is a symbolic link: not read" in result.stderr and "is not a regular file: not read" in result.stderr
    for folder in ("sha256", "partial"):
        assert not list((tmp_path / "cache" / folder).rglob("*[0-9a-f]")), folder


def test_a_mirror_folder_file_larger_than_the_artifact_is_not_copied(env: dict[str, Any], tmp_path: Path) -> None:
    data = json.loads(lock_bytes(env["lock"]))
    data["items"][0]["url"] = "https://127.0.0.1:9/writer.zip"  # nothing listens there
    lock_path = write_lock(tmp_path / "k.lock", data)
    mirror = tmp_path / "mirror"
    big = _cached(mirror, env["archive"])
    big.parent.mkdir(parents=True)
    with big.open("wb") as fh:
        fh.truncate(4 * 2**30)  # 4 GiB of holes: a copy would fill the disk
    cache = tmp_path / "cache"
    result = cli(env, "fetch", str(lock_path), "--mirror", str(mirror), extra_env={"PACKBUILDER_CACHE": str(cache)})
    assert result.returncode == 3, result.stderr
    assert f"more than the {len(env['archive'])} expected: not read" in result.stderr
    assert sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()) < 2**20


def test_cache_gc_keeps_a_partial_download_in_use(env: dict[str, Any], tmp_path: Path) -> None:
    from packbuilder.fetch.cache import Cache

    cache = Cache(tmp_path / "cache")
    digest = hashlib.sha256(b"x").hexdigest()
    partial = cache.partial("sha256", digest)
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"half")
    stale = cache.partial("sha256", "f" * 64)
    stale.write_bytes(b"old")
    with cache.lock(digest):
        result = cli(env, "cache", "gc", extra_env={"PACKBUILDER_CACHE": str(cache.root)})
    assert result.returncode == 0, result.stderr
    assert partial.read_bytes() == b"half"
    assert not stale.exists()


# -- outputs --------------------------------------------------------------------------------------


def build(env: dict[str, Any], tmp: Path, fmt: str, out: Path, *extra: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    lock_path = tmp / "k.lock"
    if not lock_path.exists():
        write_lock(lock_path, env["lock"])
    return cli(env, "build", str(lock_path), "--format", fmt, "-o", str(out), *extra, **kw)


def test_o_never_replaces_a_file_packbuilder_did_not_make(env: dict[str, Any], tmp_path: Path) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("mes comptes")
    result = build(env, tmp_path, "zip", precious)
    assert result.returncode == 2 and "packbuilder did not make: not replaced" in result.stderr, result.stderr
    assert precious.read_text() == "mes comptes"
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"jpg")
    assert build(env, tmp_path, "dir", folder).returncode == 2
    assert (folder / "a.jpg").read_bytes() == b"jpg"
    # Its own outputs are replaced, as before.
    assert build(env, tmp_path, "zip", tmp_path / "k.zip").returncode == 0
    assert build(env, tmp_path, "zip", tmp_path / "k.zip").returncode == 0


def test_a_dir_rebuild_keeps_the_users_documents(env: dict[str, Any], tmp_path: Path) -> None:
    key = tmp_path / "key"
    assert build(env, tmp_path, "dir", key).returncode == 0
    (key / "Documents" / "compte-rendu.odt").write_bytes(b"notes de l'AG")
    (key / "Documents" / "photos").mkdir()
    (key / "Documents" / "photos" / "fete.jpg").write_bytes(b"jpg")
    result = build(env, tmp_path, "dir", key)
    assert result.returncode == 0, result.stderr
    assert (key / "Documents" / "compte-rendu.odt").read_bytes() == b"notes de l'AG"
    assert (key / "Documents" / "photos" / "fete.jpg").read_bytes() == b"jpg"
    assert not list(tmp_path.glob(".key.*"))
    assert run_cli("verify", str(key)).returncode == 0


def test_a_second_build_to_the_same_output_is_refused(env: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "k.zip"
    with FileLock(str(tmp_path / ".k.zip.lock")):
        result = build(env, tmp_path, "zip", out)
    assert result.returncode == 2 and "another packbuilder is building" in result.stderr, result.stderr
    assert not out.exists()


def test_an_absurd_image_size_is_refused_at_once(env: dict[str, Any], tmp_path: Path) -> None:
    started = time.monotonic()
    result = build(env, tmp_path, "usb", tmp_path / "k.img", "--size", "2T")
    assert time.monotonic() - started < 30
    assert result.returncode == 2 and "larger than the 256\u00a0GB" in result.stderr, result.stderr
    assert not (tmp_path / "k.img").exists()


def test_an_empty_lock_builds_no_key(env: dict[str, Any], tmp_path: Path) -> None:
    data = json.loads(lock_bytes(env["lock"]))
    data["items"] = []
    lock_path = write_lock(tmp_path / "empty.lock", data)
    result = cli(env, "build", str(lock_path), "--format", "dir", "-o", str(tmp_path / "key"))
    assert result.returncode == 2 and "holds no app" in result.stderr, result.stderr
    assert not (tmp_path / "key").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["build", "{lock}", "--format", "zip", "-o", "{file}/k.zip"], "cannot write"),
        (["plan", "office", "--profile", "win7-32", "--lock", "{file}/k.lock"], "cannot write the lock file"),
        (["plan", "office", "--profile", "win7-32", "--lock", "{dir}"], "cannot write the lock file"),
        (["cache", "export", "{file}"], "is a file, not a folder"),
        (["--cache", "{file}", "cache", "list"], "is a file, not a folder"),
        (["--cache", "{file}/sub", "fetch", "{lock}"], "cannot be written"),
    ],
)
def test_unwritable_targets_are_usage_errors(env: dict[str, Any], tmp_path: Path, args: list[str], needle: str) -> None:
    file = tmp_path / "a-file"
    file.write_text("x")
    (tmp_path / "a-dir").mkdir()
    lock_path = write_lock(tmp_path / "k.lock", env["lock"])
    values = {"{lock}": str(lock_path), "{file}": str(file), "{dir}": str(tmp_path / "a-dir")}
    argv = [next((a.replace(k, v) for k, v in values.items() if k in a), a) for a in args]
    result = cli(env, *argv)
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr and "internal error" not in result.stderr, result.stderr


def test_cache_serve_on_a_busy_port_or_a_bad_address(env: dict[str, Any], tmp_path: Path) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        result = cli(env, "cache", "serve", "--bind", "127.0.0.1", "--port", str(port))
        assert result.returncode == 2 and f"cannot serve on 127.0.0.1:{port}" in result.stderr, result.stderr
    finally:
        busy.close()
    result = cli(env, "cache", "serve", "--bind", "no.such.host.invalid", "--port", "8399")
    assert result.returncode == 2 and "cannot serve on no.such.host.invalid" in result.stderr, result.stderr
    result = cli(env, "cache", "serve", "--bind", "127.0.0.1", "--port", "70000")
    assert result.returncode == 2 and "cannot serve" in result.stderr, result.stderr


# -- verify -----------------------------------------------------------------------------------------


def test_verify_reports_added_files(env: dict[str, Any], tmp_path: Path) -> None:
    key = tmp_path / "key"
    assert build(env, tmp_path, "dir", key).returncode == 0
    (key / "Documents" / "mine.txt").write_text("à moi")  # the user's: not reported
    (key / "liste-adherents.ods").write_bytes(b"ods")  # the key's root is the user's too
    assert run_cli("verify", str(key)).returncode == 0
    evil = key / "Apps" / "Bureautique" / "Writer" / "evil.exe"
    evil.write_bytes(b"MZ")
    result = run_cli("verify", str(key))
    assert result.returncode == 1 and "added: Apps/Bureautique/Writer/evil.exe" in result.stderr, result.stderr
    assert "1 file(s) added" in result.stderr


def test_verify_reports_a_file_added_to_a_zip(env: dict[str, Any], tmp_path: Path) -> None:
    import zipfile

    out = tmp_path / "k.zip"
    assert build(env, tmp_path, "zip", out).returncode == 0
    with zipfile.ZipFile(out, "a") as zf:
        zf.writestr("Apps/Bureautique/Writer/evil.dll", b"MZ")
    result = run_cli("verify", str(out))
    assert result.returncode == 1 and "added: Apps/Bureautique/Writer/evil.dll" in result.stderr, result.stderr


def test_verify_refuses_a_truncated_image(env: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "k.img"
    assert build(env, tmp_path, "usb", out).returncode == 0
    assert run_cli("verify", str(out)).returncode == 0
    size = out.stat().st_size
    with out.open("r+b") as fh:
        fh.truncate(size // 3)
    (tmp_path / "k.img.sha256").unlink()
    result = run_cli("verify", str(out))
    assert result.returncode == 1, result.stderr
    assert f"is incomplete: {size // 3:,} bytes where its partitions need" in result.stderr


# -- signals ----------------------------------------------------------------------------------------


def _start(env: dict[str, Any], args: list[str], cwd: Path) -> subprocess.Popen[str]:
    full = {**os.environ, **env["env"], "COLUMNS": "200"}
    full.pop("PACKBUILDER_CATALOG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "packbuilder", "--catalog", str(env["catalog"]), *args],
        cwd=cwd,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ctrl_c_stops_a_download_at_once(env: dict[str, Any], tmp_path: Path) -> None:
    big = os.urandom(24 * 2**20)  # /slow/ sends 64 KiB every 20 ms: about 8 s in all
    env["server"].files.add("big.zip", big)
    items = [factories.item("big", url=env["server"].url("slow/big.zip"), data=big)]
    lock_path = write_lock(tmp_path / "big.lock", factories.lock(items))
    cache = tmp_path / "cache"
    proc = _start({**env, "env": {**env["env"], "PACKBUILDER_CACHE": str(cache)}}, ["fetch", str(lock_path)], tmp_path)
    partial = cache / "partial" / f"sha256-{hashlib.sha256(big).hexdigest()}"
    deadline = time.monotonic() + 30
    while not (partial.exists() and partial.stat().st_size > 2**20) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 3, "the download went on after Ctrl-C"
    assert proc.returncode == 130 and "interrupted (Ctrl-C)" in err, err
    assert 0 < partial.stat().st_size < len(big)  # kept, to resume


def test_sigterm_during_staging_leaves_nothing_behind(env: dict[str, Any], tmp_path: Path) -> None:
    many = factories.zip_bytes({f"Many/f{i:05}.txt": b"x" for i in range(30000)})
    env["server"].files.add("many.zip", many)
    items = [factories.item("many", url=env["server"].url("ok/many.zip"), data=many, installed_size=2**22)]
    lock_path = write_lock(tmp_path / "many.lock", factories.lock(items))
    assert cli(env, "fetch", str(lock_path)).returncode == 0
    proc = _start(env, ["build", str(lock_path), "--format", "dir", "-o", str(tmp_path / "key")], tmp_path)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".key.staging-*/tree/Apps")) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "stopped (SIGTERM)" in err, err
    assert not list(tmp_path.glob(".key.*")) and not (tmp_path / "key").exists()


def test_the_corpus_is_complete() -> None:
    """Each hole of the hardening has its hostile file (a new hole gets a new file)."""
    assert len(LOCKS) >= 20 and len(HOSTILE_MANIFESTS) >= 10
    assert (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8").count("## Threat model") == 1
