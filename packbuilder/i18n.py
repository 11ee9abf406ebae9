"""Translations: every sentence a person reads goes through ``_()`` (or ``ngettext``).

The language is French when the locale says so and English otherwise, read the way gettext reads
it: the first of ``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` that is set (``LANGUAGE`` may
list several, ``fr:en``), ``C`` meaning English. No installed system locale is needed: only the
variables are read. ``--lang fr|en`` forces one; it is read from the command line before the
command modules are imported (:func:`setup`), because typer evaluates help texts at import time.

Messages use named placeholders, filled after translation, so that a translator can move them:
``_("{count} files").format(count=n)``. Catalogs: ``packbuilder/locale/<lang>/LC_MESSAGES/packbuilder.po``,
compiled to ``.mo`` by the package build (``hatch_build.py``) and ``make locale``.
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Sequence
from pathlib import Path

DOMAIN = "packbuilder"
LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("en", "fr")  # English is the source language: its "translation" is the message itself
ENV_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def language_from_env(environ: dict[str, str] | None = None) -> str:
    """``fr`` or ``en``, from the locale variables in gettext's order (the first one set wins)."""
    env = os.environ if environ is None else environ
    for name in ENV_VARS:
        value = env.get(name)
        if value:
            for item in value.split(":"):  # LANGUAGE=fr_CA:fr:en: the first one we have wins
                code = item.split(".")[0].split("@")[0].split("_")[0].lower()
                if code in ("c", "posix"):
                    return "en"
                if code in LANGUAGES:
                    return code
            return "en"
    return "en"


def language_from_argv(argv: Sequence[str]) -> str | None:
    """The value of ``--lang X`` or ``--lang=X`` before a bare ``--``, if given."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--lang" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
    return None


class _State:
    language = "en"
    translations: gettext.NullTranslations = gettext.NullTranslations()


_STATE = _State()


def N_(message: str) -> str:
    """Mark a message for extraction where it is defined; ``_()`` translates it where it is shown."""
    return message


def set_language(language: str) -> None:
    """Use ``fr`` or ``en`` (anything else: English) from now on."""
    lang = language if language in LANGUAGES else "en"
    _STATE.language = lang
    if lang == "en":
        _STATE.translations = gettext.NullTranslations()
    else:
        _STATE.translations = gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=True)


def current_language() -> str:
    return _STATE.language


def setup(argv: Sequence[str], environ: dict[str, str] | None = None) -> str:
    """Choose the language for this run: ``--lang`` in ``argv``, else the locale variables."""
    forced = language_from_argv(argv)
    lang = forced if forced in LANGUAGES else language_from_env(environ)
    set_language(lang)
    return lang



def _(message: str) -> str:
    return _STATE.translations.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _STATE.translations.ngettext(singular, plural, n)


# Answers to a yes/no question, by language; English answers are always understood.
_YES = {"en": ("y", "yes"), "fr": ("o", "oui", "y", "yes")}
_NO = {"en": ("n", "no"), "fr": ("n", "non", "no")}


def parse_answer(text: str, default: bool | None = None) -> bool | None:
    """True for yes, False for no, ``default`` for an empty answer, None when not understood."""
    answer = text.strip().lower()
    if not answer:
        return default
    if answer in _YES[_STATE.language]:
        return True
    if answer in _NO[_STATE.language]:
        return False
    return None


def yes_no_suffix(default: bool) -> str:
    """``[y/N]`` in English, ``[o/N]`` in French."""
    yes = _YES[_STATE.language][0]
    return f"[{yes.upper()}/n]" if default else f"[{yes}/N]"


def confirm(question: str, default: bool = False) -> bool:
    """Ask on the terminal (stderr) until the answer is understood: o/oui/n/non under French (and
    y/yes/n/no), y/yes/n/no under English; an empty answer is ``default``. EOF or Ctrl-C aborts."""
    import typer

    while True:
        text = typer.prompt(f"{question} {yes_no_suffix(default)}", default="", show_default=False, err=True)
        answer = parse_answer(text, default)
        if answer is not None:
            return answer
        yes, no = _YES[_STATE.language][0], _NO[_STATE.language][0]
        typer.echo(_("Answer {yes} or {no}.").format(yes=yes, no=no), err=True)
