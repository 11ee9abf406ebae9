"""usb-live keys from Debian-live-like bases: the live layer of ISO overlays is on the key too, and
with a persistence volume the base's menus get a first « Avec sauvegarde (persistance) » entry.

The bases are the GRUB and ISOLINUX fixtures remastered with xorriso into what live-build makes:
``/live/filesystem.squashfs`` (+ ``filesystem.module``) and a live entry (``boot=live``) in their
menus. The keys are read back with mtools and unsquashfs, and the GRUB one boots under SeaBIOS."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from packbuilder.plan.lock import lock_bytes
from tests import factories, qemu
from tests.conftest import run_cli
from tests.test_iso import isos  # noqa: F401  # the fixture bases, built once

pytestmark = pytest.mark.slow

APPIMAGE = b"\x7fELF" + bytes(range(256)) * 64
MTOOLS = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
GRUB_LIVE = """menuentry "Live system (amd64)" --hotkey=l {
	linux	/live/vmlinuz boot=live components quiet splash
	initrd	/live/initrd.img
}
"""
ISOLINUX_LIVE = """label live-amd64
	menu label ^Live system (amd64)
	menu default
	linux /live/vmlinuz
	initrd /live/initrd.img
	append boot=live components quiet splash
"""


def _live_files(work: Path) -> Path:
    root = work / "live-files"
    (root / "system" / "etc").mkdir(parents=True)
    (root / "system" / "etc" / "os-release").write_text('NAME="Fake Debian"\n')
    (root / "live").mkdir()
    subprocess.run(["mksquashfs", str(root / "system"), str(root / "live" / "filesystem.squashfs"), "-noappend", "-quiet"],
                   check=True, capture_output=True, env={**os.environ, "SOURCE_DATE_EPOCH": "946684800"}, timeout=60)  # fmt: skip
    (root / "live" / "filesystem.module").write_text("filesystem.squashfs\n")
    return root


def _remaster(base: Path, out: Path, maps: list[tuple[Path, str]]) -> Path:
    cmd = ["xorriso", "-no_rc", "-indev", str(base), "-outdev", str(out), "-boot_image", "any", "replay"]
    for local, iso_path in maps:
        cmd += ["-map", str(local), iso_path]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return out


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory, isos: Path) -> dict[str, Path]:  # noqa: F811
    work = tmp_path_factory.mktemp("live-bases")
    live = _live_files(work)
    grub_cfg = work / "grub.cfg"
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(isos / "grub-hybrid.iso"), "-extract", "/boot/grub/grub.cfg",
                    str(grub_cfg)], check=True, capture_output=True, timeout=60)  # fmt: skip
    grub_cfg.chmod(0o644)
    grub_cfg.write_text(GRUB_LIVE + grub_cfg.read_text())  # entries defined, then the fixture's marker check
    iso_cfg = work / "isolinux.cfg"
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(isos / "isolinux-hybrid.iso"), "-extract",
                    "/isolinux/isolinux.cfg", str(iso_cfg)], check=True, capture_output=True, timeout=60)  # fmt: skip
    iso_cfg.chmod(0o644)
    iso_cfg.write_text(iso_cfg.read_text() + "include live.cfg\n")
    (work / "live.cfg").write_text(ISOLINUX_LIVE)
    live_maps = [(live / "live" / "filesystem.squashfs", "/live/filesystem.squashfs"),
                 (live / "live" / "filesystem.module", "/live/filesystem.module")]  # fmt: skip
    return {
        "grub": _remaster(isos / "grub-hybrid.iso", work / "grub-live.iso", [*live_maps, (grub_cfg, "/boot/grub/grub.cfg")]),
        "isolinux": _remaster(
            isos / "isolinux-hybrid.iso",
            work / "isolinux-live.iso",
            [*live_maps, (iso_cfg, "/isolinux/isolinux.cfg"), (work / "live.cfg", "/isolinux/live.cfg")],
        ),
    }


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory, bases: dict[str, Path]) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("live-keys")
    factories.cached(base / "cache", APPIMAGE)
    factories.marker_catalog(base / "mini")
    items = [factories.item("tool", url="https://tool.example.org/Tool.AppImage", data=APPIMAGE, kind="appimage",
                            platform="linux", category="utilities", dest="AppImages/Tool-1.0-x86_64.AppImage")]  # fmt: skip
    lock = base / "live.lock"
    lock.write_bytes(lock_bytes(factories.lock(items, pack="live", label="LIVE", overlays=["docs-fr", "marker"], key_mb=96)))
    made = {}
    for name, iso in bases.items():
        out = base / f"{name}.img"
        catalog = ("--catalog", str(base / "mini" / "manifests"), "--cache", str(base / "cache"))
        result = run_cli(*catalog, "build", str(lock), "--format", "usb-live", "--base", str(iso), "--persistence", "16M",
                         "--offline", "-o", str(out))  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "no live entry" not in result.stderr
        made[name] = out
    return made


def _offset(image: Path) -> int:
    sector0 = image.read_bytes()[:512]
    return int.from_bytes(sector0[446 + 8 : 446 + 12], "little") * 512


def mtype(image: Path, path: str) -> str:
    run = subprocess.run(["mtype", "-i", f"{image}@@{_offset(image)}", f"::{path}"], env=MTOOLS, capture_output=True,
                         timeout=60, check=True)  # fmt: skip
    return run.stdout.decode("utf-8", errors="replace")


@pytest.mark.parametrize("name", ["grub", "isolinux"])
def test_the_key_carries_the_live_layer(keys: dict[str, Path], name: str, tmp_path: Path) -> None:
    image = keys[name]
    layer = tmp_path / "layer.squashfs"
    subprocess.run(["mcopy", "-n", "-i", f"{image}@@{_offset(image)}", "::/live/zz-packbuilder.squashfs", str(layer)],
                   env=MTOOLS, check=True, capture_output=True, timeout=60)  # fmt: skip
    unpacked = tmp_path / "layer"
    subprocess.run(["unsquashfs", "-d", str(unpacked), str(layer)], check=True, capture_output=True, timeout=60)
    assert (unpacked / "opt/packbuilder/Tool-1.0-x86_64.AppImage").read_bytes() == APPIMAGE
    assert "/run/live/medium/Menu.html" in (unpacked / "usr/share/applications/packbuilder-menu.desktop").read_text()
    assert (unpacked / "etc/skel/Documents/guide.html").is_file()
    assert mtype(image, "/live/filesystem.module") == "filesystem.squashfs\nzz-packbuilder.squashfs\n"
    assert "Menu" in mtype(image, "/Menu.html")  # the key's tree at the root, beside the base's files


def test_grub_menu_gets_the_persistence_entry_first(keys: dict[str, Path]) -> None:
    cfg = mtype(keys["grub"], "/boot/grub/grub.cfg")
    first = cfg.index('menuentry "Avec sauvegarde (persistance)"')
    assert first < cfg.index('menuentry "Live system (amd64)"')
    entry = cfg[first : cfg.index("}", first)]
    assert "boot=live components quiet splash persistence" in entry and "--hotkey" not in entry


def test_isolinux_menu_gets_the_persistence_entry_first(keys: dict[str, Path]) -> None:
    cfg = mtype(keys["isolinux"], "/isolinux/live.cfg")
    labels = [line.split()[1] for line in cfg.splitlines() if line.strip().startswith("label ")]
    assert labels == ["packbuilder-persistence", "live-amd64"]
    assert "append boot=live components quiet splash persistence" in cfg
    assert cfg.count("menu default") == 1 and cfg.index("menu default") < cfg.index("label live-amd64")
    assert "include live.cfg" in mtype(keys["isolinux"], "/isolinux/syslinux.cfg")


def test_a_base_without_live_entries_keeps_its_menus_and_says_so(isos: Path, tmp_path: Path) -> None:  # noqa: F811
    from packbuilder.image.usblive import LiveExtras, write_usb_live

    tree = tmp_path / "tree"
    (tree / "PACK").mkdir(parents=True)
    (tree / "PACK" / "marker.txt").write_text("here\n")
    extras = LiveExtras(persistence_lang="fr")
    notes = write_usb_live(isos / "grub-hybrid.iso", tree, tmp_path / "k.img", 96 * 10**6, "LIVE", 0x1234, 946684800,
                           16 * 2**20, extras)  # fmt: skip
    assert notes and "no live entry (boot=live)" in notes[0]
    assert "Avec sauvegarde" not in mtype(tmp_path / "k.img", "/boot/grub/grub.cfg")


def test_the_edited_grub_key_still_boots(keys: dict[str, Path]) -> None:
    text = qemu.boot(keys["grub"], "bios", "disk", timeout=120)
    assert qemu.marker(text) == "yes", text[-2000:]
