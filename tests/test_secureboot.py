"""Secure Boot kept: Debian's shim (signed by Microsoft's UEFI CA) and signed GRUB, booted by OVMF with
Secure Boot enforced and Microsoft's keys enrolled (``uefi-secboot`` in tests/qemu.py).

secureboot.iso (scripts/make-fixture-isos.sh) boots to the signed GRUB, which prints
``PACKBUILDER-MARKER: no``; the outputs packbuilder makes from it (``--format iso`` with both engines,
as CD and as USB disk, and ``--format usb-live``) must reach the same signed GRUB and say ``yes``. An
unsigned GRUB (grub-hybrid.iso) must be refused by the firmware. Also: the Authenticode reader on the
signed loaders themselves, ``inspect``'s report, and usb-live's refusal to patch a signed GRUB.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from packbuilder.image.authenticode import read_signature, uefi_loader_signature
from packbuilder.image.inspect import inspect_iso
from packbuilder.plan.lock import lock_bytes
from tests import factories, qemu
from tests.conftest import run_cli
from tests.test_iso import build_iso, env  # noqa: F401  # the ISO builds' catalog, cache and lock
from tests.test_iso_fixtures import ISO_FIXTURES, ROOT

pytestmark = pytest.mark.slow

NEEDED = ("secureboot.iso", "grub-hybrid.iso", "shimx64.efi.signed", "gcdx64.efi.signed")
MICROSOFT_UEFI_CA = "CN=Microsoft Corporation UEFI CA 2011"
MICROSOFT_2023 = "CN=Microsoft UEFI CA 2023"
DEBIAN_CA = "CN=Debian Secure Boot CA"
# What the console shows when a loader is refused: OVMF for an unsigned first loader (then it gives up on
# every boot option), shim for a second loader its keys do not sign (then it waits for a key press).
REFUSALS = {"unsigned": "Access Denied", "unsigned-grub": "Verification failed: (0x1A) Security Violation"}
OUTCOME = re.compile(rf"{qemu.MARKER.pattern}|No bootable option or device was found|Verification failed")
TIMEOUT = 150.0  # TCG, Secure Boot OVMF on q35; measured here 4-15 s per boot, the machine loaded


@pytest.fixture(scope="session")
def sb_isos() -> Path:
    """The fixtures, made once per session by the script when one is missing."""
    if not all((ISO_FIXTURES / n).is_file() for n in NEEDED):
        script = ROOT / "scripts" / "make-fixture-isos.sh"
        proc = subprocess.run(["bash", str(script), str(ISO_FIXTURES)], capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"make-fixture-isos.sh failed:\n{proc.stdout}\n{proc.stderr}"
    return ISO_FIXTURES


# --- Authenticode reader -------------------------------------------------------------------------


def test_signed_loaders_name_their_signers(sb_isos: Path) -> None:
    shim = read_signature((sb_isos / "shimx64.efi.signed").read_bytes())
    grub = read_signature((sb_isos / "gcdx64.efi.signed").read_bytes())
    # shim 16.1 is signed twice: by Microsoft's 2011 UEFI CA and by its 2023 successor.
    assert shim.signed and [s.issuer.split(",")[0] for s in shim.signers] == [MICROSOFT_UEFI_CA, MICROSOFT_2023], shim
    assert grub.signed and len(grub.signers) == 1, grub
    assert grub.signers[0].issuer == DEBIAN_CA and "Debian" in grub.signers[0].subject, grub


def _strip_signature(data: bytes) -> bytes:
    """The image with its certificate table entry zeroed, as before signing."""
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    magic = struct.unpack_from("<H", data, pe + 24)[0]
    entry = pe + 24 + (96 if magic == 0x10B else 112) + 8 * 4
    return data[:entry] + bytes(8) + data[entry + 8 :]


def test_unsigned_and_non_pe_files(sb_isos: Path) -> None:
    shim = (sb_isos / "shimx64.efi.signed").read_bytes()
    stripped = read_signature(_strip_signature(shim))
    assert stripped.pe and not stripped.signed
    assert stripped.describe() == "not signed"
    # Debian's unsigned build of the same GRUB (grub-efi-amd64-bin) carries no certificate table.
    assert not read_signature(Path("/usr/lib/grub/x86_64-efi/monolithic/gcdx64.efi").read_bytes()).signed
    for junk in (b"", b"MZ" + bytes(100), shim[:0x3C], b"\x7fELF" + bytes(200), shim[:300]):
        assert not read_signature(junk).signed
    assert read_signature(b"#!/bin/sh\n" * 20).describe() == "not a PE/COFF image"


def test_other_certificate_types_are_not_authenticode(sb_isos: Path) -> None:
    shim = bytearray((sb_isos / "shimx64.efi.signed").read_bytes())
    pe = struct.unpack_from("<I", shim, 0x3C)[0]
    offset, size = struct.unpack_from("<II", shim, pe + 24 + 112 + 8 * 4)
    records = 0
    pos = offset
    while pos < offset + size:  # each record: WIN_CERT_TYPE_X509 instead of PKCS#7
        struct.pack_into("<H", shim, pos + 6, 0x0001)
        pos += (struct.unpack_from("<I", shim, pos)[0] + 7) & ~7
        records += 1
    assert records == 2
    assert not read_signature(bytes(shim)).signed


def test_damaged_signature_data(sb_isos: Path) -> None:
    """A certificate table whose PKCS#7 is cut or garbage: signed, signer not read, no exception."""
    shim = bytearray((sb_isos / "shimx64.efi.signed").read_bytes())
    pe = struct.unpack_from("<I", shim, 0x3C)[0]
    offset, _size = struct.unpack_from("<II", shim, pe + 24 + 112 + 8 * 4)
    for cut in (2, 9, 40, 300):
        damaged = bytearray(shim)
        damaged[offset + 8 + cut : offset + 8 + cut + 4] = b"\xff\xff\xff\xff"
        result = read_signature(bytes(damaged))
        assert result.signed, cut
    shim[offset + 8 :] = bytes(len(shim) - offset - 8)
    assert read_signature(bytes(shim)).describe() == "signed (Authenticode; signer not read)"


