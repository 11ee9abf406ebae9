"""The key's menu: static HTML pages, French first with an English version.

Everything is opened from the key (file://) in whatever browser the PC has, offline and
without JavaScript, so every link is relative, uses forward slashes and is percent-encoded
(an "Firefox ESR" folder or an accented name must still resolve on Windows and Linux).
Output is a pure function of the inputs: same lock, tree and version -> same bytes.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import jinja2

from packbuilder.fsutil import write_texts
from packbuilder.model.common import Category, Kind, Platform
from packbuilder.model.lock import Lock, LockedArtifact, LockedMisfit
from packbuilder.pages import LANGS, Page, environment, format_date, href, translate
from packbuilder.reasons import explain

ASSETS = "Menu-fichiers"
APPS_DIR = f"{ASSETS}/apps"
CSS = f"{ASSETS}/style.css"
MENU_PAGES = {"fr": "Menu.html", "en": "Menu-en.html"}
# The same menu as an HTML application: mshta runs it with the right to start the launchers
# (a browser only offers to download them). French, like the key's folder names.
MENU_HTA = "Menu.hta"
# What Windows calls the places a person clicks through, by the profile's Windows generation.
EXPLORER_WORDS = {
    "windows-xp": {"fr": ("Poste de travail", "l’Explorateur Windows"), "en": ("My Computer", "Windows Explorer")},
    "windows-7": {"fr": ("Ordinateur", "l’Explorateur Windows"), "en": ("Computer", "Windows Explorer")},
    "windows-10": {"fr": ("Ce PC", "l’Explorateur de fichiers"), "en": ("This PC", "File Explorer")},
}
README_PAGES = {"fr": "LISEZMOI.html", "en": "README.html"}

# Menu order: what an association uses most comes first.
CATEGORY_ORDER = (
    Category.OFFICE,
    Category.WEB,
    Category.MANAGEMENT,
    Category.GRAPHICS,
    Category.UTILITIES,
    Category.EDUCATION,
    Category.MULTIMEDIA,
)
CATEGORY_LABELS: dict[Category, dict[str, str]] = {
    Category.OFFICE: {"fr": "Bureautique", "en": "Office"},
    Category.WEB: {"fr": "Internet", "en": "Internet"},
    Category.MANAGEMENT: {"fr": "Gestion", "en": "Accounts and management"},
    Category.GRAPHICS: {"fr": "Graphisme", "en": "Graphics"},
    Category.UTILITIES: {"fr": "Utilitaires", "en": "Utilities"},
    Category.EDUCATION: {"fr": "Éducation", "en": "Education"},
    Category.MULTIMEDIA: {"fr": "Multimédia", "en": "Multimedia"},
}


@dataclass(frozen=True)
class AppEntry:
    item: LockedArtifact
    program: str | None  # root-relative path of the program, None when unknown
    folder: str  # root-relative folder holding the app (or the AppImage)
    pages: dict[str, Page]
    launcher: str | None = None  # root-relative launcher of a Windows app (Logiciels/...cmd)

    @property
    def linux(self) -> bool:
        return self.item.platform == Platform.LINUX

    @property
    def appimage(self) -> bool:
        return self.item.kind == Kind.APPIMAGE

    @property
    def launcher_name(self) -> str | None:
        """The launcher as Explorer shows it (extensions hidden)."""
        return posixpath.basename(self.launcher).removesuffix(".cmd") if self.launcher else None

    @property
    def program_name(self) -> str | None:
        return posixpath.basename(self.program) if self.program else None

    @property
    def why(self) -> dict[str, str] | None:
        """Why this version, by page language; None for a lock without codes (then ``item.reason``)."""
        if self.item.misfits:
            newer = _words(self.item.misfits)
            return {
                "fr": f"Les versions plus récentes ne fonctionnent pas sur ces PC : {newer['fr']}.",
                "en": f"Newer versions do not run on these PCs: {newer['en']}.",
            }
        # No newer release skipped: the newest (a lock with codes says so by its replaced_misfits,
        # an older one by its reason's words).
        if self.item.replaced_misfits or self.item.reason.split(": ", 1)[-1].startswith("newest release"):
            return {"fr": "C’est la version la plus récente.", "en": "This is the newest version."}
        return None

    @property
    def replaced_words(self) -> dict[str, str] | None:
        """Why the app it replaces does not run, by page language (None without codes)."""
        return _words(self.item.replaced_misfits) if self.item.replaced_misfits else None

    @property
    def replaced_because(self) -> str | None:
        """The resolver's reason without the "x 1.0 instead of y: " prefix (it is said in words)."""
        if not self.item.replaces:
            return None
        _, sep, rest = self.item.reason.partition(f"instead of {self.item.replaces}: ")
        return rest if sep else self.item.reason


@dataclass(frozen=True)
class Doc:
    path: str
    title: str
    lang: str | None


@dataclass(frozen=True)
class Excluded:
    app: str
    reason: str  # the resolver's English sentence: shown only for locks that have no codes
    reasons: dict[str, str] | None = None  # by page language, from the lock's codes


def _words(misfits: Iterable[LockedMisfit]) -> dict[str, str]:
    codes = [(m.version, m.code, m.value) for m in misfits]
    return {lang: explain(codes, lang) for lang in LANGS}


def explorer_words(os_name: str) -> dict[str, tuple[str, str]]:
    """The names Windows gives "the computer" and its file manager, for a profile's ``os``
    (a name such as windows-7, or a version such as windows-5.1)."""
    name = os_name.split("/")[0].removeprefix("windows-")
    if name in ("xp", "5.1", "5.2"):
        return EXPLORER_WORDS["windows-xp"]
    if name in ("vista", "7", "6.0", "6.1"):
        return EXPLORER_WORDS["windows-7"]
    return EXPLORER_WORDS["windows-10"]


