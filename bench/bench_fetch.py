"""Fetching a 1 GiB lock from a local HTTP server, against curl and aria2c on the same files.

Targets, all measured in the same run against the same server (127.0.0.1, plain http):

* ``packbuilder fetch LOCK --jobs 4`` (cold cache) takes no longer than ``curl`` downloading
  the 40 files one after the other followed by ``sha256sum -c`` (ratio <= 1.0), and at most
  0.6x ``aria2c -j 4`` (skipped when aria2c is missing: ``make install`` provides it);
* its peak memory stays under 100 MiB: VmHWM of that very process (/proc/PID/status, polled);
* the warm re-run (everything cached) takes under 2 s and sends no request to the server.

Each cold download runs ``ROUNDS`` times, interleaved, and the best time of each tool counts (the
medians and the median of the rounds' ratios are printed too); the previous output is removed and
dirty pages are flushed (``os.sync``, untimed) before each run so no tool pays for another's writes.
The machine may be busy with other work: wall time then says as much about the scheduler as about
the tools, so the CPU time (user + sys) of each tool and of the server is printed as well.
packbuilder runs with its modules compiled beforehand, as an installed package has them.
"""

from __future__ import annotations

import hashlib
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: `python3 bench/bench_fetch.py`

from bench.common import report, vm_hwm_kib

ROOT = Path(__file__).resolve().parent.parent
MiB = 2**20
N_FILES = 40
FILE_SIZE = 27 * MiB  # 40 x 27 MiB = 1.05 GiB
JOBS = 4
ROUNDS = 5
RATIO_CURL = 1.0
RATIO_ARIA2 = 0.6  # while hashing everything (sha256 of 1 GiB is about 0.7 s on two cores)
MAX_RSS_MIB = 100
WARM_TARGET_S = 2.0
RUN_TIMEOUT_S = 300


# -- the server ---------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """GET and HEAD of the files of one folder, with keep-alive; the body goes out by sendfile."""

    protocol_version = "HTTP/1.1"
    root: ClassVar[Path]
    requests_seen: ClassVar[int] = 0
    counter_lock: ClassVar[threading.Lock] = threading.Lock()

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, body: bool) -> None:
        with _Handler.counter_lock:
            _Handler.requests_seen += 1
        name = self.path.split("?", 1)[0].lstrip("/")
        path = self.root / name
        if "/" in name or not name or not path.is_file():
            self.send_error(404)
            return
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if body:
                try:
                    self.wfile.flush()
                    self.connection.sendfile(fh)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * MiB)
        super().server_bind()


def start_server(folder: Path) -> tuple[_Server, str]:
    handler = type("Handler", (_Handler,), {"root": folder})
    server = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def requests_seen() -> int:
    with _Handler.counter_lock:
        return _Handler.requests_seen


# -- the files and the lock ---------------------------------------------------------------------


