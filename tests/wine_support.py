"""Wine for the launcher tests: one fresh prefix per test session, stand-in programs compiled with
mingw-w64, a key folder mapped as a drive letter, launchers started with ``wine cmd /c``.

No display is needed: the stand-ins and cmd.exe are console-free, so ``DISPLAY`` is empty and Wine's
Mono and Gecko installers are turned off (they would be downloaded, and nothing here needs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

STANDIN_C = Path(__file__).resolve().parent / "wine" / "standin.c"
PREFIX_TIMEOUT = 300  # the first prefix takes tens of seconds on a loaded machine
RUN_TIMEOUT = 120


def need(tool: str) -> str:
    found = shutil.which(tool)
    if not found:
        pytest.fail(f"{tool} not found: `make install` installs it (Debian packages wine, wine64, gcc-mingw-w64)")
    return found


@dataclass
class Wine:
    prefix: Path
    out: Path  # where the stand-ins write their records (STANDIN_OUT)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "WINEPREFIX": str(self.prefix),
            "WINEDEBUG": "-all",
            "DISPLAY": "",
            # No Mono or Gecko installers; no browser opened on the host (winebrowser) by a launcher.
            "WINEDLLOVERRIDES": "mscoree,mshtml=;winebrowser.exe=d",
            "STANDIN_OUT": "Z:" + str(self.out).replace("/", "\\"),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",  # Wine reads the launchers' accented names from argv in the Unix locale
        }

    def run(
        self, *args: str, timeout: int = RUN_TIMEOUT, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        full = {**self.env, **(env or {})}
        return subprocess.run([need("wine"), *args], env=full, capture_output=True, timeout=timeout, check=False)

    def wait(self) -> None:
        """Until every program of the prefix has ended (launchers hand over with ``start``)."""
        subprocess.run([need("wineserver"), "-w"], env=self.env, timeout=RUN_TIMEOUT, check=True)

    def map_drive(self, letter: str, folder: Path) -> None:
        """The key as drive ``letter``: Wine's drives are the symlinks in ``dosdevices``."""
        link = self.prefix / "dosdevices" / f"{letter.lower()}:"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(folder)

    def unmap_drive(self, letter: str) -> None:
        (self.prefix / "dosdevices" / f"{letter.lower()}:").unlink(missing_ok=True)

    def start(self, launcher: str, env: dict[str, str] | None = None, settle: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Start a launcher as Explorer would (``cmd /c``), then wait for what it started.

        ``call``: Wine's cmd.exe lacks Windows' rule that keeps ``cmd /c "a path with spaces"`` whole.
        ``settle``: wait for every Wine process to end, which costs the wineserver's few seconds of
        persistence; without it, the launcher is run in this console (PB_MIN) and waits for its app."""
        proc = self.run("cmd", "/c", "call", launcher, env={**(env or {}), **({} if settle else {"PB_MIN": "1"})})
        if settle:
            self.wait()
        return proc

    def record(self, program: str) -> dict[str, list[str]]:
        """What a stand-in wrote about its run: key -> values (arg and env repeat)."""
        text = (self.out / f"{program}.txt").read_text(encoding="utf-8")
        fields: dict[str, list[str]] = {}
        for line in text.splitlines():
            key, _, value = line.partition("=")
            fields.setdefault(key, []).append(value)
        return fields

    @property
    def profile(self) -> Path:
        """The Windows user profile of the prefix (``C:\\users\\<name>``)."""
        users = [p for p in (self.prefix / "drive_c" / "users").iterdir() if p.name != "Public" and not p.is_symlink()]
        assert len(users) == 1, users
        return users[0]


def compile_standin(out: Path, cc: str = "x86_64-w64-mingw32-gcc") -> Path:
    """A GUI-subsystem stand-in (no console, like the real apps)."""
    subprocess.run([need(cc), "-O2", "-mwindows", "-o", str(out), str(STANDIN_C), "-lshell32"], check=True, timeout=RUN_TIMEOUT)
    return out


@pytest.fixture(scope="session")
def wine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wine]:
    base = tmp_path_factory.mktemp("wine")
    out = base / "out"
    out.mkdir()
    w = Wine(base / "prefix", out)
    proc = w.run("wineboot", "-i", timeout=PREFIX_TIMEOUT)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    w.wait()
    yield w
    subprocess.run([need("wineserver"), "-k"], env=w.env, timeout=RUN_TIMEOUT, check=False)


@pytest.fixture(scope="session")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_standin(tmp_path_factory.mktemp("standin") / "standin.exe")
