"""Updating one 300 MB app on a 4 GB key must write at most 1.1x that app's bytes and take at most
1.2x ``cp -r`` of the app's new folder on the same disk.

The key is a ``--format dir`` folder: a 300 MB app (version 1, 60 files, a stored zip), a small
app that does not change, and 3.4 GB of the user's documents. The update (``plan_update`` and
``update``, the cached archive given: downloads are not timed, nor the interpreter's start and
imports, printed apart) runs in a child process that reports the bytes it wrote (``write_bytes``
of /proc/self/io: what it sent towards the disk) and its time up to a ``sync`` that follows it.

The reference copies the unpacked version 2 folder with ``cp -r`` to the same file system, from
the same cold cache (synced and dropped before each side, where allowed: root). The update makes
its files durable (the staged app is synced before the journal says so, the journal is fsynced at
each step), ``cp`` does not: the target compares with ``cp -r && sync``, the time until the copy
is on the disk too; the ratio to ``cp -r`` alone, the copy still in the page cache, is printed as
well. The update also hashes the 300 MB (for the key's manifest) and deletes version 1, which
``cp`` does not have to do. Medians of REPEAT runs, sides taken in turn; the median of each run's ratio
is printed too (it follows the machine's load less), and the load average: on a busy machine the
update, which needs more processor time than ``cp`` (the hash), is slowed down more.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bench.common import report, settle

ROOT = Path(__file__).resolve().parent.parent
MB = 10**6
APP_BYTES, FILES, DOCUMENTS = 300 * MB, 60, 3400 * MB
WRITE_RATIO, TIME_RATIO = 1.1, 1.2
REPEAT = 7

CHILD = """
import time
begin = time.perf_counter()
import json, sys
from pathlib import Path
from packbuilder.plan.lock import read_lock
from packbuilder import update as u
imports = time.perf_counter() - begin
key, lock, archive, digest = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
def written():
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0
before = written()
start = time.perf_counter()
u.update(key, {digest: archive}, u.plan_update(key, read_lock(lock)))
import os; os.sync()
print(json.dumps({"seconds": time.perf_counter() - start, "written": written() - before, "imports": imports}))
"""


def make_archive(path: Path, version: int) -> tuple[str, int]:
    """A stored zip (no compression: the data is random) of ~300 MB in FILES files."""
    rng = random.Random(version)
    block = rng.randbytes(APP_BYTES // FILES)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for i in range(FILES):
            zf.writestr(f"Big/part{i:03}.bin", block[:-8] + f"{version}{i:07}".encode())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest, path.stat().st_size


def item(app: str, digest: str, size: int, version: str, launch: str) -> dict[str, object]:
    return {
        "app": app, "name": app.title(), "category": "graphics", "license": "GPL-3.0-or-later",
        "homepage": "https://example.org/", "source_code": "https://example.org/src",
        "summary": {"fr": "Appli", "en": "App"}, "version": version, "platform": "windows", "arch": "x86",
        "kind": "zip", "url": f"https://example.org/{app}-{version}.zip", "sha256": digest,
        "checksum_source": "bench", "size": size, "installed_size": APP_BYTES,
        "dest": f"Apps/Graphisme/{app.title()}", "reason": "bench", "launch": launch,
    }  # fmt: skip


def lock_doc(items: list[dict[str, object]]) -> dict[str, object]:
    return {
        "lock_version": 1,
        "pack": {"id": "bench", "name": {"fr": "Banc", "en": "Bench"}, "label": "BENCH", "locale": "fr", "overlays": []},
        "profile": {"id": "win10", "name": {"fr": "W10", "en": "W10"}, "os": "windows-10", "arch": "x86_64",
                    "ram_mb": 4096, "key_mb": 4000, "firmware": ["uefi64"]},
        "capacity_bytes": 4000 * MB,
        "items": items,
    }  # fmt: skip


def build_key(work: Path, v1: tuple[str, int], small: tuple[str, int]) -> Path:
    from packbuilder.model.lock import Lock
    from packbuilder.stage import stage

    items = [item("big", *v1, "1.0", "Big/part000.bin"), item("small", *small, "1.0", "Big/part000.bin")]
    lock = Lock.model_validate(lock_doc(items))
    key = stage(lock, {v1[0]: work / "big-1.zip", small[0]: work / "small.zip"}, work / "key", None)
    block = random.Random(9).randbytes(64 * MB)
    for i in range(DOCUMENTS // (64 * MB)):
        (key / "Documents" / f"photos-{i:03}.bin").write_bytes(block)
    return key


def run() -> bool:
    sys.path.insert(0, str(ROOT))
    work = Path(tempfile.mkdtemp(prefix="packbuilder-bench-update-"))
    try:
        v1, v2 = make_archive(work / "big-1.zip", 1), make_archive(work / "big-2.zip", 2)
        with zipfile.ZipFile(work / "small.zip", "w") as zf:
            zf.writestr("Big/part000.bin", b"small app")
        small = (hashlib.sha256((work / "small.zip").read_bytes()).hexdigest(), (work / "small.zip").stat().st_size)
        (work / "b.lock").write_text(json.dumps(lock_doc([item("big", *v2, "2.0", "Big/part000.bin"),
                                                          item("small", *small, "1.0", "Big/part000.bin")])))  # fmt: skip
        pristine = build_key(work, v1, small)
        with zipfile.ZipFile(work / "big-2.zip") as zf:
            zf.extractall(work / "unpacked")
        new_folder = work / "unpacked"
        app_bytes = sum(p.stat().st_size for p in new_folder.rglob("*") if p.is_file())
        how = ""
        ours, copies, synced, writes, imports = [], [], [], [], []
        for i in range(REPEAT):
            key = work / f"key-{i}"
            subprocess.run(["cp", "-a", "--reflink=never", str(pristine), str(key)], check=True)
            how = settle()
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            out = subprocess.run([sys.executable, "-c", CHILD, str(key), str(work / "b.lock"), str(work / "big-2.zip"), v2[0]],
                                 check=True, capture_output=True, text=True, env=env)  # fmt: skip
            result = json.loads(out.stdout)
            ours.append(result["seconds"])
            writes.append(result["written"])
            imports.append(result["imports"])
            shutil.rmtree(key)
            settle()
            start = time.perf_counter()
            subprocess.run(["cp", "-r", str(new_folder), str(work / f"copy-{i}")], check=True)
            copies.append(time.perf_counter() - start)
            os.sync()
            synced.append(time.perf_counter() - start)
            shutil.rmtree(work / f"copy-{i}")
            print(f"  run {i + 1}: update {ours[-1]:.3f} s | cp -r {copies[-1]:.3f} s, cp -r && sync {synced[-1]:.3f} s")
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"update bench: one app of {app_bytes / MB:,.0f} MB in {FILES} files on a key of "
              f"{(DOCUMENTS + 2 * app_bytes) / 1e9:.1f} GB; {how}; medians of {REPEAT}; {os.cpu_count()} cores, "
              f"load average {load}; interpreter start and imports {statistics.median(imports):.3f} s, not timed")  # fmt: skip
        write_ratio = statistics.median(writes) / app_bytes
        ok_writes = report(
            "update bytes written", statistics.median(writes) / MB, "MB", "the app's bytes", app_bytes / MB,
            f"<= {WRITE_RATIO}x", write_ratio <= WRITE_RATIO,
        )  # fmt: skip
        mine, ref, bare = statistics.median(ours), statistics.median(synced), statistics.median(copies)
        print(f"update time against cp -r alone (not synced): {mine:.3f} s / {bare:.3f} s = {mine / bare:.2f}x (for information)")
        paired = statistics.median(o / r for o, r in zip(ours, synced, strict=True))
        print(f"update time against cp -r && sync run by run (the run just after): median ratio {paired:.2f}x (for information)")
        ok_time = report(
            "update time", mine, "s", "cp -r && sync of the new folder", ref, f"<= {TIME_RATIO}x", mine <= TIME_RATIO * ref
        )
        return ok_writes and ok_time
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(0 if run() else 1)
