"""What the appending writer adds: the overlay plan as a tree of folders and file contents.

Names are NFC-normalized (the form Windows and macOS write); a plan naming a path both as a file and
as a folder is refused before any byte is written.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

from packbuilder.errors import AssemblyError
from packbuilder.i18n import _
from packbuilder.image.iso9660.records import BLOCK, XORRISO_HINT

CHUNK = 1 << 20
MAX_FILE = (1 << 32) - 1  # one extent; multi-extent files are not written


class OverlayPlanLike(Protocol):
    """What the writer reads of ``packbuilder.image.overlay.OverlayPlan``."""

    @property
    def base(self) -> Path: ...
    @property
    def files(self) -> tuple[tuple[str, Path], ...]: ...
    @property
    def dirs(self) -> tuple[str, ...]: ...
    @property
    def replace(self) -> tuple[tuple[str, bytes], ...]: ...
    @property
    def epoch(self) -> int: ...


@dataclass(eq=False)
class FileData:
    """One added or replaced file's content and its extent."""

    size: int
    path: Path | None = None
    content: bytes | None = None
    lba: int = 0

    def write(self, f: BinaryIO) -> None:
        f.seek(self.lba * BLOCK)
        if self.content is not None:
            f.write(self.content)
            return
        assert self.path is not None
        copied = 0
        with self.path.open("rb") as src:
            while chunk := src.read(CHUNK):
                copied += len(chunk)
                if copied > self.size:
                    break
                f.write(chunk)
        if copied != self.size:
            raise AssemblyError(_("{path} changed size while the ISO was written").format(path=self.path), hint=_("build again"))


@dataclass(eq=False)
class PlanNode:
    name: str
    data: FileData | None = None  # None: a directory
    children: dict[str, PlanNode] = field(default_factory=dict)


def _components(iso_path: str) -> list[str]:
    parts = [unicodedata.normalize("NFC", p) for p in iso_path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise AssemblyError(
            _("invalid ISO path {iso_path!r}").format(iso_path=iso_path), hint=_("ISO paths are absolute, like /PACK/Menu.html")
        )
    return parts


def _node_at(root: PlanNode, parts: list[str], iso_path: str) -> PlanNode:
    node = root
    for part in parts:
        if node.data is not None:
            raise AssemblyError(
                _("{iso_path}: a parent folder is a file in the plan").format(iso_path=iso_path), hint=_("rename one of them")
            )
        node = node.children.setdefault(part, PlanNode(part))
    return node


def plan_tree(plan: OverlayPlanLike) -> PlanNode:
    root = PlanNode("")
    for iso_dir in plan.dirs:
        _node_at(root, _components(iso_dir), iso_dir)
    entries: list[tuple[str, FileData]] = []
    for iso_path, source in plan.files:
        size = Path(source).stat().st_size
        entries.append((iso_path, FileData(size=size, path=Path(source))))
    entries += [(iso_path, FileData(size=len(content), content=content)) for iso_path, content in plan.replace]
    for iso_path, data in entries:
        if data.size > MAX_FILE:
            raise AssemblyError(_("{iso_path} is 4 GiB or larger").format(iso_path=iso_path), hint=_(XORRISO_HINT))
        parts = _components(iso_path)
        parent = _node_at(root, parts[:-1], iso_path)
        node = parent.children.setdefault(parts[-1], PlanNode(parts[-1], data))
        if node.data is None or node.children:
            raise AssemblyError(
                _("{iso_path} is both a file and a folder in the plan").format(iso_path=iso_path), hint=_("rename one of them")
            )
        node.data = data
    return root


def file_sources(node: PlanNode) -> Iterator[FileData]:
    """File contents in plan order (sorted paths), each once."""
    for name in sorted(node.children):
        child = node.children[name]
        if child.data is not None:
            yield child.data
        else:
            yield from file_sources(child)

