"""Boot an image in QEMU and read its serial console: the harness of the boot tests.

QEMU runs under TCG (no KVM on CI machines), with no network card (a NIC's option ROM prints an
iPXE banner that would be read as a boot), 256 MiB of memory, and ``-no-reboot`` so a guest that
resets or powers off ends the run. ``-nographic`` makes SeaBIOS copy its screen to the serial port,
so a failing BIOS boot still explains itself in the returned text; the serial port itself is a file.

Media:

- ``cd``: an IDE CD-ROM drive, booted through the El Torito catalog;
- ``disk``: a USB mass-storage device on an xHCI controller, i.e. the ISO written raw on a USB key.
  SeaBIOS and OVMF both boot from it through their USB drivers, as a PC boots a key, which an IDE
  hard disk would not exercise. BIOS boots its MBR; OVMF looks for an EFI system partition but, as
  on real firmware, may also boot the El Torito catalog of a disk, so a UEFI "disk" boot that works
  does not alone prove the disk's GPT or ESP is sound: check those structurally as well.

Firmware:

- ``bios``: SeaBIOS on QEMU's default i440FX machine;
- ``uefi``: OVMF (no Secure Boot) on the same machine;
- ``uefi-secboot``: OVMF built with Secure Boot (``OVMF_CODE_4M.secboot.fd``) and a variable store with
  Microsoft's keys enrolled and Secure Boot enabled (``OVMF_VARS_4M.ms.fd``), as most PCs ship. That
  build keeps its variables safe in SMM, so it runs only on a q35 machine with SMM on and the flash
  secured (``-global driver=cfi.pflash01,property=secure,value=on``), with S3 off as upstream OVMF's
  instructions for SMM builds show (``-global ICH9-LPC.disable_s3=1``). On q35 the ``cd`` drive is a
  SATA (AHCI) CD-ROM. OVMF refuses an unsigned first loader with "Access Denied" on the console; shim
  refuses an unsigned second loader with "Verification failed: (0x1A) Security Violation".

The image is attached read-only; UEFI runs get a private copy of OVMF's variable store.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Literal

Firmware = Literal["bios", "uefi", "uefi-secboot"]
Medium = Literal["cd", "disk"]

MARKER = re.compile(r"PACKBUILDER-MARKER: (yes|no)")  # the console copy may follow with no newline
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>c]")

# (code, vars) pairs of the Debian/Ubuntu ovmf package, newest layout first.
OVMF_PAIRS = (
    (Path("/usr/share/OVMF/OVMF_CODE_4M.fd"), Path("/usr/share/OVMF/OVMF_VARS_4M.fd")),
    (Path("/usr/share/OVMF/OVMF_CODE.fd"), Path("/usr/share/OVMF/OVMF_VARS.fd")),
)
# Secure Boot: code with SMM-protected variables, and Microsoft's keys (PK, KEK, db, dbx) enrolled.
OVMF_SECBOOT = (Path("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"), Path("/usr/share/OVMF/OVMF_VARS_4M.ms.fd"))
QEMU = "qemu-system-x86_64"


def ovmf(secure_boot: bool = False) -> tuple[Path, Path]:
    """OVMF's firmware code and variable store template (package ``ovmf``)."""
    for code, variables in (OVMF_SECBOOT,) if secure_boot else OVMF_PAIRS:
        if code.is_file() and variables.is_file():
            return code, variables
    raise FileNotFoundError("OVMF not found under /usr/share/OVMF: install the Debian package ovmf")


def missing_tools() -> list[str]:
    """What the harness needs and cannot find, as Debian package names."""
    missing = [] if shutil.which(QEMU) else ["qemu-system-x86"]
    try:
        ovmf()
        ovmf(secure_boot=True)
    except FileNotFoundError:
        missing.append("ovmf")
    return missing


def clean(text: str) -> str:
    """Serial text without terminal escape sequences and carriage returns."""
    return _ANSI.sub("", text).replace("\r", "")


