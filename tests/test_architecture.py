"""The import rule of CONTRIBUTING.md's ARCHITECTURE section, checked on the source.

Every module of the package sits in one layer; a module imports only from its own layer or
lower ones (imports inside functions and under TYPE_CHECKING count too), and the imports form no
cycle, not even within a layer. The command modules of ``cli/`` never import each other: shared
options live in ``cli/options.py``.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "packbuilder"

# Lowest first: the flow of DESIGN.md (catalog -> plan -> fetch -> stage -> image -> build -> publish),
# with the helpers every stage uses at the bottom and the command line on top.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("packbuilder", "errors", "ui", "fsutil", "sizes", "paths", "tools", "versions", "yamlsrc", "versionspec", "i18n"),
    ("model",),
    ("catalog", "lint", "lint_rules", "profiles"),
    ("plan", "matrix", "reasons", "packs"),
    ("fetch",),
    ("unpack", "pages", "menu", "launchers", "stage"),
    ("image", "flash"),
    ("build", "verify", "workspace", "journal", "update"),
    ("publish", "copies", "site", "torrent", "updates", "report"),
    ("cli", "__main__"),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    """The layer of ``packbuilder.x.y``: the longest listed prefix of ``x.y`` wins."""
    rel = module.removeprefix("packbuilder").lstrip(".") or "packbuilder"
    best, depth = None, -1
    for index, names in enumerate(LAYERS):
        for name in names:
            if (rel == name or rel.startswith(name + ".")) and len(name) > depth:
                best, depth = index, len(name)
    assert best is not None, f"{module} is in no layer of tests/test_architecture.py: add it (and to CONTRIBUTING.md)"
    return best


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every packbuilder module ``path`` imports, wherever the import statement is."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "packbuilder":
                found += [(node.lineno, f"packbuilder.{a.name}") for a in node.names if a.name != "__version__"]
                found += [(node.lineno, "packbuilder") for a in node.names if a.name == "__version__"]
            elif node.module.startswith("packbuilder."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("packbuilder.")]
    return found


def test_every_import_goes_down_the_layers() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "_shipped" in path.parts:
            continue
        here = module_name(path)
        for line, target in imports(path):
            if layer(target) > layer(here):
                where = f"{path.relative_to(ROOT)}:{line}"
                wrong.append(f"{where}: {here} (layer {layer(here)}) imports {target} (layer {layer(target)})")
    assert not wrong, "\n".join(wrong)


def test_command_modules_do_not_import_each_other() -> None:
    wrong = []
    for path in sorted((PACKAGE / "cli").glob("*_cmd.py")):
        for line, target in imports(path):
            if target.startswith("packbuilder.cli") and target != "packbuilder.cli.options":
                wrong.append(f"{path.relative_to(ROOT)}:{line}: imports {target}")
    assert not wrong, "\n".join(wrong)


def test_the_rule_catches_an_upward_import() -> None:
    assert layer("packbuilder.plan.lock") < layer("packbuilder.fetch.download") < layer("packbuilder.cli.build_cmd")
    assert layer("packbuilder.versionspec") == 0 and layer("packbuilder.updates.bump") == len(LAYERS) - 2


# Places that still do by hand what one module does for all; each names why it is allowed.
OWN_WAYS: dict[str, tuple[str, set[str]]] = {
    # call -> (the one module that does it, files still allowed to)
    "os.replace": (
        "packbuilder/fsutil.py",
        {
            "packbuilder/fetch/cache.py",  # the cache's commit, quarantine and metadata
            # not temp-then-rename: whole folders moved on one file system (a key's user data kept
            # across a rebuild; apps swapped by update under its journal)
            "packbuilder/build/outputs.py",
            "packbuilder/update.py",
        },
    ),
    "os.rename": ("packbuilder/fsutil.py", set()),
    "print": ("packbuilder/ui.py", set()),
    "sys.stdout.write": ("packbuilder/ui.py", set()),
    "shutil.which": ("packbuilder/tools.py", set()),
    "ToolMissing": (
        "packbuilder/tools.py",
        {"packbuilder/flash.py", "packbuilder/image/usblive/boot.py", "packbuilder/image/usblive/writer.py"},
    ),
}


def _call_name(node: ast.Call) -> str:
    parts = []
    func: ast.expr = node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))


def test_one_way_to_print_rename_and_find_tools() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = _call_name(node)
            if name in OWN_WAYS:
                home, allowed = OWN_WAYS[name]
                if rel != home and rel not in allowed:
                    wrong.append(f"{rel}:{node.lineno}: {name}(...) outside {home}")
    assert not wrong, "\n".join(wrong)


def imported_modules(here: str, is_package: bool, tree: ast.Module, known: set[str]) -> set[str]:
    """The modules of ``known`` that the module ``here`` (parsed as ``tree``) imports, anywhere in it.

    ``from packbuilder.x import y`` points at the module ``packbuilder.x.y`` when there is one, else
    at ``packbuilder.x`` (a name defined or re-exported there); relative imports are resolved."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = here.split(".") if is_package else here.split(".")[:-1]
                parts = parts[: len(parts) - node.level + 1]
                module = ".".join([*parts, module] if module else parts)
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in known else module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {target for target in found if target in known and target != here}


