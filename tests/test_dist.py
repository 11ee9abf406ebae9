"""The one-file executable (``make dist`` -> dist/packbuilder), run as on a machine without Python.

Each command runs with an empty environment (only PATH and HOME, so no virtualenv or Python
package is visible) from an empty working folder (so ./manifests is not found and the catalog
shipped inside the binary is used).

These tests run when the binary exists and is newer than the sources it was built from.
``make test-dist`` builds it first and sets $PACKBUILDER_BINARY: then a missing binary fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from packbuilder.plan.lock import lock_bytes
from tests import factories
from tests.conftest import ROOT

REQUIRED = bool(os.environ.get("PACKBUILDER_BINARY"))
BINARY = Path(os.environ.get("PACKBUILDER_BINARY") or ROOT / "dist" / ("packbuilder.exe" if os.name == "nt" else "packbuilder"))
if not BINARY.is_absolute():
    BINARY = ROOT / BINARY
SOURCES = ("packbuilder", "manifests", "overlays", "packbuilder.spec")


def _stale() -> bool:
    """The binary is older than a file it bundles: a forgotten `make dist`, not a failure."""
    built = BINARY.stat().st_mtime
    for name in SOURCES:
        path = ROOT / name
        files = [path] if path.is_file() else (p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
        if any(p.stat().st_mtime > built for p in files):
            return True
    return False


def _skip_reason() -> str | None:
    if REQUIRED:
        return None  # make test-dist: never skip; the fixture below fails if the binary is missing
    if not BINARY.is_file():
        return f"{BINARY} not built (make dist)"
    if _stale():
        return f"{BINARY} is older than the sources (make dist)"
    return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="the test commands (env -i, unzip) are Linux's"),
    pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or ""),
]


@pytest.fixture(scope="module")
def binary() -> Path:
    if not BINARY.is_file():
        pytest.fail(f"{BINARY} is missing: `make dist` builds it")
    return BINARY


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty folder used as HOME and as the working folder."""
    return tmp_path_factory.mktemp("home")


