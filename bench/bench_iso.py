"""An ISO overlay of ~300 MiB in ~3,000 files onto a ~2 GiB base: the xorriso engine must take at most
1.05x the equivalent hand-written ``xorriso -indev BASE -outdev OUT -boot_image any replay -map TREE
/PACK``, the appending engine (``--iso-engine pycdlib``) at most 1.5x, each under 64 MiB of peak memory.

Like with like: the hand-written command's ISO is byte-identical to the xorriso engine's (checked once
per run, untimed: the tree is staged as a build stages it, times at the epoch), and both are on the disk
when they return: the command by xorriso's own fsync every 16 MiB, the engine by telling xorriso not to
sync (``-stdio_sync off``), sending the pages to the disk as the file grows and syncing it once at the
end (``fsutil.on_disk_as_written``). The ratio is also printed against the hand-written command with a
single fsync at the end (``-stdio_sync end``).

The base is grub-hybrid.iso (build/fixtures, `make fixtures`) padded with a 2 GiB file by xorriso,
made once per run in a temporary folder. Each engine runs in a child Python process (plan + write,
start-up included). Peak memory is VmHWM, polled in /proc every 5 ms (bench.common.run_polled): the
child's (also read by the child itself at the end) plus the largest of the tools it runs (xorriso), an
upper bound; the reference is xorriso's own. (``RUSAGE_CHILDREN`` would not do for memory: a child's
``ru_maxrss`` starts from the resident size of the process that forked it; it does for CPU time, printed
beside the wall time: on a loaded machine it moves less.) Each run starts after ``sync`` with no output
left; five rounds, interleaved; the target is checked on the best times, the medians are printed too.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import Run, padded_iso, report, run_polled

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "build" / "fixtures" / "grub-hybrid.iso"
MIB = 1 << 20
BASE_PAD = 2 * 1024 * MIB
TIME_XORRISO, TIME_PYCDLIB, MEMORY_MIB = 1.05, 1.5, 64
EPOCH = 1767225600
REPEAT = 5
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
    for path in [*sorted(root.rglob("*"), reverse=True), root]:  # as stage.normalise_times leaves a key
        os.utime(path, (EPOCH, EPOCH))
    return total


def cpu_seconds() -> float:
    """User + system time of the children waited for so far (a child's own children included)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Timed:
    run: Run
    cpu: float


def child(engine: str, base: Path, tree: Path, out: Path, work: Path) -> Timed:
    out.unlink(missing_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    os.sync()
    argv = [sys.executable, "-c", CHILD, str(base), str(tree), str(out), engine, str(work), str(EPOCH)]
    cpu = cpu_seconds()
    run = run_polled(argv, ROOT, ENV, sync=False)
    run.own_kib = max(run.own_kib, json.loads(run.stdout.strip().splitlines()[-1])["own_kib"])
    return Timed(run, cpu_seconds() - cpu)


def reference(base: Path, tree: Path, out: Path, *options: str) -> Timed:
    out.unlink(missing_ok=True)
    os.sync()
    argv = ["xorriso", "-no_rc", "-indev", str(base), "-outdev", str(out), *options, "-boot_image", "any", "replay",
            "-map", str(tree), "/PACK"]  # fmt: skip
    cpu = cpu_seconds()
    run = run_polled(argv, ROOT, ENV, sync=False)
    return Timed(run, cpu_seconds() - cpu)


def digest(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


REFERENCES = {"reference": (), "reference-end": ("-stdio_sync", "end")}


def measure(base: Path, tree: Path, work: Path, engines: list[str]) -> tuple[dict[str, list[Timed]], dict[str, str], bool]:
    """REPEAT interleaved rounds of the references and the engines; whether the hand-written ISO and
    the xorriso engine's are byte-identical (compared in the first round)."""
    runs: dict[str, list[Timed]] = {name: [] for name in [*REFERENCES, *engines]}
    failed: dict[str, str] = {}
    out = work / "out.iso"
    identical = False
    for round_ in range(REPEAT):
        for name, options in REFERENCES.items():
            runs[name].append(reference(base, tree, out, *options))
        if round_ == 0:
            out.rename(work / "reference.iso")
        for engine in engines:
            if engine in failed:
                continue
            try:
                runs[engine].append(child(engine, base, tree, out, work / "plan"))
            except RuntimeError as exc:
                failed[engine] = str(exc)
            if round_ == 0 and engine == "xorriso" and out.is_file():
                identical = digest(out) == digest(work / "reference.iso")
                (work / "reference.iso").unlink()
    return runs, failed, identical


def summary(name: str, runs: list[Timed]) -> tuple[float, float]:
    """Print best and median wall and CPU time; return (best, median) wall time."""
    walls = [t.run.seconds for t in runs]
    best, median = min(walls), statistics.median(walls)
    cpu = statistics.median(t.cpu for t in runs)
    print(f"iso overlay: {name}: best {best:.2f} s, median {median:.2f} s of {len(walls)}; CPU median {cpu:.2f} s")
    return best, median


def run(engines: tuple[str, ...] = ("xorriso", "pycdlib")) -> bool:
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
            f"(set up in {time.perf_counter() - start:.1f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )
        runs, failed, identical = measure(base, tree, work, list(engines))
        return judge(runs, failed, identical, engines)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def judge(runs: dict[str, list[Timed]], failed: dict[str, str], identical: bool, engines: tuple[str, ...]) -> bool:
    ref, ref_median = summary("hand-written xorriso", runs["reference"])
    same, same_median = summary("hand-written xorriso -stdio_sync end", runs["reference-end"])
    ref_peak = max(t.run.peak_mib for t in runs["reference"])
    print(f"iso overlay: hand-written xorriso: peak {ref_peak:.0f} MiB")
    ok = True
    for engine, limit in (("xorriso", TIME_XORRISO), ("pycdlib", TIME_PYCDLIB)):
        if engine not in engines:
            continue
        if engine in failed:
            print(f"iso overlay ({engine} engine): FAILED: {failed[engine]}")
            ok = False
            continue
        best, median = summary(f"{engine} engine", runs[engine])
        if engine == "xorriso":
            print(f"iso overlay (xorriso engine): the hand-written command's ISO, byte for byte: {'yes' if identical else 'NO'}")
            print(f"iso overlay (xorriso engine): ratio of medians {median / ref_median:.2f}x; against the hand-written "
                  f"command with -stdio_sync end: best {best / same:.2f}x, medians {median / same_median:.2f}x")  # fmt: skip
            ok &= identical
        worst = max(runs[engine], key=lambda t: t.run.peak_mib).run
        tools = ", ".join(f"{name} {kib / 1024:.0f}" for name, kib in sorted(worst.tools_kib.items())) or "none seen"
        print(f"iso overlay ({engine} engine): peak memory: python {worst.own_kib / 1024:.0f} MiB, tools (MiB) {tools}")
        ok &= report(
            f"iso overlay ({engine} engine)", best, "s", "hand-written xorriso", ref, f"<= {limit}x", best <= limit * ref
        )
        ok &= report(
            f"iso overlay ({engine} engine) peak memory (python + largest tool, VmHWM)",
            worst.peak_mib, "MiB", "limit", MEMORY_MIB, f"< {MEMORY_MIB} MiB", worst.peak_mib < MEMORY_MIB,
        )  # fmt: skip
    return ok


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(0 if run(tuple(sys.argv[1:]) or ("xorriso", "pycdlib")) else 1)
