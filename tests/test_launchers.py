"""Launchers without Wine: what the shipped packs get, the script's rules, recipe checks, verify."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from packbuilder.catalog import load_catalog
from packbuilder.launchers import DATA_DIR, LAUNCHER_DIR, launcher_script, windows_items, write_launchers
from packbuilder.lint import lint_paths
from packbuilder.model import Profile
from packbuilder.model.lock import Lock
from packbuilder.plan.lock import lock_from_plan
from packbuilder.plan.resolve import resolve
from packbuilder.stage import stage
from packbuilder.verify import verify_dir
from tests import factories
from tests.conftest import ROOT

CATALOG = ROOT / "manifests"


def pack_lock(pack: str, profile: str) -> Lock:
    catalog = load_catalog(CATALOG)
    prof: Profile = catalog.profiles[profile]
    return lock_from_plan(resolve(catalog, catalog.packs[pack], prof))


@pytest.mark.parametrize(("pack", "profile"), [("asso-essentiel", "windows-10-x64"), ("vieux-pc", "windows-7-x86")])
def test_every_windows_app_of_the_packs_gets_a_launcher_and_a_data_folder(pack: str, profile: str, tmp_path: Path) -> None:
    lock = pack_lock(pack, profile)
    apps = write_launchers(lock.items, tmp_path)
    expected = {i.app for i in lock.items if i.platform.value == "windows"}
    assert len(expected) >= 8
    assert {a.app for a in apps} == expected
    for entry in apps:
        assert entry.launcher.startswith(f"{LAUNCHER_DIR}/") and entry.launcher.endswith(".cmd")
        assert entry.data == f"{DATA_DIR}/{entry.app}"
        assert (tmp_path / entry.launcher).is_file()
        assert (tmp_path / entry.data / "AppData/Roaming").is_dir()
    names = [a.launcher.casefold() for a in apps]
    assert len(set(names)) == len(names)
    # The French names say what each app is for.
    assert any(a.launcher.endswith("(LibreOffice).cmd") for a in apps) or pack == "vieux-pc"


def test_script_runs_on_xp_cmd(tmp_path: Path) -> None:
    """ASCII and CRLF (cmd.exe reads the OEM code page), no ( ) blocks (a ")" in the key's path would
    close them), the program started with its folder as working folder, the user's files passed on."""
    lock = pack_lock("vieux-pc", "windows-7-x86")
    for item in windows_items(lock.items):
        raw = launcher_script(item).encode("ascii")
        assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
        lines = raw.decode().split("\r\n")
        assert not [line for line in lines if line.rstrip().endswith("(") or line.strip() == ")"]
        start = [line for line in lines if line.startswith('start "" ')]
        start = [s for s in start if " /D " in s]
        assert len(start) == 1
        assert item.launch and item.launch.replace("/", "\\") in start[-1] and start[-1].endswith(" %*")
        # Run again by START (as "cmd /k") to wait minimised: only EXIT closes that window.
        assert lines[-2] == "exit" and "exit /b" not in lines
        assert "%~dp0" in raw.decode() and ":\\" not in raw.decode().replace("%~dp0", "")  # no drive letter written


BAD_RECIPES = {
    "env: {APPDATA: '{data}'}": "APPDATA is set by every launcher",
    "args: ['-p', '{home}']": "unknown placeholder {home}",
    "args: ['100%']": "cannot be passed safely",
    "registry: ['HKLM\\Software\\X']": "give a key under HKCU",
    "files: [{path: '../x', content: ''}]": "climbs out of its folder with '..'",
}


@pytest.mark.parametrize(("line", "message"), BAD_RECIPES.items())
def test_lint_names_the_recipe_field(mini: Path, line: str, message: str) -> None:
    path = mini / "apps" / "writer.yaml"
    path.write_text(path.read_text(encoding="utf-8") + f"portable:\n  {line}\n  source: test\n", encoding="utf-8")
    problems, _ = lint_paths([path])
    text = "\n".join(str(p) for p in problems)
    assert "writer.yaml:" in text and "portable." in text and message in text, text


def test_verify_ignores_data_folders_and_documents(tmp_path: Path) -> None:
    data = factories.zip_bytes({"app.exe": b"MZ program"})
    (tmp_path / "a.zip").write_bytes(data)
    recipe = {"files": [{"path": "seed.ini", "where": "data", "content": "x=1\n"}], "source": "test"}
    items = [factories.item("app", url="https://example.org/a.zip", data=data, launch="app.exe", portable=recipe)]
    root = stage(factories.lock(items), {hashlib.sha256(data).hexdigest(): tmp_path / "a.zip"}, tmp_path / "key", None)
    manifest = json.loads((root / ".packbuilder/manifest.json").read_text(encoding="utf-8"))
    assert manifest["apps"] == [{"app": "app", "launcher": "Logiciels/App.cmd", "data": "Data/app"}]
    assert any(f["path"] == "Data/app/seed.ini" for f in manifest["files"])
    (root / "Data/app/seed.ini").write_text("x=2\n")  # the app changed its settings
    shutil.rmtree(root / "Data/app/AppData")
    (root / "Data/app/profile").mkdir()
    (root / "Documents/lettre.odt").write_bytes(b"mine")
    assert verify_dir(root).ok
    (root / "Apps/Bureautique/App/app.exe").write_bytes(b"MZ changed")
    assert verify_dir(root).changed == ["Apps/Bureautique/App/app.exe"]


def test_no_launcher_for_a_program_that_is_not_there(tmp_path: Path) -> None:
    data = factories.zip_bytes({"other.exe": b"MZ"})
    (tmp_path / "a.zip").write_bytes(data)
    items = [factories.item("app", url="https://example.org/a.zip", data=data, launch="app.exe")]
    root = stage(factories.lock(items), {hashlib.sha256(data).hexdigest(): tmp_path / "a.zip"}, tmp_path / "key", None)
    assert json.loads((root / ".packbuilder/manifest.json").read_text(encoding="utf-8"))["apps"] == []
    assert not (root / LAUNCHER_DIR).exists() and not (root / "Menu.hta").exists()


def test_appimages_get_a_portable_home(tmp_path: Path) -> None:
    data = b"\x7fELF AppImage"
    (tmp_path / "a.AppImage").write_bytes(data)
    items = [
        factories.item(
            "joplin",
            url="https://example.org/a.AppImage",
            data=data,
            platform="linux",
            kind="appimage",
            dest="AppImages/Joplin-1.0-x86_64.AppImage",
        )
    ]
    root = stage(factories.lock(items), {hashlib.sha256(data).hexdigest(): tmp_path / "a.AppImage"}, tmp_path / "key", None)
    manifest = json.loads((root / ".packbuilder/manifest.json").read_text(encoding="utf-8"))
    home = "AppImages/Joplin-1.0-x86_64.AppImage.home"
    assert manifest["apps"] == [{"app": "joplin", "launcher": "AppImages/Joplin-1.0-x86_64.AppImage", "data": home}]
    assert (root / home).is_dir() and not (root / LAUNCHER_DIR).exists()
    (root / home / ".config").mkdir()
    (root / home / ".config/joplin.json").write_text("{}")
    assert verify_dir(root).ok
