"""``manifest lint``: check catalog folders or single manifest files."""

from __future__ import annotations

from pathlib import Path

from packbuilder.catalog import KIND_DIRS, Problem, check_tree
from packbuilder.errors import InputError
from packbuilder.fsutil import display_path
from packbuilder.i18n import _


def _catalog_root(path: Path) -> Path:
    """The catalog a manifest file belongs to: ``<root>/<kind>s/<id>.yaml``."""
    if path.parent.name not in KIND_DIRS:
        raise InputError(
            _("cannot tell what kind of manifest {path} is").format(path=display_path(path)),
            hint=_("manifests live in {folders} of a catalog folder").format(folders=", ".join(d + "/" for d in KIND_DIRS)),
        )
    return path.parent.parent


def lint_paths(paths: list[Path]) -> tuple[list[Problem], int]:
    """Problems for the given folders and files, and how many files were checked.

    A single file is checked with the rest of its catalog, so references to other
    apps and profiles are checked too; only its own problems are reported.
    """
    roots: dict[Path, set[str] | None] = {}
    for path in paths:
        if not path.exists():
            raise InputError(_("{path} does not exist").format(path=display_path(path)))
        if path.is_dir():
            roots[path.resolve()] = None
        else:
            root = _catalog_root(path.resolve())
            wanted = roots.setdefault(root, set())
            if wanted is not None:
                wanted.add(display_path(path.resolve()))
    problems: list[Problem] = []
    checked = 0
    for root, wanted in roots.items():
        from packbuilder.catalog import scan_files

        _trees, found = check_tree(root, review=True)
        if wanted is None:
            checked += len(scan_files(root))
            problems.extend(found)
        else:
            checked += len(wanted)
            problems.extend(p for p in found if p.path in wanted)
    return sorted(problems), checked
