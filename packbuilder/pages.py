"""What the key's menu and the download site share: languages, relative links, dates, templates.

Both are static pages opened from a key or any static host, offline and without JavaScript:
every link is relative, uses forward slashes and is percent-encoded.
"""

from __future__ import annotations

import datetime as dt
import posixpath
from dataclasses import dataclass
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


def environment() -> jinja2.Environment:
    """Templates shipped in the package; HTML escaped everywhere, plain-text ``*.txt.j2`` left as is."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("packbuilder", "templates"),
        # Every text comes from manifests: escape it in HTML (templates are *.html.j2, which the
        # default would not recognise).
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), disabled_extensions=("txt.j2",), default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
