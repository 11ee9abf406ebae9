"""The tree that goes on a FAT32 volume: read from a folder, checked against FAT's limits, merged.

A :class:`Node` is a file or a folder with its children sorted by name; reading a folder collects
every problem (names FAT32 cannot hold, names differing only by case, links, devices, files of 4 GiB
or more, folders of more than 65536 entries) so they are reported together.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from packbuilder.errors import AssemblyError
from packbuilder.i18n import _, ngettext
from packbuilder.image.fat.names import case_key, folder_entries, name_problems

MAX_FILE = 2**32 - 1  # FAT file sizes are 32-bit
MAX_DIR_ENTRIES = 65536  # fatgen103: a directory holds at most 65536 32-byte entries


@dataclass
class Node:
    """A file or folder of the tree; ``children`` is None for a file."""

    name: str
    path: str
    rel: str
    size: int = 0
    entries: int = 0  # a folder's 32-byte directory entries
    children: list[Node] | None = None
    first_cluster: int = 0
    clusters: int = 0

    def recount(self) -> None:
        """Count a folder's entries again after its children changed."""
        assert self.children is not None
        self.entries = folder_entries([c.name for c in self.children], self.rel == "")


def _shown(rel: str) -> str:
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _child(entry: os.DirEntry[str], rel: str, problems: list[str]) -> Node | None:
    """The node of one folder entry, None (and a problem) when it cannot be read."""
    shown = _shown(rel)
    node = Node(name=entry.name, path=entry.path, rel=rel)
    try:
        if entry.is_symlink():
            problems.append(_("{path}: is a symbolic link, FAT32 has none: copy its target instead").format(path=shown))
        elif entry.is_dir(follow_symlinks=False):
            node.children = []
        elif entry.is_file(follow_symlinks=False):
            node.size = entry.stat(follow_symlinks=False).st_size
            if node.size > MAX_FILE:
                problems.append(
                    _("{path}: is {size} bytes, FAT32 files stop at 4 GiB - 1 byte: split it or leave it out").format(
                        path=shown, size=node.size
                    )
                )
        else:
            problems.append(_("{path}: is a device, socket or pipe, not a file: remove it").format(path=shown))
    except OSError as exc:
        problems.append(_("{path}: cannot be read ({reason}): fix its permissions").format(path=shown, reason=exc.strerror))
        return None
    return node


def _read_folder(folder: Node, problems: list[str]) -> None:
    assert folder.children is not None
    try:
        with os.scandir(folder.path) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        problems.append(
            _("{path}: cannot be read ({reason}): fix its permissions").format(path=folder.rel or ".", reason=exc.strerror)
        )
        return
    seen: dict[str, str] = {}
    for entry in entries:
        rel = f"{folder.rel}/{entry.name}" if folder.rel else entry.name
        problems.extend(f"{_shown(rel)}: {p}" for p in name_problems(entry.name))
        key = case_key(entry.name)
        if key in seen:
            problems.append(
                _("{path}: differs only by case from {other!r} (FAT32 ignores case): rename one").format(
                    path=_shown(rel), other=seen[key]
                )
            )
        seen[key] = entry.name
        node = _child(entry, rel, problems)
        if node is not None:
            folder.children.append(node)


def scan_tree(tree: Path) -> tuple[Node, list[str]]:
    """Read the tree (children sorted by name) and every problem that stops it going on FAT32."""
    if not tree.is_dir():
        raise AssemblyError(
            _("{tree} is not a folder").format(tree=tree), hint=_("pass the staged folder to write into the image")
        )
    root = Node(name="", path=os.fspath(tree), rel="", children=[])
    problems: list[str] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        _read_folder(folder, problems)
        assert folder.children is not None
        stack.extend(c for c in folder.children if c.children is not None)
        folder.recount()
        if folder.entries > MAX_DIR_ENTRIES:
            problems.append(
                _("{path}: too many files for one FAT32 folder (at most {limit} entries): split it").format(
                    path=folder.rel or ".", limit=MAX_DIR_ENTRIES
                )
            )
    return root, sorted(problems)


def tree_error(tree: Path, problems: list[str]) -> AssemblyError:
    """One error listing every problem of ``tree``."""
    count = len(problems)
    return AssemblyError(
        ngettext("{count} problem in {tree} for a FAT32 key", "{count} problems in {tree} for a FAT32 key", count).format(
            count=count, tree=tree
        ),
        hint=_("rename or remove the paths listed, then build again"),
        details=problems,
    )


def check_fat_tree(tree: Path) -> None:
    """Raise AssemblyError listing every path under ``tree`` that FAT32 cannot hold as it is."""
    _root, problems = scan_tree(tree)
    if problems:
        raise tree_error(tree, problems)


def merge_trees(into: Node, other: Node, replace: bool, problems: list[str]) -> None:
    """Add ``other``'s children to ``into``'s: same-named folders (as FAT compares names) merge; a
    same-named file replaces the one of ``into`` (``replace``) or is a clash, added to ``problems``."""
    assert into.children is not None and other.children is not None
    index = {case_key(c.name): i for i, c in enumerate(into.children)}
    for child in other.children:
        i = index.get(case_key(child.name))
        if i is None:
            into.children.append(child)
            continue
        mine = into.children[i]
        if mine.children is not None and child.children is not None:
            merge_trees(mine, child, replace, problems)
        elif replace:
            into.children[i] = child
        else:
            problems.append(
                _("{path}: the base ISO has {other} too: rename or remove it in the pack").format(path=child.rel, other=mine.rel)
            )
    into.children.sort(key=lambda c: c.name)
    into.recount()


def drop_path(root: Node, rel: str) -> None:
    """Remove the node at ``rel`` (names compared as FAT compares them), if there is one."""
    *parents, name = rel.split("/")
    node: Node | None = root
    for part in parents:
        node = next((c for c in node.children or () if case_key(c.name) == case_key(part)), None) if node else None
    if node is not None and node.children is not None:
        node.children = [c for c in node.children if case_key(c.name) != case_key(name)]
        node.recount()


def cluster_count(node: Node, cluster_bytes: int) -> int:
    """Clusters one node takes: a file's size rounded up, a folder's entries (at least one cluster)."""
    if node.children is None:
        return -(-node.size // cluster_bytes)
    return max(1, -(-node.entries * 32 // cluster_bytes))


def needed_clusters(root: Node, cluster_bytes: int) -> int:
    """Clusters the whole tree takes."""
    total = 0
    stack = [root]
    while stack:
        node = stack.pop()
        total += cluster_count(node, cluster_bytes)
        stack.extend(node.children or ())
    return total
