"""``cache serve`` says where others reach it: the machine's LAN addresses, as ready-to-copy
``--mirror`` lines (a host name like ``vm`` is no use on a workshop network)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from packbuilder.fetch.serve import lan_addresses
from tests.conftest import ENGLISH, ROOT


def test_a_bind_address_is_the_one_given() -> None:
    assert lan_addresses("10.1.2.3") == ["10.1.2.3"]


def test_all_interfaces_give_reachable_ipv4_addresses() -> None:
    addresses = lan_addresses("0.0.0.0")
    assert addresses, "this machine has a network card"
    for address in addresses:
        assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", address) and not address.startswith(("127.", "169.254."))


def test_serve_prints_mirror_lines_that_reach_the_server(tmp_path: Path) -> None:
    env = {**os.environ, **ENGLISH, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), "PACKBUILDER_CACHE": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "packbuilder", "cache", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert server.stdout is not None
        lines = []
        for line in server.stdout:
            lines.append(line)
            if "--mirror" in line:
                break
        mirror = re.search(r"packbuilder fetch PACK --mirror (http://(\d+\.\d+\.\d+\.\d+):\d+)$", lines[-1].strip())
        assert mirror, lines
        assert not mirror.group(1).startswith("http://127.")
        try:
            urllib.request.urlopen(mirror.group(1) + "/sha256/00/" + "0" * 64, timeout=10)
        except urllib.error.HTTPError as exc:
            assert exc.code == 404 and exc.headers["Server"].startswith("packbuilder-cache")
        else:
            raise AssertionError("an empty cache has no such file")
    finally:
        server.terminate()
        server.wait(timeout=30)
