"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable


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
