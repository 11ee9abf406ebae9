"""The image package keeps its shape: modules of at most 500 lines, functions of at most 60, one
module per on-disk structure, and modules that use another's private names only inside their own
package."""

from __future__ import annotations

import ast
from pathlib import Path

import packbuilder.image

IMAGE = Path(packbuilder.image.__file__).parent
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return sorted(IMAGE.rglob("*.py"))


def test_modules_are_short() -> None:
    long = {str(p.relative_to(IMAGE)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_functions_are_short() -> None:
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(IMAGE)}:{node.lineno} {node.name}"] = lines
    assert long == {}


GETTEXT = ("_", "N_")  # the translation functions: named the gettext way, public all the same


def test_no_private_names_across_modules() -> None:
    """``from x import _name`` and ``module._name`` between image modules: the seams stay public."""
    found = []
    for path in _modules():
        tree = ast.parse(path.read_text())
        imported_modules = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("packbuilder"):
                private = [a.name for a in node.names if a.name.startswith("_") and a.name not in GETTEXT]
                found += [f"{path.name}: {node.module}.{name}" for name in private]
                imported_modules |= {a.asname or a.name for a in node.names}
            elif isinstance(node, ast.Import):
                imported_modules |= {a.asname or a.name.split(".")[0] for a in node.names}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in imported_modules
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                found.append(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr}")
    assert found == []


def test_one_module_per_structure() -> None:
    """The MBR's entries and CHS addresses, the GPT's CRCs are packed in one place each."""
    packers = {}
    for path in _modules():
        text = path.read_text()
        for needle in ('"<B3sB3sII"', "def chs(", "def _chs(", "zlib.crc32"):
            if needle in text:
                packers.setdefault(needle.strip('"('), []).append(str(path.relative_to(IMAGE)))
    assert packers == {"<B3sB3sII": ["mbr.py"], "def chs": ["mbr.py"], "zlib.crc32": ["gpt.py"]}
