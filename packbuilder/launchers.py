"""One launcher per Windows app: a ``.cmd`` file in ``Logiciels/`` that starts the app from the key
with its settings in ``Data/<app>/`` on the key.

Why a ``.cmd`` (decided, see README, "Starting an app"):

- it runs on every Windows from XP to 11 with nothing installed, and is read by people and by tests
  (``wine cmd /c``); it is plain text generated from the manifest, so a build needs no compiler and the
  key carries no program of ours that an antivirus could flag;
- a launcher ``.exe`` (the PortableApps.com way) would hide the console without a flash, but it is a
  binary built from our code that every build would ship: it would have to be cross-compiled when
  packbuilder is released, reproducibly, and trusted by antivirus software; not worth it while a
  ``.cmd`` does the job;
- VBScript (``wscript``) is being removed from Windows 11, and WSH is often disabled by policy.

A double-clicked ``.cmd`` shows a console for a blink: ``start`` hands the program over and the
console closes. Apps whose launcher must wait (to clean the registry or put the shell folders back
after the run) re-open it minimised. The HTA menu runs launchers with no console at all.

XP's cmd.exe: no ``(...)`` blocks around paths (a ``)`` in a folder name would end them), only
``%VAR:~n%``/``%VAR:a=b%`` and ``for %%I`` forms that XP has. The script is ASCII: cmd.exe reads a
batch file in the PC's OEM code page, so a folder with an accent is found by a ``?`` wildcard.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

from packbuilder.errors import AssemblyError
from packbuilder.i18n import _
from packbuilder.model.common import Arch, Kind, Platform
from packbuilder.model.lock import LockedArtifact
from packbuilder.model.portable import Portable, Runtime
from packbuilder.paths import join_within

LAUNCHER_DIR = "Logiciels"
DATA_DIR = "Data"
DOCUMENTS_DIR = "Documents"
APP_PAGES = "Menu-fichiers/apps"
USER_SHELL_FOLDERS = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Explorer\User Shell Folders"
# Characters Windows refuses in a file name.
_BAD_NAME = re.compile(r'[\\/:*?"<>|]+')
_CMD_UNSAFE = set('%!^"<>|&\r\n')
_PLACEHOLDER = re.compile(r"\{(data_url|data|app)\}")
_RUNTIME_DLLS = {Runtime.VCREDIST_2015: "vcruntime140.dll"}


@dataclass(frozen=True)
class AppLauncher:
    """What ``.packbuilder/manifest.json`` lists for an app: paths relative to the key's root."""

    app: str
    launcher: str
    data: str

    def as_json(self) -> dict[str, str]:
        return {"app": self.app, "launcher": self.launcher, "data": self.data}


def launcher_name(item: LockedArtifact, lang: str = "fr") -> str:
    """« Traitement de texte (LibreOffice) »: what the app is for, then its name."""
    title = getattr(item.portable.title, lang) if item.portable and item.portable.title else None
    name = f"{title} ({item.name})" if title else item.name
    return _BAD_NAME.sub(" ", name).strip(" .")


def _cmd_safe(value: str, what: str) -> str:
    bad = sorted(_CMD_UNSAFE & set(value))
    if bad or not value.isprintable():
        raise AssemblyError(
            _("{what}: {value!r} cannot be written in a launcher").format(what=what, value=value),
            hint=_("rename the folder or fix the manifest"),
        )
    return value


def _find_folder(var: str, rel: str) -> list[str]:
    """Lines that set ``var`` to ``%var%\\rel``, finding components with non-ASCII letters by wildcard.

    The wildcard is unquoted and relative (spaces become ``?`` too): Wine's cmd.exe matches no quoted
    pattern in ``for /d``, Windows' matches both."""
    lines = []
    for part in rel.split("/"):
        _cmd_safe(part, _("folder"))
        if part.isascii():
            lines.append(f'set "{var}=%{var}%\\{part}"')
        else:
            pattern = "".join(c if c.isascii() and c != " " else "?" for c in part)
            lines += [f'pushd "%{var}%"', f'for /d %%I in ({pattern}) do set "{var}=%%~fI"', "popd"]
    return lines


def _arg(value: str) -> str:
    """One argument for cmd.exe: placeholders become variables, quoted when a path may hold spaces."""
    return f'"{_expand(value)}"' if (" " in value or "{" in value or not value) else value


def _expand(value: str) -> str:
    return _PLACEHOLDER.sub(lambda m: "%PB_" + m.group(1).upper() + "%", value)


