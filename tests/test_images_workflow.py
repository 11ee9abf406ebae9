"""The image farm: ``catalog matrix``, the make targets and .github/workflows/images.yml.

The matrix is checked against the manifests read here with plain YAML; the workflow's own shell
steps are run as written (matrix job, lock step) and their results matched with the workflow's
expressions; and the whole local path, ``make images`` then ``make publish`` with torrents, runs
on a small catalog whose downloads come from a local HTTPS server, ending with aria2 fetching the
built image from its torrent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import factories
from tests.conftest import ROOT, run_cli
from tests.httpserver import LocalServer
from tests.test_torrent import aria2

pytestmark = pytest.mark.slow

WORKFLOW = ROOT / ".github" / "workflows" / "images.yml"


def workflow() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return doc


def steps(job: str) -> list[dict[str, Any]]:
    return list(workflow()["jobs"][job]["steps"])


def step(job: str, name: str) -> dict[str, Any]:
    return next(s for s in steps(job) if s.get("name") == name or s.get("id") == name)


def make_env(**extra: str) -> dict[str, str]:
    """make as CI runs it, with this checkout's packbuilder and catalog."""
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT), "PACKBUILDER_CATALOG": str(ROOT / "manifests")}
    env.pop("MAKEFLAGS", None)
    env.update(extra)
    return env


