"""An update makes what it wrote durable before its journal says so (a key can be unplugged at
any moment, not only killed): the staged app before « staged », the launchers, pages, pack.lock
and manifest before « regenerated », the folders' renames before « swapped »."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from packbuilder import fsutil, update
from packbuilder.journal import Journal
from packbuilder.model.lock import Lock
from packbuilder.stage import stage
from tests import factories


def test_what_is_written_is_synced_before_the_journal_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    v1 = factories.zip_bytes({"Writer/writer.exe": b"MZ1", "Writer/old.txt": b"old"})
    v2 = factories.zip_bytes({"Writer/writer.exe": b"MZ2", "Writer/new.txt": b"new"})
    archives = {}
    for name, data in (("w1.zip", v1), ("w2.zip", v2)):
        (tmp_path / name).write_bytes(data)
        archives[hashlib.sha256(data).hexdigest()] = tmp_path / name

    def lock(data: bytes, version: str) -> Lock:
        url = f"https://writer.example.org/writer-{version}.zip"
        return factories.lock([factories.item("writer", url=url, data=data, version=version, launch="Writer/writer.exe")])

    key = stage(lock(v1, "1.0"), archives, tmp_path / "key", None)
    events: list[tuple[str, object]] = []
    real_tree, real_files, real_step = fsutil.sync_tree, fsutil.sync_files, Journal.step
    real_renames = fsutil.sync_renames

    def sync_tree(path: Path) -> None:
        events.append(("sync", path.relative_to(key).as_posix()))
        real_tree(path)

    def sync_files(root: Path, paths: list[Path]) -> None:
        events.append(("sync", {p.relative_to(root).as_posix() for p in paths}))
        real_files(root, paths)

    def sync_renames(root: Path, folders: list[Path]) -> None:
        events.append(("renames", {f.relative_to(root).as_posix() for f in folders}))
        real_renames(root, folders)

    def step(journal: Journal, name: str, value: object = True) -> None:
        events.append(("step", name))
        real_step(journal, name, value)

    monkeypatch.setattr(update, "sync_tree", sync_tree)
    monkeypatch.setattr(update, "sync_files", sync_files)
    monkeypatch.setattr(update, "sync_renames", sync_renames)
    monkeypatch.setattr(Journal, "step", step)
    update.update(key, archives, update.plan_update(key, lock(v2, "2.0")))

    staged = ("sync", ".packbuilder/update/stage/Apps/Bureautique/Writer")
    assert events[:2] == [staged, ("step", "staged:writer")]
    work = ".packbuilder/update"
    parked_and_moved = {"Apps/Bureautique", f"{work}/old/Apps/Bureautique", f"{work}/stage/Apps/Bureautique"}
    assert events[2:5] == [("renames", parked_and_moved), ("step", "swapped:writer"), ("step", "committed")]
    kind, regenerated = events[5]
    assert kind == "sync" and isinstance(regenerated, set) and events[6:] == [("step", "regenerated")]
    assert {"Menu.html", "Logiciels/Writer.cmd", ".packbuilder/pack.lock", ".packbuilder/manifest.json"} <= regenerated
    assert (key / "Apps/Bureautique/Writer/Writer/new.txt").read_bytes() == b"new"
    manifest = json.loads((key / ".packbuilder/manifest.json").read_text(encoding="utf-8"))
    listed = {e["path"]: e["sha256"] for e in manifest["files"]}
    assert listed["Apps/Bureautique/Writer/Writer/new.txt"] == hashlib.sha256(b"new").hexdigest()
    assert "Apps/Bureautique/Writer/Writer/old.txt" not in listed