def _prologue(item: LockedArtifact, wait: bool) -> list[str]:
    lines = [
        "@echo off",
        f"rem {_ascii(item.name)} {_ascii(item.version)}: started from the key, settings in {DATA_DIR}\\{item.app} on the key.",
        "rem Written by packbuilder (see the key's LISEZMOI.html). Works whatever letter the key gets.",
        "setlocal",
    ]
    if wait:
        # This launcher waits for the app: go on in a minimised window so none stays in the way.
        # START runs a batch file as "cmd /k": the script ends with EXIT, else that window would stay.
        # PB_MIN is cleared so that a launcher the app itself starts goes through the same steps.
        lines += ["if defined PB_MIN goto run", "set PB_MIN=1", 'start "" /min "%~f0" %*', "exit", ":run", "set PB_MIN="]
    lines += [
        'for %%I in ("%~dp0..") do set "PB_KEY=%%~fI"',
        'if not "%PB_KEY:~-1%"=="\\" set "PB_KEY=%PB_KEY%\\"',
        f'set "PB_DATA=%PB_KEY%{DATA_DIR}\\{item.app}"',
        'set "PB_APP=%PB_KEY:~0,-1%"',
        *_find_folder("PB_APP", item.dest),
        'set "APPDATA=%PB_DATA%\\AppData\\Roaming"',
        'set "LOCALAPPDATA=%PB_DATA%\\AppData\\Local"',
        'if not exist "%APPDATA%\\" md "%APPDATA%"',
        'if not exist "%LOCALAPPDATA%\\" md "%LOCALAPPDATA%"',
    ]
    return lines


def _ascii(text: str) -> str:
    """Text for a ``rem`` line: ASCII, and nothing cmd.exe would still expand there."""
    return "".join("_" if not c.isascii() or c in _CMD_UNSAFE else c for c in text)


def _recipe_lines(item: LockedArtifact, recipe: Portable) -> list[str]:
    lines = []
    for rel in recipe.dirs:
        path = "%PB_DATA%\\" + rel.replace("/", "\\")
        lines.append(f'if not exist "{path}\\" md "{path}"')
    uses_url = any("{data_url}" in v for v in (*recipe.args, *recipe.env.values()))
    if uses_url:
        # file:///E:/Data/app. Spaces are left as they are: cmd.exe cannot write "%20" portably (Wine's
        # and Windows' delayed expansion differ); the key's root has none unless copied into such a folder.
        lines.append('set "PB_DATA_URL=file:///%PB_DATA:\\=/%"')
    for name, value in sorted(recipe.env.items()):
        lines.append(f'set "{name}={_expand(value)}"')
    return lines


def _runtime_lines(item: LockedArtifact, recipe: Portable, program_dir: str) -> list[str]:
    """When a runtime is missing, open the app's page on the key (it says what to install) instead."""
    lines = []
    for runtime in recipe.runtimes:
        dll = _RUNTIME_DLLS[runtime]
        # A 32-bit program on 64-bit Windows loads from SysWOW64; a 32-bit cmd.exe sees System32 as SysWOW64.
        other = "SysWOW64" if item.arch == Arch.X86 else "Sysnative"
        label = f"rt_{runtime.value.replace('-', '_')}"
        lines += [
            'set "PB_SYS=%SystemRoot%\\System32"',
            f'if exist "%SystemRoot%\\{other}\\" set "PB_SYS=%SystemRoot%\\{other}"',
            f'if exist "%PB_SYS%\\{dll}" goto {label}',
            f'if exist "{program_dir}\\{dll}" goto {label}',
            f'start "" "%PB_KEY%{APP_PAGES.replace("/", chr(92))}\\{item.app}.html"',
            "exit 1",
            f":{label}",
        ]
    return lines


def _shell_folder_lines(before: bool) -> list[str]:
    """Point the user's AppData shell folders at the key for the run, and put them back after.

    Apps that ask Windows for these folders (SHGetFolderPath) ignore %APPDATA%. The backup is made only
    when the folders are not already on the key (another app of the key running), so the PC's own
    values are the ones restored; a backup left by a crash is restored first. Only "User Shell
    Folders" is changed: "Shell Folders" is a cache that Windows rewrites from it.
    """
    backup = "%PB_DATA%\\shell-folders.reg"
    lines = [f'if exist "{backup}" reg import "{backup}" >nul 2>&1', f'if exist "{backup}" del "{backup}"']
    if not before:
        return lines
    return [
        *lines,
        "set PB_OWN=",
        # The value was written by a launcher with this very text, so case matters not (Wine's find has
        # no /i); no backslash before the closing quote: find.exe would read it as an escaped quote;
        # "if errorlevel" on its own line: Wine's cmd loses the status of "a | b >nul || c".
        f'reg query "{USER_SHELL_FOLDERS}" /v AppData 2>nul | find "%PB_KEY%{DATA_DIR}" >nul',
        "if errorlevel 1 set PB_OWN=1",
        f'if defined PB_OWN reg export "{USER_SHELL_FOLDERS}" "{backup}" >nul 2>&1',
        f'reg add "{USER_SHELL_FOLDERS}" /v AppData /t REG_EXPAND_SZ /d "%APPDATA%" /f >nul',
        f'reg add "{USER_SHELL_FOLDERS}" /v "Local AppData" /t REG_EXPAND_SZ /d "%LOCALAPPDATA%" /f >nul',
    ]


