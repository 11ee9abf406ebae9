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


def test_sync_tree_without_syncfs_fsyncs_every_file_and_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where syncfs(2) is missing, each staged file and each of its folders is fsynced (an app
    swapped in after a power cut must not hold empty files); with it, one call covers the tree."""
    import packbuilder.fsutil as fsutil

    app = tmp_path / "App"
    (app / "bin").mkdir(parents=True)
    (app / "bin" / "app.exe").write_bytes(b"MZ")
    (app / "readme.txt").write_bytes(b"hi")
    synced: list[tuple[int, int]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        synced.append((st.st_dev, st.st_ino))
        real_fsync(fd)

    monkeypatch.setattr(fsutil.os, "fsync", fsync)
    fsutil.sync_tree(app)  # Linux (where the tests run): one syncfs, no fsync
    assert synced == []
    monkeypatch.setattr(fsutil, "_syncfs", lambda path: False)
    synced.clear()
    fsutil.sync_tree(app)
    expected = {(p.stat().st_dev, p.stat().st_ino) for p in (app, app / "bin", app / "bin" / "app.exe", app / "readme.txt")}
    assert set(synced) == expected
    synced.clear()
    fsutil.sync_tree(app / "readme.txt")  # an AppImage is one file
    assert set(synced) == {(p.stat().st_dev, p.stat().st_ino) for p in (app, app / "readme.txt")}
    synced.clear()
    fsutil.sync_files(tmp_path, [app / "bin" / "app.exe"])  # the menu and manifest an update rewrote
    assert set(synced) == {(p.stat().st_dev, p.stat().st_ino) for p in (app / "bin", app / "bin" / "app.exe")}


def test_range_writeback_starts_on_a_file_and_says_so(tmp_path: Path) -> None:
    import sys

    from packbuilder.fsutil import start_range_writeback

    path = tmp_path / "data"
    with path.open("wb") as out:
        out.write(os.urandom(1 << 20))
        out.flush()
        assert start_range_writeback(out.fileno(), 0, 1 << 20) is sys.platform.startswith("linux")
    read, write = os.pipe()
    try:
        assert start_range_writeback(read, 0, 1) is False  # a pipe has no pages to write: refused, no error
    finally:
        os.close(read)
        os.close(write)


def test_a_file_another_program_writes_goes_to_the_disk_as_it_grows_and_is_synced_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    import packbuilder.fsutil as fsutil

    path = tmp_path / "out.img"
    events: list[tuple[str, int, int]] = []
    real_writeback, real_fsync = fsutil.start_range_writeback, os.fsync

    def writeback(fd: int, offset: int, length: int) -> bool:
        events.append(("writeback", offset, length))
        return real_writeback(fd, offset, length)

    def fsync(fd: int) -> None:
        events.append(("fsync", os.fstat(fd).st_size, 0))
        real_fsync(fd)

    monkeypatch.setattr(fsutil, "start_range_writeback", writeback)
    monkeypatch.setattr(os, "fsync", fsync)
    writer = "import sys, time\nwith open(sys.argv[1], 'wb') as f:\n    for _ in range(6):\n" \
             "        f.write(bytes(1 << 20)); f.flush(); time.sleep(0.15)\n"  # fmt: skip
    told: list[int] = []

    class Counting(fsutil.Meter):
        def advance(self, nbytes: int) -> None:
            told.append(nbytes)

    with fsutil.on_disk_as_written(path, Counting(), step=1 << 20, poll=0.01):
        subprocess.run([sys.executable, "-c", writer, str(path)], check=True, timeout=60)
        during = list(events)
        told_during = sum(told)
    assert len(during) >= 3 and {kind for kind, _, _ in during} == {"writeback"}  # while the program writes
    offsets = [offset for _, offset, _ in during]
    assert offsets[0] == 0  # from the start, in order, no gap:
    assert all(o + n == nxt for (_, o, n), nxt in zip(during[:-1], offsets[1:], strict=True))
    assert events[-1] == ("fsync", 6 << 20, 0)  # then the whole file synced once
    assert told_during > 0 and sum(told) == 6 << 20  # the meter followed the file to its end

    events.clear()
    with pytest.raises(RuntimeError, match="tool failed"), fsutil.on_disk_as_written(path, poll=0.01):
        raise RuntimeError("tool failed")
    assert not [e for e in events if e[0] == "fsync"]  # a failed output is not synced: it is thrown away