def test_inspect_reports_the_uefi_loader(sb_isos: Path) -> None:
    signed = uefi_loader_signature(sb_isos / "secureboot.iso", inspect_iso(sb_isos / "secureboot.iso"))
    assert signed is not None and signed.signed and signed.signers[0].issuer.startswith(MICROSOFT_UEFI_CA)
    result = run_cli("inspect", str(sb_isos / "secureboot.iso"), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["uefi_loader_signature"]["signed"] is True
    assert document["uefi_loader_signature"]["signers"][0]["issuer"].startswith(MICROSOFT_UEFI_CA)
    unsigned = json.loads(run_cli("inspect", str(sb_isos / "grub-hybrid.iso"), "--json").stdout)
    assert unsigned["uefi_loader_signature"] == {"pe": True, "signed": False, "signers": []}
    assert json.loads(run_cli("inspect", str(sb_isos / "isolinux-hybrid.iso"), "--json").stdout)[
        "uefi_loader_signature"
    ] is None
    text = run_cli("inspect", str(sb_isos / "secureboot.iso")).stdout
    assert "BOOTX64.EFI of the El Torito EFI image: signed by CN=Microsoft Windows UEFI Driver Publisher" in text


# --- outputs ------------------------------------------------------------------------------------


def _usb_live(work: Path, base: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`build --format usb-live` of a one-app pack whose overlay holds PACK/marker.txt."""
    app = factories.zip_bytes({"Writer/writer.exe": b"MZ" + os.urandom(3000)})
    factories.cached(work / "cache", app)
    factories.marker_catalog(work / "mini")
    items = [factories.item("writer", url="https://writer.example.org/w.zip", data=app, launch="Writer/writer.exe")]
    lock = factories.lock(items, pack="live", label="LIVE", overlays=["docs-fr", "marker"], key_mb=64)
    (work / "live.lock").write_bytes(lock_bytes(lock))
    out = work / f"{base.stem}.img"
    catalog, cache = work / "mini" / "manifests", work / "cache"
    result = run_cli("--catalog", str(catalog), "--cache", str(cache), "build", str(work / "live.lock"),
                     "--format", "usb-live", "--base", str(base), "--offline", "-o", str(out))
    return result, out


@pytest.fixture(scope="module")
def outputs(sb_isos: Path, env: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:  # noqa: F811
    work = tmp_path_factory.mktemp("secureboot")
    made = {"base": sb_isos / "secureboot.iso", "unsigned": sb_isos / "grub-hybrid.iso"}
    made["unsigned-grub"] = _shim_with_unsigned_grub(sb_isos, work)
    for engine in ("xorriso", "pycdlib"):
        out = work / f"iso-{engine}.iso"
        result = build_iso(env, sb_isos / "secureboot.iso", out, "--iso-engine", engine)
        assert result.returncode == 0, result.stderr
        made[f"iso-{engine}"] = out
    result, image = _usb_live(work, sb_isos / "secureboot.iso")
    assert result.returncode == 0, result.stderr
    made["usb-live"] = image
    return made


@pytest.mark.parametrize("name", ["iso-xorriso", "iso-pycdlib", "usb-live"])
def test_signed_loaders_kept_byte_for_byte(name: str, sb_isos: Path, outputs: dict[str, Path]) -> None:
    """The outputs carry shim and the signed GRUB unchanged where the firmware looks for them."""
    out = outputs[name]
    # usb-live: the FAT32 partition at 1 MiB; ISO: the El Torito EFI image
    offset = "1M" if name == "usb-live" else str(inspect_iso(out).efi_entries[0].load_rba * 2048)
    where = f"{out}@@{offset}"
    for inner, original in (("BOOTX64.EFI", "shimx64.efi.signed"), ("grubx64.efi", "gcdx64.efi.signed")):
        proc = subprocess.run(["mcopy", "-n", "-i", where, f"::/EFI/BOOT/{inner}", "-"], capture_output=True,
                              timeout=60, env={**os.environ, "MTOOLS_SKIP_CHECK": "1"})
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == (sb_isos / original).read_bytes(), f"{name}: {inner} differs from {original}"


def _shim_with_unsigned_grub(sb_isos: Path, work: Path) -> Path:
    """secureboot.iso's chain with Debian's unsigned build of the same GRUB (grub-efi-amd64-bin) behind
    the signed shim: shim must refuse it."""
    tree = work / "unsigned-grub"
    (tree / "EFI" / "BOOT").mkdir(parents=True)
    (tree / "boot" / "grub").mkdir(parents=True)
    (tree / "boot" / "grub" / "grub.cfg").write_text('echo "PACKBUILDER-MARKER: no"\nhalt\n')
    shutil.copyfile(sb_isos / "shimx64.efi.signed", tree / "EFI" / "BOOT" / "BOOTX64.EFI")
    shutil.copyfile("/usr/lib/grub/x86_64-efi/monolithic/gcdx64.efi", tree / "EFI" / "BOOT" / "grubx64.efi")
    efi = tree / "efi.img"
    for argv in (
        ["mkfs.fat", "-C", str(efi), "6144"],
        ["mmd", "-i", str(efi), "::/EFI", "::/EFI/BOOT"],
        ["mcopy", "-i", str(efi), str(tree / "EFI" / "BOOT" / "BOOTX64.EFI"), str(tree / "EFI" / "BOOT" / "grubx64.efi"),
         "::/EFI/BOOT/"],
        ["xorriso", "-as", "mkisofs", "-o", str(work / "unsigned-grub.iso"), "-R", "-e", "efi.img", "-no-emul-boot",
         str(tree)],
    ):
        subprocess.run(argv, check=True, capture_output=True, timeout=120)
    return work / "unsigned-grub.iso"


# (output, firmware, medium, expected marker: None = refused)
BOOTS: list[tuple[str, qemu.Firmware, qemu.Medium, str | None]] = [
    ("base", "uefi-secboot", "cd", "no"),
    ("base", "uefi-secboot", "disk", "no"),
    ("iso-xorriso", "uefi-secboot", "cd", "yes"),
    ("iso-xorriso", "uefi-secboot", "disk", "yes"),
    ("iso-pycdlib", "uefi-secboot", "cd", "yes"),
    ("iso-pycdlib", "uefi-secboot", "disk", "yes"),
    ("usb-live", "uefi-secboot", "disk", "yes"),
    ("unsigned", "uefi-secboot", "cd", None),
    ("unsigned-grub", "uefi-secboot", "cd", None),
    # Controls: the same two boot without Secure Boot, so their refusals above are Secure Boot's doing.
    ("unsigned", "uefi", "cd", "no"),
    ("unsigned-grub", "uefi", "cd", "no"),
]


@pytest.fixture(scope="module")
def boots(outputs: dict[str, Path]) -> Iterator[dict[tuple[str, str, str], Future[tuple[str, float]]]]:
    """Every Secure Boot run, two at a time (TCG runs one guest per core)."""
    missing = qemu.missing_tools()
    assert not missing, f"install the Debian packages {' '.join(missing)} (make install does)"

    def run(image: Path, firmware: qemu.Firmware, medium: qemu.Medium) -> tuple[str, float]:
        start = time.monotonic()
        text = qemu.boot(image, firmware, medium, timeout=TIMEOUT, expect=OUTCOME)
        return text, time.monotonic() - start

    pool = ThreadPoolExecutor(max_workers=2)
    futures = {(n, fw, m): pool.submit(run, outputs[n], fw, m) for n, fw, m, _ in BOOTS}
    yield futures
    pool.shutdown(wait=True, cancel_futures=True)
    done = [(k, f.result()[1]) for k, f in futures.items() if f.done() and not f.cancelled() and f.exception() is None]
    print("\nUEFI boot times (s): " + ", ".join(f"{'/'.join(k)} {s:.1f}" for k, s in done))


@pytest.mark.boot
@pytest.mark.parametrize(("name", "firmware", "medium", "expected"), BOOTS)
def test_secure_boot(
    name: str,
    firmware: qemu.Firmware,
    medium: qemu.Medium,
    expected: str | None,
    boots: dict[tuple[str, str, str], Future[tuple[str, float]]],
) -> None:
    text, seconds = boots[name, firmware, medium].result()
    tail = text[-1500:]
    assert qemu.marker(text) == expected, f"marker after {seconds:.1f} s:\n{tail}"
    if expected is None:
        assert REFUSALS[name] in text, tail
    else:
        assert not any(refusal in text for refusal in REFUSALS.values()), tail
        assert "Welcome to GRUB!" in text or name == "unsigned-grub", tail


# --- a signed GRUB that usb-live would have to patch ----------------------------------------------


def _with_signature_of(image: bytes, signed: bytes) -> bytes:
    """``image`` with ``signed``'s certificate table appended and its security directory pointing there:
    a loader that carries a signature (not a valid one for these bytes, which is not checked here)."""
    pe, spe = struct.unpack_from("<I", image, 0x3C)[0], struct.unpack_from("<I", signed, 0x3C)[0]
    offset, size = struct.unpack_from("<II", signed, spe + 24 + 112 + 8 * 4)
    padded = image + bytes(-len(image) % 8)
    out = bytearray(padded + signed[offset : offset + size])
    struct.pack_into("<II", out, pe + 24 + 112 + 8 * 4, len(padded), size)
    return bytes(out)


def test_usb_live_refuses_to_patch_a_signed_grub(sb_isos: Path, tmp_path: Path) -> None:
    """A signed GRUB whose prefix is "()" (the drive it started from) would need its prefix patched to
    find the FAT partition of a key, which breaks its signature: the build stops and says why."""
    tree = tmp_path / "tree"
    (tree / "EFI" / "BOOT").mkdir(parents=True)
    (tree / "boot" / "grub").mkdir(parents=True)
    (tree / "boot" / "grub" / "grub.cfg").write_text("echo hello\n")
    grub = tmp_path / "grub.efi"
    subprocess.run(["grub-mkimage", "-O", "x86_64-efi", "-p", "()/boot/grub", "-o", str(grub), "normal", "fat"],
                   check=True, timeout=120)
    loader = _with_signature_of(grub.read_bytes(), (sb_isos / "gcdx64.efi.signed").read_bytes())
    assert read_signature(loader).signed
    (tree / "EFI" / "BOOT" / "BOOTX64.EFI").write_bytes(loader)
    base = tmp_path / "signed-mkrescue-like.iso"
    subprocess.run(["xorriso", "-as", "mkisofs", "-o", str(base), "-R", "-J", "-V", "SIGNED_PREFIX", str(tree)],
                   check=True, capture_output=True, timeout=120)
    result, image = _usb_live(tmp_path, base)
    assert result.returncode == 5, result.stdout + result.stderr
    assert "EFI/BOOT/BOOTX64.EFI: a signed GRUB whose prefix '()/boot/grub'" in result.stderr, result.stderr
    assert "Debian Secure Boot Signer" in result.stderr and "--format iso" in result.stderr, result.stderr
    assert not image.exists()
