"""The key's launchers under Wine: a built key mapped as E: then F:, each launcher started with
``wine cmd /c`` as Explorer would; the stand-in program records what it got and writes its settings
through %APPDATA%, %LOCALAPPDATA%, the shell-folder API and the registry."""

from __future__ import annotations

import hashlib
import json
import posixpath
import shutil
from pathlib import Path

import pytest

from packbuilder.catalog import load_catalog
from packbuilder.launchers import write_launchers
from packbuilder.model.common import Arch, Platform
from packbuilder.model.lock import LockedArtifact
from packbuilder.plan.lock import locked_item
from packbuilder.plan.resolve import PlanItem, dest_for
from packbuilder.stage import stage
from tests import factories
from tests.conftest import ROOT
from tests.wine_support import Wine, standin, wine  # noqa: F401  (session fixtures)

REG_KEY = r"HKCU\Software\PackbuilderStandIn"
RECIPE = {
    "title": {"fr": "Éditeur de texte", "en": "Text editor"},
    "env": {"BLOC_HOME": "{data}\\home"},
    "args": ["-profile", "{data}\\profile", "-no-remote", "-env:UserInstallation={data_url}/user"],
    "dirs": ["profile", "home"],
    "files": [{"path": "doLocalConf.xml", "where": "app", "content": "<x/>\n"}],
    "shell_folders": True,
    "registry": [REG_KEY],
    "registry_cleanup": True,
    "source": "test recipe",
}


def build_key(tmp_path: Path, apps: list[tuple[dict[str, object], dict[str, bytes]]]) -> Path:
    """Stage a key from zips holding the given files; return its root."""
    cached, items = {}, []
    for fields, files in apps:
        data = factories.zip_bytes(files)
        path = tmp_path / f"{fields['app']}.zip"
        path.write_bytes(data)
        cached[hashlib.sha256(data).hexdigest()] = path
        items.append(factories.item(url=f"https://example.org/{fields['app']}.zip", data=data, **fields))  # type: ignore[arg-type]
    return stage(factories.lock(items), cached, tmp_path / "key", None)


def reg_runs(wine: Wine) -> str | None:  # noqa: F811
    proc = wine.run("reg", "query", REG_KEY, "/v", "runs")
    out = proc.stdout.decode(errors="replace")
    return out.split("REG_DWORD")[-1].strip() if "REG_DWORD" in out else None


def user_shell_appdata(wine: Wine) -> str:  # noqa: F811
    proc = wine.run(
        "reg", "query", r"HKCU\Software\Microsoft\Windows\CurrentVersion\Explorer\User Shell Folders", "/v", "AppData"
    )
    return proc.stdout.decode(errors="replace").split("REG_EXPAND_SZ")[-1].strip()


def leftovers(wine: Wine) -> list[str]:  # noqa: F811
    """Anything a stand-in wrote under the prefix's user profile."""
    return sorted(str(p.relative_to(wine.profile)) for p in wine.profile.rglob("StandIn*"))


