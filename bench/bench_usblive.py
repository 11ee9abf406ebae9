"""An 8 GiB usb-live image from a ~1 GiB base ISO and ~1 GiB of apps in ~1,000 files, with a 1 GiB
persistence volume: ``write_usb_live`` must take at most 1.3x ``cp`` of the same bytes onto the same
disk (the base ISO file, then the tree with ``cp -r``), and stay under 64 MiB of peak memory.

The base is grub-hybrid.iso (build/fixtures, `make fixtures`) with a 1 GiB pseudo-random file added
by xorriso, made once per run. Everything happens in a temporary folder on a disk
(``$PACKBUILDER_BENCH_DIR``, else /var/tmp, which distributions keep on disk, unlike /tmp), so the
inputs and outputs of both sides share it.

The writer runs in a child Python process (``python -c``, start-up included); the reference is one
``sh -c 'cp BASE OUT/ && cp -r TREE OUT/'``. Both are timed up to the end of a ``sync`` that follows
them, so that neither leaves its write-back to the other. Before each run the last output is removed,
dirty pages are flushed and, as root, the page cache is dropped (``echo 3 > /proc/sys/vm/drop_caches``:
both read their inputs cold); the line printed says which was done. Best of three, runs interleaved.

Peak memory is polled every 5 ms in /proc: VmHWM of the child (also read by the child itself at the
end, so its own figure is exact) and of each tool it runs (xorriso, grub-mkimage, mkfs.fat, mke2fs,
debugfs: the processes whose parent is the child). The tools run one at a time while Python waits for
them, so the figure checked is the child's peak plus the largest tool's, an upper bound. A tool that
lives less than 5 ms may be missed; those are the small ones. (The kernel's ``RUSAGE_CHILDREN`` would
not do: a child's ``ru_maxrss`` starts from the resident size of the process that forked it.)
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: `python3 bench/bench_usblive.py`

from bench.common import Run, padded_iso, report, run_polled, settle

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "build" / "fixtures" / "grub-hybrid.iso"
MIB = 1 << 20
GIB = 1 << 30
BASE_PAD = GIB
IMAGE_BYTES = 8 * GIB
PERSISTENCE_BYTES = GIB
N_FILES = 1000
RATIO, MEMORY_MIB = 1.3, 64
LABEL, VOLUME_ID, EPOCH = "BENCH", 0x12345678, 1767225600
REPEAT = 3
TOOLS = ("xorriso", "mkfs.fat", "mke2fs", "debugfs", "grub-mkimage", "mcopy")
ENV = {**os.environ, "LANG": "C.UTF-8", "TZ": "UTC", "SOURCE_DATE_EPOCH": str(EPOCH), "PYTHONPATH": str(ROOT)}

CHILD = """
import json, sys, time
from pathlib import Path
from packbuilder.image.usblive import write_usb_live
base, tree, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
start = time.perf_counter()
write_usb_live(base, tree, out, int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]))
elapsed = time.perf_counter() - start
with open("/proc/self/status", "rb") as fh:
    hwm = next(int(line.split()[1]) for line in fh if line.startswith(b"VmHWM:"))
