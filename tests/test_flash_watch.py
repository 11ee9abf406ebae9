"""``flash --watch``: keys written as they appear, fed udev events in the shape ``udevadm monitor
--property`` prints them (hand-written to match; this machine has no USB port to record from)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from packbuilder import flash as fl
from packbuilder.flash.watch import KeyResult, Watcher, new_disk
from tests.conftest import FIXTURES, run_cli
from tests.test_flash import MiB, machine

EVENTS = json.loads((FIXTURES / "udev" / "key-plugged.json").read_text())


def test_only_new_whole_disks_are_picked() -> None:
    assert [new_disk(e) for e in EVENTS] == ["/dev/sda", None, None, "/dev/nvme0n1", "/dev/sdc", None, "/dev/sda"]


def test_each_key_plugged_in_is_checked_then_written(image: Path, tmp_path: Path) -> None:
    written: list[Path] = []

    def target_for(dev: fl.BlockDevice) -> fl.Target:
        path = tmp_path / f"{Path(dev.path).name}-{len(written)}.disk"
        path.write_bytes(b"\xaa" * (16 * MiB))  # a file standing in for the key (the device path code runs on it)
        written.append(path)
        return fl.Target(path, dev)

    lines: list[str] = []
    watcher = Watcher(
        image, image.stat().st_size, probe=lambda: machine("laptop-nvme-usbkey"), target_for=target_for,
        report=lambda key: lines.append(key.line),
    )  # fmt: skip
    results = watcher.run(EVENTS)
    assert sorted(lines) == sorted(k.line for k in results) and len(results) == 4
    by_path: dict[str, list[KeyResult]] = {}
    for key in results:
        by_path.setdefault(key.path, []).append(key)
    assert [k.ok for k in by_path["/dev/sda"]] == [True, True]  # plugged in twice: written twice
    assert all(k.line == "/dev/sda (SanDisk Cruzer Blade, 15.6 GB): OK" for k in by_path["/dev/sda"])
    assert "left alone: holds the running system" in by_path["/dev/nvme0n1"][0].line
    assert by_path["/dev/sdc"][0].line == "/dev/sdc: left alone: lsblk does not list it"
    data = 4 * 4096 * 256
    for path in written:  # the data blocks written; the zero blocks skipped (no block map: found by the writer)
        disk = path.read_bytes()
        assert disk[:data] == image.read_bytes()[:data] and disk[data + MiB : data + MiB + 3] == b"fin"
        assert disk[data : data + MiB] == b"\xaa" * MiB


def test_watch_refuses_device_arguments(image: Path, tmp_path: Path) -> None:
    result = run_cli("flash", str(image), str(tmp_path / "k.img"), "--watch", "--yes")
    assert result.returncode == 2 and "give no DEVICE" in result.stderr


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "asso.img"
    path.write_bytes(bytes(range(256)) * (4 * 4096) + b"\0" * MiB + b"fin")
    return path
