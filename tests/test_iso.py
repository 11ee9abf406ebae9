"""``build --format iso``: the pack added to the fixture bases (scripts/make-fixture-isos.sh) and to a
small fake Debian live ISO, read back with xorriso, unsquashfs and md5sum, and booted in QEMU.

Each output must keep the base's El Torito report (modulo sizes and block numbers), boot modes and a
valid GPT, carry the key under /PACK/ (so the fixtures' boot says ``PACKBUILDER-MARKER: yes``), and be
byte-identical when built again. The bases' own boots are in test_iso_fixtures.py; only the outputs
boot here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from packbuilder.fetch.cache import Cache
from packbuilder.image.inspect import inspect_iso
from packbuilder.model.lock import Lock
from packbuilder.plan.lock import lock_bytes
from tests import factories, qemu
from tests.conftest import run_cli
from tests.test_iso_fixtures import BANNERS, ISO_FIXTURES, MODES, NAMES, ROOT, TIMEOUT

pytestmark = pytest.mark.slow

BASES = ("grub-hybrid.iso", "isolinux-hybrid.iso", "grub-rescue-cdrom.iso", "ipxe.iso")
EPOCH = 1_700_000_000
APPIMAGE = b"\x7fELF" + bytes(range(256)) * 64


def _xorriso(*args: str | Path) -> str:
    proc = subprocess.run(["xorriso", *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _lock() -> Lock:
    digest = hashlib.sha256(APPIMAGE).hexdigest()
    return Lock.model_validate(
        {
            "pack": {"id": "live", "name": {"fr": "Pack libre", "en": "Free pack"}, "label": "PACK", "locale": "fr",
                     "overlays": ["marker"]},
            "profile": {"id": "linux-64", "name": {"fr": "Linux", "en": "Linux"}, "os": "linux", "arch": "x86_64",
                        "ram_mb": 1024, "key_mb": 64, "firmware": ["bios", "uefi64"]},
            "capacity_bytes": 64_000_000,
            "items": [
                {
                    "app": "tool", "name": "Tool", "category": "utilities", "license": "GPL-3.0-or-later",
                    "homepage": "https://tool.example.org/", "source_code": "https://tool.example.org/src",
                    "summary": {"fr": "Un outil", "en": "A tool"}, "version": "1.0", "platform": "linux",
                    "arch": "x86_64", "kind": "appimage", "url": "https://tool.example.org/Tool.AppImage",
                    "sha256": digest, "checksum_source": "test fixture", "size": len(APPIMAGE),
                    "dest": "AppImages/Tool-1.0-x86_64.AppImage", "reason": "tool 1.0: newest release",
                }
            ],
        }
    )


@pytest.fixture(scope="module")
def isos() -> Path:
    """The fixture bases; built by `make fixtures`, or here when one is missing."""
    if not all((ISO_FIXTURES / n).is_file() for n in NAMES):
        script = ROOT / "scripts/make-fixture-isos.sh"
        proc = subprocess.run(["bash", str(script), str(ISO_FIXTURES)], capture_output=True, text=True)
        assert proc.returncode == 0, f"make-fixture-isos.sh failed:\n{proc.stdout}\n{proc.stderr}"
    return ISO_FIXTURES


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A catalog with the marker overlay, a cache holding the AppImage (builds run --offline), a lock."""
    work = tmp_path_factory.mktemp("iso")
    overlay = work / "catalog" / "overlays" / "marker"
    (overlay / "Docs").mkdir(parents=True)
    (work / "catalog" / "manifests").mkdir()
    (overlay / "marker.txt").write_text("marker\n")
    (overlay / "Docs" / "guide.html").write_text("<p>Guide</p>\n")
    source = work / "Tool.AppImage"
    source.write_bytes(APPIMAGE)
    assert Cache(work / "cache").add_file(source, "sha256", hashlib.sha256(APPIMAGE).hexdigest(), {"url": "test"})
    (work / "live.lock").write_bytes(lock_bytes(_lock()))
    return {"work": work, "catalog": work / "catalog" / "manifests", "cache": work / "cache", "lock": work / "live.lock"}


def build_iso(env: dict[str, Path], base: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "--catalog", str(env["catalog"]), "--cache", str(env["cache"]), "build", str(env["lock"]), "--offline",
        "--format", "iso", "--base", str(base), "-o", str(out), *extra, env={"SOURCE_DATE_EPOCH": str(EPOCH)},
    )