def test_launcher_keeps_everything_on_the_key_from_e_and_f(wine: Wine, standin: Path, tmp_path: Path) -> None:  # noqa: F811
    root = build_key(
        tmp_path,
        [
            (
                {"app": "bloc", "name": "Bloc-notes", "launch": "bin/bloc.exe", "portable": RECIPE},
                {"bin/bloc.exe": standin.read_bytes()},
            )
        ],
    )
    manifest = json.loads((root / ".packbuilder/manifest.json").read_text(encoding="utf-8"))
    launcher = "Logiciels/Éditeur de texte (Bloc-notes).cmd"
    assert manifest["apps"] == [{"app": "bloc", "launcher": launcher, "data": "Data/bloc"}]
    assert (root / "Apps/Bureautique/Bloc-notes/doLocalConf.xml").read_bytes() == b"<x/>\r\n"
    # The PC's user has their own settings in the key the app writes: they must come back after.
    wine.run("reg", "add", REG_KEY, "/v", "runs", "/t", "REG_DWORD", "/d", "41", "/f")
    pc_appdata = user_shell_appdata(wine)
    assert "AppData" in pc_appdata

    for run, letter in enumerate("EF", 1):
        wine.map_drive(letter, root)
        proc = wine.start(f"{letter}:\\{launcher.replace('/', chr(92))}")
        wine.unmap_drive(letter)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        rec = wine.record("bloc.exe")
        data = f"{letter}:\\Data\\bloc"
        assert rec["program"] == [f"{letter}:\\Apps\\Bureautique\\Bloc-notes\\bin\\bloc.exe"]
        assert rec["cwd"] == [f"{letter}:\\Apps\\Bureautique\\Bloc-notes\\bin"]
        assert rec["arg"] == [
            "-profile",
            f"{data}\\profile",
            "-no-remote",
            f"-env:UserInstallation=file:///{letter}:/Data/bloc/user",
        ]
        env = dict(e.split("=", 1) for e in rec["env"] if not e.startswith("="))
        assert env["APPDATA"] == f"{data}\\AppData\\Roaming"
        assert env["LOCALAPPDATA"] == f"{data}\\AppData\\Local"
        assert env["BLOC_HOME"] == f"{data}\\home"
        assert rec["shell-appdata"] == [f"{data}\\AppData\\Roaming"]
        assert rec["shell-localappdata"] == [f"{data}\\AppData\\Local"]
        assert rec["registry-runs"] == [str(run)]  # the app's own key, kept on the key between runs
        for sub, name in (
            ("Roaming", "env-roaming"),
            ("Local", "env-local"),
            ("Roaming", "shell-roaming"),
            ("Local", "shell-local"),
        ):
            assert (root / f"Data/bloc/AppData/{sub}/StandIn/{name}.txt").read_text().split() == [str(run)]
        # After the run: the PC's own registry and shell folders are back, nothing left in its profile.
        assert reg_runs(wine) == "0x29"
        assert user_shell_appdata(wine) == pc_appdata
        assert leftovers(wine) == []
        assert (root / "Data/bloc/registry-1.reg").is_file()
        assert not (root / "Data/bloc/registry-pc-1.reg").exists()
        assert not (root / "Data/bloc/shell-folders.reg").exists()


def test_accented_folders_and_plain_launcher(wine: Wine, standin: Path, tmp_path: Path) -> None:  # noqa: F811
    """A folder with an accent is found whatever code page cmd.exe reads the launcher in; an app
    with no recipe still gets its AppData on the key, through the environment and the shell folders."""
    root = build_key(
        tmp_path,
        [
            (
                {
                    "app": "tux",
                    "name": "Tux Écolo",
                    "category": "education",
                    "dest": "Apps/Éducation/Tux Écolo",
                    "launch": "tux.exe",
                },
                {"tux.exe": standin.read_bytes()},
            )
        ],
    )
    script = (root / "Logiciels/Tux Écolo.cmd").read_bytes()
    assert script.isascii() and b"\r\n" in script
    wine.map_drive("G", root)
    proc = wine.start("G:\\Logiciels\\Tux Écolo.cmd")
    wine.unmap_drive("G")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    rec = wine.record("tux.exe")
    assert rec["program"] == ["G:\\Apps\\Éducation\\Tux Écolo\\tux.exe"]
    assert (root / "Data/tux/AppData/Roaming/StandIn/env-roaming.txt").read_text().split() == ["1"]
    assert (root / "Data/tux/AppData/Local/StandIn/shell-local.txt").read_text().split() == ["1"]
    assert leftovers(wine) == []