def _drive_path(path: Path) -> str:
    return str(path).replace(",", ",,")  # QEMU's option syntax doubles commas in values


def command(image: Path, firmware: Firmware, medium: Medium, serial_log: Path, vars_file: Path | None) -> list[str]:
    """The QEMU command line for one boot (``vars_file``: a writable copy of OVMF_VARS for UEFI)."""
    args = [QEMU, "-accel", "tcg", "-m", "256", "-smp", "1", "-nographic", "-monitor", "none", "-parallel", "none"]
    args += ["-serial", f"file:{_drive_path(serial_log)}", "-nic", "none", "-no-reboot", "-boot", "menu=off"]
    if firmware in ("uefi", "uefi-secboot"):
        if vars_file is None:
            raise ValueError("a UEFI boot needs a writable copy of OVMF_VARS")
        code, _ = ovmf(secure_boot=firmware == "uefi-secboot")
        if firmware == "uefi-secboot":
            args += ["-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on"]
            args += ["-global", "ICH9-LPC.disable_s3=1"]
        args += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={_drive_path(code)}"]
        args += ["-drive", f"if=pflash,format=raw,unit=1,file={_drive_path(vars_file)}"]
    elif firmware != "bios":
        raise ValueError(f"unknown firmware {firmware!r}")
    image_opt = f"file={_drive_path(image)},format=raw,readonly=on"
    if medium == "cd":
        args += ["-drive", f"{image_opt},if=ide,index=2,media=cdrom"]
    elif medium == "disk":
        args += ["-device", "qemu-xhci,id=xhci", "-drive", f"{image_opt},if=none,id=key"]
        args += ["-device", "usb-storage,bus=xhci.0,drive=key,removable=on"]
    else:
        raise ValueError(f"unknown medium {medium!r}")
    return args


def boot(
    image: Path,
    firmware: Firmware,
    medium: Medium,
    timeout: float = 60,
    expect: str | re.Pattern[str] = MARKER,
) -> str:
    """Boot ``image`` and return its serial console text (escape sequences removed).

    Returns as soon as ``expect`` (a substring or a pattern; by default the fixtures' marker line) is
    in the text, when QEMU exits (the guest powered off or reset), or after ``timeout`` seconds: QEMU is
    killed in every case, so a boot never hangs. The caller checks the text.
    """
    image = Path(image).resolve()
    if not image.is_file():
        raise FileNotFoundError(image)
    pattern = expect if isinstance(expect, re.Pattern) else re.compile(re.escape(expect))
    with tempfile.TemporaryDirectory(prefix="packbuilder-qemu-") as tmp:
        serial_log = Path(tmp) / "serial.log"
        serial_log.touch()
        vars_file = None
        if firmware in ("uefi", "uefi-secboot"):
            vars_file = Path(tmp) / "OVMF_VARS.fd"
            shutil.copyfile(ovmf(secure_boot=firmware == "uefi-secboot")[1], vars_file)
        args = command(image, firmware, medium, serial_log, vars_file)
        errors = Path(tmp) / "qemu.err"
        with errors.open("wb") as err:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        try:
            deadline = time.monotonic() + timeout
            text = ""
            while True:
                exited = proc.poll() is not None
                text = clean(serial_log.read_bytes().decode("utf-8", errors="replace"))
                if exited or pattern.search(text) or time.monotonic() >= deadline:
                    break
                time.sleep(0.1)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        text = clean(serial_log.read_bytes().decode("utf-8", errors="replace"))
        if proc.returncode not in (0, -9) and not text.strip():
            # QEMU refused to start: say why instead of returning an empty console.
            raise RuntimeError(f"{QEMU} failed (exit {proc.returncode}): {errors.read_text(errors='replace').strip()}")
        return text


def marker(text: str) -> str | None:
    """The fixtures' answer on a serial console: ``"yes"``, ``"no"``, or None when it never came."""
    found = MARKER.search(text)
    return found.group(1) if found else None
