"""Byte bars of the long steps: on a terminal, ``build`` (usb, usb-live, iso with each engine), ``verify``
and ``publish`` show the bytes done against the total, in the language of the messages; with --quiet or
--json nothing is drawn. The command's standard error is a pseudo-terminal, as a person sees it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from packbuilder.plan.lock import lock_bytes
from packbuilder.ui import NO_METER, Output
from tests import factories
from tests.conftest import run_cli_on_a_terminal
from tests.test_iso import isos  # noqa: F401  # the fixture bases, built once

pytestmark = pytest.mark.slow

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
UNITS = r"(?:bytes|kB|MB|GB|octets|ko|Mo|Go)"
# « 3.1 MB / 3.1 MB »: what is done, the total (format_size puts a no-break space before the unit)
BYTES = re.compile(rf"\d+(?:[.,]\d+)?\u00a0{UNITS} / \d+(?:[.,]\d+)?\u00a0{UNITS}")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory, isos: Path) -> dict[str, Path]:  # noqa: F811
    """A lock whose app is a few MB (so that bars have bytes), its artifact in the cache, a catalog."""
    base = tmp_path_factory.mktemp("bars")
    app = factories.zip_bytes({"Writer/writer.exe": b"MZ" + os.urandom(6_000_000)})
    factories.cached(base / "cache", app)
    catalog = factories.marker_catalog(base / "mini")
    items = [factories.item("writer", url="https://writer.example.org/w.zip", data=app, launch="Writer/writer.exe")]
    lock = factories.lock(items, pack="bars", label="BARS", overlays=["docs-fr", "marker"], key_mb=96)
    (base / "bars.lock").write_bytes(lock_bytes(lock))
    lock_path, iso = base / "bars.lock", isos / "grub-hybrid.iso"
    return {"base": base, "catalog": catalog, "cache": base / "cache", "lock": lock_path, "iso": iso}


def on_a_terminal(work: dict[str, Path], *args: str, lang: str = "C.UTF-8") -> tuple[int, str]:
    """The CLI with standard error on a pseudo-terminal: exit code and what was drawn, escapes taken out."""
    env = {"LANG": lang, "TERM": "xterm-256color"}
    catalog = ("--catalog", str(work["catalog"]), "--cache", str(work["cache"]))
    code, drawn = run_cli_on_a_terminal(*catalog, *args, env=env, cwd=work["base"])
    return code, ANSI.sub("", drawn).replace("\r", "\n")


def bar_lines(seen: str, label: str) -> list[str]:
    """The lines drawn for ``label`` that show bytes done / total."""
    return [line for line in seen.splitlines() if line.strip().startswith(label) and BYTES.search(line)]


def build(work: dict[str, Path], out: str, *args: str, lang: str = "C.UTF-8") -> tuple[int, str]:
    return on_a_terminal(work, "build", str(work["lock"]), "--offline", "-o", str(work["base"] / out), *args, lang=lang)


def test_usb_image_build_verify_and_publish_show_their_bytes(work: dict[str, Path]) -> None:
    code, seen = build(work, "key.img", "--format", "usb")
    assert code == 0, seen
    assert bar_lines(seen, "Writing key.img") and bar_lines(seen, "Hashing key.img"), seen
    code, seen = on_a_terminal(work, "verify", str(work["base"] / "key.img"))
    assert code == 0, seen
    assert bar_lines(seen, "Checking key.img"), seen
    code, seen = on_a_terminal(work, "publish", str(work["base"] / "key.img"), "-o", str(work["base"] / "site"))
    assert code == 0, seen
    for label in ("Hashing key.img", "Block map of key.img", "Compressing key.img.xz", "Compressing key.img.zst"):
        assert bar_lines(seen, label), (label, seen)
    code, seen = on_a_terminal(
        work, "publish", str(work["base"] / "key.img"), "-o", str(work["base"] / "site"), "--base-url", "https://asso.example.org/"
    )
    assert code == 0 and bar_lines(seen, "Torrent of key.img.xz"), seen


def test_zip_verify_shows_its_bytes(work: dict[str, Path]) -> None:
    code, seen = build(work, "key.zip", "--format", "zip")
    assert code == 0 and bar_lines(seen, "Writing key.zip"), seen
    code, seen = on_a_terminal(work, "verify", str(work["base"] / "key.zip"))
    assert code == 0 and bar_lines(seen, "Checking key.zip"), seen


def test_usb_live_shows_its_bytes(work: dict[str, Path]) -> None:
    code, seen = build(work, "live.img", "--format", "usb-live", "--base", str(work["iso"]))
    assert code == 0, seen
    assert bar_lines(seen, "Writing live.img"), seen


@pytest.mark.parametrize("engine", ["xorriso", "pycdlib"])
def test_iso_engines_show_their_bytes(work: dict[str, Path], engine: str) -> None:
    out = f"{engine}.iso"
    code, seen = build(work, out, "--format", "iso", "--base", str(work["iso"]), "--iso-engine", engine)
    assert code == 0, seen
    assert bar_lines(seen, f"Writing {out}") and bar_lines(seen, f"Hashing {out}"), seen


def test_bars_speak_french(work: dict[str, Path]) -> None:
    code, seen = build(work, "cle.img", "--format", "usb", lang="fr_FR.UTF-8")
    assert code == 0, seen
    lines = [line for line in seen.splitlines() if BYTES.search(line)]
    assert lines and all(re.search(r"\u00a0(octets|ko|Mo|Go) / ", line) for line in lines), seen


def test_flash_shows_its_bytes_in_french(work: dict[str, Path]) -> None:
    image = work["base"] / "flash-src.img"
    image.write_bytes(os.urandom(8_000_000))
    target = work["base"] / "flash-key.img"
    code, seen = on_a_terminal(work, "flash", str(image), str(target), "--yes", lang="fr_FR.UTF-8")
    assert code == 0, seen
    assert target.read_bytes() == image.read_bytes()
    assert [line for line in seen.splitlines() if BYTES.search(line) and "\u00a0Mo" in line], seen


@pytest.mark.parametrize("mode", ["--quiet", "--json"])
def test_nothing_drawn_with_quiet_or_json(work: dict[str, Path], mode: str) -> None:
    out = str(work["base"] / "quiet.img")
    code, seen = on_a_terminal(work, mode, "build", str(work["lock"]), "--offline", "-o", out, "--format", "usb")
    assert code == 0, seen
    assert not BYTES.search(seen) and "Writing" not in seen, seen
    code, seen = on_a_terminal(work, mode, "verify", str(work["base"] / "quiet.img"))
    assert code == 0 and not BYTES.search(seen) and "Checking" not in seen, seen


def test_a_meter_off_a_terminal_draws_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    """Standard error is not a terminal here (pytest captures it): the meter is the silent one."""
    with Output().meter("Writing x", 100) as meter:
        meter.advance(50)
        assert meter is NO_METER
    assert capsys.readouterr().err == ""