@pytest.fixture(scope="module")
def built(env: dict[str, Path], isos: Path) -> dict[str, Path]:
    out = env["work"] / "out"
    made = {}
    for name in BASES:
        result = build_iso(env, isos / name, out / name, "--iso-engine", "xorriso")
        assert result.returncode == 0, result.stderr
        made[name] = out / name
    return made


def _normalised_el_torito(iso: Path) -> list[str]:
    report = _xorriso("-indev", iso, "-report_el_torito", "as_mkisofs").replace(f"'{iso}'", "'ISO'").splitlines()
    return [re.sub(r"\d+", "N", line) for line in report if not line.startswith("--modification-date")]


# --- structure and contents --------------------------------------------------------------------


@pytest.mark.parametrize("name", BASES)
def test_boot_structures_kept(name: str, isos: Path, built: dict[str, Path]) -> None:
    base, out = inspect_iso(isos / name), inspect_iso(built[name])
    assert _normalised_el_torito(built[name]) == _normalised_el_torito(isos / name)
    assert out.boot_modes() == base.boot_modes()
    assert [(e.platform, e.emulation, e.bootable) for e in out.el_torito] == [
        (e.platform, e.emulation, e.bootable) for e in base.el_torito
    ]
    assert out.volume_id == base.volume_id
    assert out.notes == base.notes
    if base.gpt is not None:
        assert out.gpt is not None and out.gpt.valid
        # Accepted: a backup GPT short of the file's end. xorriso's own replay leaves it there too
        # (after its padding), and on a key larger than the image it is never at the disk's end.
        check = subprocess.run(["sgdisk", "-v", str(built[name])], capture_output=True, text=True, timeout=60).stdout
        problems = [p for p in check.split("\nProblem: ")[1:] if "doesn't reside\nat the end of the disk" not in p]
        assert not problems and ("No problems found" in check or "Identified 1 problems" in check), check
    sha = built[name].with_name(name + ".sha256").read_text().split()
    assert sha == [hashlib.sha256(built[name].read_bytes()).hexdigest(), name]


def test_files_read_back(env: dict[str, Path], built: dict[str, Path]) -> None:
    iso = built["grub-hybrid.iso"]
    dest = env["work"] / "extracted"
    _xorriso("-osirrox", "on", "-indev", iso, "-extract", "/PACK", dest / "PACK", "-extract", "/Menu.html", dest / "Menu.html")
    manifest = json.loads((dest / "PACK/.packbuilder/manifest.json").read_text())
    for entry in manifest["files"]:
        assert hashlib.sha256((dest / "PACK" / entry["path"]).read_bytes()).hexdigest() == entry["sha256"], entry["path"]
    assert (dest / "PACK/marker.txt").read_text() == "marker\n"
    assert (dest / "PACK/AppImages/Tool-1.0-x86_64.AppImage").read_bytes() == APPIMAGE
    root_menu = (dest / "Menu.html").read_text()
    assert 'content="0; url=PACK/Menu.html"' in root_menu and 'href="PACK/Menu.html"' in root_menu
    assert "<script" not in root_menu.lower()
    listing = _xorriso("-indev", iso, "-find", "/PACK", "-exec", "lsdl")
    for line in listing.splitlines():
        if line.startswith(("-", "d")):
            fields = line.split()
            assert fields[2:4] == ["0", "0"], line  # owned by root, whoever built it
            assert fields[0] in ("drwxr-xr-x", "-rw-r--r--", "-rwxr-xr-x"), line


def test_joliet_kept_and_esp_readable(isos: Path, built: dict[str, Path]) -> None:
    """Windows reads a DVD through its Joliet tree; UEFI reads the ESP (checked with mtools, not only booted)."""
    from packbuilder.image.overlay import has_joliet

    for name in BASES:
        assert has_joliet(built[name]) == has_joliet(isos / name), name
    assert has_joliet(built["isolinux-hybrid.iso"])
    esp = inspect_iso(built["grub-hybrid.iso"]).esp
    assert esp is not None
    listing = subprocess.run(
        ["mdir", "-b", "-i", f"{built['grub-hybrid.iso']}@@{esp[0]}", "::/EFI/BOOT"],
        capture_output=True, text=True, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"},
    )
    assert listing.returncode == 0 and "BOOTX64.EFI" in listing.stdout.upper(), listing.stderr


