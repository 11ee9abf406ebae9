"""What the key's menu and the download site share: languages, relative links, dates, templates.

Both are static pages opened from a key or any static host, offline and without JavaScript:
every link is relative, uses forward slashes and is percent-encoded.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import jinja2
import markupsafe

LANGS = ("fr", "en")
MONTHS = {
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin",
           "juillet", "août", "septembre", "octobre", "novembre", "décembre"),
    "en": ("January", "February", "March", "April", "May", "June",
           "July", "August", "September", "October", "November", "December"),
}  # fmt: skip


@dataclass(frozen=True)
class Page:
    """One generated page: its path (relative to the key or site root), its other-language twin, its language."""

    path: str
    twin: str
    lang: str


def href(target: str, page: str, folder: bool = False) -> str:
    """Relative, percent-encoded link from ``page`` to ``target`` (both relative to the same root)."""
    rel = posixpath.relpath(target, posixpath.dirname(page) or ".")
    if folder and not rel.endswith("/"):
        rel += "/"
    # quote() leaves only letters, digits, "_.-~" and "/" as they are: spaces, "#", "%", ":" and
    # non-ASCII (as UTF-8) are encoded, so no name can turn into a fragment, a query or a scheme.
    return quote(rel, safe="/")


def format_date(date: dt.date | str | None, lang: str) -> str | None:
    """``2026-03-01`` -> « 1er mars 2026 » / "1 March 2026"."""
    if not date:
        return None
    if isinstance(date, str):
        date = dt.date.fromisoformat(date)
    day = "1er" if lang == "fr" and date.day == 1 else str(date.day)
    return f"{day} {MONTHS[lang][date.month - 1]} {date.year}"


def translate(lang: str, fr: str, en: str) -> markupsafe.Markup:
    """``t("Ouvrir", "Open")`` in templates: only for the templates' own trusted literals (they may
    hold entities such as ``&nbsp;``); never pass it text from a manifest or an index."""
    return markupsafe.Markup(fr if lang == "fr" else en)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept in the user's cache folder: a key's menu is rendered again by every
    build and update, and compiling the templates costs more than rendering them. Keyed by each
    template's source, so a changed template is compiled again; none where the folder cannot be made."""
    import os

    from platformdirs import user_cache_dir

    default = Path(user_cache_dir("packbuilder", appauthor=False), "templates")
    folder = Path(os.environ.get("PACKBUILDER_TEMPLATE_CACHE") or default)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(folder))


def environment() -> jinja2.Environment:
    """Templates shipped in the package; HTML escaped everywhere, plain-text ``*.txt.j2`` left as is."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("packbuilder", "templates"),
        bytecode_cache=_bytecode_cache(),
        # Every text comes from manifests: escape it in HTML (templates are *.html.j2, which the
        # default would not recognise).
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), disabled_extensions=("txt.j2",), default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
