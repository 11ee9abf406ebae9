"""Every error a user can meet speaks the user's language: a static check of the code.

The check reads the package's modules (their syntax tree, nothing is run) and finds every call that
builds a user-facing error: ``PackbuilderError`` and its subclasses from ``packbuilder.errors``
(``InputError``, ``CheckFailed``, ``NetworkError``, ``VerificationError``, ``AssemblyError``,
``ToolMissing``), every class of the package that derives from one of them (``UnsafeArchive``…), and a
parameter holding one (``error: type[PackbuilderError] = AssemblyError`` then ``raise error(…)``).
Its message (the first argument, or ``message=``) and its ``hint=`` must each be *translated*:

- a call of ``_()`` or ``ngettext()``, or a method called on one (``_("… {name} …").format(name=…)``);
- ``None`` (no hint);
- a name whose every assignment in the enclosing function is itself translated, or a parameter of the
  enclosing function: the text is then the caller's, passed through, and the calls of that function in
  the same module are checked by the same rule for that argument (``def refuse(what): … _("… {what}")``
  with ``refuse("english words")`` is refused; a value put into a placeholder is refused only when it
  is a literal in words, since it may be data: a name, a number);
- an attribute (``exc.message``, ``err.hint``, ``self.label``): a text held by an object, typically an
  error of the package being re-raised as another kind, which was checked where it was built;
- a conditional expression whose both branches are translated; a method called on a translated text
  (``message.format(…)`` after ``message = _("…")``);
- texts held by objects put together with punctuation only: ``"; ".join(r.hint for r in refusals)``.

Anything else is refused: a string literal, an f-string, ``str(exc)`` (a system message, English), a
concatenation (``_("a") + b``: the translator must see the whole sentence, so fill a placeholder). The
``details=`` lines are not checked: they hold data (file names, tool output, validation lines).

Errors built in another module than the text (a helper of module A called from module B) are not
followed: each module is read alone.

Every module of the package is checked, a new one included.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "packbuilder"

CHECKED = ["."]  # paths relative to ``packbuilder/``, a folder meaning every module under it

BASE_ERRORS = {
    "PackbuilderError",
    "InputError",
    "CheckFailed",
    "NetworkError",
    "VerificationError",
    "AssemblyError",
    "ToolMissing",
}
TRANSLATORS = {"_", "ngettext"}


def _name_of(node: ast.expr) -> str | None:
    """``Foo`` for ``Foo`` and ``errors.Foo``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def error_classes(modules: list[ast.Module]) -> set[str]:
    """The error types of ``packbuilder.errors`` and every class of the package derived from them."""
    found = set(BASE_ERRORS)
    classes = [node for tree in modules for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    grew = True
    while grew:  # a subclass of a subclass: until nothing new is found
        grew = False
        for cls in classes:
            if cls.name not in found and any(_name_of(base) in found for base in cls.bases):
                found.add(cls.name)
                grew = True
    return found


@dataclass
class Problem:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def _is_translation_call(node: ast.expr) -> bool:
    if not isinstance(node, ast.Call):
        return False
    if isinstance(node.func, ast.Name) and node.func.id in TRANSLATORS:
        return True
    # _("…").format(…), ngettext(…).format(…), _("…").strip(): a method called on a translated text
    return isinstance(node.func, ast.Attribute) and _is_translation_call(node.func.value)


class _Function:
    """What the check needs to know of the function around a call: parameters and assignments."""

    def __init__(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Module):
        self.params: set[str] = set()
        self.assigned: dict[str, list[ast.expr]] = {}
        if not isinstance(node, ast.Module):
            args = node.args
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
            every += [a for a in (args.vararg, args.kwarg) if a is not None]
            self.params = {a.arg for a in every}
        for sub in ast.walk(node):
            if isinstance(sub, ast.Assign):
                for target in sub.targets:
                    if isinstance(target, ast.Name):
                        self.assigned.setdefault(target.id, []).append(sub.value)
                    elif isinstance(target, ast.Tuple):  # a, b = _("x"), _("y")
                        values = sub.value.elts if isinstance(sub.value, ast.Tuple) else None
                        for i, elt in enumerate(target.elts):
                            if isinstance(elt, ast.Name):
                                value = values[i] if values and i < len(values) else sub.value
                                self.assigned.setdefault(elt.id, []).append(value)
            elif isinstance(sub, (ast.AnnAssign, ast.NamedExpr)) and isinstance(sub.target, ast.Name) and sub.value:
                self.assigned.setdefault(sub.target.id, []).append(sub.value)
            elif isinstance(sub, ast.AugAssign) and isinstance(sub.target, ast.Name):
                self.assigned.setdefault(sub.target.id, []).append(sub)  # type: ignore[arg-type]  # refused below


def _is_separator(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and not any(c.isalpha() for c in node.value)


def why_untranslated(node: ast.expr | None, scope: _Function, seen: frozenset[str] = frozenset()) -> str | None:
    """None when ``node`` is a translated text by the module docstring's rule, else what it is."""
    if node is None or (isinstance(node, ast.Constant) and node.value is None):
        return None
    if _is_translation_call(node):
        return None
    if isinstance(node, ast.Attribute):
        return None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr == "join" and _is_separator(node.func.value):
            return None  # "; ".join(hints): texts held by objects, put together with punctuation
        return why_untranslated(node.func.value, scope, seen)  # message.format(…) with message = _("…")
    if isinstance(node, ast.IfExp):
        return why_untranslated(node.body, scope, seen) or why_untranslated(node.orelse, scope, seen)
    if isinstance(node, ast.Name):
        if node.id in seen:
            return None
        values = scope.assigned.get(node.id, [])
        if not values:
            return None if node.id in scope.params else f"{node.id!r}: not assigned in this function"
        for value in values:
            if not isinstance(value, ast.expr):
                return f"{node.id!r} is built piece by piece (+=)"
            why = why_untranslated(value, scope, seen | {node.id})
            if why:
                return f"{node.id!r} = {why}"
        return None
    if isinstance(node, ast.Constant):
        return f"a literal {node.value!r}"
    if isinstance(node, ast.JoinedStr):
        return "an f-string"
    return f"{ast.unparse(node)[:60]!r}"


def _scopes(tree: ast.Module) -> dict[int, tuple[_Function, ast.FunctionDef | ast.AsyncFunctionDef | None]]:
    """For each call (by id), the innermost function around it (its facts and its node)."""
    by_call: dict[int, tuple[_Function, ast.FunctionDef | ast.AsyncFunctionDef | None]] = {}

    def visit(node: ast.AST, scope: tuple[_Function, ast.FunctionDef | ast.AsyncFunctionDef | None]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, (_Function(child), child))
            else:
                if isinstance(child, ast.Call):
                    by_call[id(child)] = scope
                visit(child, scope)

    visit(tree, (_Function(tree), None))
    return by_call


def _english_literal(node: ast.expr | None) -> str | None:
    """What is wrong with a literal in words put into a translated sentence (None: nothing)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and " " in node.value.strip():
        return f"a literal {node.value!r}"
    if isinstance(node, ast.JoinedStr):
        words = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
        if sum(c.isalpha() for c in words) > 3:
            return "an f-string"
    return None


def _is_error_parameter(func: ast.expr, function: ast.FunctionDef | ast.AsyncFunctionDef | None, classes: set[str]) -> bool:
    """``error(…)`` where ``error: type[AssemblyError] = AssemblyError`` is a parameter: an error class too."""
    if function is None or not isinstance(func, ast.Name):
        return False
    args = function.args
    for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs):
        if arg.arg == func.id and arg.annotation is not None:
            return any(isinstance(n, ast.Name) and n.id in classes for n in ast.walk(arg.annotation))
    return False


def _argument(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    if len(call.args) > index and not any(isinstance(a, ast.Starred) for a in call.args[: index + 1]):
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def _param_index(function: ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> int:
    """The position of parameter ``name`` as a caller sees it (``self`` left out of methods)."""
    positional = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
    if positional and positional[0] in ("self", "cls"):
        positional = positional[1:]
    return positional.index(name) if name in positional else 10**6


def check_module(tree: ast.Module, path: str, classes: set[str]) -> list[Problem]:
    """The error calls of one module, then the calls of its functions that pass a parameter of theirs
    through as an error's text (``def refuse(what): return AssemblyError(_("… {what}").format(what=what))``
    is fine, ``refuse("english")`` is not): the arguments given for that parameter are checked too."""
    out: list[Problem] = []
    scopes = _scopes(tree)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    # (function name, parameter index, parameter name, what it becomes): texts to check at the callers
    todo: list[tuple[str, int, str, str]] = []
    for node in calls:
        scope, function = scopes[id(node)]
        if _name_of(node.func) not in classes and not _is_error_parameter(node.func, function, classes):
            continue
        name = _name_of(node.func)
        texts = [("message", _argument(node, 0, "message")), ("hint", _argument(node, 1, "hint"))]
        for role, value in texts:
            why = why_untranslated(value, scope)
            if why:
                out.append(Problem(path, node.lineno, f"{name} {role} is not translated: {why}"))
            elif function is not None and isinstance(value, ast.Name) and value.id in scope.params:
                todo.append((function.name, _param_index(function, value.id), value.id, f"{name} {role}"))
            if function is not None and isinstance(value, ast.Call) and _is_translation_call(value):
                # _("… {what} …").format(what=what): a parameter put into the sentence must not be English
                for k in value.keywords:
                    if isinstance(k.value, ast.Name) and k.value.id in scope.params:
                        index = _param_index(function, k.value.id)
                        todo.append((function.name, index, k.value.id, f"{{{k.arg}}} of a {name}"))
    done: set[tuple[str, int, str]] = set()
    while todo:
        function_name, index, param, role = todo.pop()
        if (function_name, index, param) in done:
            continue
        done.add((function_name, index, param))
        for call in calls:
            if _name_of(call.func) != function_name:
                continue
            value = _argument(call, index, param)
            scope, function = scopes[id(call)]
            if role.startswith("{"):  # a value put into a sentence may be data (a name, a number): words are refused
                why = _english_literal(value)
            else:
                why = why_untranslated(value, scope) if value is not None else None
            if why:
                out.append(Problem(path, call.lineno, f"{function_name}() passes {param} as the {role}: not translated: {why}"))
            elif function is not None and isinstance(value, ast.Name) and value.id in scope.params:
                todo.append((function.name, _param_index(function, value.id), value.id, role))
    return out


def modules(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for rel in paths:
        target = PACKAGE / rel
        found += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    return found


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_every_module_of_the_package_is_checked() -> None:
    assert set(modules(CHECKED)) == set(PACKAGE.rglob("*.py"))


def test_every_error_of_the_checked_modules_is_translated() -> None:
    classes = error_classes([parse(p) for p in sorted(PACKAGE.rglob("*.py"))])
    assert {"UnsafeArchive", "InputError"} <= classes
    checked = modules(CHECKED)
    assert len(checked) > 20
    problems = [p for path in checked for p in check_module(parse(path), str(path.relative_to(ROOT)), classes)]
    assert [str(p) for p in problems] == []


def _problems_in(source: str) -> list[str]:
    tree = ast.parse(source)
    return [p.what for p in check_module(tree, "x.py", error_classes([tree]))]


def test_the_check_refuses_english_and_accepts_translations() -> None:
    refused = _problems_in(
        "class Mine(AssemblyError): pass\n"
        "def f(path, exc):\n"
        "    raise InputError(f'{path} is missing', hint=_('give one'))\n"
        "def g(exc):\n"
        "    raise errors.AssemblyError(_('cannot write'), hint='install xorriso')\n"
        "def h(exc):\n"
        "    raise Mine(str(exc))\n"
        "def i():\n"
        "    text = 'plain'\n"
        "    raise CheckFailed(text)\n"
        "def j(n):\n"
        "    raise VerificationError(_('bad') + ': ' + n)\n"
        "def k(flag):\n"
        "    raise ToolMissing(_('x') if flag else 'y')\n"
        "def m(names):\n"
        "    raise InputError(' and '.join(names), hint='{}'.format(names))\n"
        "def run(argv, error: type[PackbuilderError] = AssemblyError):\n"
        "    raise error(f'{argv[0]} failed')\n"
        "def refuse(what, hint=None):\n"
        "    return AssemblyError(_('cannot keep {what}').format(what=what), hint=hint)\n"
        "def p(offset):\n"
        "    raise refuse(f'an offset of {offset}')\n"
        "def q():\n"
        "    raise refuse(_('a GPT'), hint='use xorriso')\n"
    )
    assert len(refused) == 11, refused
    assert any(p.startswith("refuse() passes what") for p in refused)
    assert any(p.startswith("refuse() passes hint") for p in refused)
    assert any("f-string" in p for p in refused) and any("'install xorriso'" in p for p in refused)
    assert any(p.startswith("Mine message") for p in refused)
    accepted = _problems_in(
        "def f(path, message, hint=None):\n"
        "    raise InputError(_('{path} is missing').format(path=path), hint=_('give one'))\n"
        "def g(message, hint=None):\n"
        "    raise AssemblyError(message, hint=hint)\n"
        "def h(exc):\n"
        "    raise NetworkError(exc.message, hint=exc.hint, details=[str(exc)])\n"
        "def i(n, flag):\n"
        "    text = ngettext('{n} file', '{n} files', n).format(n=n) if flag else _('none')\n"
        "    raise CheckFailed(text)\n"
        "def j():\n"
        "    raise VerificationError(message=_('bad'), hint=None)\n"
        "def k(label):\n"
        "    raise ValueError(f'{label}: not an error of ours')\n"
        "def m(refusals, flag):\n"
        "    message = _('a') if flag else _('b')\n"
        "    raise InputError(message.format(n=1), hint='; '.join(r.hint for r in refusals))\n"
        "HINT = N_('install it')\n"
        "def n():\n"
        "    raise ToolMissing(_('missing'), hint=_(HINT))\n"
        "def refuse(what, name, hint=None):\n"
        "    return AssemblyError(_('{name}: cannot keep {what}').format(what=what, name=name), hint=hint)\n"
        "def o(n):\n"
        "    raise refuse(_('an offset of {n}').format(n=n), 'EFI', hint=_('use xorriso'))\n"
    )
    assert accepted == []


def _rebinds_underscore(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """The function assigns ``_`` itself (``for _ in``, ``a, _ = ``, ``with … as _``), not in a nested scope."""
    todo: list[ast.AST] = list(function.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store):
            return True
        todo.extend(ast.iter_child_nodes(node))
    return False


def _calls_underscore(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "_" for n in ast.walk(function)
    )


def shadowed_translations(tree: ast.Module, path: str) -> list[str]:
    """Functions that call ``_()`` but also use ``_`` as a throwaway name: ``_`` is then a local variable
    for the whole function, and the translation call fails (UnboundLocalError, or calls a number)."""
    return [
        f"{path}:{node.lineno}: {node.name}() calls _() but assigns _ too: name the throwaway value"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _rebinds_underscore(node) and _calls_underscore(node)
    ]


def test_no_function_of_the_checked_modules_hides_the_translation_function() -> None:
    found = [line for path in modules(CHECKED) for line in shadowed_translations(parse(path), str(path.relative_to(ROOT)))]
    assert found == []
    example = ast.parse("def f(pairs):\n    for _ in pairs:\n        pass\n    return _('done')\n")
    assert len(shadowed_translations(example, "x.py")) == 1