def module_graph() -> dict[str, set[str]]:
    """Every package module -> the package modules it imports (lazy imports and TYPE_CHECKING count)."""
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py") if "_shipped" not in p.parts}
    known = set(paths)
    return {
        here: imported_modules(here, path.name == "__init__.py", ast.parse(path.read_text(encoding="utf-8")), known)
        for here, path in paths.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (its modules in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done (no cycle through it)
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)) is not None:
            return cycle
    return None


def test_the_import_graph_has_no_cycle() -> None:
    cycle = find_cycle(module_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_sees_lazy_and_from_package_imports() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    graph = module_graph()
    # `from packbuilder.image.usblive import boot` is an edge to the submodule, not to the package
    assert "packbuilder.image.usblive.boot" in graph["packbuilder.image.usblive.writer"]
    assert "packbuilder.image.usblive" not in graph["packbuilder.image.usblive.writer"]
    assert "packbuilder.tools" in graph["packbuilder.image.iso_xorriso"]
    known = {"p", "p.a", "p.a.b", "p.a.c", "p.d"}
    source = ast.parse("from . import c\nfrom .. import d\nfrom ..a import b\ndef f():\n    from p.a import X\n")
    assert imported_modules("p.a.b", False, source, known) == {"p.a.c", "p.d", "p.a"}


MAX_MODULE_LINES, MAX_FUNCTION_LINES = 500, 60


def oversized(files: list[Path], root: Path = ROOT) -> list[str]:
    """Modules over MAX_MODULE_LINES lines and functions (methods, nested ones) over MAX_FUNCTION_LINES."""
    found = []
    for path in files:
        source = path.read_text(encoding="utf-8")
        name = path.relative_to(root).as_posix()
        if (lines := source.count("\n")) > MAX_MODULE_LINES:
            found.append(f"{name}: {lines} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    found.append(f"{name}:{node.lineno}: {node.name}() {length} lines")
    return found


def test_modules_and_functions_stay_readable_at_a_sitting() -> None:
    assert oversized(sorted(PACKAGE.rglob("*.py"))) == []


def test_the_size_rule_sees_long_functions_and_modules(tmp_path: Path) -> None:
    method = "".join(f"        x{n} = {n}\n" for n in range(MAX_FUNCTION_LINES))  # def line + 60 = 61 lines
    (tmp_path / "long.py").write_text(f"class C:\n    def f(self):\n{method}")
    (tmp_path / "big.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    (tmp_path / "fine.py").write_text("def g():\n" + "    y = 1\n" * (MAX_FUNCTION_LINES - 1))
    assert oversized(sorted(tmp_path.glob("*.py")), tmp_path) == [
        f"big.py: {MAX_MODULE_LINES + 1} lines",
        f"long.py:2: f() {MAX_FUNCTION_LINES + 1} lines",
    ]