def make_files(folder: Path) -> dict[str, str]:
    """N_FILES pseudo-random files; name -> sha256."""
    folder.mkdir()
    digests = {}
    rng = random.Random(20240613)
    for n in range(N_FILES):
        data = rng.randbytes(FILE_SIZE)
        name = f"app{n:02d}.zip"
        (folder / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    return digests


def write_lock(path: Path, base_url: str, digests: dict[str, str], size: int = FILE_SIZE) -> None:
    """A lock written with packbuilder's own model, as ``plan --lock`` would (every file ``size`` bytes)."""
    from packbuilder.model.lock import Lock
    from packbuilder.plan.lock import lock_bytes

    items = [
        {
            "app": name.removesuffix(".zip"),
            "name": name.removesuffix(".zip").title(),
            "category": "office",
            "license": "MIT",
            "homepage": "https://example.org/",
            "source_code": "https://example.org/src",
            "summary": {"fr": "x", "en": "x"},
            "version": "1.0",
            "platform": "windows",
            "arch": "x86",
            "kind": "zip",
            "url": f"{base_url}/{name}",
            "insecure": True,  # the local server is plain http
            "sha256": digest,
            "checksum_source": "bench",
            "size": size,
            "dest": f"Apps/Bureautique/{name.removesuffix('.zip')}",
            "reason": "bench",
        }
        for name, digest in digests.items()
    ]
    lock = Lock.model_validate(
        {
            "lock_version": 1,
            "pack": {"id": "bench", "name": {"fr": "b", "en": "b"}, "label": "BENCH", "locale": "fr", "overlays": []},
            "profile": {
                "id": "p",
                "name": {"fr": "p", "en": "p"},
                "os": "windows-7",
                "arch": "x86",
                "ram_mb": 1024,
                "key_mb": 4000,
                "firmware": ["bios"],
            },
            "capacity_bytes": 4_000_000_000,
            "items": items,
        }
    )
    path.write_bytes(lock_bytes(lock))


# -- running the tools --------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    peak_mib: float  # VmHWM of the command's own process
    cpu: float = 0.0  # user + sys of the command and its children
    server_cpu: float = 0.0  # user + sys of this process meanwhile: the HTTP server's threads (and the polling)


def run_command(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> Run:
    """Run ``argv``: its wall time and its peak RSS.

    The peak is VmHWM of /proc/PID/status, polled every 5 ms while the process runs: it is
    monotonic and belongs to the program after exec. (The rusage of wait4/RUSAGE_CHILDREN would
    not do: on Linux a child's ru_maxrss starts from the RSS of the forking parent, here 100+ MiB.)
    """
    with tempfile.TemporaryFile() as errors:
        children, own = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
        deadline = start + RUN_TIMEOUT_S
        peak = 0
        while proc.poll() is None:
            peak = max(peak, vm_hwm_kib(proc.pid))
            if time.perf_counter() > deadline:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.005)
        elapsed = time.perf_counter() - start
        cpu, server_cpu = _cpu(resource.RUSAGE_CHILDREN, children), _cpu(resource.RUSAGE_SELF, own)
        if proc.returncode != 0:
            errors.seek(0)
            text = errors.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{argv[0]} exited with {proc.returncode} after {elapsed:.1f} s:\n{text}")
    return Run(elapsed, peak / 1024, cpu, server_cpu)


def _cpu(who: int, before: resource.struct_rusage) -> float:
    after = resource.getrusage(who)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder


def compile_package() -> None:
    """packbuilder's modules compiled beforehand, untimed, beside their sources as Python does by default:
    an installed package has its bytecode, and a source tree under PYTHONDONTWRITEBYTECODE would
    compile ~50 modules on every run. (Not PYTHONPYCACHEPREFIX: it would hide the bytecode of the
    standard library and of every dependency.)"""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "packbuilder")], check=True,
                   stdout=subprocess.DEVNULL, timeout=RUN_TIMEOUT_S)  # fmt: skip


def print_runs(runs: dict[str, list[Run]], total: int) -> None:
    """Every run of every tool: wall time, CPU time, the server's CPU time, peak RSS."""
    for name, rs in runs.items():
        best = min(r.seconds for r in rs)
        print(
            f"  {name}: runs {', '.join(f'{r.seconds:.2f}' for r in rs)} s, best {best:.2f} s ({total / best / 1e6:,.0f} MB/s),"
            f" median {statistics.median(r.seconds for r in rs):.2f} s; CPU (user+sys) median"
            f" {statistics.median(r.cpu for r in rs):.2f} s, server {statistics.median(r.server_cpu for r in rs):.2f} s;"
            f" peak RSS {max(r.peak_mib for r in rs):.1f} MiB"
        )


def print_ratios(runs: dict[str, list[Run]], reference: str) -> None:
    """packbuilder against ``reference``: ratio of the medians, median of the rounds' own ratios
    (each round runs both under the same load), and the ratio of CPU time."""
    pb, ref = runs["packbuilder"], runs[reference]
    median = statistics.median(r.seconds for r in pb) / statistics.median(r.seconds for r in ref)
    paired = statistics.median(a.seconds / b.seconds for a, b in zip(pb, ref, strict=True))
    cpu = statistics.median(r.cpu for r in pb) / statistics.median(r.cpu for r in ref)
    print(f"  packbuilder / {reference}: medians {median:.2f}x, per round {paired:.2f}x (median), CPU time {cpu:.2f}x")


def cold_rounds(tools: dict[str, Callable[[], Run]], reset: Callable[[str], None]) -> dict[str, list[Run]]:
    """``ROUNDS`` rounds of every tool, the order turning each round (no tool always first after the
    files were made, or always last); before each run the previous output is removed and flushed."""
    runs: dict[str, list[Run]] = {name: [] for name in tools}
    names = list(tools)
    for round_no in range(ROUNDS):
        for name in names[round_no % len(names) :] + names[: round_no % len(names)]:
            reset(name)
            os.sync()
            runs[name].append(tools[name]())
    return runs


