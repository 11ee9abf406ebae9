"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """Best wall time of ``repeat`` runs (the least disturbed by the rest of the machine)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def median_of_command(argv: list[str], repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(name: str, value: float, unit: str, reference_name: str, reference: float, target: str, ok: bool) -> bool:
    ratio = value / reference if reference else float("inf")
    status = "OK" if ok else "MISSED"
    print(
        f"{name}: {value:.3f} {unit} | {reference_name}: {reference:.3f} {unit} | ratio {ratio:.2f}x | target {target}: {status}"
    )
    return ok


def settle() -> str:
    """Flush dirty pages; drop the page cache where allowed. Says what was done."""
    os.sync()
    if os.geteuid() == 0:
        try:
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
            return "sync + drop_caches before each run"
        except OSError:
            pass
    return "sync before each run (page cache not dropped: not root)"


def vm_hwm_kib(pid: int) -> int:
    """A process's peak resident set so far, from /proc (0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def padded_iso(fixture: Path, out: Path, pad_bytes: int, iso_path: str, env: dict[str, str]) -> Path:
    """``fixture`` with ``pad_bytes`` of pseudo-random data added at ``iso_path`` (boot records replayed):
    a base the size of a real live image, made from a small bootable one."""
    import random

    filler = out.with_name(out.name + ".filler")
    rng = random.Random(1)
    chunk = 16 * 2**20
    with filler.open("wb") as f:
        for done in range(0, pad_bytes, chunk):
            f.write(rng.randbytes(min(chunk, pad_bytes - done)))
    cmd = ["xorriso", "-no_rc", "-indev", str(fixture), "-outdev", str(out), "-boot_image", "any", "replay",
           "-map", str(filler), iso_path]  # fmt: skip
    try:
        subprocess.run(cmd, check=True, capture_output=True, env=env)
    finally:
        filler.unlink()
    return out


POLL_S = 0.005


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (the kernel here may lack /proc/PID/task/TID/children)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        if int(stat[stat.rindex(b")") + 2 :].split()[1]) == pid:
            found.append(int(name))
    return found


@dataclass
class Run:
    seconds: float  # the command and the sync after it
    own_kib: int = 0  # VmHWM of the command's process
    tools_kib: dict[str, int] = field(default_factory=dict)  # largest VmHWM seen per tool it ran
    stdout: str = ""

    @property
    def peak_mib(self) -> float:
        return (self.own_kib + max(self.tools_kib.values(), default=0)) / 1024


def run_polled(argv: list[str], cwd: Path, env: dict[str, str], sync: bool) -> Run:
    """Run ``argv`` (then ``sync`` if asked): the wall time, and the peaks of the process and of its
    children polled every 5 ms in /proc (VmHWM). The rusage of wait4 would not do: on Linux a child's
    ``ru_maxrss`` starts from the resident size of the process that forked it."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=errors)
        own = 0
        tools: dict[str, int] = {}
        mine = Path(f"/proc/{proc.pid}/comm").read_text().strip() if proc.poll() is None else ""
        while proc.poll() is None:
            own = max(own, vm_hwm_kib(proc.pid))
            for pid in _children(proc.pid):
                try:
                    name = Path(f"/proc/{pid}/comm").read_text().strip()
                except OSError:
                    continue
                if name != mine:  # not yet exec'd: still the parent's memory
                    tools[name] = max(tools.get(name, 0), vm_hwm_kib(pid))
            time.sleep(POLL_S)
        if sync:
            os.sync()
        elapsed = time.perf_counter() - start
        out.seek(0)
        errors.seek(0)
        if proc.returncode != 0:
            text = errors.read().decode(errors="replace").strip()
            raise RuntimeError(text.splitlines()[-1] if text else f"{argv[0]} exited with {proc.returncode}")
        return Run(elapsed, own, tools, out.read().decode())
