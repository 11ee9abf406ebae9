"""Every error a user reads from the library's modules is translated.

The rule, checked on the source (``ast``) of the modules in :data:`CHECKED`: wherever one of packbuilder's
error types is constructed (the types of ``errors.py`` and any class of the package derived from them),
its message (first positional argument or ``message=``) and its ``hint=`` are one of

- a translated text: ``_("...")``, ``ngettext(...)``, or either followed by ``.format(...)``, or
  ``.format(...)`` of a name (a template chosen among translated ones: ``message = _("a") if x else _("b")``);
- a text translated elsewhere and passed through: a plain name (``message``, ``hint``), an attribute
  (``err.hint``), a call of a local function that returns translated text, or ``None``;
- a choice between two of the above (``_("a") if x else _("b")``), their sum (``guess + _("...")``), or
  ``"\\n".join(...)`` of them.

What fails: a string literal, an f-string, ``"..." + x``, ``"...".format()``: English whatever the locale.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from packbuilder import i18n
from tests.conftest import FIXTURES, ROOT

PACKAGE = ROOT / "packbuilder"
# Files and folders (relative to packbuilder/) whose error messages must all go through the catalog.
CHECKED = [
    "fetch",
    "updates",
    "update.py",
    "model",
    "lint.py",
    "lint_rules.py",
    "yamlsrc.py",
    "versions.py",
    "plan",
    "paths.py",
    "cli",
    "catalog.py",
    "packs.py",
    "profiles.py",
    "stage.py",
]
BASE_ERRORS = {
    "PackbuilderError", "InputError", "CheckFailed", "NetworkError", "VerificationError", "AssemblyError", "ToolMissing"
}
TRANSLATORS = {"_", "ngettext"}


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def error_types() -> set[str]:
    """The error types of errors.py and every class of the package derived from one of them."""
    known = set(BASE_ERRORS)
    classes = [
        node
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef)
    ]
    grew = True
    while grew:
        grew = False
        for cls in classes:
            if cls.name not in known and any(_name(base) in known for base in cls.bases):
                known.add(cls.name)
                grew = True
    return known


def translated(node: ast.expr) -> bool:
    """Whether ``node`` is text that went through the catalog (see the module's rule)."""
    if isinstance(node, ast.Constant):
        return node.value is None
    if isinstance(node, ast.Name | ast.Attribute):
        return True
    if isinstance(node, ast.IfExp):
        return translated(node.body) and translated(node.orelse)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return translated(node.left) and translated(node.right)
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Name):
        return True  # _(...), ngettext(...), or a local function building translated text
    if isinstance(func, ast.Attribute) and func.attr == "format":
        inner = func.value
        return isinstance(inner, ast.Name) or (isinstance(inner, ast.Call) and _name(inner.func) in TRANSLATORS)
    if isinstance(func, ast.Attribute) and func.attr == "join" and isinstance(func.value, ast.Constant):
        return all(translated(arg) for arg in node.args)
    return False


def checked_files() -> list[Path]:
    files: list[Path] = []
    for entry in CHECKED:
        path = PACKAGE / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def untranslated(path: Path, types: set[str]) -> Iterator[str]:
    """``file:line: Type(...) message/hint`` for each error built from text the catalog never sees."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _name(node.func) in types):
            continue
        parts: list[tuple[str | None, ast.expr]] = [("message", node.args[0])] if node.args else []
        parts.extend((kw.arg, kw.value) for kw in node.keywords if kw.arg in ("message", "hint"))
        for what, value in parts:
            if not translated(value):
                yield f"{shown}:{node.lineno}: {_name(node.func)}(...) {what}: {ast.unparse(value)[:70]}"


def test_every_error_of_the_library_is_translated() -> None:
    types = error_types()
    assert {"InputError", "UnsafeArchive"} <= types  # subclasses are found
    files = checked_files()
    assert all(f.is_file() for f in files)
    found = [line for path in files for line in untranslated(path, types)]
    assert found == []


def test_the_check_tells_translated_from_english_text(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        "raise InputError(_('unknown pack {id}').format(id=x), hint=_('see packs list'))\n"
        "raise InputError(message, hint=err.hint)\n"
        "raise CheckFailed(_('a') if n else ngettext('{n} b', '{n} bs', n).format(n=n), hint=None)\n"
        "raise NetworkError(f'cannot reach {url}')\n"
        "raise InputError(_('x'), hint='run it again')\n"
        "raise ToolMissing('tool ' + name)\n"
        "raise InputError('{x}'.format(x=1))\n",
        encoding="utf-8",
    )
    found = sorted(untranslated(source, BASE_ERRORS), key=lambda line: int(line.split(":")[1]))
    assert [line.split(":")[1] for line in found] == ["4", "5", "6", "7"]
    assert " message: " in found[0] and " hint: " in found[1]


def test_lint_speaks_french_down_to_pydantic_and_the_loader(tmp_path: Path) -> None:
    """Under French, every part of « file:line: field: message » is French: the loader's own words,
    our validators', and pydantic's (with its values); paths and field names stay as written."""
    import shutil

    from packbuilder.catalog import check_tree

    shutil.copytree(FIXTURES / "mini", tmp_path / "mini")
    manifests = tmp_path / "mini" / "manifests"
    for case in ("02-wrong-type", "03-unknown-key", "10-bad-category", "04-short-hash"):
        shutil.copy(ROOT / "tests" / "malformed" / f"{case}.yaml", manifests / "apps" / f"{case[3:].replace('-', '')}.yaml")
    i18n.set_language("fr")
    try:
        _catalog, problems = check_tree(manifests, review=True)
    finally:
        i18n.set_language("en")
    text = "\n".join(str(p) for p in problems)
    assert "releases[0].artifacts[0].size: la valeur doit être un nombre entier" in text
    assert "releases[0].artifacts[0].sha265: clé inconnue" in text
    assert "category: la valeur doit être 'office', 'graphics'" in text and "' ou '" in text
    assert "64 chiffres hexadécimaux en minuscules attendus" in text
    assert "Input should" not in text and "unknown key" not in text


def test_a_refused_lock_is_explained_in_french(tmp_path: Path) -> None:
    """The CLI under a French locale: the lock's refusal, its validators' words and pydantic's, and the hint."""
    import json

    from tests.conftest import run_cli

    lock = tmp_path / "atelier.lock"
    lock.write_text(json.dumps({"lock_version": 1, "pack": {"id": "Bad Id"}}), encoding="utf-8")
    result = run_cli("fetch", str(lock), env={"LANG": "fr_FR.UTF-8"})
    assert result.returncode == 2, result.stderr
    assert "n’est pas un fichier lock valide" in result.stderr
    assert "pack.id : " not in result.stderr  # field paths stay as written, "file: field: message"
    assert "pack.id: 'Bad Id' n’est pas un identifiant valide" in result.stderr
    assert "champ obligatoire" in result.stderr and "Field required" not in result.stderr
    english = run_cli("fetch", str(lock))
    assert "is not a valid lock file" in english.stderr and "Field required" in english.stderr
