"""Shared fixtures: copies of the small test catalogs, and the CLI run as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures"


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    """A writable copy of tests/fixtures/mini (manifests/ and overlays/); returns its manifests folder."""
    shutil.copytree(FIXTURES / "mini", tmp_path / "mini")
    return tmp_path / "mini" / "manifests"


# The locale variables gettext reads, set so that packbuilder speaks English.
ENGLISH = {"LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": "", "LANG": "C.UTF-8"}


@pytest.fixture(scope="session", autouse=True)
def compiled_translations() -> None:
    """The .mo files gettext reads, built from the .po files as the package build does."""
    sys.path.insert(0, str(ROOT))
    try:
        from hatch_build import compile_catalogs
    finally:
        sys.path.remove(str(ROOT))
    compile_catalogs()


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``packbuilder`` in a child process, as a user would."""
    full_env = {**os.environ, "COLUMNS": "200", "PACKBUILDER_CATALOG": ""}
    full_env.pop("PACKBUILDER_CATALOG")
    full_env.update(ENGLISH)  # whatever the machine's locale; tests of French pass LANG in env
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "packbuilder", *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_cli_on_a_terminal(*args: str, env: dict[str, str], cwd: Path | None = None) -> tuple[int, str]:
    """Run ``packbuilder`` with its standard error on a pseudo-terminal, as a person at a terminal sees
    it (progress is drawn only there); return the exit code and the bytes drawn, decoded."""
    import pty

    master, slave = pty.openpty()
    full_env = {**os.environ, "COLUMNS": "200", **ENGLISH, **env}  # English unless env says otherwise
    full_env.pop("PACKBUILDER_CATALOG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "packbuilder", *args], stdout=subprocess.DEVNULL, stderr=slave, cwd=cwd or ROOT, env=full_env
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=300), b"".join(chunks).decode("utf-8", errors="replace")
