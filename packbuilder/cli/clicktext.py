"""The few texts of the command-line framework itself, in the user's language.

typer ships its own copy of click, whose help frame ("Usage:", "Show this message and exit.") and
usage errors ("No such option: --x") are written in English in its code; typer's section titles
("Options", "Commands", "Arguments") go through the standard ``gettext`` of the process, not ours.
:func:`install` routes these through :func:`packbuilder.i18n._` (each patch is skipped if typer's
internals moved: English help is then shown rather than an error), and :func:`usage_error` turns a
usage error into packbuilder's own « erreur : … / conseil : … » form.
"""

from __future__ import annotations

import re
from typing import Any

from packbuilder.i18n import N_, _

# typer's own messages (English in its code), and how they read once translated. Named placeholders.
_PATTERNS = (
    (re.compile(r"^No such option: (?P<option>\S+)(?: Did you mean (?P<suggestion>\S+)\?)?$"), N_("no such option: {option}")),
    (re.compile(r"^No such command '(?P<command>[^']*)'\.$"), N_("no such command: {command}")),
    (re.compile(r"^Missing argument '(?P<argument>[^']*)'\.$"), N_("missing argument: {argument}")),
    (re.compile(r"^Missing option '(?P<option>[^']*)'\.$"), N_("missing option: {option}")),
    (re.compile(r"^Got unexpected extra arguments? \((?P<extra>.*)\)$"), N_("unexpected argument(s): {extra}")),
    (re.compile(r"^Option '(?P<option>[^']*)' requires an argument\.$"), N_("the option {option} needs a value")),
    (
        re.compile(r"^Invalid value for (?P<parameter>'[^']*'(?: / '[^']*')*): (?P<reason>.*)$", re.S),
        N_("invalid value for {parameter}: {reason}"),
    ),
)
N_("Usage: ")
N_("Show this message and exit.")
N_("Options")
N_("Commands")
N_("Arguments")
# typer's bracketed notes after a parameter's help, and two of its messages (its ``_`` is ours).
N_("default: {default}")
N_("required")
N_("env var: {var}")
N_("Aborted!")
N_("Missing command.")

# The usage line's placeholders (« Utilisation : packbuilder [OPTIONS] COMMANDE [ARGUMENTS]... »).
_USAGE_PIECES = {N_("[OPTIONS]"), N_("COMMAND [ARGS]...")}

# The type labels typer shows for a parameter without a metavar (``<str>``, ``<path>``…), in words.
_TYPE_WORDS = {
    "str": N_("text"),
    "path": N_("path"),
    "file": N_("file"),
    "dir": N_("folder"),
    "int": N_("number"),
    "float": N_("number"),
    "int range": N_("number"),
    "float range": N_("number"),
    "Path": N_("path"),
}
_LIST_LABEL = re.compile(r"^list\[(?P<item>.+)\]$")


def type_label(label: str) -> str:
    """A typer type label (``str``, ``int range``, ``list[Path]``) in the user's language; a list
    reads as its item followed by ``...``; a label not known is kept."""
    found = _LIST_LABEL.match(label)
    if found:
        return type_label(found["item"]) + "..."
    return _(_TYPE_WORDS[label]) if label in _TYPE_WORDS else label


def number_range(low: float | None, high: float | None) -> str | None:
    """A parameter's allowed range in words (typer writes ``1<=x<=32``)."""
    if low is None and high is None:
        return None
    if low is None:
        return _("at most {high}").format(high=high)
    if high is None:
        return _("at least {low}").format(low=low)
    return _("{low} to {high}").format(low=low, high=high)


def translate_message(message: str) -> str:
    """A usage error's message from typer, in the user's language (as it is when not recognised)."""
    for pattern, template in _PATTERNS:
        found = pattern.match(message.strip())
        if found:
            return _(template).format(**{k: v or "" for k, v in found.groupdict().items()})
    return message