def _registry_lines(recipe: Portable, before: bool) -> list[str]:
    """PortableApps.com-style: the PC's keys are saved aside, the app's own come from the data folder."""
    lines = []
    for n, key in enumerate(recipe.registry, 1):
        pc, own = f"%PB_DATA%\\registry-pc-{n}.reg", f"%PB_DATA%\\registry-{n}.reg"
        if before:
            lines += [
                # A backup of the PC's key still here means the last run did not end: put it back first.
                f'if exist "{pc}" reg delete "{key}" /f >nul 2>&1',
                f'if exist "{pc}" reg import "{pc}" >nul 2>&1',
                f'if exist "{pc}" del "{pc}"',
                f'reg export "{key}" "{pc}" >nul 2>&1',
                f'reg delete "{key}" /f >nul 2>&1',
                f'if exist "{own}" reg import "{own}" >nul 2>&1',
            ]
        else:
            lines += [
                f'if exist "{own}" del "{own}"',
                f'reg export "{key}" "{own}" >nul 2>&1',
                f'reg delete "{key}" /f >nul 2>&1',
                f'if exist "{pc}" reg import "{pc}" >nul 2>&1',
                f'if exist "{pc}" del "{pc}"',
            ]
    return lines


def launcher_script(item: LockedArtifact) -> str:
    """The ``.cmd`` text (CRLF line ends, ASCII) that starts ``item`` from the key."""
    if not item.launch:
        raise AssemblyError(
            _("{app}: the manifest gives no program to start ('launch')").format(app=item.app),
            hint=_("add 'launch' to the artifact"),
        )
    recipe = item.portable or Portable(source="no recipe: the launcher's defaults")
    cleanup = bool(recipe.registry) and recipe.registry_cleanup
    wait = recipe.shell_folders or cleanup
    launch = _cmd_safe(item.launch, _("{app}: launch").format(app=item.app)).replace("/", "\\")
    workdir = "%PB_APP%" + ("\\" + posixpath.dirname(item.launch).replace("/", "\\") if "/" in item.launch else "")
    lines = _prologue(item, wait) + _recipe_lines(item, recipe) + _runtime_lines(item, recipe, workdir)
    if recipe.shell_folders:
        lines += _shell_folder_lines(before=True)
    if cleanup:
        lines += _registry_lines(recipe, before=True)
    args = " ".join(_arg(a) for a in recipe.args)
    start = 'start "" /wait' if wait else 'start ""'
    lines.append(f'{start} /D "{workdir}" "%PB_APP%\\{launch}"{" " + args if args else ""} %*')
    if cleanup:
        lines += _registry_lines(recipe, before=False)
    if recipe.shell_folders:
        lines += _shell_folder_lines(before=False)
    lines.append("exit")
    text = "\r\n".join(lines) + "\r\n"
    assert text.isascii()
    return text


def windows_items(items: tuple[LockedArtifact, ...]) -> list[LockedArtifact]:
    return [i for i in items if i.platform == Platform.WINDOWS and i.kind != Kind.APPIMAGE and i.launch]


def write_launchers(items: tuple[LockedArtifact, ...], root: Path) -> list[AppLauncher]:
    """Write every Windows app's launcher, its portable-mode files and its empty data folder."""
    written: list[AppLauncher] = []
    names: dict[str, str] = {}
    for item in windows_items(items):
        name = launcher_name(item)
        if name.casefold() in names:  # FAT folders are case-insensitive
            name = f"{name} - {item.app}"
        names[name.casefold()] = item.app
        launcher = f"{LAUNCHER_DIR}/{name}.cmd"
        data = f"{DATA_DIR}/{item.app}"
        (root / LAUNCHER_DIR).mkdir(exist_ok=True)
        (root / launcher).write_bytes(launcher_script(item).encode("ascii"))
        for sub in ("AppData/Roaming", "AppData/Local"):
            (root / data / sub).mkdir(parents=True, exist_ok=True)
        for file in item.portable.files if item.portable else ():
            base = item.dest if file.where.value == "app" else data
            target = join_within(root, f"{base}/{file.path}")
            if file.where.value != "app" and target.exists():
                continue  # the data folder is the user's: a file already there (an update) stays as it is
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(file.content.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8"))
        written.append(AppLauncher(item.app, launcher, data))
    return written


def appimage_homes(items: tuple[LockedArtifact, ...], root: Path) -> list[AppLauncher]:
    """Linux AppImages keep their settings on the key too: the AppImage runtime's portable mode sets
    HOME to a folder named after the file plus ``.home`` when it exists beside it
    (https://docs.appimage.org/user-guide/portable-mode.html). The AppImage is its own launcher."""
    homes = []
    for item in items:
        if item.kind == Kind.APPIMAGE:
            (root / f"{item.dest}.home").mkdir(parents=True, exist_ok=True)
            homes.append(AppLauncher(item.app, item.dest, f"{item.dest}.home"))
    return homes