def test_32bit_standin_compiles_as_pe32(tmp_path: Path) -> None:
    """The 32-bit stand-in is built (machine i386); running it needs a 32-bit Wine (see README)."""
    from tests.wine_support import compile_standin

    exe = compile_standin(tmp_path / "standin32.exe", "i686-w64-mingw32-gcc")
    data = exe.read_bytes()
    pe = int.from_bytes(data[0x3C:0x40], "little")
    assert data[pe : pe + 4] == b"PE\0\0" and int.from_bytes(data[pe + 4 : pe + 6], "little") == 0x14C


@pytest.fixture(autouse=True)
def _fresh_records(wine: Wine) -> None:  # noqa: F811
    for record in wine.out.iterdir():
        record.unlink()


def shipped_items() -> list[LockedArtifact]:
    """Every catalog app that runs on Windows, with its first Windows build (64-bit when there is one)."""
    catalog = load_catalog(ROOT / "manifests")
    items = []
    for app in sorted(catalog.apps.values(), key=lambda a: a.id):
        for release in app.releases:
            arts = [a for a in release.artifacts if a.platform == Platform.WINDOWS and a.launch]
            arts = [a for a in arts if a.arch == Arch.X86_64] or arts
            if arts:
                plan_item = PlanItem(app, release, arts[0], "test", dest_for(app, release, arts[0]))
                items.append(locked_item(plan_item))
                break
    return items


def expand(value: str, letter: str, item: LockedArtifact) -> str:
    data = f"{letter}:\\Data\\{item.app}"
    return (
        value.replace("{data_url}", f"file:///{letter}:/Data/{item.app}")
        .replace("{data}", data)
        .replace("{app}", f"{letter}:\\" + item.dest.replace("/", "\\"))
    )


def test_every_shipped_recipe_reaches_its_app(wine: Wine, standin: Path, tmp_path: Path) -> None:  # noqa: F811
    """Each catalog app's program replaced by the stand-in: its launcher gives it the arguments and
    environment its manifest says, from the key, and its settings land in its data folder. Apps whose
    recipe adds nothing to the launcher's defaults get the same script as the tests above."""
    every = shipped_items()
    assert len(every) >= 25
    items = [i for i in every if i.portable and (i.portable.args or i.portable.env or i.portable.registry or i.portable.dirs)]
    assert len(items) >= 12
    root = tmp_path / "key"
    for item in items:
        assert item.launch
        program = root / item.dest / item.launch
        program.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(standin, program)
    launchers = {a.app: a.launcher for a in write_launchers(tuple(items), root)}
    wine.map_drive("E", root)
    pc_appdata = user_shell_appdata(wine)
    for item in items:
        recipe = item.portable
        assert recipe is not None, f"{item.app}: no portable recipe in its manifest"
        regkey = recipe.registry[0].split("\\", 1)[1] if recipe.registry else "Software\\PackbuilderStandIn"
        proc = wine.start("E:\\" + launchers[item.app].replace("/", "\\"), env={"STANDIN_REGKEY": regkey}, settle=False)
        assert proc.returncode == 0, (item.app, proc.stderr.decode(errors="replace"))
        assert item.launch
        rec = wine.record(posixpath.basename(item.launch))
        program = "E:\\" + f"{item.dest}/{item.launch}".replace("/", "\\")
        assert rec["program"] == [program], item.app
        assert rec["cwd"] == [program.rsplit("\\", 1)[0]], item.app
        assert rec.get("arg", []) == [expand(a, "E", item) for a in recipe.args], item.app
        env = dict(e.split("=", 1) for e in rec["env"] if not e.startswith("="))
        assert env["APPDATA"] == f"E:\\Data\\{item.app}\\AppData\\Roaming", item.app
        for name, value in recipe.env.items():
            assert env[name] == expand(value, "E", item), (item.app, name)
        for rel in recipe.dirs:
            assert (root / "Data" / item.app / rel).is_dir(), (item.app, rel)
        assert rec["shell-appdata"] == [f"E:\\Data\\{item.app}\\AppData\\Roaming"], item.app
        if recipe.registry and recipe.registry_cleanup:
            assert wine.run("reg", "query", recipe.registry[0]).returncode != 0, f"{item.app}: registry left on the PC"
            assert (root / "Data" / item.app / "registry-1.reg").is_file(), item.app
    wine.unmap_drive("E")
    assert user_shell_appdata(wine) == pc_appdata
    assert leftovers(wine) == []


