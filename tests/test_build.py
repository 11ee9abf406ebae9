"""End to end: fixture artifacts served over HTTPS, fetched, staged, and built as a folder,
a zip and a FAT32 USB image; each output read back with independent tools."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from packbuilder.plan.lock import lock_bytes
from tests import factories
from tests.conftest import FIXTURES, run_cli, run_cli_on_a_terminal
from tests.httpserver import LocalServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """Artifacts, a server, a lock and a catalog (for the overlays): made once for the module."""
    base = tmp_path_factory.mktemp("build")
    server = LocalServer(base)
    writer = factories.zip_bytes({"Writer/writer.exe": b"MZ" + os.urandom(20000), "Writer/lisez-moi.txt": "Écrire".encode()})
    viewer = factories.sevenzip_bytes({"viewer.exe": b"MZ" + os.urandom(30000)})
    appimage = b"\x7fELF" + os.urandom(50000)
    (base / "setup" / "core").mkdir(parents=True)
    (base / "setup" / "core" / "browser.exe").write_bytes(b"MZ" + os.urandom(10000))
    subprocess.run(["7z", "a", "-bd", str(base / "setup.7z"), "core"], cwd=base / "setup", check=True, capture_output=True)
    installer = (base / "setup.7z").read_bytes()
    for name, data in (("writer.zip", writer), ("viewer.7z", viewer), ("Tool.AppImage", appimage), ("setup.exe", installer)):
        server.files.add(name, data)
    item = factories.item
    items = [
        item(
            "writer",
            url=server.url("ok/writer.zip"),
            data=writer,
            name="Writer",
            launch="Writer/writer.exe",
            installed_size=100000,
        ),
        item("viewer", url=server.url("ok/viewer.7z"), data=viewer, name="PDF Viewer", kind="7z", launch="viewer.exe"),
        item(
            "browser",
            url=server.url("ok/setup.exe"),
            data=installer,
            name="Browser ESR",
            category="web",
            kind="exe",
            dest="Apps/Internet/Browser ESR",
            launch="core/browser.exe",
            replaces="bigbrowser",
        ),
        item(
            "tool",
            url=server.url("ok/Tool.AppImage"),
            data=appimage,
            category="utilities",
            kind="appimage",
            platform="linux",
            dest="AppImages/Tool-1.0-x86_64.AppImage",
        ),
    ]
    lock = factories.lock(
        items,
        pack="office",
        label="OFFICE",
        overlays=["docs-fr"],
        key_mb=64,
        excluded=[{"app": "bigsuite", "reason": "bigsuite excluded: 10.0 needs x86_64"}],
    )
    lock_path = base / "office.lock"
    lock_path.write_bytes(lock_bytes(lock))
    shutil.copytree(FIXTURES / "mini", base / "mini")
    cli_env = {"REQUESTS_CA_BUNDLE": str(server.cert), "PACKBUILDER_CACHE": str(base / "cache")}
    yield {"base": base, "lock": lock_path, "catalog": base / "mini" / "manifests", "env": cli_env, "server": server}
    server.close()


def build(env: dict[str, object], fmt: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "--catalog", str(env["catalog"]), "build", str(env["lock"]), "--format", fmt, "-o", str(out), *extra, env=env["env"]
    )  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def outputs(env: dict[str, object]) -> dict[str, Path]:
    base: Path = env["base"]  # type: ignore[assignment]
    made = {}
    for fmt, name in (("dir", "key"), ("zip", "key.zip"), ("usb", "key.img")):
        result = build(env, fmt, base / name)
        assert result.returncode == 0, result.stderr
        made[fmt] = base / name
    return made


def test_key_layout(outputs: dict[str, Path]) -> None:
    root = outputs["dir"]
    assert (root / "Apps/Bureautique/Writer/Writer/writer.exe").is_file()
    assert (root / "Apps/Bureautique/PDF Viewer/viewer.exe").is_file()
    assert (root / "Apps/Internet/Browser ESR/core/browser.exe").is_file()
    tool = root / "AppImages/Tool-1.0-x86_64.AppImage"
    assert tool.is_file() and os.access(tool, os.X_OK)
    assert (root / "Documents").is_dir() and (root / "Docs/guide.html").is_file()
    for name in ("Menu.html", "LISEZMOI.html", "README.html", "autorun.inf", ".packbuilder/pack.lock"):
        assert (root / name).is_file(), name
    autorun = (root / "autorun.inf").read_text()
    assert "label=Bureau" in autorun and "icon=.packbuilder\\icon.ico" in autorun
    manifest = json.loads((root / ".packbuilder/manifest.json").read_text())
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {".packbuilder/manifest.json"}
    assert set(listed) == on_disk
    assert (
        listed["Apps/Bureautique/Writer/Writer/writer.exe"]
        == hashlib.sha256((root / "Apps/Bureautique/Writer/Writer/writer.exe").read_bytes()).hexdigest()
    )
    menu = (root / "Menu.html").read_text()
    assert "Writer" in menu and "<script" not in menu.lower()


def test_zip_is_valid_and_reproducible(env: dict[str, object], outputs: dict[str, Path]) -> None:
    subprocess.run(["unzip", "-tq", str(outputs["zip"])], check=True, capture_output=True)
    again = env["base"] / "again.zip"  # type: ignore[operator]
    result = run_cli(
        "--json", "--catalog", str(env["catalog"]), "build", str(env["lock"]), "--format", "zip", "-o", str(again),
        env=env["env"],  # type: ignore[arg-type]
    )
    assert result.returncode == 0, result.stderr
    assert again.read_bytes() == outputs["zip"].read_bytes()
    side = outputs["zip"].with_name("key.zip.sha256")
    subprocess.run(["sha256sum", "-c", side.name], cwd=side.parent, check=True, capture_output=True)
    document = json.loads(result.stdout)
    assert document["sha256"] == hashlib.sha256(again.read_bytes()).hexdigest()
    assert (document["format"], document["output"], document["pack"]) == ("zip", str(again), "office")


def test_usb_image_reads_back_with_independent_tools(env: dict[str, object], outputs: dict[str, Path]) -> None:
    image = outputs["usb"]
    assert image.stat().st_size == 64_000_000
    table = json.loads(subprocess.run(["sfdisk", "--json", str(image)], check=True, capture_output=True, text=True).stdout)
    parts = table["partitiontable"]["partitions"]
    assert len(parts) == 1 and parts[0]["start"] == 2048 and parts[0]["type"] == "c" and not parts[0].get("bootable")
    part = env["base"] / "part.img"  # type: ignore[operator]
    with image.open("rb") as src, part.open("wb") as dst:
        src.seek(2048 * 512)
        shutil.copyfileobj(src, dst)
    subprocess.run(["fsck.fat", "-n", str(part)], check=True, capture_output=True)
    mtools_env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    listing = subprocess.run(
        ["mdir", "-/", "-b", "-i", f"{image}@@1M", "::/"], check=True, capture_output=True, text=True, env=mtools_env
    ).stdout
    assert "PDF Viewer" in listing and "Menu.html" in listing
    back = subprocess.run(
        ["mtype", "-i", f"{image}@@1M", "::/Apps/Bureautique/Writer/Writer/writer.exe"],
        check=True,
        capture_output=True,
        env=mtools_env,
    ).stdout
    assert back == (outputs["dir"] / "Apps/Bureautique/Writer/Writer/writer.exe").read_bytes()
    label = subprocess.run(["mlabel", "-s", "-i", f"{image}@@1M", "::"], capture_output=True, text=True, env=mtools_env).stdout
    assert "OFFICE" in label
    again = env["base"] / "again.img"  # type: ignore[operator]
    assert build(env, "usb", again).returncode == 0
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(image.read_bytes()).digest()


def test_verify_all_outputs_and_detect_changes(env: dict[str, object], outputs: dict[str, Path]) -> None:
    for path in outputs.values():
        result = run_cli("verify", str(path))
        assert result.returncode == 0, result.stderr
    copy = env["base"] / "tampered"  # type: ignore[operator]
    shutil.copytree(outputs["dir"], copy)
    (copy / "Apps/Bureautique/Writer/Writer/lisez-moi.txt").write_text("changé")
    (copy / "Docs/guide.html").unlink()
    result = run_cli("verify", str(copy))
    assert result.returncode == 1
    assert "changed: Apps/Bureautique/Writer/Writer/lisez-moi.txt" in result.stderr
    assert "missing: Docs/guide.html" in result.stderr


def test_failures_leave_no_partial_output(env: dict[str, object]) -> None:
    base: Path = env["base"]  # type: ignore[assignment]
    small = base / "small.img"
    result = build(env, "usb", small, "--size", "20M")
    assert result.returncode == 5, result.stderr
    assert "at least 34 MiB" in result.stderr and "Traceback" not in result.stderr
    assert not small.exists() and not list(base.glob(".small.img.*"))


def test_a_folder_output_replaces_only_a_previous_build(env: dict[str, object], outputs: dict[str, Path]) -> None:
    base: Path = env["base"]  # type: ignore[assignment]
    again = base / "key-again"
    shutil.copytree(outputs["dir"], again)
    (again / "Documents" / "mine.txt").write_text("the key's user's")  # kept: a rebuild never deletes Documents/
    (again / "Apps" / "stale.txt").write_text("from the previous build")
    result = build(env, "dir", again)
    assert result.returncode == 0, result.stderr
    assert not (again / "Apps" / "stale.txt").exists() and (again / ".packbuilder/manifest.json").is_file()
    assert (again / "Documents" / "mine.txt").read_text() == "the key's user's"
    theirs = base / "somebody-elses"
    (theirs / "notes").mkdir(parents=True)
    result = build(env, "dir", theirs)
    assert result.returncode == 2 and "packbuilder did not make: not replaced" in result.stderr
    assert [p.name for p in theirs.iterdir()] == ["notes"]
    assert not [p.name for p in base.iterdir() if p.name.startswith((".somebody-elses", ".key-again"))]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--format", "usb", "--size", "garbage"), "'garbage' is not a size"),
        (("--format", "usb", "--size", "0"), "a size must be positive"),
        (("--format", "usb-live", "--persistence", "lots"), "'lots' is not a size"),
        (("--format", "tar"), "unknown format 'tar': use one of: dir, zip, usb, iso, usb-live"),
        (("--format", "zip", "--dry-run"), "--dry-run goes with --format iso"),
        (("--format", "zip", "--base", "x.iso"), "--base goes with --format iso or usb-live"),
        (("--format", "usb", "--iso-engine", "xorriso"), "--iso-engine goes with --format iso"),
    ],
)
def test_bad_build_flags_on_a_lock_are_usage_errors(env: dict[str, object], flags: tuple[str, ...], message: str) -> None:
    out = env["base"] / "never.img"  # type: ignore[operator]
    result = run_cli("--catalog", str(env["catalog"]), "build", str(env["lock"]), "-o", str(out), *flags, env=env["env"])  # type: ignore[arg-type]
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_verify_a_published_image_against_its_sha256sums(env: dict[str, object], outputs: dict[str, Path]) -> None:
    folder = env["base"] / "published"  # type: ignore[operator]
    folder.mkdir()
    image = folder / "key.img"
    shutil.copyfile(outputs["usb"], image)
    sums = subprocess.run(["sha256sum", "key.img"], cwd=folder, check=True, capture_output=True, text=True).stdout
    (folder / "SHA256SUMS").write_text(sums)
    result = run_cli("verify", str(image))  # SHA256SUMS beside the image is used
    assert result.returncode == 0, result.stderr
    assert "matches" in result.stdout
    with image.open("r+b") as fh:  # one flipped byte in the free space: the files still verify, the image does not
        fh.seek(image.stat().st_size - 4096)
        fh.write(b"\x01")
    result = run_cli("verify", str(image), str(folder / "SHA256SUMS"))
    assert result.returncode == 1
    assert "does not match SHA256SUMS" in result.stderr


def _image_size(path: Path) -> int:
    return path.stat().st_size


def test_a_lock_builds_the_key_size_it_was_planned_for(env: dict[str, object]) -> None:
    """The lock says 64 MB (its plan's size): build uses it, an explicit --size wins and must hold the lock."""
    base: Path = env["base"]  # type: ignore[assignment]
    lock = json.loads(Path(env["lock"]).read_text())  # type: ignore[arg-type]
    lock["capacity_bytes"] = 48_000_000  # as `plan --size 48M` writes it; the profile still says 64 MB
    planned = base / "planned-48m.lock"
    planned.write_text(json.dumps(lock))
    run = run_cli(
        "--catalog", str(env["catalog"]), "build", str(planned), "--format", "usb", "-o", str(base / "k48.img"),
        env=env["env"],  # type: ignore[arg-type]
    )
    assert run.returncode == 0, run.stderr
    assert _image_size(base / "k48.img") == 48_000_000
    wider = run_cli(
        "--catalog", str(env["catalog"]), "build", str(planned), "--format", "usb", "--size", "40Mo",
        "-o", str(base / "k40.img"), env=env["env"],  # type: ignore[arg-type]
    )
    assert wider.returncode == 0, wider.stderr
    assert _image_size(base / "k40.img") == 40_000_000
    too_small = run_cli(
        "--catalog", str(env["catalog"]), "build", str(planned), "--format", "usb", "--size", "100k",
        "-o", str(base / "k0.img"), env=env["env"],  # type: ignore[arg-type]
    )
    assert too_small.returncode == 2
    assert "the lock needs" in too_small.stderr and "48 MB" in too_small.stderr.replace("\u00a0", " ")
    assert not (base / "k0.img").exists()


def test_build_says_the_profile_notes_the_lock_carries(env: dict[str, object]) -> None:
    base: Path = env["base"]  # type: ignore[assignment]
    lock = json.loads(Path(env["lock"]).read_text())  # type: ignore[arg-type]
    lock["profile"]["notes"] = {"fr": "Gardez ce PC hors ligne.", "en": "Keep this PC offline."}
    noted = base / "noted.lock"
    noted.write_text(json.dumps(lock))
    for lang, text in (("C.UTF-8", "Keep this PC offline."), ("fr_FR.UTF-8", "Gardez ce PC hors ligne.")):
        run = run_cli(
            "--catalog", str(env["catalog"]), "build", str(noted), "--format", "dir", "-o", str(base / f"noted-{lang}"),
            env={**env["env"], "LANG": lang},  # type: ignore[dict-item]
        )
        assert run.returncode == 0, run.stderr
        assert text in run.stderr


def _on_a_terminal(env: dict[str, object], *args: str) -> tuple[int, str]:
    """Run the CLI with its stderr on a pseudo-terminal (as a person at a terminal sees it)."""
    return run_cli_on_a_terminal("--catalog", str(env["catalog"]), *args, env=env["env"])  # type: ignore[arg-type]


def test_long_steps_show_on_a_terminal_only(env: dict[str, object]) -> None:
    base: Path = env["base"]  # type: ignore[assignment]
    out = base / "steps.img"
    code, seen = _on_a_terminal(env, "build", str(env["lock"]), "--format", "usb", "-o", str(out))
    assert code == 0, seen
    assert re.search(r"Writing steps\.img \(\d+\.\d s\)", seen) and re.search(r"Hashing steps\.img \(\d+\.\d s\)", seen), seen
    code, seen = _on_a_terminal(env, "verify", str(out))
    assert code == 0 and re.search(r"Checking steps\.img \(\d+\.\d s\)", seen), seen
    code, seen = _on_a_terminal(env, "--quiet", "build", str(env["lock"]), "--format", "usb", "-o", str(out))
    assert code == 0 and "Writing" not in seen and seen.strip() == "", seen
