"""Staged outputs: all or nothing, with the modes any other file gets."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from packbuilder.fsutil import atomic_write_bytes, staged_file, staged_output
from packbuilder.plan.lock import read_lock, write_lock
from tests import factories


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_a_failed_block_leaves_the_previous_output_and_no_partial(tmp_path: Path) -> None:
    out = tmp_path / "out.bin"
    out.write_bytes(b"previous")
    with pytest.raises(RuntimeError, match="disk on fire"), staged_output(out) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk on fire")
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_a_folder_replaces_the_previous_one_through_before_replace(tmp_path: Path) -> None:
    out = tmp_path / "tree"
    (out / "old").mkdir(parents=True)
    with staged_output(out, before_replace=lambda p: (p / "old").rmdir() or p.rmdir()) as tmp:
        (tmp / "new").mkdir(parents=True)
    assert [p.name for p in out.iterdir()] == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree"]


@pytest.mark.usefixtures("umask_022")
def test_lock_files_get_the_modes_of_ordinary_files(tmp_path: Path) -> None:
    path = tmp_path / "asso.lock"
    lock = factories.lock([factories.item("writer", url="https://example.org/w.zip", data=b"MZ")])
    write_lock(lock, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # mkstemp made it 0600: unreadable by the other volunteers
    assert read_lock(path) == lock
    os.umask(0o002)
    atomic_write_bytes(tmp_path / "shared.txt", b"x")
    assert stat.S_IMODE((tmp_path / "shared.txt").stat().st_mode) == 0o664


@pytest.mark.usefixtures("umask_022")
def test_a_staged_file_is_written_through_its_descriptor_and_closed_before_the_rename(tmp_path: Path) -> None:
    out = tmp_path / "disk.img"
    out.write_bytes(b"previous image")
    with staged_file(out) as (tmp, fd):
        os.ftruncate(fd, 4096)
        os.pwrite(fd, b"MBR", 510)
        assert not out.read_bytes().startswith(b"\0")  # the previous image stays until the block ends
    with pytest.raises(OSError):
        os.fstat(fd)  # closed: nothing keeps writing into the published file
    data = out.read_bytes()
    assert len(data) == 4096 and data[510:513] == b"MBR"
    assert stat.S_IMODE(out.stat().st_mode) == 0o644 and not tmp.exists()
    with pytest.raises(RuntimeError, match="full"), staged_file(out) as (tmp, fd):
        os.pwrite(fd, b"half", 0)
        raise RuntimeError("disk full")
    assert out.read_bytes() == data and sorted(p.name for p in tmp_path.iterdir()) == ["disk.img"]