def run() -> bool:
    curl = shutil.which("curl")
    sha256sum = shutil.which("sha256sum")
    aria2c = shutil.which("aria2c")
    base = Path(tempfile.mkdtemp(prefix="packbuilder-bench-fetch-"))
    server: _Server | None = None
    try:
        files = base / "files"
        digests = make_files(files)
        total = N_FILES * FILE_SIZE
        server, url = start_server(files)
        lock = base / "bench.lock"
        write_lock(lock, url, digests)
        (base / "urls.txt").write_text("".join(f"{url}/{name}\n" for name in digests), encoding="ascii")
        (base / "SHA256SUMS").write_text("".join(f"{d}  {name}\n" for name, d in digests.items()), encoding="ascii")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        compile_package()
        pb_argv = [sys.executable, "-m", "packbuilder", "--quiet", "fetch", str(lock), "--jobs", str(JOBS)]
        out = base / "out"
        cache = base / "cache"

        def packbuilder() -> Run:
            before = requests_seen()
            got = run_command(pb_argv, base, dict(env, PACKBUILDER_CACHE=str(cache)))
            if requests_seen() - before not in (0, N_FILES):
                print(f"  note: packbuilder sent {requests_seen() - before} requests for {N_FILES} files")
            return got

        def curl_and_check() -> Run:
            assert curl and sha256sum
            urls = [f"{url}/{name}" for name in digests]
            got = run_command([curl, "-sS", "--fail", "--remote-name-all", "--output-dir", str(out), *urls], base)
            check = run_command([sha256sum, "-c", "--quiet", str(base / "SHA256SUMS")], out)
            return Run(got.seconds + check.seconds, max(got.peak_mib, check.peak_mib), got.cpu + check.cpu,
                       got.server_cpu + check.server_cpu)  # fmt: skip

        def aria2() -> Run:
            assert aria2c
            argv = [aria2c, "-i", str(base / "urls.txt"), "-d", str(out), "-j", str(JOBS), "-x1"]
            return run_command([*argv, "--allow-overwrite=true", "--file-allocation=none", "--quiet=true"], base)

        def reset(name: str) -> None:
            fresh(out)
            if name == "packbuilder":  # the cache of its last cold run stays for the warm re-runs
                shutil.rmtree(cache, ignore_errors=True)

        tools: dict[str, Callable[[], Run]] = {}
        if curl and sha256sum:
            tools["curl"] = curl_and_check
        if aria2c:
            tools["aria2c"] = aria2
        tools["packbuilder"] = packbuilder
        print(f"  load before: {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} CPUs")
        runs = cold_rounds(tools, reset)
        if not all((cache / "sha256" / d[:2] / d).is_file() for d in digests.values()):
            raise RuntimeError("packbuilder fetch left files missing from the cache")
        print(f"  load after: {os.getloadavg()[0]:.2f} (1 min)")

        # Warm re-runs on the cache of the last cold run: no request at all.
        os.sync()
        before = requests_seen()
        warm = [run_command(pb_argv, base, dict(env, PACKBUILDER_CACHE=str(cache))) for _ in range(3)]
        warm_requests = requests_seen() - before
        version = run_command([sys.executable, "-m", "packbuilder", "--version"], base, env)
        print_runs(runs, total)
        for reference in ("curl", "aria2c"):
            if reference in runs:
                print_ratios(runs, reference)
        return verdicts(runs, warm, warm_requests, version, total)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        shutil.rmtree(base, ignore_errors=True)


def verdicts(runs: dict[str, list[Run]], warm: list[Run], warm_requests: int, version: Run, total: int) -> bool:
    best = {name: min(r.seconds for r in rs) for name, rs in runs.items()}
    pb = best["packbuilder"]
    pb_rss = max(r.peak_mib for r in runs["packbuilder"] + warm)
    label = f"packbuilder fetch {N_FILES} x {FILE_SIZE // MiB} MiB ({total / 2**30:.2f} GiB) --jobs {JOBS}"
    results = []
    if "curl" in best:
        ok = pb <= RATIO_CURL * best["curl"]
        results.append(report(label, pb, "s", "curl sequential + sha256sum -c", best["curl"], f"<= {RATIO_CURL}x", ok))
    else:
        print("curl or sha256sum not installed: the comparison with curl was skipped")
    if "aria2c" in best:
        ok = pb <= RATIO_ARIA2 * best["aria2c"]
        results.append(report(label, pb, "s", f"aria2c -j {JOBS} -x1", best["aria2c"], f"<= {RATIO_ARIA2}x", ok))
    else:
        print("aria2c not installed: the comparison with aria2c was skipped (`make install` provides it)")
    ok = pb_rss < MAX_RSS_MIB
    results.append(report("packbuilder fetch peak RSS (VmHWM)", pb_rss, "MiB", "packbuilder --version", version.peak_mib,
                          f"< {MAX_RSS_MIB} MiB", ok))  # fmt: skip
    warm_s = statistics.median(r.seconds for r in warm)
    print(f"  warm re-runs: {', '.join(f'{r.seconds:.2f}' for r in warm)} s, {warm_requests} request(s) to the server")
    ok = warm_s < WARM_TARGET_S and warm_requests == 0
    results.append(report("packbuilder fetch, warm re-run (median of 3)", warm_s, "s", "packbuilder --version",
                          version.seconds, f"< {WARM_TARGET_S} s and 0 requests", ok))  # fmt: skip
    return all(results)


if __name__ == "__main__":
    sys.exit(0 if run() else 1)
