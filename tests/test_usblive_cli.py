"""`packbuilder build --format usb-live` from the command line: a lock, a base ISO and the pack,
one image that boots and carries the key on its first partition."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from packbuilder.plan.lock import lock_bytes
from tests import factories, qemu
from tests.conftest import run_cli
from tests.test_iso import isos  # noqa: F401  # the fixture bases, built once


def build(base: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`packbuilder build` of the test lock, with the test catalog and the filled cache."""
    catalog, cache = base / "mini" / "manifests", base / "cache"
    return run_cli("--catalog", str(catalog), "--cache", str(cache), "build", str(base / "live.lock"), *args)


@pytest.fixture(scope="module")
def live_build(tmp_path_factory: pytest.TempPathFactory, isos: Path) -> dict[str, Path]:  # noqa: F811
    base = tmp_path_factory.mktemp("usblive-cli")
    app = factories.zip_bytes({"Writer/writer.exe": b"MZ" + os.urandom(5000)})
    factories.cached(base / "cache", app)
    factories.marker_catalog(base / "mini")
    items = [factories.item("writer", url="https://writer.example.org/w.zip", data=app, launch="Writer/writer.exe")]
    lock = factories.lock(items, pack="live", label="LIVE", overlays=["docs-fr", "marker"], key_mb=96)
    (base / "live.lock").write_bytes(lock_bytes(lock))
    out = base / "live.img"
    result = build(
        base,
        "--format",
        "usb-live",
        "--base",
        str(isos / "grub-hybrid.iso"),
        "--persistence",
        "16M",
        "--offline",
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    return {"image": out, "base": base}


def test_first_partition_is_the_pack_on_fat32(live_build: dict[str, Path]) -> None:
    image = live_build["image"]
    assert image.stat().st_size == 96_000_000
    table = json.loads(subprocess.run(["sfdisk", "--json", str(image)], check=True, capture_output=True, text=True).stdout)
    first, second = table["partitiontable"]["partitions"]
    assert first["type"] == "c" and first["bootable"] and first["start"] == 2048
    assert second["type"] == "83"
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    listing = subprocess.run(
        ["mdir", "-/", "-b", "-i", f"{image}@@1M", "::/"], check=True, capture_output=True, text=True, env=env
    ).stdout
    for name in ("Menu.html", "Documents", "Apps/Bureautique/Writer/Writer/writer.exe", "PACK/marker.txt", "boot/grub"):
        assert name in listing, name
    assert (image.with_name("live.img.sha256")).is_file()
    assert run_cli("verify", str(image)).returncode == 0


@pytest.mark.boot
def test_it_boots_as_a_usb_disk_and_sees_the_pack(live_build: dict[str, Path]) -> None:
    text = qemu.boot(live_build["image"], "bios", "disk", timeout=120)
    assert qemu.marker(text) == "yes", text[-2000:]


def test_usb_live_options_are_checked(live_build: dict[str, Path]) -> None:
    base = live_build["base"]
    result = build(
        base,
        "--format",
        "zip",
        "--persistence",
        "1G",
        "--offline",
    )
    assert result.returncode == 2 and "--persistence goes with --format usb-live" in result.stderr
    result = build(
        base,
        "--format",
        "usb-live",
        "--offline",
    )
    assert result.returncode == 2 and "needs a base live ISO" in result.stderr
