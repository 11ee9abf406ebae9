"""Lock + cached artifacts -> the staging tree: what lands on the key.

Layout (see README, "Key layout")::

    Apps/<Catégorie>/<App>/       Windows apps, unpacked
    AppImages/<App>-<v>-<arch>.AppImage (+ .home/: its settings, AppImage portable mode)
    Logiciels/<Nom>.cmd           one launcher per Windows app (launchers.py)
    Data/<app>/                   each Windows app's settings
    Documents/                    empty, for the association's files
    Docs/ ...                     guides, from the pack's overlays
    Menu.html, Menu-en.html, Menu.hta, Menu-fichiers/, LISEZMOI.html, README.html, autorun.inf
    .packbuilder/manifest.json    every file with its sha256, the lock, the packbuilder version
    .packbuilder/pack.lock        the lock the key was built from
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import struct
from pathlib import Path
from typing import Any

from packbuilder import __version__
from packbuilder.errors import AssemblyError
from packbuilder.fsutil import hash_file
from packbuilder.i18n import _
from packbuilder.model.lock import Lock, LockedArtifact
from packbuilder.paths import UnsafePath, has_control, join_within
from packbuilder.plan.lock import lock_bytes, lock_digest
from packbuilder.unpack import Hashes, unpack

MANIFEST = ".packbuilder/manifest.json"
# When the lock carries no release date and SOURCE_DATE_EPOCH is unset: a fixed, valid FAT/zip date.
DEFAULT_EPOCH = int(dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp())
# An archive may unpack to this many times its declared installed size before it is called a bomb,
# or to this many times its download size when no installed size is declared.
BOMB_FACTOR_INSTALLED = 3
BOMB_FACTOR_DOWNLOAD = 25


def build_epoch(lock: Lock) -> int:
    """The one timestamp every file gets: SOURCE_DATE_EPOCH, else the lock's date, else a constant."""
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env and env.isdigit():
        return int(env)
    if lock.source_date is not None:
        return int(dt.datetime.combine(lock.source_date, dt.time(), tzinfo=dt.UTC).timestamp())
    return DEFAULT_EPOCH


def unpack_cap(item: LockedArtifact) -> int:
    if item.installed_size:
        return item.installed_size * BOMB_FACTOR_INSTALLED
    return max(item.download_size, 1) * BOMB_FACTOR_DOWNLOAD


def place_item(item: LockedArtifact, cached: Path, root: Path, hashes: Hashes | None = None, flush: bool = False) -> str | None:
    """Put one artifact at its destination; return the program to start, relative to ``root``.
    ``hashes`` receives the (size, sha256) of the files unpacked from a zip, relative to ``root``;
    ``flush``: see ``unpack``."""
    what = f"{item.app} {item.version} ({Path(item.url).name})"
    dest = _within(root, item.dest, what)
    if item.kind.value == "appimage":
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, dest)
        dest.chmod(0o755)
        return item.dest
    if dest.exists():
        raise AssemblyError(
            _("{what}: {dest} is already used by another app").format(what=what, dest=item.dest),
            hint=_("check the lock's destinations"),
        )
    found: Hashes | None = {} if hashes is not None else None
    unpack(cached, item.kind.value, dest, unpack_cap(item), what, found, flush)
    if hashes is not None and found:
        hashes.update({f"{item.dest}/{rel}": value for rel, value in found.items()})
    if item.launch:
        program = _within(dest, item.launch, what)
        if program.is_file():
            return f"{item.dest}/{item.launch}"
    return None


def _within(root: Path, rel: str, what: str) -> Path:
    try:
        return join_within(root, rel)
    except UnsafePath as exc:
        raise AssemblyError(
            _("{what}: {reason}").format(what=what, reason=exc),
            hint=_("the lock or manifest names a place outside the key: fix it"),
        ) from None


def copy_overlays(names: tuple[str, ...], overlays_dir: Path | None, root: Path) -> list[str]:
    """Copy each overlay folder's content to the key's root; return the guides under Docs/.

    Only folders and regular files are copied: a symbolic link (or a device) in an overlay is
    refused with its name, never followed (it could point at the build machine's files)."""
    for name in names:
        folder = None if overlays_dir is None else _within(overlays_dir, name, _("overlay {name!r}").format(name=name))
        if folder is None or not folder.is_dir() or folder.is_symlink():
            raise AssemblyError(
                _("overlay {name!r} not found").format(name=name), hint=_("overlays live in overlays/<name>/ beside manifests/")
            )
        _copy_tree(folder, root)
    docs = root / "Docs"
    return sorted(p.relative_to(root).as_posix() for p in docs.rglob("*") if p.is_file()) if docs.is_dir() else []


