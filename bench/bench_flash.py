"""Flashing one 2 GiB image to 4 file targets with verification, against dd and cmp.

Target: ``packbuilder flash IMAGE T1 T2 T3 T4 --yes`` (write all four at once, then read each
back and compare sha256) takes at most 1.3x the reference measured in the same run:
``dd bs=4M conv=fsync`` to the four targets one after the other, then ``cmp`` of each with the
image. Both write to a temporary folder on a disk (``$PACKBUILDER_BENCH_DIR``, else /var/tmp,
which distributions keep on disk, unlike /tmp that may be tmpfs); the targets are removed
between runs so both create fresh files.

Before each timed run every dirty page is flushed (``sync``, untimed); as root the page cache
is also dropped (``echo 3 > /proc/sys/vm/drop_caches``) so both start with a cold image. The
line printed says which was done.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: `python3 bench/bench_flash.py`

from bench.common import report, settle

ROOT = Path(__file__).resolve().parent.parent
MiB = 2**20
IMAGE_SIZE = 2 * 1024 * MiB
TARGETS = 4
RATIO = 1.3
RUN_TIMEOUT_S = 900


def _write_image(path: Path) -> None:
    with path.open("wb") as fh:
        for _ in range(IMAGE_SIZE // (4 * MiB)):
            fh.write(os.urandom(4 * MiB))


def _clear(targets: list[Path]) -> None:
    for target in targets:
        target.unlink(missing_ok=True)


def _reference(image: Path, targets: list[Path]) -> float:
    start = time.perf_counter()
    for target in targets:
        subprocess.run(["dd", f"if={image}", f"of={target}", "bs=4M", "conv=fsync", "status=none"], check=True)
    for target in targets:
        subprocess.run(["cmp", str(image), str(target)], check=True)
    return time.perf_counter() - start


def _packbuilder(image: Path, targets: list[Path]) -> float:
    argv = [sys.executable, "-m", "packbuilder", "--quiet", "flash", str(image), *map(str, targets), "--yes"]
    start = time.perf_counter()
    subprocess.run(argv, check=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=RUN_TIMEOUT_S)
    return time.perf_counter() - start


def run() -> bool:
    base = Path(os.environ.get("PACKBUILDER_BENCH_DIR", "/var/tmp"))
    if shutil.which("dd") is None or shutil.which("cmp") is None:
        print("flash: dd or cmp not installed: benchmark skipped")
        return True
    if shutil.disk_usage(base).free < (TARGETS + 2) * IMAGE_SIZE:
        print(f"flash: less than {(TARGETS + 2) * 2} GiB free in {base}: benchmark skipped (set PACKBUILDER_BENCH_DIR)")
        return True
    with tempfile.TemporaryDirectory(prefix="packbuilder-bench-flash-", dir=base) as tmp:
        image = Path(tmp, "image.img")
        _write_image(image)
        targets = [Path(tmp, f"key{n}.img") for n in range(TARGETS)]
        how = settle()
        reference = _reference(image, targets)
        _clear(targets)
        settle()
        elapsed = _packbuilder(image, targets)
    print(f"flash: 2 GiB image to {TARGETS} files in {base}; {how}")
    return report(
        f"flash 2 GiB to {TARGETS} files + verify",
        elapsed,
        "s",
        "dd bs=4M conv=fsync x4 then cmp x4",
        reference,
        f"<= {RATIO}x",
        elapsed <= RATIO * reference,
    )


if __name__ == "__main__":
    sys.exit(0 if run() else 1)