def test_reproducible(env: dict[str, Path], isos: Path, built: dict[str, Path]) -> None:
    time.sleep(1.1)  # a clock that leaked into the image would now differ
    again = env["work"] / "again.iso"
    result = build_iso(env, isos / "grub-hybrid.iso", again, "--iso-engine", "xorriso")
    assert result.returncode == 0, result.stderr
    assert again.read_bytes() == built["grub-hybrid.iso"].read_bytes()


def test_hfsplus_base_refused_by_xorriso(env: dict[str, Path], isos: Path) -> None:
    out = env["work"] / "hfs.iso"
    result = build_iso(env, isos / "grub-hfsplus.iso", out, "--iso-engine", "xorriso")
    assert result.returncode == 2, result.stderr
    assert "HFS+" in result.stderr and "Apple partition map" in result.stderr
    assert "--iso-engine pycdlib" in result.stderr
    assert not out.exists()


def test_dry_run_writes_nothing(env: dict[str, Path], isos: Path) -> None:
    out = env["work"] / "dry" / "dry.iso"
    result = build_iso(env, isos / "grub-hybrid.iso", out, "--dry-run", "--iso-engine", "xorriso")
    assert result.returncode == 0, result.stderr
    text = result.stdout + result.stderr
    assert "boots as: bios-cd, bios-disk, uefi-cd, uefi-disk" in text
    assert "engine: xorriso" in text and "overlay: " in text and "only files are added" in text
    assert not out.exists() and not list(out.parent.glob("*"))