def run_step(script: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(ROOT / "Makefile", cwd / "Makefile")
    return subprocess.run(
        ["bash", "-e", "-c", script], cwd=cwd, env=make_env(**extra), capture_output=True, text=True, timeout=300, check=False
    )


def matrix_json(*args: str) -> list[dict[str, str]]:
    result = run_cli("catalog", "matrix", "--json", *args)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert list(doc) == ["include"]
    jobs: list[dict[str, str]] = doc["include"]
    return jobs


def test_matrix_is_every_pack_on_each_of_its_profiles() -> None:
    profiles = sorted(p.stem for p in (ROOT / "manifests" / "profiles").glob("*.yaml"))
    expected = set()
    bases = {p.stem: yaml.safe_load(p.read_text(encoding="utf-8")) for p in (ROOT / "manifests" / "bases").glob("*.yaml")}
    for path in (ROOT / "manifests" / "packs").glob("*.yaml"):
        pack = yaml.safe_load(path.read_text(encoding="utf-8"))
        base = bases.get(pack.get("base") or "")
        for profile_id in pack.get("profiles") or profiles:
            profile = yaml.safe_load((ROOT / "manifests" / "profiles" / f"{profile_id}.yaml").read_text(encoding="utf-8"))
            arches = {base["arch"], "x86_64"} if base and base["arch"] == "x86" else {base["arch"]} if base else set()
            arch_ok = profile["arch"] in arches
            live = arch_ok and bool(set(base["firmware"]) & set(profile["firmware"]))
            if not (live and profile["os"] == "linux"):
                expected.add((pack["id"], profile_id, "usb", f"{pack['id']}-{profile_id}.img"))
            if live:
                expected.add((pack["id"], profile_id, "iso", f"{pack['id']}-{profile_id}-live.iso"))
    jobs = matrix_json()
    assert any(j[2] == "iso" for j in expected)  # the shipped vieux-pc pack has a live base
    assert {(j["pack"], j["profile"], j["format"], j["output"]) for j in jobs} == expected
    assert len(jobs) == len(expected) and [j["name"] for j in jobs] == sorted(j["name"] for j in jobs)
    usb = [j for j in jobs if j["pack"] == "vieux-pc" and j["format"] == "usb"]
    assert matrix_json("--pack", "vieux-pc", "--format", "usb") == usb


def test_matrix_adds_live_isos_where_the_base_starts(mini: Path) -> None:
    base = yaml.safe_load((ROOT / "manifests" / "bases" / "debian-live-12-i386.yaml").read_text(encoding="utf-8"))
    (mini / "bases").mkdir()
    (mini / "bases" / "live-i386.yaml").write_text(yaml.safe_dump({**base, "id": "live-i386"}), encoding="utf-8")
    win7 = yaml.safe_load((mini / "profiles" / "win7-32.yaml").read_text(encoding="utf-8"))
    pcs = (("pc64-bios", "x86_64", ["bios"]), ("pc64-uefi", "x86_64", ["uefi64"]), ("arm", "arm64", ["uefi64"]))
    for pid, arch, firmware in pcs:
        profile = {**win7, "id": pid, "arch": arch, "firmware": firmware, "cpu": []}
        (mini / "profiles" / f"{pid}.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    pack = yaml.safe_load((mini / "packs" / "office.yaml").read_text(encoding="utf-8"))
    pack.pop("profiles")  # every profile of the catalog
    (mini / "packs" / "office.yaml").write_text(yaml.safe_dump({**pack, "base": "live-i386"}), encoding="utf-8")
    result = run_cli("--catalog", str(mini), "catalog", "matrix", "--json")
    assert result.returncode == 0, result.stderr
    jobs = {(j["profile"], j["format"]): j for j in json.loads(result.stdout)["include"]}
    # An i386 BIOS live system starts on x86 and x86_64 BIOS PCs, not on UEFI-only or ARM ones.
    assert sorted(jobs) == sorted(
        [(p, "usb") for p in ("arm", "pc64-bios", "pc64-uefi", "win7-32")] + [("pc64-bios", "iso"), ("win7-32", "iso")]
    )
    assert jobs[("win7-32", "iso")]["output"] == "office-win7-32-live.iso" and jobs[("win7-32", "iso")]["base"] == "live-i386"
    bad = run_cli("--catalog", str(mini), "catalog", "matrix", "--format", "dvd")
    assert bad.returncode == 2 and "unknown image format 'dvd'" in bad.stderr


def make_targets() -> set[str]:
    db = subprocess.run(["make", "-pRrq", "-f", str(ROOT / "Makefile"), ":"], capture_output=True, text=True, timeout=60)
    return {m.group(1) for m in re.finditer(r"^([A-Za-z][\w-]*):(?:[^=]|$)", db.stdout, re.M)}


def test_workflow_steps_are_make_targets() -> None:
    doc = workflow()
    assert set(doc["jobs"]) == {"matrix", "build", "publish"}
    assert doc["jobs"]["build"]["needs"] == "matrix" and doc["jobs"]["publish"]["needs"] == "build"
    assert doc["jobs"]["build"]["strategy"]["matrix"] == "${{ fromJSON(needs.matrix.outputs.matrix) }}"
    runs = [s["run"] for job in doc["jobs"].values() for s in job["steps"] if "run" in s]
    called = {m.group(1) for run in runs for m in re.finditer(r"\bmake ([a-z][\w-]*)", run)}
    assert called == {"matrix", "install-build-tools", "lock", "image", "bundle", "unbundle", "publish", "release"}
    assert called <= make_targets()
    assert "images" in make_targets()


def test_workflow_matrix_job_gives_the_catalog_matrix(tmp_path: Path) -> None:
    out = tmp_path / "github-output"
    result = run_step(step("matrix", "matrix")["run"], tmp_path, GITHUB_OUTPUT=str(out))
    assert result.returncode == 0, result.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and lines[0].startswith("matrix=")
    assert json.loads(lines[0].removeprefix("matrix="))["include"] == matrix_json()


def expand(template: str, job: dict[str, str]) -> str:
    """The workflow's ${{ matrix.X }} and format('...{0}-{1}...', matrix.A, matrix.B), for one job."""
    template = re.sub(r"\$\{\{ matrix\.(\w+) \}\}", lambda m: job[m.group(1)], template)

    def fmt(m: re.Match[str]) -> str:
        return m.group(1).format(*(job[a] for a in re.findall(r"matrix\.(\w+)", m.group(2))))

    return re.sub(r"format\('([^']*)', ([^)]*)\)", fmt, template)


def test_build_job_caches_by_the_lock_it_writes_and_uploads_the_image(tmp_path: Path) -> None:
    job = matrix_json()[0]
    lock_step = expand(step("build", "Resolve the lock")["run"], job)
    result = run_step(lock_step, tmp_path)  # plan: no download, no network
    assert result.returncode == 0, result.stderr
    cache = next(s for s in steps("build") if s.get("uses", "").startswith("actions/cache@"))
    hashed = re.fullmatch(r"downloads-\$\{\{ hashFiles\((.*)\) \}\}", cache["with"]["key"])
    assert hashed and cache["with"]["restore-keys"] == "downloads-"
    default_cache = subprocess.run(
        [sys.executable, "-c", "from packbuilder.fetch.cache import default_cache_dir; print(default_cache_dir())"],
        env={k: v for k, v in make_env().items() if k not in ("PACKBUILDER_CACHE", "XDG_CACHE_HOME")},
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(cache["with"]["path"]).expanduser() == Path(default_cache)
    lock = tmp_path / expand(hashed.group(1), job)
    assert json.loads(lock.read_text(encoding="utf-8"))["pack"]["id"] == job["pack"]
    build_step = expand(step("build", "Build the image")["run"], job)
    built = run_step(build_step.replace("make image", "make -n image", 1), tmp_path).stdout
    bundle_step = expand(step("build", "Bundle the image (sparse tar)")["run"], job)
    bundled = run_step(bundle_step.replace("make bundle", "make -n bundle", 1), tmp_path).stdout
    upload = next(s for s in steps("build") if s.get("uses", "").startswith("actions/upload-artifact@"))
    # build writes build/images/OUTPUT, bundle tars that very file into the path the job uploads.
    assert f"--format {job['format']} -o build/images/{job['output']}" in built
    assert f"tar -C build/images --sparse -cf {expand(upload['with']['path'], job)} {job['output']}" in bundled
    download = next(s for s in steps("publish") if s.get("uses", "").startswith("actions/download-artifact@"))
    assert download["with"] == {"pattern": "image-*", "path": "build/transfer", "merge-multiple": True}


def test_publish_job_signs_only_with_a_key(tmp_path: Path) -> None:
    script = step("publish", "Publish (signed when the PACKBUILDER_SIGNING_KEY secret is set)")["run"]
    dry = script.replace("make publish", "make -n publish")
    unsigned = run_step(dry, tmp_path, SIGNING_KEY="", BASE_URL="https://a.example.org/", TRACKERS="", RUNNER_TEMP=str(tmp_path))
    signed = run_step(dry, tmp_path, SIGNING_KEY="-----BEGIN PGP", BASE_URL="", TRACKERS="", RUNNER_TEMP=str(tmp_path))
    assert unsigned.returncode == signed.returncode == 0, unsigned.stderr + signed.stderr
    assert "--base-url https://a.example.org/" in unsigned.stdout and "--sign" not in unsigned.stdout
    assert f"--sign {tmp_path}/signing-key.asc" in signed.stdout and "--base-url" not in signed.stdout
    assert not (tmp_path / "signing-key.asc").exists()  # removed after use


def served_catalog(mini: Path, server: LocalServer) -> None:
    """The mini catalog with every artifact made here, served by ``server``, and a 64 MB key."""
    for path in sorted((mini / "apps").glob("*.yaml")):
        app = yaml.safe_load(path.read_text(encoding="utf-8"))
        for r, release in enumerate(app["releases"]):
            for a, artifact in enumerate(release["artifacts"]):
                name = f"{app['id']}-{r}-{a}.zip"
                data = factories.zip_bytes({f"{app['name']}/{app['id']}.exe": b"MZ" + os.urandom(30000)})
                artifact.update(url=server.url(f"ok/{name}"), sha256=server.files.add(name, data), size=len(data))
        path.write_text(yaml.safe_dump(app, allow_unicode=True), encoding="utf-8")
    profile_path = mini / "profiles" / "win7-32.yaml"
    profile = yaml.safe_load(profile_path.read_text(encoding="utf-8"))
    profile_path.write_text(yaml.safe_dump({**profile, "key_mb": 64}), encoding="utf-8")


def test_make_images_then_publish_then_download_by_torrent(mini: Path, tmp_path: Path) -> None:
    server = LocalServer(tmp_path)
    try:
        served_catalog(mini, server)
        env = {
            "PACKBUILDER": f"{sys.executable} -m packbuilder --catalog {mini}",
            "PACKBUILDER_CACHE": str(tmp_path / "cache"),
            "REQUESTS_CA_BUNDLE": str(server.cert),
        }
        built = run_step("make images", tmp_path, **env)
        assert built.returncode == 0, built.stdout + built.stderr
        image = tmp_path / "build" / "images" / "office-win7-32.img"
        assert image.stat().st_size <= 64_000_000
        # As CI moves it: a sparse tar, unpacked elsewhere, still sparse and byte-identical.
        moved = run_step(f"make bundle OUTPUT={image.name} && make unbundle IMAGES_DIR=build/gathered", tmp_path, **env)
        assert moved.returncode == 0, moved.stdout + moved.stderr
        gathered = tmp_path / "build" / "gathered" / image.name
        assert gathered.read_bytes() == image.read_bytes()
        assert gathered.stat().st_blocks * 512 < image.stat().st_size // 4, "the unpacked image is not sparse"
        assert not list((tmp_path / "build" / "transfer").iterdir())
        site_url = server.url("ok/site/")
        published = run_step(f"make publish IMAGES_DIR=build/gathered BASE_URL={site_url}", tmp_path, **env)
        assert published.returncode == 0, published.stdout + published.stderr
        images = tmp_path / "build" / "site" / "images"
        copies = [f"office-win7-32.img{ext}" for ext in ("", ".bmap", ".xz", ".zst")]
        torrents = [f"office-win7-32.img{ext}.torrent" for ext in ("", ".xz", ".zst")]
        assert sorted(p.name for p in images.iterdir()) == sorted(["SHA256SUMS", *copies, *torrents])
        server.files.add(image.name, image.read_bytes())
        result = aria2(images / "office-win7-32.img.torrent", tmp_path / "dl", server.cert)
        assert result.returncode == 0, result.stdout + result.stderr
        assert (tmp_path / "dl" / image.name).read_bytes() == image.read_bytes()
    finally:
        server.close()