def _copy_tree(src: Path, dest: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        target = dest / here.relative_to(src)
        target.mkdir(exist_ok=True)
        for name in sorted(dirnames + filenames):
            path = here / name
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                if stat.S_ISLNK(mode):
                    message = _("overlay file {path} is a symbolic link: refused")
                else:
                    message = _("overlay file {path} is not a regular file: refused")
                raise AssemblyError(
                    message.format(path=path),
                    hint=_("overlays hold plain files and folders: replace the link by a copy of what it points at"),
                )
            _within(dest, path.relative_to(src).as_posix(), _("overlay"))
            shutil.copyfile(path, target / name)


def write_icon(path: Path) -> None:
    """A 32x32 icon for autorun.inf: a blue square with a white key shape, as a plain BMP-based .ico
    (PNG icons are not understood by Windows XP)."""
    size = 32
    pixels = bytearray()
    for y in range(size):  # BMP rows go bottom-up
        row = size - 1 - y
        for x in range(size):
            inside = 4 <= x < 28 and 4 <= row < 28
            bow = (x - 11) ** 2 + (row - 16) ** 2 <= 25 and (x - 11) ** 2 + (row - 16) ** 2 >= 6
            blade = (15 <= x < 26 and 15 <= row < 18) or (x in (22, 23, 25) and 18 <= row < 21)
            if inside and (bow or blade):
                pixels += bytes((255, 255, 255, 255))
            elif inside:
                pixels += bytes((137, 78, 29, 255))  # BGRA: #1d4e89
            else:
                pixels += bytes((0, 0, 0, 0))
    mask = bytes(size * size // 8)
    header = struct.pack("<IiiHHIIiiII", 40, size, size * 2, 1, 32, 0, len(pixels) + len(mask), 0, 0, 0, 0)
    image = header + bytes(pixels) + mask
    icondir = struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", size, size, 0, 0, 1, 32, len(image), 22)
    path.write_bytes(icondir + image)


def autorun_inf(label: str) -> bytes:
    """autorun.inf shows the key's name and icon. One line per key: a line break or a control
    character in the name would add keys of its own (``open=...``), so it is refused."""
    label = label[:32]
    if has_control(label):
        raise AssemblyError(
            _("the pack's name {label!r} holds a control character").format(label=label),
            hint=_("write the pack's name on one line"),
        )
    return f"[autorun]\r\nlabel={label}\r\nicon=.packbuilder\\icon.ico\r\n".encode()


def manifest_document(lock: Lock, files: list[dict[str, Any]], apps: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The key's manifest: every file with its size and sha256, and the lock it was built from."""
    return {
        "format": 1,
        "packbuilder": __version__,
        "pack": lock.pack.id,
        "profile": lock.profile.id,
        "lock_sha256": lock_digest(lock),
        "lock": json.loads(lock_bytes(lock)),
        "files": files,
        # Each app's launcher and data folder (launchers.py): verify ignores what is under the data.
        "apps": apps or [],
    }


def write_manifest(root: Path, lock: Lock, apps: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """List every file with its sha256 (what `packbuilder verify` checks), and each app's launcher and data."""
    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel == MANIFEST:
            continue
        files.append({"path": rel, "size": path.stat().st_size, "sha256": hash_file(path)})
    manifest = manifest_document(lock, files, apps)
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def normalise_times(root: Path, epoch: int) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        os.utime(path, (epoch, epoch), follow_symlinks=False)
    os.utime(root, (epoch, epoch))


def stage_launchers(lock: Lock, root: Path) -> list[dict[str, str]]:
    """A launcher and a data folder for every app (Windows launchers, AppImages' portable homes);
    what the manifest's ``apps`` lists."""
    from packbuilder.launchers import appimage_homes, write_launchers

    # An app whose program is not where its manifest says gets no launcher (the menu shows its folder).
    found = tuple(i for i in lock.items if i.launch and (root / i.dest / i.launch).is_file())
    return [a.as_json() for a in (*write_launchers(found, root), *appimage_homes(lock.items, root))]


def stage(lock: Lock, cached: dict[str, Path], root: Path, overlays_dir: Path | None) -> Path:
    """Build the key tree in the new folder ``root`` (which must not exist)."""
    from packbuilder.menu import render_menu

    root.mkdir(parents=True)
    launchers: dict[str, str | None] = {}
    for item in lock.items:
        launchers[item.app] = place_item(item, cached[item.digest[1]], root)
    (root / "Documents").mkdir(exist_ok=True)
    docs = copy_overlays(lock.pack.overlays, overlays_dir, root)
    apps = stage_launchers(lock, root)
    starters = {a["app"]: a["launcher"] for a in apps if a["launcher"].endswith(".cmd")}  # Windows launchers
    render_menu(lock, root, launchers, docs, __version__, starters)
    meta = root / ".packbuilder"
    meta.mkdir(exist_ok=True)
    (meta / "pack.lock").write_bytes(lock_bytes(lock))
    write_icon(meta / "icon.ico")
    # Windows ignores autorun on USB keys for programs, but still shows the label and icon.
    (root / "autorun.inf").write_bytes(autorun_inf(lock.pack.name.fr))
    write_manifest(root, lock, apps)
    normalise_times(root, build_epoch(lock))
    return root