def distlib_launcher() -> bytes:
    """distlib's console-script launcher for 64-bit Windows, as pip (PyPI) ships it: a real Windows
    program not written here. pip installs it as ``<script>.exe``: the launcher, a ``#!`` line naming
    the program to run, then a zip; it starts that program with its own path and its arguments."""
    import pip

    found = Path(pip.__file__).parent / "_vendor" / "distlib" / "t64.exe"
    if not found.is_file():
        pytest.fail(f"{found} not found: pip (`make install`) ships it")
    return found.read_bytes()


def test_real_windows_program_through_the_launcher(wine: Wine, standin: Path, tmp_path: Path) -> None:  # noqa: F811
    payload = factories.zip_bytes({"__main__.py": b"raise SystemExit(0)\n"})
    tool = distlib_launcher() + b"#!standin.exe\n" + payload
    recipe = {"args": ["-profile", "{data}\\profile"], "dirs": ["profile"], "source": "test recipe"}
    root = build_key(
        tmp_path,
        [
            (
                {"app": "outil", "name": "Outil", "launch": "outil.exe", "portable": recipe},
                {"outil.exe": tool, "standin.exe": standin.read_bytes()},
            )
        ],
    )
    wine.map_drive("E", root)
    proc = wine.start("E:\\Logiciels\\Outil.cmd")
    wine.unmap_drive("E")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    rec = wine.record("standin.exe")
    folder = "E:\\Apps\\Bureautique\\Outil"
    assert rec["program"] == [f"{folder}\\standin.exe"]
    assert rec["arg"] == [f"{folder}\\outil.exe", "-profile", "E:\\Data\\outil\\profile"]
    assert rec["shell-appdata"] == ["E:\\Data\\outil\\AppData\\Roaming"]
    assert (root / "Data/outil/AppData/Roaming/StandIn/env-roaming.txt").read_text().split() == ["1"]
    assert leftovers(wine) == []


def test_missing_runtime_opens_the_apps_page_instead(wine: Wine, standin: Path, tmp_path: Path) -> None:  # noqa: F811
    """A 32-bit app that needs the Visual C++ runtime: the prefix's SysWOW64 has no vcruntime140.dll
    (as a bare 64-bit Windows 7), so its launcher does not start it; the same app carrying the DLL
    in its own folder (app-local) starts."""
    recipe = {"runtimes": ["vcredist-2015"], "source": "test recipe"}
    syswow64 = wine.prefix / "drive_c" / "windows" / "syswow64"
    assert syswow64.is_dir() and not (syswow64 / "vcruntime140.dll").exists()
    root = build_key(
        tmp_path,
        [
            ({"app": "sans", "name": "Sans", "launch": "sans.exe", "portable": recipe}, {"sans.exe": standin.read_bytes()}),
            (
                {"app": "avec", "name": "Avec", "launch": "avec.exe", "portable": recipe},
                {"avec.exe": standin.read_bytes(), "vcruntime140.dll": b"MZ stand-in for the app-local runtime"},
            ),
        ],
    )
    assert 'href="../../Logiciels/Sans.cmd"' in (root / "Menu-fichiers/apps/sans.html").read_text(encoding="utf-8")
    assert "Visual C++" in (root / "Menu-fichiers/apps/sans.html").read_text(encoding="utf-8")
    wine.map_drive("E", root)
    missing = wine.start("E:\\Logiciels\\Sans.cmd", settle=False)  # in this console: its exit code
    present = wine.start("E:\\Logiciels\\Avec.cmd")
    wine.unmap_drive("E")
    assert not (wine.out / "sans.exe.txt").exists()
    assert missing.returncode == 1
    assert present.returncode == 0, present.stderr.decode(errors="replace")
    assert wine.record("avec.exe")["program"] == ["E:\\Apps\\Bureautique\\Avec\\avec.exe"]


