"""The download site ``publish`` writes beside the images: static HTML, French first, English too.

Associations host it anywhere (a static web host, a shared folder) or open it from a disk, so
there is no JavaScript and every link is relative and percent-encoded. The pages are a pure
function of ``index.json``'s document: no current date, sorted everything, same bytes each time.

Pages (relative to the site folder)::

    index.html, index.en.html                 the images, grouped by the kind of PC they suit
    ecrire-une-cle.html, write-a-key.html     how to check a download and write it on a key
    licences/NAME.html, licences/NAME.en.html every app of image NAME: licence, sources, hash
    licences/NAME.txt                         the same list as plain text
    site.css
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from packbuilder.fsutil import write_texts
from packbuilder.menu import CATEGORY_LABELS, CATEGORY_ORDER
from packbuilder.pages import LANGS, Page, environment, format_date, href, translate
from packbuilder.sizes import format_size

CSS = "site.css"
INDEX_PAGES = {"fr": "index.html", "en": "index.en.html"}
GUIDE_PAGES = {"fr": "ecrire-une-cle.html", "en": "write-a-key.html"}
SUMS = "images/SHA256SUMS"
SIG = "images/SHA256SUMS.sig"
OS_LIST = "os_list.json"
# Formats a PC starts from (a live system), as opposed to a key of apps used from a running PC.
BOOTABLE_FORMATS = ("iso", "usb-live")
FORMAT_WORDS: dict[str, dict[str, str]] = {
    "usb": {"fr": "image de clé USB", "en": "USB key image"},
    "usb-live": {"fr": "image de clé USB démarrable", "en": "bootable USB key image"},
    "zip": {"fr": "archive zip", "en": "zip archive"},
    "iso": {"fr": "image ISO", "en": "ISO image"},
}
OTHER_FORMAT = {"fr": "fichier", "en": "file"}


@dataclass(frozen=True)
class Group:
    """Images for one kind of PC (one profile; bootable images apart)."""

    key: str
    title: dict[str, str]
    images: list[dict[str, Any]]


def format_words(fmt: str, lang: str) -> str:
    return FORMAT_WORDS.get(fmt, OTHER_FORMAT)[lang]


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Numbers compared as numbers: "Windows 7" before "Windows 10"."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text.casefold()) if part)


def is_bootable(image: dict[str, Any]) -> bool:
    return image["format"] in BOOTABLE_FORMATS


def group_images(images: list[dict[str, Any]]) -> list[Group]:
    """Group by profile; images a PC starts from form their own group, after the keys of apps."""
    groups: dict[str, Group] = {}
    for image in images:
        profile = image.get("profile") or {}
        pid = profile.get("id") or "?"
        name = profile.get("name") or {"fr": "Autres images", "en": "Other images"}
        bootable = is_bootable(image)
        key = f"{pid}:live" if bootable else pid
        if key not in groups:
            title = dict(name)
            if bootable:
                title = {"fr": f"{name['fr']}, démarrage sur la clé", "en": f"{name['en']}, started from the key"}
            groups[key] = Group(key, title, [])
        groups[key].images.append(image)
    return sorted(groups.values(), key=lambda g: (g.key.endswith(":live"), natural_key(g.title["fr"]), g.key))


def apps_by_category(apps: list[dict[str, Any]], lang: str) -> list[tuple[str, list[dict[str, Any]]]]:
    """[(category label, apps sorted by name)], in the key menu's category order."""
    order = {str(c): i for i, c in enumerate(CATEGORY_ORDER)}
    by_cat: dict[str, list[dict[str, Any]]] = {}
    for app in apps:
        by_cat.setdefault(app["category"], []).append(app)
    return [
        (
            CATEGORY_LABELS[cat][lang] if cat in CATEGORY_LABELS else cat,  # type: ignore[index]  # StrEnum keys match str
            sorted(by_cat[cat], key=lambda a: (a["name"].casefold(), a["app"])),
        )
        for cat in sorted(by_cat, key=lambda c: (order.get(c, len(order)), c))
    ]


def licence_pages(image: dict[str, Any]) -> dict[str, str]:
    """The licence report of an image: its French page (index.json's ``licences``), English page, text."""
    fr = image.get("licences") or f"licences/{image['name']}.html"
    base = fr.removesuffix(".html")
    return {"fr": fr, "en": f"{base}.en.html", "txt": f"{base}.txt"}


def _environment() -> jinja2.Environment:
    env = environment()
    env.filters["size"] = format_size
    env.filters["ucfirst"] = lambda s: s[:1].upper() + s[1:]
    return env


def _page_context(page: Page, signed: bool) -> dict[str, Any]:
    url: Callable[[str], str] = functools.partial(href, page=page.path)
    return {
        "page": page,
        "lang": page.lang,
        "url": url,
        "t": functools.partial(translate, page.lang),
        "date": functools.partial(format_date, lang=page.lang),
        "format_words": functools.partial(format_words, lang=page.lang),
        "apps_by_category": functools.partial(apps_by_category, lang=page.lang),
        "signed": signed,
        "css": CSS,
        "index_pages": INDEX_PAGES,
        "guide_pages": GUIDE_PAGES,
        "sums": SUMS,
        "sig": SIG,
    }


def render_site(index: dict[str, Any], site: Path, signed: bool) -> list[Path]:
    """Write the site's pages and style into ``site`` from ``index`` (see publish.index_document).

    Returns the files written, sorted.
    """
    env = _environment()
    images = sorted(index.get("images", []), key=lambda i: i["name"])
    common = {
        "images": images,
        "groups": group_images(images),
        "generator": index.get("generator", "packbuilder"),
        "licence_pages": licence_pages,
        "is_bootable": is_bootable,
        # Raspberry Pi Imager's feed, which publish writes when it has compressed USB images.
        "os_list": OS_LIST if any(d.get("kind") == "xz" for i in images for d in i.get("downloads", [])) else None,
    }
    outputs: dict[str, str] = {}
    for lang in LANGS:
        other = "en" if lang == "fr" else "fr"
        for template, pages in (("site/index.html.j2", INDEX_PAGES), ("site/guide.html.j2", GUIDE_PAGES)):
            page = Page(pages[lang], pages[other], lang)
            outputs[page.path] = env.get_template(template).render({**common, **_page_context(page, signed)})
        for image in images:
            report = licence_pages(image)
            page = Page(report[lang], report[other], lang)
            context = {**common, **_page_context(page, signed), "image": image, "report": report}
            outputs[page.path] = env.get_template("site/licences.html.j2").render(context)
    for image in images:
        report = licence_pages(image)
        text = env.get_template("site/licences.txt.j2").render(image=image, generator=common["generator"])
        outputs[report["txt"]] = text
    loader = env.loader
    assert loader is not None
    outputs[CSS] = loader.get_source(env, "site/site.css")[0]

    return write_texts(site, outputs)
