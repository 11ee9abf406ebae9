"""``update``: a key folder brought to a new lock in place; killed at every step, then finished or
rolled back; user data and unchanged apps never rewritten."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from packbuilder.journal import FAULT_ENV, JOURNAL
from packbuilder.journal import STEPS as STEPS_FILE
from packbuilder.plan.lock import lock_bytes
from packbuilder.update import UpdatePlan, check_space, diff, read_key
from tests import factories
from tests.conftest import FIXTURES, run_cli
from tests.httpserver import LocalServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two locks of one pack: writer 1.0 -> 2.0, viewer kept, tool removed, notes added; key A built once."""
    base = tmp_path_factory.mktemp("update")
    server = LocalServer(base)
    files = {
        "writer-1.zip": factories.zip_bytes({"Writer/writer.exe": b"MZ1" + os.urandom(20000), "Writer/old.txt": b"old"}),
        "writer-2.zip": factories.zip_bytes({"Writer/writer.exe": b"MZ2" + os.urandom(20000), "Writer/new.txt": b"new"}),
        "viewer.zip": factories.zip_bytes({"viewer.exe": b"MZ" + os.urandom(30000)}),
        "notes.zip": factories.zip_bytes({"notes.exe": b"MZ" + os.urandom(9000)}),
        "Tool.AppImage": b"\x7fELF" + os.urandom(40000),
    }
    for name, data in files.items():
        server.files.add(name, data)
    item = factories.item

    def it(app: str, file: str, **kw: Any) -> dict[str, Any]:
        return item(app, url=server.url(f"ok/{file}"), data=files[file], **kw)

    viewer = it("viewer", "viewer.zip", name="Viewer", launch="viewer.exe")
    tool = it("tool", "Tool.AppImage", kind="appimage", platform="linux", dest="AppImages/Tool-1.0-x86_64.AppImage")
    lock_a = factories.lock(
        [it("writer", "writer-1.zip", name="Writer", launch="Writer/writer.exe"), viewer, tool],
        pack="office", label="OFFICE", overlays=["docs-fr"], key_mb=64,
    )
    lock_b = factories.lock(
        [
            it("writer", "writer-2.zip", name="Writer", launch="Writer/writer.exe", version="2.0"),
            viewer,
            it("notes", "notes.zip", name="Notes", launch="notes.exe"),
        ],
        pack="office", label="OFFICE", overlays=["docs-fr"], key_mb=64,
    )
    (base / "a.lock").write_bytes(lock_bytes(lock_a))
    (base / "b.lock").write_bytes(lock_bytes(lock_b))
    shutil.copytree(FIXTURES / "mini", base / "mini")
    cli_env = {"REQUESTS_CA_BUNDLE": str(server.cert), "PACKBUILDER_CACHE": str(base / "cache")}
    env = {"base": base, "env": cli_env, "catalog": base / "mini" / "manifests"}
    result = cli(env, "build", str(base / "a.lock"), "--format", "dir", "-o", str(base / "key-a"))
    assert result.returncode == 0, result.stderr
    yield env
    server.close()


