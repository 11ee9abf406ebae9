"""The pure-Python ISO overlay engine (packbuilder.image.iso9660), the `--iso-engine pycdlib` engine, on the fixture bases.

Each base gets /PACK/marker.txt, /PACK/Docs/guide é.html (a long accented name) and a 3 MB file. The
outputs are read back by xorriso and 7-Zip (Rock Ridge and Joliet names), their boot structures are
compared with the base's (xorriso's reports and packbuilder's inspection: same El Torito entries,
partitions grown to the new size, GPT CRCs over the whole array, backup GPT at the new end), and they
boot in QEMU in every mode the base booted, printing the marker's ``yes``.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pycdlib  # type: ignore[import-untyped]  # an independent reader of the path tables
import pytest

from packbuilder.image.inspect import BLOCK, inspect_iso
from packbuilder.image.iso9660.append import write_overlay_append
from tests import qemu
from tests.test_iso_fixtures import BANNERS, MODES, TIMEOUT, check_against_xorriso, isos, selected

__all__ = ["isos"]  # the session fixture, shared with test_iso_fixtures

BASES = ("grub-hybrid.iso", "grub-offset.iso", "isolinux-hybrid.iso", "grub-rescue-cdrom.iso", "ipxe.iso",
         "grub-hfsplus.iso")
GUIDE = "/PACK/Docs/guide é.html"
EPOCH = 1_700_000_000


@dataclass(frozen=True)
class Plan:
    """Same fields as packbuilder.image.overlay.OverlayPlan."""

    base: Path
    files: tuple[tuple[str, Path], ...]
    dirs: tuple[str, ...]
    replace: tuple[tuple[str, bytes], ...]
    epoch: int


@pytest.fixture(scope="module")
def payload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("payload")
    (src / "marker.txt").write_text("marker\n")
    (src / "guide.html").write_text("<p>Guide é</p>\n", encoding="utf-8")
    (src / "big.bin").write_bytes(hashlib.sha256(b"seed").digest() * (3_000_000 // 32))
    return src


def plan_for(base: Path, payload: Path, **changes: object) -> Plan:
    files = sorted([("/PACK/marker.txt", payload / "marker.txt"), (GUIDE, payload / "guide.html"),
                    ("/PACK/big.bin", payload / "big.bin")])
    plan = Plan(base=base, files=tuple(files), dirs=("/PACK", "/PACK/Docs"), replace=(), epoch=EPOCH)
    return Plan(**{**plan.__dict__, **changes})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def outputs(isos: Path, payload: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("pycdlib")
    made = {}
    for name in BASES:
        made[name] = work / name
        write_overlay_append(plan_for(isos / name, payload), made[name])
    return made


def _run(*args: str | Path) -> str:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


# --- reading back -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", BASES)
def test_files_read_back_with_xorriso(
    name: str, isos: Path, outputs: dict[str, Path], payload: Path, tmp_path: Path
) -> None:
    _run("xorriso", "-osirrox", "on", "-indev", outputs[name], "-extract", "/PACK", tmp_path / "x")
    assert (tmp_path / "x" / "marker.txt").read_bytes() == (payload / "marker.txt").read_bytes()
    assert (tmp_path / "x" / "Docs" / "guide é.html").read_bytes() == (payload / "guide.html").read_bytes()
    assert (tmp_path / "x" / "big.bin").read_bytes() == (payload / "big.bin").read_bytes()
    listing = _run("xorriso", "-indev", outputs[name], "-find", "/", "-exec", "lsdl")
    base = _run("xorriso", "-indev", isos / name, "-find", "/", "-exec", "lsdl")
    old = {line.rsplit(" ", 1)[-1] for line in base.splitlines() if line.startswith(("-", "d"))}
    new = {line.rsplit(" ", 1)[-1] for line in listing.splitlines() if line.startswith(("-", "d"))}
    assert old <= new  # every file of the base is still there
    assert "'/PACK/Docs/guide é.html'" in {line.split(" 2023 ", 1)[-1] for line in listing.splitlines()}


@pytest.mark.parametrize("name", BASES)
def test_files_read_back_with_7z(name: str, outputs: dict[str, Path], payload: Path, tmp_path: Path) -> None:
    """7-Zip reads Joliet where there is one, else Rock Ridge: the long name either way."""
    _run("7z", "x", "-y", f"-o{tmp_path / 'x'}", outputs[name], "PACK")
    assert (tmp_path / "x" / "PACK" / "Docs" / "guide é.html").read_bytes() == (payload / "guide.html").read_bytes()
    assert (tmp_path / "x" / "PACK" / "big.bin").stat().st_size == 3_000_000 // 32 * 32


# --- boot structures ----------------------------------------------------------------------------

SIZE_DEPENDENT = re.compile(r"^(-partition_cyl_align|System area options|--modification-date|ISO image size/512)")


def _report(iso: Path) -> list[str]:
    out = _run("xorriso", "-indev", iso, "-report_el_torito", "as_mkisofs", "-report_system_area", "plain")
    lines = [line.replace(f"'{iso}'", "'ISO'").replace("cyl-align-on", "cyl-align-?").replace("cyl-align-off", "cyl-align-?")
             for line in out.splitlines()]
    return [line for line in lines if not SIZE_DEPENDENT.match(line)]


@pytest.mark.parametrize("name", BASES)
def test_boot_structures_match_the_base(name: str, outputs: dict[str, Path], isos: Path) -> None:
    base, out = inspect_iso(isos / name), inspect_iso(outputs[name])
    check_against_xorriso(outputs[name], out)
    check_path_tables(outputs[name])
    assert out.volume_bytes == out.file_size == outputs[name].stat().st_size  # the volume spans the whole file
    assert out.el_torito == base.el_torito and out.catalog_lba == base.catalog_lba
    assert out.boot_modes() == base.boot_modes()
    assert out.notes == base.notes
    with (isos / name).open("rb") as a, outputs[name].open("rb") as b:
        assert a.read(440) == b.read(440)  # MBR boot code untouched
    if out.gpt is not None:
        assert out.gpt.valid and out.gpt.backup_lba == out.file_size // 512 - 1
    sectors = out.file_size // 512
    for part in out.mbr.partitions if out.mbr else ():
        assert part.start + part.size == sectors  # isohybrid, 0xCD or 0xEE: the whole new image

    theirs, ours = _report(isos / name), _report(outputs[name])
    changed = {line.split(":")[0] for line in set(theirs) ^ set(ours)}
    # only partition sizes and the GPT's range may differ
    assert changed <= {"MBR partition      ", "GPT lba range      ", "GPT start and size ", "APM start and size "}, changed
    assert [x for x in theirs if x.startswith(("-b", "-e", "-c", "-boot", "-no-emul", "--grub2", "-isohybrid"))] == [
        x for x in ours if x.startswith(("-b", "-e", "-c", "-boot", "-no-emul", "--grub2", "-isohybrid"))
    ]


@pytest.mark.parametrize("name", ["grub-hybrid.iso", "grub-offset.iso"])
def test_gpt_checks_with_sgdisk(name: str, outputs: dict[str, Path]) -> None:
    proc = subprocess.run(["sgdisk", "-v", str(outputs[name])], capture_output=True, text=True)
    assert "No problems found" in proc.stdout, proc.stdout


@pytest.mark.parametrize("name", ["grub-hybrid.iso", "grub-offset.iso"])
def test_esp_still_readable(name: str, outputs: dict[str, Path]) -> None:
    esp = inspect_iso(outputs[name]).esp
    assert esp is not None
    listing = subprocess.run(["mdir", "-b", "-i", f"{outputs[name]}@@{esp[0]}", "::/EFI/BOOT"],
                             capture_output=True, text=True, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
    assert "BOOTX64.EFI" in listing.stdout.upper(), listing.stderr


def test_reproducible(isos: Path, payload: Path, outputs: dict[str, Path], tmp_path: Path) -> None:
    write_overlay_append(plan_for(isos / "ipxe.iso", payload), tmp_path / "again.iso")
    assert (tmp_path / "again.iso").read_bytes() == outputs["ipxe.iso"].read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["again.iso"]  # no temporary file left


def test_replace_and_existing_folders(isos: Path, payload: Path, tmp_path: Path) -> None:
    """A replaced file and a file added inside folders of the base (Rock Ridge and Joliet trees)."""
    for name, old in (("grub-hybrid.iso", "/mach_kernel"), ("isolinux-hybrid.iso", "/boot/grub/packbuilder-marker.cfg")):
        plan = plan_for(isos / name, payload, replace=((old, b"replaced\n"),),
                        files=(("/boot/grub/i386-pc/note.txt", payload / "marker.txt"),), dirs=())
        out = tmp_path / name
        write_overlay_append(plan, out)
        _run("xorriso", "-osirrox", "on", "-indev", out, "-extract", old, tmp_path / "old", "-extract",
             "/boot/grub/i386-pc/note.txt", tmp_path / "note")
        assert (tmp_path / "old").read_bytes() == b"replaced\n"
        assert (tmp_path / "note").read_bytes() == b"marker\n"
        (tmp_path / "old").unlink()
        (tmp_path / "note").unlink()
        check_path_tables(out)
        assert inspect_iso(out).boot_modes() == inspect_iso(isos / name).boot_modes()


def _path_table(image: bytes, vd: int, big_endian: bool, encoding: str) -> dict[str, int]:
    """ISO path -> extent, from the L or M path table of the descriptor at block ``vd``."""
    size = struct.unpack_from("<I", image, vd * BLOCK + 132)[0]
    lba = struct.unpack_from(">I" if big_endian else "<I", image, vd * BLOCK + (148 if big_endian else 140))[0]
    table = image[lba * BLOCK : lba * BLOCK + size]
    fmt = ">BBIH" if big_endian else "<BBIH"
    paths: list[str] = []
    out: dict[str, int] = {}
    pos = 0
    while pos < len(table):
        length, _, extent, parent = struct.unpack_from(fmt, table, pos)
        ident = table[pos + 8 : pos + 8 + length]
        path = "/" if not paths else paths[parent - 1].rstrip("/") + "/" + ident.decode(encoding)
        paths.append(path)
        out[path] = extent
        pos += 8 + length + length % 2
    return out


def check_path_tables(iso: Path) -> None:
    """Both path tables (primary and Joliet) agree with the directory records, read by pycdlib."""
    image = iso.read_bytes()
    reader = pycdlib.PyCdlib()
    reader.open(str(iso))
    try:
        descriptors = [(16, "iso_path", "ascii")]
        if reader.has_joliet():
            descriptors += [(n, "joliet_path", "utf-16-be") for n in range(17, 21) if image[n * BLOCK] == 2]
        for vd, kind, encoding in descriptors:
            little = _path_table(image, vd, False, encoding)
            assert little == _path_table(image, vd, True, encoding)
            assert len(little) > 1
            for path, extent in little.items():
                assert reader.get_record(**{kind: path}).extent_location() == extent, (iso.name, path)
    finally:
        reader.close()


def test_failure_leaves_nothing(isos: Path, payload: Path, tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()  # stat() works, reading fails half-way through the write
    plan = plan_for(isos / "ipxe.iso", payload, files=(("/PACK/a.bin", tmp_path / "adir"),))
    with pytest.raises(IsADirectoryError, match="Is a directory"):
        write_overlay_append(plan, tmp_path / "out.iso")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir"]


def test_volume_size_in_the_primary_descriptor(outputs: dict[str, Path]) -> None:
    for out in outputs.values():
        with out.open("rb") as f:
            f.seek(16 * BLOCK + 80)
            assert int.from_bytes(f.read(4), "little") * BLOCK == out.stat().st_size


# --- QEMU boot matrix ---------------------------------------------------------------------------

BOOT_MODES = {**MODES, "grub-hfsplus.iso": MODES["grub-hybrid.iso"]}
Key = tuple[str, qemu.Firmware, qemu.Medium]
# The bases this file overlays (test_iso_offset.py boots the appended-ESP one).
MATRIX: list[Key] = [(name, fw, medium) for name, modes in BOOT_MODES.items() if name in BASES for fw, medium in modes]


@pytest.fixture(scope="module")
def boots(outputs: dict[str, Path], request: pytest.FixtureRequest) -> Iterator[dict[Key, Future[tuple[str, float]]]]:
    """Every boot of the outputs, two at a time (TCG runs one guest per core)."""
    missing = qemu.missing_tools()
    assert not missing, f"install the Debian packages {' '.join(missing)} (make install does)"

    def run(key: Key) -> tuple[str, float]:
        start = time.monotonic()
        text = qemu.boot(outputs[key[0]], key[1], key[2], timeout=TIMEOUT[key[1]], expect=BANNERS.get(key[0], qemu.MARKER))
        return text, time.monotonic() - start

    pool = ThreadPoolExecutor(max_workers=2)
    yield {key: pool.submit(run, key) for key in selected(request, MATRIX)}
    pool.shutdown(wait=True, cancel_futures=True)


@pytest.mark.boot
@pytest.mark.parametrize(("name", "firmware", "medium"), MATRIX)
def test_boot(name: str, firmware: qemu.Firmware, medium: qemu.Medium, boots: dict[Key, Future[tuple[str, float]]]) -> None:
    text, seconds = boots[name, firmware, medium].result()
    if name in BANNERS:
        assert BANNERS[name] in text, f"no {BANNERS[name]!r} after {seconds:.1f} s:\n{text[-1500:]}"
    else:
        assert qemu.marker(text) == "yes", f"marker after {seconds:.1f} s:\n{text[-1500:]}"


def test_takes_the_layout_it_is_given(isos: Path, payload: Path, tmp_path: Path, outputs: dict[str, Path],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine writes from the layout its caller already read: the base is not inspected twice,
    and the output is the same as when the engine reads the layout itself."""
    from packbuilder.image.iso9660 import append

    layout = inspect_iso(isos / "grub-hybrid.iso")

    def inspected_again(_base: object) -> None:
        raise AssertionError("the base was inspected again")

    monkeypatch.setattr(append, "inspect_iso", inspected_again)
    out = tmp_path / "given.iso"
    write_overlay_append(plan_for(isos / "grub-hybrid.iso", payload), out, layout)
    assert out.read_bytes() == outputs["grub-hybrid.iso"].read_bytes()
