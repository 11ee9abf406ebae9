"""The one way packbuilder runs external tools.

argv lists only (no shell), a fixed environment (``LANG=C.UTF-8``, ``TZ=UTC``), the command
logged with ``--debug``, and a clear message naming the package to install when a tool is missing.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from packbuilder.errors import AssemblyError, PackbuilderError, ToolMissing
from packbuilder.i18n import _

# Tool -> Debian package that provides it.
PACKAGES = {
    "7z": "p7zip-full",
    "xz": "xz-utils",
    "gpgv": "gpgv",
    "sqv": "sqv",
    "mkfs.fat": "dosfstools",
    "fsck.fat": "dosfstools",
    "mcopy": "mtools",
    "mmd": "mtools",
    "mdir": "mtools",
    "xorriso": "xorriso",
    "mksquashfs": "squashfs-tools",
    "mke2fs": "e2fsprogs",
    "sfdisk": "fdisk",
    "lsblk": "util-linux",
    "gpg": "gnupg",
    "msiextract": "msitools",
    "innoextract": "innoextract",
    "mtype": "mtools",
    "qemu-system-x86_64": "qemu-system-x86",
    "grub-mkimage": "grub-common",
    "syslinux": "syslinux",
    "debugfs": "e2fsprogs",
}


def find(tool: str) -> str | None:
    return shutil.which(tool)


def require(tool: str) -> str:
    path = find(tool)
    if path is None:
        package = PACKAGES.get(tool, tool)
        raise ToolMissing(
            _("tool not found: {tool}").format(tool=tool),
            hint=_("install it (Debian/Ubuntu: apt-get install {package})").format(package=package),
        )
    return path


def require_any(*tools: str, what: str, error: type[PackbuilderError] = ToolMissing) -> str:
    """The first of ``tools`` installed (its name); else ``error`` saying ``what`` needs one of them."""
    for tool in tools:
        if find(tool) is not None:
            return tool
    package = PACKAGES.get(tools[0], tools[0])
    if len(tools) == 2:
        message = _("{what}, but neither {first} nor {second} is installed")
    else:
        message = _("{what}, but none of {names} is installed")
    raise error(
        message.format(what=what, first=tools[0], second=tools[-1], names=", ".join(tools)),
        hint=_("install one (Debian/Ubuntu: apt-get install {package})").format(package=package),
    )


def run(
    argv: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    input_bytes: bytes | None = None,
    error: type[PackbuilderError] = AssemblyError,
) -> subprocess.CompletedProcess[bytes]:
    """Run a tool; raise ``error`` with its output when it fails (unless ``check`` is False)."""
    from packbuilder.ui import OUTPUT

    args = [str(a) for a in argv]
    args[0] = require(args[0])
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC"}
    for key in ("HOME", "TMPDIR", "SOURCE_DATE_EPOCH"):
        if key in os.environ:
            full_env[key] = os.environ[key]
    full_env.update(env or {})
    OUTPUT.debug_line(f"$ {shlex.join(args)}")
    proc = subprocess.run(args, env=full_env, cwd=cwd, input=input_bytes, capture_output=True, check=False)
    if check and proc.returncode != 0:
        output = (proc.stderr or proc.stdout).decode(errors="replace").strip()
        last = "\n".join(output.splitlines()[-8:])
        raise error(_("{tool} failed (exit {code}): {output}").format(tool=Path(args[0]).name, code=proc.returncode, output=last))
    return proc
