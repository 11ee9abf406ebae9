"""Benchmarks (``make bench``): each prints its figure, the reference measured in the same
run, the ratio, and whether the target holds. Exit 1 if a target is missed."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    bench_fat,
    bench_fetch,
    bench_flash,
    bench_iso,
    bench_offline,
    bench_resolve,
    bench_startup,
    bench_update,
    bench_usblive,
)


def main() -> int:
    results = [
        bench_startup.run(),
        bench_resolve.run(),
        bench_fetch.run(),
        bench_offline.run(),
        bench_fat.run(),
        bench_flash.run(),
        bench_iso.run(),
        bench_usblive.run(),
        bench_update.run(),
    ]
    failed = [r for r in results if not r]
    print(f"\n{len(results) - len(failed)}/{len(results)} benchmarks met their targets")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
