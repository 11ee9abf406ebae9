"""An ISO overlay of ~300 MiB in ~3,000 files onto a ~2 GiB base: the xorriso engine must take at most
1.05x the equivalent hand-written ``xorriso -indev BASE -outdev OUT -boot_image any replay -map TREE
/PACK``, the appending engine (``--iso-engine pycdlib``) at most 1.5x, each under 64 MiB of peak memory.

The base is grub-hybrid.iso (build/fixtures, `make fixtures`) padded with a 2 GiB file by xorriso,
made once per run in a temporary folder. Each engine runs in a child Python process (plan + write,
start-up included). Peak memory is VmHWM, polled in /proc every 5 ms (bench.common.run_polled): the
child's (also read by the child itself at the end) plus the largest of the tools it runs (xorriso), an
upper bound; the reference is xorriso's own. (``RUSAGE_CHILDREN`` would not do: a child's
``ru_maxrss`` starts from the resident size of the process that forked it.) Each run starts after
``sync`` with no output left; best of three, interleaved.
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

from bench.common import Run, padded_iso, report, run_polled

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "build" / "fixtures" / "grub-hybrid.iso"
MIB = 1 << 20
BASE_PAD = 2 * 1024 * MIB
TIME_XORRISO, TIME_PYCDLIB, MEMORY_MIB = 1.05, 1.5, 64
EPOCH = 1767225600
REPEAT = 3
ENV = {**os.environ, "LANG": "C.UTF-8", "TZ": "UTC", "SOURCE_DATE_EPOCH": str(EPOCH), "PYTHONPATH": str(ROOT)}

CHILD = """
import json, sys, time
from pathlib import Path
from packbuilder.image.overlay import plan_overlay
base, tree, out, engine, work = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], Path(sys.argv[5])
start = time.perf_counter()
plan = plan_overlay(base, tree, int(sys.argv[6]), work=work)
if engine == "xorriso":
    from packbuilder.image.iso_xorriso import write_overlay_xorriso as write
else:
    from packbuilder.image.iso9660.append import write_overlay_append as write
write(plan, out)
elapsed = time.perf_counter() - start
with open("/proc/self/status", "rb") as fh:
    hwm = next(int(line.split()[1]) for line in fh if line.startswith(b"VmHWM:"))
print(json.dumps({"seconds": elapsed, "own_kib": hwm}))
"""


def make_base(work: Path) -> Path:
    """grub-hybrid.iso with a 2 GiB file added: a base the size of a live DVD image."""
    return padded_iso(FIXTURE, work / "base.iso", BASE_PAD, "/live/filesystem.bin", ENV)


def make_tree(root: Path) -> int:
    """~3,000 files in nested folders: 100 of 2 MiB, the rest 10-60 KiB; ~300 MiB of random bytes."""
    rng = random.Random(42)
    total = 0
    for i in range(3000):
        folder = root / f"Apps/Cat{i % 7}/App {i % 60}/sub{i % 5}"
        folder.mkdir(parents=True, exist_ok=True)
        size = 2 * MIB if i % 30 == 0 else rng.randint(10, 60) * 1024
        (folder / f"file-{i}.dat").write_bytes(rng.randbytes(size))
        total += size
    for path in sorted(root.rglob("*"), reverse=True):
        os.utime(path, (EPOCH, EPOCH))
    return total


def child(engine: str, base: Path, tree: Path, out: Path, work: Path) -> Run:
    out.unlink(missing_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    os.sync()
    argv = [sys.executable, "-c", CHILD, str(base), str(tree), str(out), engine, str(work), str(EPOCH)]
    run = run_polled(argv, ROOT, ENV, sync=False)
    run.own_kib = max(run.own_kib, json.loads(run.stdout.strip().splitlines()[-1])["own_kib"])
    return run


def reference(base: Path, tree: Path, out: Path) -> Run:
    out.unlink(missing_ok=True)
    os.sync()
    argv = ["xorriso", "-no_rc", "-indev", str(base), "-outdev", str(out), "-boot_image", "any", "replay",
            "-map", str(tree), "/PACK"]  # fmt: skip
    return run_polled(argv, ROOT, ENV, sync=False)


def run() -> bool:
    if not FIXTURE.is_file() or shutil.which("xorriso") is None:
        print(f"iso overlay: skipped: needs xorriso and {FIXTURE} (make fixtures)")
        return True
    work = Path(tempfile.mkdtemp(prefix="packbuilder-bench-iso-"))
    try:
        start = time.perf_counter()
        base = make_base(work)
        tree = work / "tree"
        total = make_tree(tree)
        print(
            f"iso overlay: base {base.stat().st_size / MIB:.0f} MiB, overlay {total / MIB:.0f} MiB in 3000 files "
            f"(set up in {time.perf_counter() - start:.1f} s)"
        )
        engines = ["xorriso", "pycdlib"]
        runs: dict[str, list[Run]] = {name: [] for name in ["reference", *engines]}
        failed: dict[str, str] = {}
        out = work / "out.iso"
        for _ in range(REPEAT):
            runs["reference"].append(reference(base, tree, out))
            for engine in engines:
                if engine in failed:
                    continue
                try:
                    runs[engine].append(child(engine, base, tree, out, work / "plan"))
                except RuntimeError as exc:
                    failed[engine] = str(exc)
        ref = min(r.seconds for r in runs["reference"])
        ref_peak = max(r.peak_mib for r in runs["reference"])
        print(f"iso overlay: hand-written xorriso: {ref:.2f} s, peak {ref_peak:.0f} MiB")
        ok = True
        for engine, limit in (("xorriso", TIME_XORRISO), ("pycdlib", TIME_PYCDLIB)):
            if engine not in engines:
                continue
            if engine in failed:
                print(f"iso overlay ({engine} engine): FAILED: {failed[engine]}")
                ok = False
                continue
            best = min(r.seconds for r in runs[engine])
            worst = max(runs[engine], key=lambda r: r.peak_mib)
            peak = worst.peak_mib
            tools = ", ".join(f"{name} {kib / 1024:.0f}" for name, kib in sorted(worst.tools_kib.items())) or "none seen"
            print(f"iso overlay ({engine} engine): peak memory: python {worst.own_kib / 1024:.0f} MiB, tools (MiB) {tools}")
            ok &= report(
                f"iso overlay ({engine} engine)", best, "s", "hand-written xorriso", ref, f"<= {limit}x", best <= limit * ref
            )
            ok &= report(
                f"iso overlay ({engine} engine) peak memory (python + largest tool, VmHWM)",
                peak,
                "MiB",
                "limit",
                MEMORY_MIB,
                f"< {MEMORY_MIB} MiB",
                peak < MEMORY_MIB,
            )
        return ok
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(0 if run() else 1)
