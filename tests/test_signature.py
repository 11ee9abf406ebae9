"""Detached OpenPGP signatures: checked by gpgv with the manifest's key, failing closed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from packbuilder.fetch.signature import dearmor
from packbuilder.plan.lock import lock_bytes
from tests import factories
from tests.conftest import FIXTURES, run_cli
from tests.httpserver import LocalServer


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Two throw-away signing keys, made once for this module."""
    home = tmp_path_factory.mktemp("gnupg")
    os.chmod(home, 0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    out: dict[str, object] = {"home": home, "env": env}
    for name in ("publisher", "intruder"):
        subprocess.run(
            ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", f"{name} <{name}@example.org>", "ed25519", "sign", "never"],
            env=env,
            check=True,
            capture_output=True,
        )
        listing = subprocess.run(
            ["gpg", "--batch", "--with-colons", "--list-keys", f"{name}@example.org"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        out[f"{name}_fpr"] = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
        out[f"{name}_pub"] = subprocess.run(
            ["gpg", "--batch", "--armor", "--export", f"{name}@example.org"], env=env, check=True, capture_output=True
        ).stdout
    return out


def sign(keys: dict[str, object], who: str, data: bytes, folder: Path) -> bytes:
    src = folder / f"data-{who}"
    src.write_bytes(data)
    subprocess.run(
        [
            "gpg",
            "--batch",
            "--yes",
            "--local-user",
            f"{who}@example.org",
            "--detach-sign",
            "--output",
            str(src) + ".sig",
            str(src),
        ],
        env=keys["env"],
        check=True,
        capture_output=True,
    )  # type: ignore[arg-type]
    return Path(str(src) + ".sig").read_bytes()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    srv = LocalServer(tmp_path_factory.mktemp("tls"))
    yield srv
    srv.close()


def catalog_with_key(tmp_path: Path, keys: dict[str, object]) -> Path:
    shutil.copytree(FIXTURES / "mini", tmp_path / "mini")
    (tmp_path / "mini" / "manifests" / "keys").mkdir()
    (tmp_path / "mini" / "manifests" / "keys" / "publisher.asc").write_bytes(keys["publisher_pub"])  # type: ignore[arg-type]
    return tmp_path / "mini" / "manifests"


def signed_lock(tmp_path: Path, server: LocalServer, name: str, digest: str, size: int, fingerprint: str) -> Path:
    signature = {"url": server.url(f"ok/{name}.sig"), "key_fingerprint": fingerprint, "key": "publisher.asc"}
    lock = factories.lock([factories.item("signed", url=server.url(f"ok/{name}"), sha256=digest, size=size, signature=signature)])
    path = tmp_path / f"{name}.lock"
    path.write_bytes(lock_bytes(lock))
    return path


def run_fetch(
    tmp_path: Path, server: LocalServer, catalog: Path, lock: Path, path_env: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"REQUESTS_CA_BUNDLE": str(server.cert), "PACKBUILDER_CACHE": str(tmp_path / "cache")}
    if path_env is not None:
        env["PATH"] = path_env
    return run_cli("--catalog", str(catalog), "fetch", str(lock), env=env)


def test_dearmor_gives_the_binary_key(keys: dict[str, object]) -> None:
    binary = dearmor(keys["publisher_pub"])  # type: ignore[arg-type]
    assert binary[0] & 0x80  # an OpenPGP packet tag
    assert dearmor(binary) == binary


def test_good_signature_is_accepted(tmp_path: Path, server: LocalServer, keys: dict[str, object]) -> None:
    data = b"portable app" * 1000
    digest = server.files.add("good.zip", data)
    server.files.add("good.zip.sig", sign(keys, "publisher", data, tmp_path))
    catalog = catalog_with_key(tmp_path, keys)
    result = run_fetch(
        tmp_path, server, catalog, signed_lock(tmp_path, server, "good.zip", digest, len(data), str(keys["publisher_fpr"]))
    )
    assert result.returncode == 0, result.stderr
    meta = json.loads((tmp_path / "cache" / "meta" / f"{digest}.json").read_text())
    assert meta["signature"].startswith("gpgv: good signature")


@pytest.mark.parametrize("case", ["other-key", "other-data", "no-verifier", "wrong-fingerprint"])
def test_bad_signatures_fail_closed_with_exit_4(tmp_path: Path, server: LocalServer, keys: dict[str, object], case: str) -> None:
    data = f"app for {case}".encode() * 500
    name = f"{case}.zip"
    digest = server.files.add(name, data)
    if case == "other-key":
        signature = sign(keys, "intruder", data, tmp_path)
    elif case == "other-data":
        signature = sign(keys, "publisher", data + b"!", tmp_path)
    else:
        signature = sign(keys, "publisher", data, tmp_path)
    server.files.add(name + ".sig", signature)
    catalog = catalog_with_key(tmp_path, keys)
    expected_fpr = keys["intruder_fpr"] if case == "wrong-fingerprint" else keys["publisher_fpr"]
    lock = signed_lock(tmp_path, server, name, digest, len(data), str(expected_fpr))
    empty_path = tmp_path / "empty-bin"
    empty_path.mkdir()
    result = run_fetch(tmp_path, server, catalog, lock, str(empty_path) if case == "no-verifier" else None)
    assert result.returncode == 4, result.stderr
    expected = {
        "other-key": "bad OpenPGP signature",
        "other-data": "bad OpenPGP signature",
        "no-verifier": "neither gpgv nor sqv is installed",
        "wrong-fingerprint": "not by the expected key",
    }[case]
    assert expected in result.stderr
    assert not (tmp_path / "cache" / "sha256" / digest[:2] / digest).exists()