def windows_path(path: str) -> str:
    return path.replace("/", "\\")


@functools.cache  # one per process: its templates, once loaded, serve every render
def _environment() -> jinja2.Environment:
    env = environment()
    env.filters["winpath"] = windows_path
    return env


TEMPLATES = ("menu.html.j2", "readme.html.j2", "app.html.j2")


def preload() -> None:
    """Load the menu's templates ahead of the render (an update does it while the disk copies)."""
    env = _environment()
    for name in TEMPLATES:
        env.get_template(name)


class _TitleParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html" and self.lang is None:
            self.lang = dict(attrs).get("lang")
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def describe_doc(root: Path, path: str) -> Doc:
    """A guide's title and language, read from its <title> and <html lang>, else from its name."""
    fallback = re.sub(r"[-_]+", " ", posixpath.splitext(posixpath.basename(path))[0]).strip().capitalize() or path
    file = root / path
    if not file.is_file() or file.suffix.lower() not in (".html", ".htm"):
        return Doc(path, fallback, None)
    parser = _TitleParser()
    parser.feed(file.read_text(encoding="utf-8", errors="replace"))
    title = " ".join(parser.title.split())
    return Doc(path, title or fallback, parser.lang)


def _entries(lock: Lock, launchers: dict[str, str | None], starters: dict[str, str]) -> list[AppEntry]:
    entries = []
    for item in lock.items:
        program = launchers.get(item.app)
        if item.kind == Kind.APPIMAGE:
            program = program or item.dest  # the AppImage is the program
            folder = posixpath.dirname(item.dest) or "."
        else:
            folder = item.dest
        pages = {
            "fr": Page(f"{APPS_DIR}/{item.app}.html", f"{APPS_DIR}/{item.app}.en.html", "fr"),
            "en": Page(f"{APPS_DIR}/{item.app}.en.html", f"{APPS_DIR}/{item.app}.html", "en"),
        }
        entries.append(AppEntry(item, program, folder, pages, starters.get(item.app)))
    return entries


def _grouped(entries: Iterable[AppEntry]) -> list[tuple[Category, list[AppEntry]]]:
    by_cat: dict[Category, list[AppEntry]] = {}
    for entry in entries:
        by_cat.setdefault(entry.item.category, []).append(entry)
    return [
        (cat, sorted(by_cat[cat], key=lambda e: (e.item.name.casefold(), e.item.app))) for cat in CATEGORY_ORDER if cat in by_cat
    ]


def _excluded(lock: Lock) -> list[Excluded]:
    out = [
        Excluded(e.app, e.reason.removeprefix(f"{e.app} excluded: "), _words(e.misfits) if e.misfits else None)
        for e in lock.excluded
    ]
    return sorted(out, key=lambda e: e.app)


def _common_context(lock: Lock, root: Path, entries: list[AppEntry], docs: list[str], version: str) -> dict[str, object]:
    """What every page of the menu is rendered with."""
    return {
        "lock": lock,
        "groups": _grouped(entries),
        "has_windows": any(not e.linux for e in entries),
        "has_linux": any(e.linux for e in entries),
        "excluded": _excluded(lock),
        "docs": [describe_doc(root, d) for d in sorted(docs)],
        "version": version,
        # Staging creates Documents/ for the association's files; say so only when it is there.
        "documents": "Documents" if (root / "Documents").is_dir() else None,
        "category_labels": CATEGORY_LABELS,
        "menu_pages": MENU_PAGES,
        "readme_pages": README_PAGES,
        "css": CSS,
        "hta": False,
        "hta_page": MENU_HTA,
        "launcher_dir": "Logiciels",
        "launchers": [e for e in entries if e.launcher],
        "explorer": explorer_words(lock.profile.os),
    }


def render_menu(
    lock: Lock,
    root: Path,
    launchers: dict[str, str | None],
    docs: list[str],
    version: str,
    starters: dict[str, str] | None = None,
) -> list[Path]:
    """Write the menu pages, the app pages, the CSS and the read-me files into ``root``.

    ``launchers`` maps an app to its program, ``starters`` a Windows app to the launcher a person
    starts (launchers.py). Returns the files written, sorted. See the module docstring for the rules
    every link follows.
    """
    env = _environment()
    entries = _entries(lock, launchers, starters or {})
    common = _common_context(lock, root, entries, docs, version)
    outputs: dict[str, str] = {}

    def render(template: str, page: Page, **extra: object) -> None:
        context = {
            **common,
            **extra,
            "page": page,
            "lang": page.lang,
            "url": functools.partial(href, page=page.path),
            "t": functools.partial(translate, page.lang),
            "date": format_date(lock.source_date, page.lang),
        }
        outputs[page.path] = env.get_template(template).render(context)

    for lang in LANGS:
        other = "en" if lang == "fr" else "fr"
        render("menu.html.j2", Page(MENU_PAGES[lang], MENU_PAGES[other], lang))
        if lang == "fr" and any(e.launcher for e in entries):
            render("menu.html.j2", Page(MENU_HTA, MENU_PAGES[other], lang), hta=True)
        render("readme.html.j2", Page(README_PAGES[lang], README_PAGES[other], lang))
        for entry in entries:
            render("app.html.j2", entry.pages[lang], app=entry)
    loader = env.loader
    assert loader is not None
    outputs[CSS] = loader.get_source(env, "style.css")[0]

    return write_texts(root, outputs)