def test_shell_folders_already_on_the_key_are_not_saved_twice(wine: Wine, standin: Path, tmp_path: Path) -> None:  # noqa: F811
    """While another app of the key runs, the user's AppData already points at the key: a second
    launcher must not save that as the PC's value (the first one restores the PC's own)."""
    root = build_key(tmp_path, [({"app": "deux", "name": "Deux", "launch": "deux.exe"}, {"deux.exe": standin.read_bytes()})])
    pc_appdata = user_shell_appdata(wine)
    usf = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Explorer\User Shell Folders"
    other = "E:\\Data\\premier\\AppData\\Roaming"
    wine.run("reg", "add", usf, "/v", "AppData", "/t", "REG_EXPAND_SZ", "/d", other, "/f")
    try:
        wine.map_drive("E", root)
        proc = wine.start("E:\\Logiciels\\Deux.cmd")
        wine.unmap_drive("E")
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        assert wine.record("deux.exe")["shell-appdata"] == ["E:\\Data\\deux\\AppData\\Roaming"]
        assert user_shell_appdata(wine) != other  # not put back to the other app's: that one restores the PC's
        assert not (root / "Data/deux/shell-folders.reg").exists()
    finally:
        wine.run("reg", "add", usf, "/v", "AppData", "/t", "REG_EXPAND_SZ", "/d", pc_appdata, "/f")


def test_backups_left_by_a_crashed_run_are_restored_first(wine: Wine, standin: Path, tmp_path: Path) -> None:  # noqa: F811
    """The PC was switched off while the app ran: its shell folders still point at the key and the app's
    registry key holds the app's settings, the PC's own saved in the data folder. The next start puts
    the PC's back before anything else, so they are not lost."""
    recipe = {"registry": [REG_KEY], "registry_cleanup": True, "source": "test recipe"}
    root = build_key(
        tmp_path,
        [({"app": "crash", "name": "Crash", "launch": "crash.exe", "portable": recipe}, {"crash.exe": standin.read_bytes()})],
    )
    usf = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Explorer\User Shell Folders"
    pc_appdata = user_shell_appdata(wine)
    data = root / "Data/crash"
    win_data = "Z:" + str(data).replace("/", "\\")
    # The state a crash leaves: the PC's values saved aside, the key's in place.
    wine.run("reg", "add", REG_KEY, "/v", "runs", "/t", "REG_DWORD", "/d", "41", "/f")
    assert wine.run("reg", "export", REG_KEY, f"{win_data}\\registry-pc-1.reg").returncode == 0
    assert wine.run("reg", "export", usf, f"{win_data}\\shell-folders.reg").returncode == 0
    wine.run("reg", "add", REG_KEY, "/v", "runs", "/t", "REG_DWORD", "/d", "7", "/f")
    wine.run("reg", "add", usf, "/v", "AppData", "/t", "REG_EXPAND_SZ", "/d", "E:\\Data\\crash\\AppData\\Roaming", "/f")
    try:
        wine.map_drive("E", root)
        proc = wine.start("E:\\Logiciels\\Crash.cmd")
        wine.unmap_drive("E")
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        assert wine.record("crash.exe")["registry-runs"] == ["1"]  # neither the PC's 41 nor the crashed run's 7
        assert reg_runs(wine) == "0x29"
        assert user_shell_appdata(wine) == pc_appdata
        assert not (data / "registry-pc-1.reg").exists() and not (data / "shell-folders.reg").exists()
    finally:
        wine.run("reg", "add", usf, "/v", "AppData", "/t", "REG_EXPAND_SZ", "/d", pc_appdata, "/f")