def usage_error(exc: Any) -> tuple[str, str]:
    """(message, hint) for one of typer's usage errors (``UsageError`` and its kinds)."""
    message = translate_message(exc.format_message())
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "packbuilder"
    return message, _("see: {command} --help").format(command=command)


def install() -> None:
    """Route the framework's help texts through our translations (once per process)."""
    try:
        import typer.core as typer_core
        from typer._click import core as click_core
        from typer._click import formatting
    except ImportError:  # another typer layout: its English texts stay
        return
    typer_core._ = _  # type: ignore[attr-defined]  # typer's section titles used the process's gettext
    _translate_types(typer_core)
    _translate_validation()
    for command_class in (click_core.Command, getattr(typer_core, "TyperGroup", None)):
        _translate_usage_pieces(command_class)
    write_usage = formatting.HelpFormatter.write_usage
    if not getattr(write_usage, "_packbuilder", False):

        def translated_usage(self: Any, prog: str, args: str = "", prefix: str | None = None) -> None:
            write_usage(self, prog, args, _("Usage: ") if prefix is None else prefix)

        translated_usage._packbuilder = True  # type: ignore[attr-defined]
        formatting.HelpFormatter.write_usage = translated_usage  # type: ignore[method-assign]
    get_help_option = click_core.Command.get_help_option
    if not getattr(get_help_option, "_packbuilder", False):

        def translated_help(self: Any, ctx: Any) -> Any:
            option = get_help_option(self, ctx)
            if option is not None:
                option.help = _("Show this message and exit.")
            return option

        translated_help._packbuilder = True  # type: ignore[attr-defined]
        click_core.Command.get_help_option = translated_help  # type: ignore[method-assign]


def _translate_types(typer_core: Any) -> None:
    """typer's type labels and number ranges through :func:`type_label` and :func:`number_range`."""
    parameter = getattr(typer_core, "_TyperParameter", None)
    display_type = getattr(parameter, "display_type", None)
    if parameter is not None and display_type is not None and not getattr(display_type, "_packbuilder", False):

        def translated_type(self: Any, ctx: Any) -> str:
            shown = str(display_type(self, ctx))
            if shown.startswith("<") and shown.endswith(">"):
                return f"<{type_label(shown[1:-1])}>"
            return shown

        translated_type._packbuilder = True  # type: ignore[attr-defined]
        parameter.display_type = translated_type
    if hasattr(typer_core, "describe_number_range"):
        typer_core.describe_number_range = number_range


def _translate_usage_pieces(command_class: Any) -> None:
    """The placeholders of a command class's usage line through :func:`packbuilder.i18n._`."""
    pieces = getattr(command_class, "collect_usage_pieces", None)
    if pieces is None or getattr(pieces, "_packbuilder", False):
        return

    def translated_pieces(self: Any, ctx: Any) -> list[str]:
        return [_(piece) if piece in _USAGE_PIECES else piece for piece in pieces(self, ctx)]

    translated_pieces._packbuilder = True  # type: ignore[attr-defined]
    command_class.collect_usage_pieces = translated_pieces


def _translate_validation() -> None:
    """typer checks a value (``--jobs 0``) with pydantic and shows pydantic's English sentence: the
    same sentence through :func:`packbuilder.model.messages.pydantic_message`."""
    try:
        from typer import _coercion, _display, _param_types
    except ImportError:  # another typer layout: pydantic's English stays
        return
    original = getattr(_display, "get_error_msg", None)
    escape = getattr(_display, "_escape_control_characters", None)
    if original is None or escape is None or getattr(original, "_packbuilder", False):
        return
    from packbuilder.model.messages import pydantic_message

    def translated(exc: Any) -> str:
        errors = exc.errors() if callable(getattr(exc, "errors", None)) else []
        return str(escape(pydantic_message(errors[0]))) if errors else str(original(exc))

    translated._packbuilder = True  # type: ignore[attr-defined]
    for module in (_display, _coercion, _param_types):
        if getattr(module, "get_error_msg", None) is original:
            module.get_error_msg = translated  # type: ignore[attr-defined]
