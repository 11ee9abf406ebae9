"""``update``: bring a key folder to a new lock in place, user data kept, crash-safe.

Only what changed is written: each added or updated app is unpacked under
``.packbuilder/update/stage/`` on the key itself (same file system, so moving it is a rename),
then swapped in: the old folder is renamed to ``.packbuilder/update/old/``, the new one into its
place. Other apps' files are not touched (same inodes). ``Documents/``, the apps' data folders and
whatever the user put at the key's root are never written.

A journal records the phase and each app's progress: ``.packbuilder/update.json`` holds the two
locks and the key's manifest (written once, atomically: a large key lists thousands of files), and
``.packbuilder/update/steps.json`` the steps done (a few bytes, rewritten atomically at each step).
Killed or unplugged at any moment, the key still opens, each app folder is the old or the new
version (at worst one app is missing while it waits to be swapped), and ``update`` run again
finishes the job from the journal; until every app is swapped, ``update --rollback`` puts the old
versions back instead (after that the update is committed: it only goes forward).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from packbuilder import __version__
from packbuilder.errors import AssemblyError, InputError, PackbuilderError
from packbuilder.fsutil import atomic_write_bytes, hash_file, sync_files, sync_renames, sync_tree
from packbuilder.i18n import _
from packbuilder.journal import WORK, Journal, fault, new_journal
from packbuilder.model.lock import Lock, LockedArtifact
from packbuilder.paths import join_within
from packbuilder.plan.lock import lock_bytes
from packbuilder.sizes import format_size
from packbuilder.stage import MANIFEST, manifest_document, place_item, unpack_cap
from packbuilder.unpack import Hashes

ChangeKind = Literal["add", "update", "remove", "keep"]


@dataclass(frozen=True)
class Change:
    app: str
    kind: ChangeKind
    old: LockedArtifact | None
    new: LockedArtifact | None

    def describe(self) -> str:
        old = f"{self.old.version}" if self.old else ""
        new = f"{self.new.version}" if self.new else ""
        from packbuilder.sizes import format_size

        size = format_size(self.new.download_size if self.new else 0)
        return {
            "add": f"+ {self.app} {new} ({size})",
            "update": f"~ {self.app} {old} -> {new} ({size})",
            "remove": f"- {self.app} {old}",
            "keep": f"= {self.app} {old}",
        }[self.kind]

    def as_json(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "change": self.kind,
            "from": self.old.version if self.old else None,
            "to": self.new.version if self.new else None,
            "download_bytes": self.new.download_size if self.new and self.kind != "keep" else 0,
        }


@dataclass
class UpdatePlan:
    key: Path
    old: Lock
    new: Lock
    changes: list[Change]
    manifest: dict[str, Any]
    free_bytes: int = 0
    needed_bytes: int = 0

    @property
    def changed(self) -> list[Change]:
        return [c for c in self.changes if c.kind != "keep"]

    def as_json(self) -> dict[str, Any]:
        return {
            "key": str(self.key),
            "pack": self.new.pack.id,
            "profile": self.new.profile.id,
            "changes": [c.as_json() for c in self.changes],
            "needed_bytes": self.needed_bytes,
            "free_bytes": self.free_bytes,
        }


def read_key(key: Path) -> tuple[dict[str, Any], Lock]:
    """The key's manifest and the lock it was built from; a clear refusal for anything else."""
    path = key / MANIFEST
    if not path.is_file():
        raise InputError(
            _("{key} has no {manifest}: not a key made by packbuilder").format(key=key, manifest=MANIFEST),
            hint=_("give the key's folder (the mounted key, or a --format dir output)"),
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        fmt = manifest.get("format") if isinstance(manifest, dict) else None
    except (OSError, ValueError):
        raise InputError(
            _("{key}: {manifest} is damaged").format(key=key, manifest=MANIFEST),
            hint=_("rebuild the key with packbuilder build --format dir"),
        ) from None
    if fmt != 1 or "lock" not in manifest:
        raise InputError(
            _("{key} was made by a packbuilder too old to update it (manifest format {format})").format(key=key, format=fmt),
            hint=_("copy Documents/ away, rebuild the key once with `packbuilder build --format dir`, then copy it back"),
        )
    try:
        lock = Lock.model_validate(manifest["lock"])
    except ValueError as exc:
        raise InputError(
            _("{key}: the lock inside {manifest} is not valid").format(key=key, manifest=MANIFEST), details=[str(exc)]
        ) from None
    return manifest, lock


def diff(old: Lock, new: Lock) -> list[Change]:
    """What changes, app by app, sorted by app id."""
    before = {i.app: i for i in old.items}
    after = {i.app: i for i in new.items}
    changes = []
    for app in sorted(set(before) | set(after)):
        a, b = before.get(app), after.get(app)
        if a is None:
            kind: ChangeKind = "add"
        elif b is None:
            kind = "remove"
        elif (a.digest, a.dest, a.launch, a.version) != (b.digest, b.dest, b.launch, b.version):
            kind = "update"
        else:
            kind = "keep"
        changes.append(Change(app, kind, a, b))
    return changes


def plan_update(key: Path, new: Lock) -> UpdatePlan:
    manifest, old = read_key(key)
    if new.pack.id != old.pack.id:
        raise InputError(
            _("{key} holds the pack {pack}, the lock is for {other}").format(key=key, pack=old.pack.id, other=new.pack.id),
            hint=_("an update keeps the key's pack: build a new key for another pack"),
        )
    plan = UpdatePlan(key, old, new, diff(old, new), manifest)
    plan.needed_bytes = sum(unpack_cap(c.new) // 3 + c.new.download_size for c in plan.changed if c.new)
    plan.free_bytes = shutil.disk_usage(key).free
    return plan


def check_space(plan: UpdatePlan) -> None:
    if plan.needed_bytes > plan.free_bytes:
        raise InputError(
            _("not enough room on {key}: the update needs about {needed}, {free} are free").format(
                key=plan.key, needed=format_size(plan.needed_bytes), free=format_size(plan.free_bytes)
            ),
            hint=_("free some room on the key (Documents/ is yours to sort), or update fewer apps with a lock"),
        )
    for change in plan.changed:
        if change.new and change.new.kind.value == "appimage" and change.new.download_size >= 4 * 2**30:
            raise InputError(_("{app}: a file of 4 GiB or more cannot be on a FAT32 key").format(app=change.app))


# -- applying -------------------------------------------------------------------------------------


def start(plan: UpdatePlan) -> Journal:
    if Journal.load(plan.key) is not None:
        raise InputError(
            _("{key} has an unfinished update").format(key=plan.key),
            hint=_("run `packbuilder update KEY` to finish it, or `packbuilder update KEY --rollback` to undo it"),
        )
    journal = new_journal(plan.key, lock_bytes(plan.old), lock_bytes(plan.new), plan.manifest)
    shutil.rmtree(plan.key / WORK, ignore_errors=True)
    journal.save()
    fault("journal")
    return journal


def run(key: Path, journal: Journal, cached: dict[str, Path], purge: bool = False) -> list[Change]:
    """Carry the journal's update through: stage, swap, regenerate, clean. Each step is idempotent."""
    changes = diff(journal.old, journal.new)
    work = key / WORK
    hashes: Hashes = {}  # of the files staged by this run (a file staged by an interrupted run is hashed again)
    # The menu's code and templates are loaded while the staged files are synced and swapped in
    # (waits on the disk). Not during the copy: that loading holds the GIL, and the copy, which
    # takes it back after every read and write, went slower by more than the loading takes.
    preloading = threading.Thread(target=_preload_menu, name="menu", daemon=True)

    def preload() -> None:
        if preloading.ident is None:
            preloading.start()

    for change in changes:
        if change.new and change.kind in ("add", "update") and not journal.done(f"staged:{change.app}"):
            _stage_app(work / "stage", change.new, cached, journal, hashes, preload)
    preload()
    swaps = [c for c in changes if c.kind != "keep" and not journal.done(f"swapped:{c.app}")]
    moved = [folder for change in swaps for folder in _swap(key, work, change)]
    if swaps:  # the renames on the key before the journal says so (unplugged, a rerun redoes what is missing)
        sync_renames(key, moved)
    for change in swaps:
        journal.step(f"swapped:{change.app}")
    if not journal.done("committed"):
        journal.step("committed")  # every app is in place: from here the update only goes forward
    # The old versions are deleted while the menu and manifest are written (unlinking is the disk's
    # work, rendering the processor's).
    cleaner = threading.Thread(target=shutil.rmtree, args=(work / "old",), kwargs={"ignore_errors": True})
    cleaner.start()
    preloading.join()
    try:
        if not journal.done("regenerated"):
            regenerate(key, journal.new, journal.data["manifest"], changes, hashes)
            journal.step("regenerated")
    finally:
        cleaner.join()
    if purge:
        _purge(key, journal.data["manifest"], [c.app for c in changes if c.kind == "remove"])
    # The journal goes first: once it is gone the update is done; a leftover work folder is only
    # space, removed here or by the next update.
    journal.path.unlink()
    shutil.rmtree(work, ignore_errors=True)
    return changes


def _preload_menu() -> None:
    try:
        from packbuilder.menu import preload

        preload()
    except Exception:  # only a head start: the render itself reports any error
        pass


def _stage_app(
    stage_root: Path, item: LockedArtifact, cached: dict[str, Path], journal: Journal, hashes: Hashes, copied: Callable[[], None]
) -> None:
    target = join_within(stage_root, item.dest)
    if target.exists() or target.is_symlink():  # a half-staged app from an interrupted run
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    place_item(item, cached[item.digest[1]], stage_root, hashes, flush=True)
    copied()
    # On the key before the journal says so: unplugged after this step, a rerun swaps the staged
    # folder in as it is (its files were not synced before: they could be found empty).
    sync_tree(target)
    journal.step(f"staged:{item.app}")


def _move(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, dest)


def _swap(key: Path, work: Path, change: Change) -> list[Path]:
    """Old folder out to ``old/``, new folder in. Each move is a rename: run again, it goes on.
    Returns the folders whose entries changed."""
    moved: list[Path] = []
    if change.old is not None:
        current, parked = join_within(key, change.old.dest), join_within(work / "old", change.old.dest)
        if current.exists() and not parked.exists():
            _move(current, parked)
            moved += [current.parent, parked.parent]
            fault(f"parked:{change.app}")
    if change.new is not None:
        staged, final = join_within(work / "stage", change.new.dest), join_within(key, change.new.dest)
        if staged.exists():
            if final.exists():
                raise AssemblyError(
                    _("{app}: {path} is in the way").format(app=change.app, path=change.new.dest),
                    hint=_("move it away and run update again"),
                )
            _move(staged, final)
            moved += [staged.parent, final.parent]
            fault(f"moved:{change.app}")
    return moved


def rollback(key: Path) -> Lock:
    """Undo an interrupted update: old folders back, new ones removed, menu and manifest as they were."""
    journal = Journal.load(key)
    if journal is None:
        raise InputError(_("{key} has no unfinished update to roll back").format(key=key))
    if journal.done("committed"):
        raise InputError(
            _("the update of {key} had already put every app in place: it cannot be rolled back").format(key=key),
            hint=_("run `packbuilder update KEY` to finish it; bring older versions back with a lock: update KEY OLD.lock"),
        )
    work = key / WORK
    for change in reversed(diff(journal.old, journal.new)):
        if change.kind == "keep":
            continue
        if change.new is not None:
            staged, final = join_within(work / "stage", change.new.dest), join_within(key, change.new.dest)
            if final.exists() and not staged.exists() and journal.done(f"staged:{change.app}"):
                _move(final, join_within(work / "discard", change.new.dest))
        if change.old is not None:
            parked = join_within(work / "old", change.old.dest)
            if parked.exists():
                _move(parked, join_within(key, change.old.dest))
    old_manifest = journal.data["manifest"]
    if journal.done("regenerated"):  # pages written for the new apps go too
        for rel in _listed(key / MANIFEST) - {e["path"] for e in old_manifest["files"]}:
            join_within(key, rel).unlink(missing_ok=True)
    written, _apps = _write_key_files(key, journal.old, _listed(key / MANIFEST))
    atomic_write_bytes(key / MANIFEST, _manifest_bytes(old_manifest), sync=False)
    sync_files(key, [key / rel for rel in sorted(written)] + [key / MANIFEST])
    journal.path.unlink()
    shutil.rmtree(work, ignore_errors=True)
    return journal.old


def _listed(manifest: Path) -> set[str]:
    try:
        return {e["path"] for e in json.loads(manifest.read_text(encoding="utf-8"))["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


# Files made from the lock (launchers, menu pages): written again by an update; those of removed apps go.
GENERATED = ("Logiciels/", "Menu-fichiers/")


def _write_key_files(key: Path, lock: Lock, old_files: set[str]) -> tuple[set[str], list[dict[str, str]]]:
    """The launchers, menu pages and pack.lock for ``lock``, and the stale ones of ``old_files``
    removed; returns the files written (relative to the key) and the manifest's ``apps``."""
    from packbuilder.menu import render_menu
    from packbuilder.stage import stage_launchers

    launchers = {i.app: _launcher(key, i) for i in lock.items}
    docs_dir = key / "Docs"
    docs = sorted(p.relative_to(key).as_posix() for p in docs_dir.rglob("*") if p.is_file()) if docs_dir.is_dir() else []
    apps = stage_launchers(lock, key)
    starters = {a["app"]: a["launcher"] for a in apps if a["launcher"].endswith(".cmd")}
    written = {p.relative_to(key).as_posix() for p in render_menu(lock, key, launchers, docs, __version__, starters)}
    written.update(starters.values())
    atomic_write_bytes(key / ".packbuilder" / "pack.lock", lock_bytes(lock), sync=False)  # synced with the pages
    written.add(".packbuilder/pack.lock")
    for rel in sorted(old_files - written):
        if rel.startswith(GENERATED):
            join_within(key, rel).unlink(missing_ok=True)
    return written, apps


def regenerate(
    key: Path, lock: Lock, old_manifest: dict[str, Any], changes: list[Change], known: Hashes | None = None
) -> None:
    """Launchers, menu pages, pack.lock and the manifest for ``lock``: only new files are hashed."""
    old_files = {e["path"] for e in old_manifest["files"]}
    written, apps = _write_key_files(key, lock, old_files)
    stale = tuple(f"{c.old.dest}/" for c in changes if c.old and c.kind != "keep")
    fresh = tuple(c.new.dest for c in changes if c.new and c.kind != "keep")
    gone = {s[:-1] for s in stale}
    files = [
        e
        for e in old_manifest["files"]
        if e["path"] not in written
        and e["path"] not in gone
        and not e["path"].startswith(stale)
        and not (e["path"].startswith(GENERATED) and not (key / e["path"]).is_file())
    ]
    for dest in fresh:
        files.extend(_entries(key, dest, known or {}))
    files.extend(_entry(key, rel) for rel in sorted(written))
    files.sort(key=lambda e: e["path"])
    atomic_write_bytes(key / MANIFEST, _manifest_bytes(manifest_document(lock, files, apps)), sync=False)
    # Launchers, pages, pack.lock and manifest on the key in one flush, before the journal says so.
    sync_files(key, [key / rel for rel in sorted(written)] + [key / MANIFEST])


def _manifest_bytes(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def _launcher(key: Path, item: LockedArtifact) -> str | None:
    if item.kind.value == "appimage":
        return item.dest
    if item.launch and (key / item.dest / item.launch).is_file():
        return f"{item.dest}/{item.launch}"
    return None


def _entry(key: Path, rel: str, known: Hashes | None = None) -> dict[str, Any]:
    path = key / rel
    size = path.stat().st_size
    if known and rel in known and known[rel][0] == size:
        return {"path": rel, "size": size, "sha256": known[rel][1]}
    return {"path": rel, "size": size, "sha256": hash_file(path)}


def _entries(key: Path, dest: str, known: Hashes) -> list[dict[str, Any]]:
    root = key / dest
    if root.is_file():
        return [_entry(key, dest)]
    return [_entry(key, p.relative_to(key).as_posix(), known) for p in sorted(root.rglob("*")) if p.is_file()]


def _purge(key: Path, manifest: dict[str, Any], removed: list[str]) -> None:
    for app in manifest.get("apps", []) if isinstance(manifest.get("apps"), list) else []:
        if isinstance(app, dict) and app.get("app") in removed and isinstance(app.get("data"), str):
            shutil.rmtree(join_within(key, app["data"]), ignore_errors=True)


def update(
    key: Path,
    cached: dict[str, Path],
    plan: UpdatePlan | None,
    purge: bool = False,
) -> list[Change]:
    """Finish an interrupted update if there is one, else apply ``plan``."""
    journal = Journal.load(key)
    if journal is None:
        if plan is None:
            raise InputError(_("{key}: nothing to update").format(key=key))
        check_space(plan)
        journal = start(plan)
    try:
        return run(key, journal, cached, purge)
    except PackbuilderError:
        raise
    except OSError as exc:
        raise AssemblyError(
            _("the update of {key} stopped: {error}").format(key=key, error=exc.strerror or exc),
            hint=_("run `packbuilder update KEY` again to finish it, or `--rollback` to undo it"),
        ) from None
