"""An ISO overlay of ~300 MiB in ~3,000 files onto a ~2 GiB base: the xorriso engine must take at most
1.1x the equivalent hand-written ``xorriso -indev BASE -outdev OUT -boot_image any replay -map TREE
/PACK``, the pycdlib engine (when present) at most 1.5x, each under 200 MiB of peak memory.

The base is grub-hybrid.iso (build/fixtures, `make fixtures`) padded with a 2 GiB file by xorriso,
made once per run in a temporary folder. Each engine runs in a child Python process (plan + write,
start-up included) that reports its resident peak plus that of the tools it ran (xorriso), added up
as an upper bound. Each run starts after ``sync`` with no output left; best of three, interleaved.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import padded_iso, report

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "build" / "fixtures" / "grub-hybrid.iso"
MIB = 1 << 20
BASE_PAD = 2 * 1024 * MIB
TIME_XORRISO, TIME_PYCDLIB, MEMORY_MIB = 1.1, 1.5, 200
EPOCH = 1767225600
REPEAT = 3
ENV = {**os.environ, "LANG": "C.UTF-8", "TZ": "UTC", "SOURCE_DATE_EPOCH": str(EPOCH), "PYTHONPATH": str(ROOT)}

CHILD = """
import json, resource, sys, time
from pathlib import Path
from packbuilder.image.iso import plan_overlay
base, tree, out, engine, work = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], Path(sys.argv[5])
start = time.perf_counter()
plan = plan_overlay(base, tree, int(sys.argv[6]), work=work)
if engine == "xorriso":
    from packbuilder.image.iso_xorriso import write_overlay_xorriso as write
else:
    from packbuilder.image.iso9660.append import write_overlay_append as write
write(plan, out)
elapsed = time.perf_counter() - start
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tools = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": elapsed, "peak_kib": own + tools, "own_kib": own, "tools_kib": tools}))
"""

REFERENCE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
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


def timed(fn: Callable[[], dict[str, float]]) -> dict[str, float]:
    os.sync()
    return fn()


def child(engine: str, base: Path, tree: Path, out: Path, work: Path) -> dict[str, float]:
    out.unlink(missing_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(base), str(tree), str(out), engine, str(work), str(EPOCH)],
        capture_output=True,
        text=True,
        env=ENV,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def reference(base: Path, tree: Path, out: Path) -> dict[str, float]:
    out.unlink(missing_ok=True)
    argv = [
        "xorriso",
        "-no_rc",
        "-indev",
        str(base),
        "-outdev",
        str(out),
        "-boot_image",
        "any",
        "replay",
        "-map",
        str(tree),
        "/PACK",
    ]
    proc = subprocess.run([sys.executable, "-c", REFERENCE, *argv], capture_output=True, text=True, env=ENV, check=True)
    result: dict[str, float] = json.loads(proc.stdout.strip())
    return result


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
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in ["reference", *engines]}
        failed: dict[str, str] = {}
        out = work / "out.iso"
        for _ in range(REPEAT):
            runs["reference"].append(timed(lambda: reference(base, tree, out)))
            for engine in engines:
                if engine in failed:
                    continue
                try:
                    runs[engine].append(timed(lambda e=engine: child(e, base, tree, out, work / "plan")))  # type: ignore[misc]
                except RuntimeError as exc:
                    failed[engine] = str(exc)
        ref = min(r["seconds"] for r in runs["reference"])
        ref_peak = max(r["peak_kib"] for r in runs["reference"]) / 1024
        print(f"iso overlay: hand-written xorriso: {ref:.2f} s, peak {ref_peak:.0f} MiB")
        ok = True
        for engine, limit in (("xorriso", TIME_XORRISO), ("pycdlib", TIME_PYCDLIB)):
            if engine not in engines:
                continue
            if engine in failed:
                print(f"iso overlay ({engine} engine): FAILED: {failed[engine]}")
                ok = False
                continue
            best = min(r["seconds"] for r in runs[engine])
            peak = max(r["peak_kib"] for r in runs[engine]) / 1024
            ok &= report(
                f"iso overlay ({engine} engine)", best, "s", "hand-written xorriso", ref, f"<= {limit}x", best <= limit * ref
            )
            ok &= report(
                f"iso overlay ({engine} engine) peak memory",
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