def cli(env: dict[str, Any], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli("--catalog", str(env["catalog"]), *args, env={**env["env"], **extra})


def fresh_key(env: dict[str, Any], tmp: Path) -> Path:
    key = tmp / "key"
    shutil.copytree(env["base"] / "key-a", key, symlinks=True)
    (key / "Documents" / "compte-rendu.odt").write_bytes(b"AG 2026")
    (key / "mes-notes.txt").write_text("à la racine")  # the user's file at the key's root
    return key


def snapshot(key: Path) -> dict[str, tuple[int, bytes]]:
    return {p.relative_to(key).as_posix(): (p.stat().st_ino, p.read_bytes()) for p in key.rglob("*") if p.is_file()}


def check_updated(key: Path) -> None:
    assert (key / "Apps" / "Bureautique" / "Writer" / "Writer" / "new.txt").read_bytes() == b"new"
    assert not (key / "Apps" / "Bureautique" / "Writer" / "Writer" / "old.txt").exists()
    assert (key / "Apps" / "Bureautique" / "Notes" / "notes.exe").is_file()
    assert not (key / "AppImages" / "Tool-1.0-x86_64.AppImage").exists()
    assert (key / "Documents" / "compte-rendu.odt").read_bytes() == b"AG 2026"
    assert (key / "mes-notes.txt").read_text() == "à la racine"
    assert not (key / JOURNAL).exists() and not (key / ".packbuilder" / "update").exists()
    manifest = json.loads((key / ".packbuilder" / "manifest.json").read_text(encoding="utf-8"))
    assert {i["app"]: i["version"] for i in manifest["lock"]["items"]} == {"writer": "2.0", "viewer": "1.0", "notes": "1.0"}
    assert "Notes" in (key / "Menu.html").read_text(encoding="utf-8")
    result = run_cli("verify", str(key))
    assert result.returncode == 0, result.stderr


def test_update_replaces_only_what_changed(env: dict[str, Any], tmp_path: Path) -> None:
    key = fresh_key(env, tmp_path)
    before = snapshot(key)
    result = cli(env, "update", str(key), str(env["base"] / "b.lock"), "--yes")
    assert result.returncode == 0, result.stderr
    assert "+ notes 1.0" in result.stdout and "~ writer 1.0 -> 2.0" in result.stdout and "- tool 1.0" in result.stdout
    check_updated(key)
    after = snapshot(key)
    viewer = [p for p in before if p.startswith("Apps/Bureautique/Viewer/")]
    assert viewer and all(after[p] == before[p] for p in viewer)  # same inode, same bytes: not rewritten
    assert after["Documents/compte-rendu.odt"] == before["Documents/compte-rendu.odt"]
    again = cli(env, "update", str(key), str(env["base"] / "b.lock"), "--yes")
    assert again.returncode == 0 and "already up to date" in again.stdout


def test_dry_run_and_json_change_nothing(env: dict[str, Any], tmp_path: Path) -> None:
    key = fresh_key(env, tmp_path)
    before = snapshot(key)
    result = cli(env, "--json", "update", str(key), str(env["base"] / "b.lock"), "--dry-run")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {c["app"]: c["change"] for c in doc["changes"]} == {
        "notes": "add", "tool": "remove", "viewer": "keep", "writer": "update"
    }
    assert snapshot(key) == before


def test_no_change_without_confirmation(env: dict[str, Any], tmp_path: Path) -> None:
    key = fresh_key(env, tmp_path)
    before = snapshot(key)
    result = cli(env, "update", str(key), str(env["base"] / "b.lock"))
    assert result.returncode == 2 and "without confirmation" in result.stderr, result.stderr
    assert snapshot(key) == before


STEPS = [
    "journal",
    "staged:notes",
    "staged:writer",
    "moved:notes",
    "swapped:notes",
    "parked:tool",
    "swapped:tool",
    "parked:writer",
    "moved:writer",
    "swapped:writer",
    "committed",
    "regenerated",
]


@pytest.mark.parametrize("step", STEPS)
def test_killed_at_each_step_then_finished(env: dict[str, Any], tmp_path: Path, step: str) -> None:
    key = fresh_key(env, tmp_path)
    killed = cli(env, "update", str(key), str(env["base"] / "b.lock"), "--yes", **{FAULT_ENV: step})
    assert killed.returncode == -9, killed.stderr
    assert (key / "Menu.html").is_file() and (key / ".packbuilder" / "manifest.json").is_file()  # the key still opens
    writer = key / "Apps" / "Bureautique" / "Writer" / "Writer"
    if writer.exists():  # the old version or the new one, never a mix
        assert sorted(p.name for p in writer.iterdir()) in (["old.txt", "writer.exe"], ["new.txt", "writer.exe"])
    refused = cli(env, "update", str(key), str(env["base"] / "b.lock"), "--yes")
    assert refused.returncode == 0 and "finishing the interrupted update" in refused.stdout, refused.stderr
    check_updated(key)


@pytest.mark.parametrize("step", ["journal", "staged:writer", "parked:tool", "moved:writer", "swapped:writer"])
def test_killed_then_rolled_back(env: dict[str, Any], tmp_path: Path, step: str) -> None:
    key = fresh_key(env, tmp_path)
    before = {p: data for p, (_, data) in snapshot(key).items()}
    killed = cli(env, "update", str(key), str(env["base"] / "b.lock"), "--yes", **{FAULT_ENV: step})
    assert killed.returncode == -9
    result = cli(env, "update", str(key), "--rollback")
    assert result.returncode == 0, result.stderr
    assert {p: data for p, (_, data) in snapshot(key).items()} == before
    assert run_cli("verify", str(key)).returncode == 0


def test_a_committed_update_only_goes_forward(env: dict[str, Any], tmp_path: Path) -> None:
    key = fresh_key(env, tmp_path)
    killed = cli(env, "update", str(key), str(env["base"] / "b.lock"), "--yes", **{FAULT_ENV: "committed"})
    assert killed.returncode == -9
    refused = cli(env, "update", str(key), "--rollback")
    assert refused.returncode == 2 and "cannot be rolled back" in refused.stderr, refused.stderr
    assert cli(env, "update", str(key)).returncode == 0
    check_updated(key)


def test_the_journal_is_written_once_and_its_steps_apart(env: dict[str, Any], tmp_path: Path) -> None:
    """The journal (two locks and the key's whole manifest) is written at the start only; each step
    rewrites a small file of its own. A journal of an earlier version (steps inside) still finishes."""
    key = fresh_key(env, tmp_path)
    killed = cli(env, "update", str(key), str(env["base"] / "b.lock"), "--yes", **{FAULT_ENV: "committed"})
    assert killed.returncode == -9
    journal = json.loads((key / JOURNAL).read_text(encoding="utf-8"))
    steps = json.loads((key / STEPS_FILE).read_text(encoding="utf-8"))
    assert journal["done"] == {} and journal["manifest"]["files"]
    assert {"staged:writer", "swapped:writer", "swapped:tool", "committed"} <= set(steps)
    assert (key / STEPS_FILE).stat().st_size < 1000
    journal["done"] = steps  # as an earlier version wrote it
    (key / JOURNAL).write_text(json.dumps(journal), encoding="utf-8")
    (key / STEPS_FILE).unlink()
    refused = cli(env, "update", str(key), "--rollback")
    assert refused.returncode == 2 and "cannot be rolled back" in refused.stderr  # its steps were read
    assert cli(env, "update", str(key)).returncode == 0
    check_updated(key)


def test_a_key_from_an_older_packbuilder_is_refused_clearly(env: dict[str, Any], tmp_path: Path) -> None:
    key = fresh_key(env, tmp_path)
    manifest_path = key / ".packbuilder" / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    del manifest["lock"]
    manifest["format"] = 0
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    result = cli(env, "update", str(key), str(env["base"] / "b.lock"), "--yes")
    assert result.returncode == 2 and "too old to update it" in result.stderr, result.stderr
    not_a_key = tmp_path / "empty"
    not_a_key.mkdir()
    result = cli(env, "update", str(not_a_key), "--yes")
    assert result.returncode == 2 and "not a key made by packbuilder" in result.stderr


def test_free_space_is_checked_before_anything(env: dict[str, Any], tmp_path: Path) -> None:
    from packbuilder.errors import InputError
    from packbuilder.plan.lock import read_lock

    key = fresh_key(env, tmp_path)
    manifest, old = read_key(key)
    new = read_lock(env["base"] / "b.lock")
    plan = UpdatePlan(key, old, new, diff(old, new), manifest, free_bytes=1000, needed_bytes=50_000)
    with pytest.raises(InputError, match="not enough room"):
        check_space(plan)
    assert not (key / JOURNAL).exists()
