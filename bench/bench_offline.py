"""A workshop without internet: building a 40-file pack from a folder of hand-named downloads
(a USB stick), with every upstream URL unreachable, against the same build from a warm cache.

Three builds of the same lock (``build --format dir``), each into a new folder:

* warm cache: every file already in the cache (a build hashes each of them again anyway);
* folder mirror, first time: an empty cache, ``--mirror STICK``; the folder is walked, the files
  whose size matches an artifact are hashed (the index), then copied into the cache with their
  hash checked;
* folder mirror, index remembered: an empty cache again but the index of the first run kept, so
  the folder is only walked.

Upstream is ``https://downloads.nothing.invalid`` (the reserved TLD never resolves): a build that
tried it would fail, so a success proves it was not needed. Target: the first-time folder build
takes at most ``RATIO_TARGET`` times the warm-cache build.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: `python3 bench/bench_offline.py`

from bench.bench_fetch import run_command, write_lock
from bench.common import report

ROOT = Path(__file__).resolve().parent.parent
MiB = 2**20
N_FILES = 40
MEMBER_SIZE = 6 * MiB  # 40 zips of 6 MiB: 240 MiB, unpacked as much
ROUNDS = 5
RATIO_TARGET = 2.5
UPSTREAM = "https://downloads.nothing.invalid"


def make_stick(folder: Path) -> tuple[dict[str, str], int]:
    """N_FILES zip archives under the names a person would give them; name in the lock -> sha256."""
    rng = random.Random(20261130)
    digests, size = {}, 0
    for n in range(N_FILES):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            info = zipfile.ZipInfo(f"App{n:02d}/app{n:02d}.exe", date_time=(2026, 1, 1, 0, 0, 0))
            zf.writestr(info, rng.randbytes(MEMBER_SIZE))
        data = buf.getvalue()
        sub = folder / ("Téléchargements" if n % 2 else "vieux PC")
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"logiciel {n} (copie).zip").write_bytes(data)
        digests[f"app{n:02d}.zip"] = hashlib.sha256(data).hexdigest()
        size = len(data)  # every archive has the same layout, hence the same size
    (folder / "notes de l'atelier.txt").write_text("à installer\n", encoding="utf-8")
    return digests, size


def run() -> bool:
    base = Path(tempfile.mkdtemp(prefix="packbuilder-bench-offline-"))
    try:
        stick = base / "stick"
        digests, size = make_stick(stick)
        lock = base / "pack.lock"
        write_lock(lock, UPSTREAM, digests, size)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        env.pop("PACKBUILDER_CATALOG", None)

        def build(cache: Path, *extra: str) -> float:
            out = base / "key"
            shutil.rmtree(out, ignore_errors=True)
            os.sync()
            argv = [sys.executable, "-m", "packbuilder", "--quiet", "build", str(lock), "--format", "dir", "-o", str(out)]
            return run_command([*argv, *extra], base, dict(env, PACKBUILDER_CACHE=str(cache))).seconds

        warm_cache = base / "warm"
        build(warm_cache, "--mirror", str(stick))  # fills it
        warm, first, remembered = [], [], []
        for _ in range(ROUNDS):
            warm.append(build(warm_cache))
            cold = base / "cold"
            shutil.rmtree(cold, ignore_errors=True)
            first.append(build(cold, "--mirror", str(stick)))
            kept = base / "kept"
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(cold / "mirrors", kept / "mirrors")
            remembered.append(build(kept, "--mirror", str(stick)))
        total = N_FILES * size
        for name, runs in (("warm cache", warm), ("folder, first time", first), ("folder, index remembered", remembered)):
            print(f"  {name}: runs {', '.join(f'{t:.2f}' for t in runs)} s, best {min(runs):.2f} s")
        label = f"build {N_FILES} files ({total / 2**20:.0f} MiB) from a hand-named folder, upstream unreachable"
        ok = min(first) <= RATIO_TARGET * min(warm)
        ok = report(label, min(first), "s", "warm cache", min(warm), f"<= {RATIO_TARGET}x", ok)
        report("  the same, folder index remembered", min(remembered), "s", "warm cache", min(warm), "(figure)", True)
        return ok
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(0 if run() else 1)
