"""Compile the translation catalogs (``packbuilder/locale/*/LC_MESSAGES/*.po`` -> ``.mo``).

Used by the package build (hatchling runs the hook below for wheels and editable installs), by
``make locale`` (``python3 hatch_build.py``) and by the tests. The ``.mo`` files are build outputs,
never committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
LOCALE = ROOT / "packbuilder" / "locale"


def compile_catalogs(locale_dir: Path = LOCALE) -> list[Path]:
    """Write each ``.po``'s ``.mo`` beside it when missing or older; return the ``.mo`` files."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po in sorted(locale_dir.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with po.open("rb") as fh:
                catalog = read_po(fh, locale=po.parent.parent.name)
            tmp = mo.with_suffix(".mo.tmp")
            with tmp.open("wb") as fh:
                write_mo(fh, catalog, use_fuzzy=False)
            tmp.replace(mo)
        written.append(mo)
    return written


def extract_cli(fileobj: Any, keywords: Any, comment_tags: Any, options: Any) -> Any:
    """Babel extraction method for packbuilder/cli/ (babel.cfg): the ``_()`` messages, plus the
    docstrings of the command functions (decorated ``@app.command`` or with typer parameters), which ``packbuilder.cli``
    translates into the commands' help at start."""
    import ast

    from babel.messages.extract import extract_python

    source = fileobj.read()
    fileobj.seek(0)
    yield from extract_python(fileobj, keywords, comment_tags, options)
    tree = ast.parse(source)
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
            continue
        annotations = " ".join(ast.unparse(a.annotation) for a in node.args.args if a.annotation is not None)
        doc = ast.get_docstring(node)
        decorated = any(".command" in ast.unparse(d) for d in node.decorator_list)
        if doc and (decorated or "typer." in annotations or "Opt" in annotations):
            yield node.body[0].lineno, None, doc, []


try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # run as a script (make locale) where hatchling is not installed
    BuildHookInterface = object  # type: ignore[assignment,misc]


class LocaleBuildHook(BuildHookInterface):  # type: ignore[misc,valid-type,type-arg,unused-ignore]
    """Compiles the catalogs before hatchling collects the package's files."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        mos = compile_catalogs(Path(self.root) / "packbuilder" / "locale")
        if version == "editable":  # the package is used in place, where the .mo files now are
            return
        # .mo files are ignored by git, so hatchling would leave them out: include them by name.
        for mo in mos:
            rel = mo.relative_to(self.root).as_posix()
            build_data.setdefault("force_include", {})[str(mo)] = rel


if __name__ == "__main__":
    for path in compile_catalogs():
        print(path.relative_to(ROOT))