def run(binary: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`env -i PATH=/usr/bin:/bin HOME=home binary args`, from home."""
    return subprocess.run(
        [str(binary), *args],
        cwd=home,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_version(binary: Path, home: Path) -> None:
    from packbuilder import __version__

    result = run(binary, home, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"packbuilder {__version__}"


def test_the_binary_carries_the_french_catalog(binary: Path, home: Path) -> None:
    result = run(binary, home, "--lang", "fr", "--help")
    assert result.returncode == 0, result.stderr
    assert "Construire des clés USB" in result.stdout


def test_help(binary: Path, home: Path) -> None:
    result = run(binary, home, "--help")
    assert result.returncode == 0, result.stderr
    for command in ("catalog", "plan", "fetch", "build", "verify", "cache", "manifest"):
        assert command in result.stdout


def test_catalog_list_uses_the_shipped_catalog(binary: Path, home: Path) -> None:
    assert not (home / "manifests").exists()
    result = run(binary, home, "catalog", "list", "--json")
    assert result.returncode == 0, result.stderr
    listing = json.loads(result.stdout)
    apps = listing["apps"] if isinstance(listing, dict) else listing
    assert len(apps) >= 25
    assert len(apps) == len(list((ROOT / "manifests" / "apps").glob("*.yaml")))


def test_manifest_lint_on_the_shipped_catalog(binary: Path, home: Path) -> None:
    """Validation (pydantic) and the SPDX licence index (license-expression's data files) work frozen."""
    result = run(binary, home, "manifest", "lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 error(s)" in result.stdout + result.stderr


def test_offline_zip_build_from_a_fixture_cache(binary: Path, home: Path, tmp_path: Path) -> None:
    """A lock of a small zip and a small 7z (unpacked by py7zr inside the binary), with the shipped
    docs-fr overlay, built offline from a content-addressed cache; then checked by unzip and
    `verify`, and published."""
    writer = factories.zip_bytes({"Writer/writer.exe": b"MZ" + os.urandom(4000), "Writer/lisez-moi.txt": "Écrire".encode()})
    viewer = factories.sevenzip_bytes({"viewer.exe": b"MZ" + os.urandom(6000)})
    cache = tmp_path / "cache"
    for data in (writer, viewer):
        digest = hashlib.sha256(data).hexdigest()
        (cache / "sha256" / digest[:2]).mkdir(parents=True, exist_ok=True)
        (cache / "sha256" / digest[:2] / digest).write_bytes(data)
    item = factories.item
    items = [
        item("writer", url="https://writer.example.org/writer-1.0.zip", data=writer, name="Writer", launch="Writer/writer.exe"),
        item(
            "viewer",
            url="https://viewer.example.org/viewer-1.0.7z",
            data=viewer,
            name="PDF Viewer",
            kind="7z",
            launch="viewer.exe",
        ),
    ]
    # The docs-fr overlay is the one shipped in the binary.
    lock = factories.lock(items, pack="bureau", label="BUREAU", overlays=["docs-fr"], key_mb=64)
    lock_path = tmp_path / "bureau.lock"
    lock_path.write_bytes(lock_bytes(lock))
    out = tmp_path / "out.zip"

    result = run(binary, home, "--cache", str(cache), "build", str(lock_path), "--format", "zip", "-o", str(out), "--offline")
    assert result.returncode == 0, result.stdout + result.stderr
    subprocess.run(["unzip", "-tq", str(out)], check=True, capture_output=True)
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        manifest = json.loads(zf.read(".packbuilder/manifest.json"))
        menu = zf.read("Menu.html").decode()
    for name in (
        "Menu.html",
        ".packbuilder/manifest.json",
        "Apps/Bureautique/Writer/Writer/writer.exe",
        "Apps/Bureautique/Writer/Writer/lisez-moi.txt",
        "Apps/Bureautique/PDF Viewer/viewer.exe",
        "Docs/premiers-pas.html",
    ):
        assert name in names, name
    assert "Writer" in menu and "PDF Viewer" in menu
    assert {f["path"] for f in manifest["files"]} == {n for n in names if not n.endswith("/")} - {".packbuilder/manifest.json"}

    checked = run(binary, home, "verify", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # publish: SHA256SUMS, a CycloneDX SBOM (cyclonedx-python-lib) and the site (templates/site/).
    site = tmp_path / "site"
    published = run(binary, home, "publish", str(out), "-o", str(site))
    assert published.returncode == 0, published.stdout + published.stderr
    assert (site / "index.html").is_file()
    assert "out.zip" in (site / "images" / "SHA256SUMS").read_text()
    sboms = list(site.rglob("*.cdx.json"))
    assert len(sboms) == 1
    sbom = json.loads(sboms[0].read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    assert {c["name"] for c in sbom["components"]} >= {"writer", "viewer"}


def test_update_a_key_folder_offline(binary: Path, home: Path, tmp_path: Path) -> None:
    """update from the binary: a dir key built from one lock, brought to a second one offline."""
    old = factories.zip_bytes({"Writer/writer.exe": b"MZ1" + os.urandom(3000)})
    new = factories.zip_bytes({"Writer/writer.exe": b"MZ2" + os.urandom(3000), "Writer/nouveau.txt": b"2.0"})
    cache = tmp_path / "cache"
    for data in (old, new):
        digest = hashlib.sha256(data).hexdigest()
        (cache / "sha256" / digest[:2]).mkdir(parents=True, exist_ok=True)
        (cache / "sha256" / digest[:2] / digest).write_bytes(data)

    def lock_file(name: str, data: bytes, version: str) -> Path:
        item = factories.item(
            "writer", url=f"https://w.example.org/{name}", data=data, name="Writer", launch="Writer/writer.exe", version=version
        )
        path = tmp_path / f"{version}.lock"
        path.write_bytes(lock_bytes(factories.lock([item], pack="bureau", label="BUREAU", overlays=["docs-fr"], key_mb=64)))
        return path

    key = tmp_path / "key"
    built = run(binary, home, "--cache", str(cache), "build", str(lock_file("w1.zip", old, "1.0")), "--format", "dir",
                "-o", str(key), "--offline")  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    (key / "Documents" / "notes.txt").write_text("à garder")
    result = run(binary, home, "--cache", str(cache), "update", str(key), str(lock_file("w2.zip", new, "2.0")), "--yes",
                 "--offline")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (key / "Apps" / "Bureautique" / "Writer" / "Writer" / "nouveau.txt").read_bytes() == b"2.0"
    assert (key / "Documents" / "notes.txt").read_text() == "à garder"
    assert run(binary, home, "verify", str(key)).returncode == 0
