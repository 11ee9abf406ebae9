"""Benchmarks (``make bench``): each prints its figure, the reference measured in the same
run, the ratio, and whether the target holds. Exit 1 if a target is missed.

``python3 -m bench.run update fat`` runs only the benchmarks named (bench_<name>)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    bench_fat,
    bench_fetch,
    bench_flash,
    bench_images,
    bench_iso,
    bench_offline,
    bench_resolve,
    bench_startup,
    bench_update,
    bench_usblive,
)

BENCHES = {
    "startup": bench_startup,
    "resolve": bench_resolve,
    "fetch": bench_fetch,
    "offline": bench_offline,
    "fat": bench_fat,
    "flash": bench_flash,
    "images": bench_images,
    "iso": bench_iso,
    "usblive": bench_usblive,
    "update": bench_update,
}


def main() -> int:
    names = sys.argv[1:] or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    results = [BENCHES[name].run() for name in names]
    failed = [r for r in results if not r]
    print(f"\n{len(results) - len(failed)}/{len(results)} benchmarks met their targets")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
