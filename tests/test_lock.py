"""Lock files: deterministic, complete, read back, and stale when the catalog moved."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from packbuilder.catalog import Catalog, load_catalog
from packbuilder.errors import InputError
from packbuilder.plan.lock import lock_from_plan, read_lock, stale_report, write_lock
from packbuilder.plan.resolve import resolve
from packbuilder.plan.targets import load_target
from tests.conftest import FIXTURES, ROOT, run_cli


@pytest.fixture
def resolver_copy(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES / "resolver", tmp_path / "resolver")
    return tmp_path / "resolver" / "manifests"


def test_two_plan_runs_write_byte_identical_locks(tmp_path: Path) -> None:
    a, b = tmp_path / "a.lock", tmp_path / "b.lock"
    for out in (a, b):
        result = run_cli("plan", "asso-essentiel", "--profile", "windows-7-x64", "--lock", str(out))
        assert result.returncode == 0, result.stderr
    assert a.read_bytes() == b.read_bytes()
    data = json.loads(a.read_text())
    assert list(data) == sorted(data)  # sorted keys
    assert data["lock_version"] == 1 and data["pack"]["id"] == "asso-essentiel"
    firefox = next(i for i in data["items"] if i["app"] == "firefox-esr")
    assert firefox["version"] == "115.15.0esr"
    assert firefox["dest"] == "Apps/Internet/Firefox ESR"
    assert set(firefox) >= {"url", "sha256", "size_approx", "kind", "dest", "reason", "checksum_source", "lang"}
    assert firefox["lang"] == "fr"  # the French build for a French pack


def test_lock_round_trips(tmp_path: Path) -> None:
    catalog = load_catalog(FIXTURES / "resolver" / "manifests")
    plan = resolve(catalog, catalog.pack("all"), catalog.profile("w7-64"))
    lock = lock_from_plan(plan)
    write_lock(lock, tmp_path / "x.lock")
    back = read_lock(tmp_path / "x.lock")
    assert back == lock
    assert [i.app for i in back.items] == [i.app.id for i in plan.items]
    assert stale_report(back, catalog) == []


def test_stale_lock_names_what_changed(resolver_copy: Path, tmp_path: Path) -> None:
    catalog = load_catalog(resolver_copy)
    lock = lock_from_plan(resolve(catalog, catalog.pack("all"), catalog.profile("w7-64")))
    editor = resolver_copy / "apps" / "editor.yaml"
    text = editor.read_text()
    # A maintainer fixes a hash and adds a newer release for Windows 7.
    text = text.replace('sha256: "' + f"{3:064x}" + '"', 'sha256: "' + f"{99:064x}" + '"')
    text = text.replace(
        "  - version: 2.9.0\n",
        '  - version: 2.11.0\n    artifacts:\n      - {platform: windows, arch: x86_64, kind: zip, url: "https://editor.example.org/e-2.11.zip",'
        ' sha256: "' + f"{98:064x}" + '", checksum_source: fixture, size: 2200000, requires: {os: "windows>=6.1"}}\n'
        "  - version: 2.9.0\n",
    )
    editor.write_text(text)
    notes = stale_report(lock, load_catalog(resolver_copy))
    assert any(n.startswith("editor 2.10.0: sha256 changed") for n in notes), notes
    assert "editor: the catalog now resolves to 2.11.0 (lock has 2.10.0)" in notes
    # What fetch and build see: the same notes through load_target, and no catalog read when nobody would see them.
    write_lock(lock, tmp_path / "old.lock")
    target = load_target(str(tmp_path / "old.lock"), None, None, lambda: load_catalog(resolver_copy))
    assert (target.lock, list(target.stale)) == (lock, notes)

    def no_catalog() -> Catalog:
        raise AssertionError("the catalog was loaded")

    assert load_target(str(tmp_path / "old.lock"), None, None, no_catalog, check_stale=False).stale == ()


def test_bad_lock_files_are_refused_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.lock"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="is not a lock file"):
        read_lock(bad)
    bad.write_text(json.dumps({"lock_version": 99}))
    with pytest.raises(InputError, match="unsupported lock_version 99"):
        read_lock(bad)
    bad.write_text(json.dumps({"lock_version": 1, "pack": {}}))
    with pytest.raises(InputError, match="is not a valid lock file") as err:
        read_lock(bad)
    assert any("pack.id" in d for d in err.value.details)


def test_plan_json_has_the_documented_shape() -> None:
    result = run_cli("plan", "vieux-pc", "--profile", "windows-xp-x86", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert {"pack", "profile", "items", "excluded", "total_bytes", "capacity_bytes"} <= set(doc)
    for item in doc["items"]:
        assert {"app", "version", "platform", "arch", "kind", "url", "sha256", "size", "dest", "reason"} <= set(item)
        assert item["arch"] == "x86"
    assert doc["capacity_bytes"] == 4_000_000_000


def test_plan_capacity_overflow_exits_2_before_any_download() -> None:
    result = run_cli("plan", "atelier-graphisme", "--profile", "windows-10-x64", "--size", "1G")
    assert result.returncode == 2
    assert "needs" in result.stderr and "key holds about" in result.stderr
    assert "gimp 3.2.4" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_lock_keeps_the_planned_key_size(tmp_path: Path) -> None:
    """plan --size 4G: the lock says 4 GB (not the profile's key), and build reads it from there."""
    from packbuilder.plan.lock import key_bytes

    lock_path = tmp_path / "w7.lock"
    result = run_cli("plan", "vieux-pc", "--profile", "windows-7-x86", "--size", "4Go", "--lock", str(lock_path))
    assert result.returncode == 0, result.stderr
    lock = read_lock(lock_path)
    assert lock.capacity_bytes == 4_000_000_000 != lock.profile.key_mb * 1_000_000
    assert key_bytes(lock, None) == 4_000_000_000
    assert key_bytes(lock, 16_000_000_000) == 16_000_000_000


def _read_a_lock_in_a_new_process(tmp_path: Path, before: str, after: str, env: dict[str, str] | None = None) -> str:
    """Write a lock, read it in a fresh interpreter between ``before`` and ``after`` (Python lines),
    and return what that process printed."""
    catalog = load_catalog(FIXTURES / "resolver" / "manifests")
    write_lock(lock_from_plan(resolve(catalog, catalog.pack("all"), catalog.profile("w7-64"))), tmp_path / "x.lock")
    script = (
        f"import sys\nfrom pathlib import Path\n{before}"
        "from packbuilder.plan.lock import read_lock\n"
        f"assert read_lock(Path({str(tmp_path / 'x.lock')!r})).items\n{after}"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_building_models_scans_no_installed_distribution(tmp_path: Path) -> None:
    """pydantic looks for plugins in the entry points of every installed distribution the first time
    it builds a model (tens of ms on a machine with many packages); packbuilder uses none, so its
    models are built without that scan, unless the user's environment asks for plugins."""
    count = (
        "import importlib.metadata\n"
        "scans = []\n"
        "real = importlib.metadata.distributions\n"
        "importlib.metadata.distributions = lambda *a, **k: scans.append(1) or real(*a, **k)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    assert _read_a_lock_in_a_new_process(tmp_path, count, "print(len(scans))\n", env) == "0"
    asked = {**env, "PYDANTIC_DISABLE_PLUGINS": "some-plugin"}
    assert _read_a_lock_in_a_new_process(tmp_path, count, "print(len(scans))\n", asked) != "0"  # the user's setting is kept


def test_reading_a_lock_loads_neither_the_catalog_nor_the_app_model(tmp_path: Path) -> None:
    """``fetch LOCK`` starts by reading the lock: that must not pay for the catalog's code (yaml,
    the lint rules, the resolver) or for the manifest models a lock does not hold."""
    heavy = (
        "heavy = ['packbuilder.catalog', 'packbuilder.plan.resolve', 'packbuilder.lint_rules', 'yaml', 'packbuilder.model.app']\n"
        "print(' '.join(m for m in heavy if m in sys.modules))\n"
    )
    assert _read_a_lock_in_a_new_process(tmp_path, "", heavy) == ""