def test_dry_run_downloads_nothing(env: dict[str, Path], isos: Path, tmp_path: Path) -> None:
    """An app missing from the cache is left out of the count, never fetched; a base id that is not
    cached is refused, not downloaded. The server would answer: a dry run must not ask it."""
    from tests.httpserver import LocalServer

    server = LocalServer(tmp_path)
    try:
        extra = factories.zip_bytes({"extra.exe": b"MZ" + bytes(5000)})
        server.files.add("extra.zip", extra)
        data = json.loads(lock_bytes(_lock()))
        data["items"].append(factories.item("extra", url=server.url("ok/extra.zip"), data=extra, name="Extra"))
        lock = tmp_path / "dry.lock"
        lock.write_text(json.dumps(data), encoding="utf-8")
        out = tmp_path / "dry.iso"
        result = run_cli(
            "--catalog", str(env["catalog"]), "--cache", str(env["cache"]), "build", str(lock), "--format", "iso",
            "--base", str(isos / "grub-hybrid.iso"), "--dry-run", "-o", str(out),
            env={"REQUESTS_CA_BUNDLE": str(server.cert)},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "dry run: 1 of 2 app(s) not in the cache" in result.stderr and "extra 1.0" in result.stderr
        assert "boots as:" in result.stdout + result.stderr
        assert server.files.requests_for("extra.zip") == [] and not out.exists()
    finally:
        server.close()


def test_inspect_command(isos: Path) -> None:
    result = run_cli("inspect", str(isos / "grub-hybrid.iso"))
    assert result.returncode == 0, result.stderr
    assert "El Torito catalog at block" in result.stdout + result.stderr
    assert "boots as: bios-cd, bios-disk, uefi-cd, uefi-disk" in result.stdout + result.stderr
    result = run_cli("--json", "inspect", str(isos / "isolinux-hybrid.iso"))
    document = json.loads(result.stdout)
    assert document["boot_modes"] == ["bios-cd", "bios-disk"] and document["live"] == "plain"


def test_unknown_engine_and_missing_base(env: dict[str, Path], isos: Path) -> None:
    result = build_iso(env, isos / "grub-hybrid.iso", env["work"] / "x.iso", "--iso-engine", "mkisofs")
    assert result.returncode == 2 and "unknown ISO engine" in result.stderr
    result = build_iso(env, env["work"] / "missing.iso", env["work"] / "x.iso")
    assert result.returncode == 2 and "no such ISO file" in result.stderr


# --- a fake Debian live base: checksum lists and the live layer --------------------------------


def _fake_live(work: Path, module: bool) -> Path:
    """A tiny ISO laid out like Debian live: /live/filesystem.squashfs, /md5sum.txt, /sha256sum.txt."""
    root = work / ("live-module" if module else "live-root")
    (root / "live").mkdir(parents=True)
    system = work / "system"
    (system / "etc").mkdir(parents=True, exist_ok=True)
    (system / "etc/os-release").write_text('NAME="Fake Debian"\n')
    subprocess.run(["mksquashfs", str(system), str(root / "live/filesystem.squashfs"), "-noappend", "-quiet"],
                   check=True, capture_output=True, env={**os.environ, "SOURCE_DATE_EPOCH": "946684800"})
    (root / "README.html").write_text("<p>Debian's own read-me</p>\n")
    if module:
        (root / "live/filesystem.module").write_text("filesystem.squashfs\n")
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    for list_name, algo in (("md5sum.txt", "md5"), ("sha256sum.txt", "sha256")):
        lines = [f"{hashlib.new(algo, (root / f).read_bytes()).hexdigest()}  ./{f}\n" for f in files]
        (root / list_name).write_text("".join(lines))
    iso = work / ("fake-live-module.iso" if module else "fake-live.iso")
    _xorriso("-as", "mkisofs", "-quiet", "-o", iso, "-V", "FAKE_LIVE", "-R", "-J", root)
    return iso


@pytest.fixture(scope="module")
def live_build(env: dict[str, Path]) -> dict[str, Path]:
    work = env["work"] / "live"
    work.mkdir()
    base = _fake_live(work, module=False)
    out = work / "out.iso"
    result = build_iso(env, base, out, "--iso-engine", "xorriso")
    assert result.returncode == 0, result.stderr
    assert "live system: debian-live-boot" in result.stdout + result.stderr
    extracted = work / "extracted"
    _xorriso("-osirrox", "on", "-indev", out, "-extract", "/", extracted)
    return {"work": work, "base": base, "out": out, "tree": extracted}


def test_checksum_lists_regenerated(live_build: dict[str, Path]) -> None:
    tree = live_build["tree"]
    for list_name, tool in (("md5sum.txt", "md5sum"), ("sha256sum.txt", "sha256sum")):
        check = subprocess.run([tool, "-c", "--strict", list_name], cwd=tree, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout[-2000:] + check.stderr
        paths = [line.split("  ", 1)[1] for line in (tree / list_name).read_text().splitlines()]
        assert paths == sorted(paths, key=lambda p: p.encode())  # LC_ALL=C order
        assert "./PACK/marker.txt" in paths and "./live/zz-packbuilder.squashfs" in paths
        assert "./README.html" in paths
    # Debian's own README.html stays; the menu gets a redirect page at the root.
    assert "Debian's own" in (tree / "README.html").read_text()
    assert "url=PACK/Menu.html" in (tree / "Menu.html").read_text()


def test_a_debian_live_build_reads_the_base_file_system_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pycdlib reads a base's whole directory tree on opening (thousands of records on a Debian DVD):
    the live kind, the filesystem.module and the overlay plan share one opening."""
    from packbuilder.build.iso import IsoRequest
    from packbuilder.build.iso import build_iso as build_iso_step
    from packbuilder.image.overlay import PycdlibReader
    from packbuilder.model import LiveKind

    base = _fake_live(tmp_path, module=True)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "Menu.html").write_text("menu")
    opened: list[Path] = []
    real_init = PycdlibReader.__init__

    def counting_init(self: PycdlibReader, iso: Path) -> None:
        opened.append(iso)
        real_init(self, iso)

    monkeypatch.setattr(PycdlibReader, "__init__", counting_init)
    report = build_iso_step(_lock(), tree, IsoRequest(base, dry_run=True), tmp_path / "out.iso", EPOCH, tmp_path / "work")
    assert report.live_kind is LiveKind.DEBIAN_LIVE_BOOT and report.live_layer is not None
    assert opened == [base]


def test_live_layer_contents(live_build: dict[str, Path]) -> None:
    layer = live_build["tree"] / "live/zz-packbuilder.squashfs"
    listing = subprocess.run(["unsquashfs", "-lln", str(layer)], capture_output=True, text=True, check=True).stdout
    entries = {
        line.split()[-1].removeprefix("squashfs-root"): line.split() for line in listing.splitlines() if "squashfs-root" in line
    }
    for path, fields in entries.items():
        assert fields[1] == "0/0", (path, fields)  # every file owned by root
    assert entries["/opt/packbuilder/Tool-1.0-x86_64.AppImage"][0] == "-rwxr-xr-x"
    assert "/usr/share/applications/packbuilder-tool.desktop" in entries
    assert "/usr/share/applications/packbuilder-menu.desktop" in entries
    assert "/etc/skel/Documents/guide.html" in entries
    unpacked = live_build["work"] / "layer"
    subprocess.run(["unsquashfs", "-d", str(unpacked), str(layer)], check=True, capture_output=True)
    assert (unpacked / "opt/packbuilder/Tool-1.0-x86_64.AppImage").read_bytes() == APPIMAGE
    desktop = (unpacked / "usr/share/applications/packbuilder-tool.desktop").read_text()
    assert "Exec=env APPIMAGE_EXTRACT_AND_RUN=1 /opt/packbuilder/Tool-1.0-x86_64.AppImage" in desktop
    assert "Name=Tool" in desktop and "Comment=Un outil" in desktop
    menu = (unpacked / "usr/share/applications/packbuilder-menu.desktop").read_text()
    assert "/run/live/medium/PACK/Menu.html" in menu
    assert (unpacked / "etc/default/locale").read_text() == 'LANG="fr_FR.UTF-8"\n'
    assert 'XKBLAYOUT="fr"' in (unpacked / "etc/default/keyboard").read_text()


def test_live_build_reproducible(env: dict[str, Path], live_build: dict[str, Path]) -> None:
    time.sleep(1.1)
    again = live_build["work"] / "again.iso"
    result = build_iso(env, live_build["base"], again, "--iso-engine", "xorriso")
    assert result.returncode == 0, result.stderr
    assert again.read_bytes() == live_build["out"].read_bytes()


def test_live_layer_appended_to_filesystem_module(env: dict[str, Path]) -> None:
    work = env["work"] / "live-module"
    work.mkdir()
    base = _fake_live(work, module=True)
    out = work / "out.iso"
    result = build_iso(env, base, out, "--iso-engine", "xorriso")
    assert result.returncode == 0, result.stderr
    dest = work / "x"
    _xorriso("-osirrox", "on", "-indev", out, "-extract", "/live", dest / "live", "-extract", "/md5sum.txt", dest / "md5sum.txt")
    assert (dest / "live/filesystem.module").read_text() == "filesystem.squashfs\nzz-packbuilder.squashfs\n"
    check = subprocess.run(["md5sum", "-c", "md5sum.txt"], cwd=dest, capture_output=True, text=True)
    assert "live/filesystem.module: OK" in check.stdout, check.stdout


# --- QEMU: every output boots wherever its base booted ---------------------------------------

BootKey = tuple[str, qemu.Firmware, qemu.Medium]
MATRIX: list[BootKey] = [(name, fw, medium) for name in BASES for fw, medium in MODES[name]]


@pytest.fixture(scope="module")
def boots(built: dict[str, Path]) -> Iterator[dict[BootKey, Future[str]]]:
    missing = qemu.missing_tools()
    assert not missing, f"install the Debian packages {' '.join(missing)} (make install does)"
    pool = ThreadPoolExecutor(max_workers=2)  # TCG: one guest per core
    futures = {
        key: pool.submit(qemu.boot, built[key[0]], key[1], key[2], TIMEOUT[key[1]], BANNERS.get(key[0], qemu.MARKER))
        for key in MATRIX
    }
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.boot
@pytest.mark.parametrize(("name", "firmware", "medium"), MATRIX)
def test_output_boots(name: str, firmware: qemu.Firmware, medium: qemu.Medium, boots: dict[BootKey, Future[str]]) -> None:
    text = boots[name, firmware, medium].result()
    if name in BANNERS:
        assert BANNERS[name] in text, text[-1500:]
    else:
        assert qemu.marker(text) == "yes", text[-1500:]


def test_xorriso_adds_the_staged_key_with_one_map(isos: Path, tmp_path: Path) -> None:
    from packbuilder.image.iso_xorriso import command_lines, whole_folder
    from packbuilder.image.overlay import plan_overlay

    tree = tmp_path / "tree"
    (tree / "Documents").mkdir(parents=True)
    (tree / "Apps" / "X").mkdir(parents=True)
    (tree / "Apps" / "X" / "a b.exe").write_bytes(b"MZ")
    (tree / "Menu.html").write_text("menu")
    plan = plan_overlay(isos / "grub-hybrid.iso", tree, EPOCH, work=tmp_path / "plan")
    lines = command_lines(plan, tmp_path, joliet=False)
    assert whole_folder(plan, "/PACK") == tree
    assert [line for line in lines if line.startswith("-map ") and "/PACK" in line] == [f'-map "{tree}" "/PACK"']
    assert not [line for line in lines if line.startswith('-mkdir "/PACK')]
    (tree / "Apps" / "X" / "late.txt").write_text("not in the plan")  # the folder holds more than the plan
    assert whole_folder(plan, "/PACK") is None
    lines = command_lines(plan, tmp_path, joliet=False)
    assert f'-map "{tree / "Apps" / "X" / "a b.exe"}" "/PACK/Apps/X/a b.exe"' in lines
    assert '-mkdir "/PACK/Documents"' in lines


def _odd_tree(root: Path, settled: bool) -> Path:
    """A staged key as stage leaves it (times at the epoch, modes 0644/0755), or with what a build
    under another umask, user and clock would leave (0600/0700/0744, not root's, another date)."""
    (root / "Apps" / "X").mkdir(parents=True)
    (root / "Apps" / "X" / "run").write_bytes(b"#!/bin/sh\n")
    (root / "Apps" / "X" / "data.txt").write_text("data\n")
    (root / "Menu.html").write_text("menu")
    for path in [*sorted(root.rglob("*"), reverse=True), root]:
        executable = path.is_dir() or path.name == "run"
        odd = 0o744 if path.name == "run" else 0o700 if path.is_dir() else 0o600
        path.chmod((0o755 if executable else 0o644) if settled else odd)
        if not settled and os.geteuid() == 0:
            os.chown(path, 1000, 1000)  # as another user would have staged it (else the files are already not root's)
        os.utime(path, (EPOCH, EPOCH) if settled else (EPOCH + 3600, EPOCH + 7200))
    return root


def test_xorriso_sets_owners_modes_and_dates_only_where_the_staged_key_needs_it(isos: Path, tmp_path: Path) -> None:
    """A settled key needs no walk over its copy (-map copies owners, modes and dates right); any other
    key gets them all set, and both read back the same: root's, 0644/0755, the epoch; same bytes."""
    from packbuilder.image.iso_xorriso import command_lines, write_overlay_xorriso
    from packbuilder.image.overlay import plan_overlay

    outputs = {}
    for settled in (True, False):
        tree = _odd_tree(tmp_path / f"tree-{settled}", settled)
        plan = plan_overlay(isos / "grub-hybrid.iso", tree, EPOCH, work=tmp_path / f"plan-{settled}")
        walks = [line.split()[0] for line in command_lines(plan, tmp_path, joliet=False) if '"/PACK"' in line]
        if settled and os.geteuid() == 0:
            assert walks == ["-map"]
        elif settled:  # the owner is the builder: only the owner walks
            assert walks == ["-map", "-chown_r", "-chgrp_r"]
        else:
            assert walks == ["-map", "-chown_r", "-chgrp_r", "-alter_date_r", "-find", "-find"]
        outputs[settled] = tmp_path / f"out-{settled}.iso"
        write_overlay_xorriso(plan, outputs[settled])
        listing = _xorriso("-indev", outputs[settled], "-find", "/PACK", "-exec", "lsdl").splitlines()
        modes = {line.split()[-1].strip("'"): line.split()[0] for line in listing if line.startswith(("-", "d"))}
        assert modes == {"/PACK": "drwxr-xr-x", "/PACK/Apps": "drwxr-xr-x", "/PACK/Apps/X": "drwxr-xr-x",
                         "/PACK/Apps/X/run": "-rwxr-xr-x", "/PACK/Apps/X/data.txt": "-rw-r--r--",
                         "/PACK/Menu.html": "-rw-r--r--"}  # fmt: skip
        for line in (line for line in listing if line.startswith(("-", "d"))):
            assert line.split()[2:4] == ["0", "0"] and " Nov 14  2023 " in line, line  # root's, at EPOCH
    assert outputs[True].read_bytes() == outputs[False].read_bytes()


def test_the_xorriso_engine_output_is_on_disk_before_it_takes_its_name(
    isos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """xorriso runs without fsyncs of its own; the engine syncs the whole output before the rename."""
    from packbuilder.image.iso_xorriso import write_overlay_xorriso
    from packbuilder.image.overlay import plan_overlay

    tree = _odd_tree(tmp_path / "tree", settled=True)
    plan = plan_overlay(isos / "grub-hybrid.iso", tree, EPOCH, work=tmp_path / "plan")
    out = tmp_path / "out.iso"
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append(("replace", f"{src} -> {dst}"))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_overlay_xorriso(plan, out)
    (synced,) = [name for kind, name in events if kind == "fsync"]
    assert events[-1] == ("replace", f"{synced} -> {out}")  # the synced partial is what became the output
    assert "/PACK/Menu.html" in _xorriso("-indev", out, "-find", "/PACK", "-name", "Menu.html")
