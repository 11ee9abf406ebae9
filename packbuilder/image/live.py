"""The live layer: the pack inside the running live system of a Debian live (live-boot) base.

live-boot mounts every ``/live/*.squashfs`` of the medium in name order, each one over the ones
before it (or, when the medium has ``/live/filesystem.module``, the images that file lists, in its
order). A late-sorting ``/live/zz-packbuilder.squashfs``, or its name appended to
``filesystem.module``, thus lies on top of the distribution's own image. It holds:

- the pack's AppImages under ``/opt/packbuilder/``, each with a ``.desktop`` entry in
  ``/usr/share/applications/`` (started with ``APPIMAGE_EXTRACT_AND_RUN=1``: live images often lack
  FUSE 2, which AppImages otherwise need);
- an entry opening the pack's menu on the medium itself (``/run/live/medium/PACK/Menu.html``), so
  the Windows apps and the documents stay reachable from the live desktop;
- the pack's guides in ``/etc/skel/Documents/`` (copied into the live user's home at boot);
- French defaults when the pack's locale is ``fr``: ``/etc/default/locale`` and ``/etc/default/keyboard``.

The squashfs is reproducible: every file owned by root, one date, fixed modes, no xattrs, xz
(mksquashfs sorts each directory itself).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from packbuilder import tools
from packbuilder.image.overlay import PycdlibReader, base_reader

if TYPE_CHECKING:
    from packbuilder.model.lock import Lock

LIVE_IMAGE = "/live/filesystem.squashfs"
MODULE_FILE = "/live/filesystem.module"
LAYER_NAME = "zz-packbuilder.squashfs"
LAYER_PATH = f"/live/{LAYER_NAME}"
MEDIUM = "/run/live/medium"  # where live-boot mounts the medium (bookworm)
CATEGORIES = {
    "office": "Office;",
    "graphics": "Graphics;",
    "web": "Network;",
    "management": "Office;Finance;",
    "utilities": "Utility;",
    "education": "Education;",
    "multimedia": "AudioVideo;",
}
FRENCH = {
    "etc/default/locale": 'LANG="fr_FR.UTF-8"\n',
    "etc/default/keyboard": 'XKBMODEL="pc105"\nXKBLAYOUT="fr"\nXKBVARIANT="latin9"\nXKBOPTIONS=""\nBACKSPACE="guess"\n',
}


def module_file(base: Path, reader: PycdlibReader | None = None) -> bytes | None:
    """The base's ``filesystem.module`` with the layer appended, or None when it has none."""
    with base_reader(base, reader) as reader:
        if not reader.exists(MODULE_FILE):
            return None
        lines = [line for line in reader.read(MODULE_FILE).decode().splitlines() if line.strip()]
    if LAYER_NAME not in lines:
        lines.append(LAYER_NAME)
    return ("\n".join(lines) + "\n").encode()


def _desktop(name: str, comment: str, exec_line: str, categories: str) -> str:
    return (
        "[Desktop Entry]\nType=Application\n"
        f"Name={name}\nComment={comment}\nExec={exec_line}\nCategories={categories}\nTerminal=false\n"
    )


def _write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)


def layer_tree(lock: Lock, tree: Path, root: Path, prefix: str = "PACK") -> Path:
    """Lay out the layer's files in the new folder ``root``."""
    root.mkdir(parents=True)
    apps = root / "usr/share/applications"
    for item in lock.items:
        source = tree / item.dest
        if item.kind.value != "appimage" or not source.is_file():
            continue
        target = root / "opt/packbuilder" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        target.chmod(0o755)
        exec_line = f"env APPIMAGE_EXTRACT_AND_RUN=1 /opt/packbuilder/{source.name}"
        summary = item.summary.fr if lock.pack.locale == "fr" else item.summary.en
        _write(apps / f"packbuilder-{item.app}.desktop", _desktop(item.name, summary, exec_line, CATEGORIES[item.category.value]))
    menu_name = "Menu de la clé" if lock.pack.locale == "fr" else "Pack menu"
    folder = prefix.strip("/")
    menu_path = f"{MEDIUM}/{folder}/Menu.html" if folder else f"{MEDIUM}/Menu.html"
    _write(
        apps / "packbuilder-menu.desktop",
        _desktop(f"{menu_name} ({lock.pack.name.fr if lock.pack.locale == 'fr' else lock.pack.name.en})",
                 lock.pack.id, f"xdg-open {menu_path}", "Office;Documentation;"),
    )
    docs = tree / "Docs"
    if docs.is_dir():
        dest = root / "etc/skel/Documents"
        shutil.copytree(docs, dest)
    if lock.pack.locale == "fr":
        for rel, text in FRENCH.items():
            _write(root / rel, text)
    for path in root.rglob("*"):  # modes independent of the builder's umask
        if path.is_dir():
            path.chmod(0o755)
        elif not os.access(path, os.X_OK):
            path.chmod(0o644)
    root.chmod(0o755)
    return root


def build_layer(lock: Lock, tree: Path, out: Path, epoch: int, work: Path, prefix: str = "PACK") -> Path:
    """Write the layer's squashfs to ``out`` (``work``: a new scratch folder)."""
    root = layer_tree(lock, tree, work / "layer", prefix)
    # SOURCE_DATE_EPOCH sets the creation time and every inode's time, as -mkfs-time and -all-time
    # would; mksquashfs refuses those options while the variable is set, and tools.run passes it through.
    tools.run(
        ["mksquashfs", root, out, "-noappend", "-comp", "xz", "-all-root", "-no-xattrs", "-no-progress", "-quiet"],
        env={"SOURCE_DATE_EPOCH": str(epoch)},
    )
    os.utime(out, (epoch, epoch))
    return out


def layer_files(
    lock: Lock,
    tree: Path,
    base: Path,
    epoch: int,
    work: Path,
    prefix: str = "PACK",
    dry_run: bool = False,
    reader: PycdlibReader | None = None,
) -> tuple[tuple[tuple[str, Path], ...], tuple[tuple[str, bytes], ...]]:
    """What a Debian live base gets, for ISO overlays and usb-live keys alike: the layer to add
    (``/live/zz-packbuilder.squashfs``) and the base's ``filesystem.module`` with the layer appended
    to replace, when it has one. ``prefix``: where the key's tree is on the medium (``PACK`` on an
    ISO, the root on a usb-live key). A dry run writes an empty layer (counted as its AppImages)."""
    layer = work / LAYER_NAME
    work.mkdir(parents=True, exist_ok=True)
    if dry_run:
        layer.write_bytes(b"")
    else:
        build_layer(lock, tree, layer, epoch, work / "layer-work", prefix)
    module = module_file(base, reader)
    return ((LAYER_PATH, layer),), (((MODULE_FILE, module),) if module is not None else ())