print(json.dumps({"seconds": elapsed, "own_kib": hwm}))
"""


def work_root() -> Path:
    return Path(os.environ.get("PACKBUILDER_BENCH_DIR") or "/var/tmp")


def make_base(work: Path) -> Path:
    """grub-hybrid.iso with a 1 GiB pseudo-random file added: a base the size of a live CD image."""
    return padded_iso(FIXTURE, work / "base.iso", BASE_PAD, "/big.bin", ENV)


def make_tree(root: Path) -> int:
    """~1,000 files of random bytes in nested folders, ~1 GiB: 50 of 10-14 MiB, the rest 64-900 KiB."""
    rng = random.Random(2026)
    total = 0
    categories = ["Bureautique", "Graphisme", "Internet", "Gestion", "Utilitaires", "Multimédia"]
    for i in range(N_FILES):
        folder = root / "Apps" / categories[i % 6] / f"Logiciel {i % 40:02d}" / ("App" if i % 3 else "Données")
        folder.mkdir(parents=True, exist_ok=True)
        size = rng.randint(10 * MIB, 14 * MIB) if i % 20 == 0 else rng.randint(64 * 1024, 900 * 1024)
        (folder / f"fichier {i:04d} été.bin").write_bytes(rng.randbytes(size))
        total += size
    (root / "Documents").mkdir()
    (root / "Menu.html").write_text("<!doctype html><title>Menu</title>\n")
    return total


def run_synced(argv: list[str]) -> Run:
    """Run ``argv``, then ``sync``: the wall time of both, the peaks of the process and its children."""
    return run_polled(argv, ROOT, ENV, sync=True)


def ours(base: Path, tree: Path, out: Path) -> Run:
    argv = [
        sys.executable,
        "-c",
        CHILD,
        str(base),
        str(tree),
        str(out),
        str(IMAGE_BYTES),
        LABEL,
        str(VOLUME_ID),
        str(EPOCH),
        str(PERSISTENCE_BYTES),
    ]
    result = run_synced(argv)
    reported = json.loads(result.stdout.strip().splitlines()[-1])
    result.own_kib = max(result.own_kib, int(reported["own_kib"]))
    if out.stat().st_size != IMAGE_BYTES:
        raise RuntimeError(f"the image is {out.stat().st_size} bytes, not {IMAGE_BYTES}")
    return result


def reference(base: Path, tree: Path, copy: Path) -> Run:
    copy.mkdir()
    return run_synced(["sh", "-c", 'cp "$1" "$3"/ && cp -r "$2" "$3"/', "sh", str(base), str(tree), str(copy)])


def run() -> bool:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing or not FIXTURE.is_file():
        print(f"usb-live image: skipped: needs {', '.join(missing) or FIXTURE} (make install-system, make fixtures)")
        return True
    work = Path(tempfile.mkdtemp(prefix="packbuilder-bench-usblive-", dir=work_root()))
    try:
        start = time.perf_counter()
        base = make_base(work)
        tree = work / "tree"
        total = make_tree(tree)
        files = sum(1 for p in tree.rglob("*") if p.is_file())
        print(
            f"usb-live image: base {base.stat().st_size / MIB:.0f} MiB, apps {total / MIB:.0f} MiB in {files} files, "
            f"image {IMAGE_BYTES // GIB} GiB with {PERSISTENCE_BYTES // GIB} GiB persistence, in {work} "
            f"(set up in {time.perf_counter() - start:.1f} s)"
        )
        out, copy = work / "live.img", work / "copy"
        runs: dict[str, list[Run]] = {"ours": [], "cp": []}
        how = ""
        for _ in range(REPEAT):
            out.unlink(missing_ok=True)
            how = settle()
            runs["ours"].append(ours(base, tree, out))
            out.unlink()
            settle()
            runs["cp"].append(reference(base, tree, copy))
            shutil.rmtree(copy)
        best, ref = min(r.seconds for r in runs["ours"]), min(r.seconds for r in runs["cp"])
        worst = max(runs["ours"], key=lambda r: r.peak_mib)
        tools = ", ".join(f"{name} {kib / 1024:.0f}" for name, kib in sorted(worst.tools_kib.items()))
        print(
            f"usb-live image: {how}; runs {', '.join(f'{r.seconds:.2f}' for r in runs['ours'])} s, "
            f"cp {', '.join(f'{r.seconds:.2f}' for r in runs['cp'])} s (each with its sync)"
        )
        print(f"usb-live image: peak memory: python {worst.own_kib / 1024:.0f} MiB, tools (MiB) {tools or 'none seen'}")
        return all(
            [
                report(
                    "usb-live image 8 GiB (1 GiB base + 1 GiB apps, persistence)",
                    best,
                    "s",
                    "cp + cp -r + sync",
                    ref,
                    f"<= {RATIO}x",
                    best <= RATIO * ref,
                ),
                report(
                    "usb-live image peak memory (python + largest tool)",
                    worst.peak_mib,
                    "MiB",
                    "limit",
                    MEMORY_MIB,
                    f"< {MEMORY_MIB} MiB",
                    worst.peak_mib < MEMORY_MIB,
                ),
            ]
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(0 if run() else 1)
