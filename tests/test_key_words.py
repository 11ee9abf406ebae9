"""The key speaks the PC's language: reasons kept as codes in locks and put in words by page
language (« Non inclus » in French), and the file explorer named as that Windows names it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from packbuilder.catalog import load_catalog
from packbuilder.menu import render_menu
from packbuilder.plan.lock import lock_bytes, lock_from_plan
from packbuilder.plan.resolve import resolve
from packbuilder.reasons import explain
from tests.conftest import ROOT

CATALOG = ROOT / "tests" / "fixtures" / "resolver" / "manifests"


def test_reasons_in_both_languages() -> None:
    codes = [("3.0", "arch", "x86_64"), ("2.1", "os", "windows>=6.1"), ("2.0", "os", "windows>=6.1")]
    assert explain(codes, "en") == "3.0 needs x86_64; 2.1 and 2.0 need Windows 7 or later"
    assert explain(codes, "fr") == "3.0 demande un PC 64 bits (x86_64) ; 2.1 et 2.0 demandent Windows 7 ou plus récent"
    assert explain([("1.0", "cpu", "SSE2,PAE")], "fr") == "1.0 demande un processeur avec SSE2, PAE"
    assert explain([("1.0", "ram", "1024")], "fr") == "1.0 demande 1024 Mio de mémoire"
    assert explain([("2", "platform", "linux"), ("1", "platform", "linux")], "fr") == "pas de version pour Linux"


def _lock(profile: str, pack: str = "all") -> dict[str, object]:
    catalog = load_catalog(CATALOG)
    lock = lock_from_plan(resolve(catalog, catalog.pack(pack), catalog.profile(profile)))
    return {"lock": lock, "json": json.loads(lock_bytes(lock))}


def test_locks_keep_reasons_as_codes() -> None:
    doc = _lock("linux-227")["json"]
    excluded = {e["app"]: e for e in doc["excluded"]}  # type: ignore[union-attr]
    assert excluded["browser"]["misfits"][:2] == [
        {"version": "128.0esr", "code": "os", "value": "linux-glibc>=2.28"},
        {"version": "115.9.0esr", "code": "platform", "value": "linux"},
    ]
    items = {i["app"]: i for i in _lock("xp-nosse")["json"]["items"]}  # type: ignore[index]
    assert items["editor"]["misfits"][0] == {"version": "3.0.0", "code": "arch", "value": "x86_64"}
    assert items["oldbrowser"]["replaces"] == "browser"
    assert items["oldbrowser"]["replaced_misfits"][-1] == {"version": "52.9.0esr", "code": "cpu", "value": "SSE2"}


def _pages(tmp_path: Path, profile: str) -> dict[str, str]:
    lock = _lock(profile)["lock"]
    root = tmp_path / profile
    root.mkdir()
    render_menu(lock, root, {}, [], "1.0")  # type: ignore[arg-type]
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in root.rglob("*.html")}


def test_not_included_in_french_on_the_french_menu(tmp_path: Path) -> None:
    pages = _pages(tmp_path, "linux-227")
    french, english = pages["Menu.html"], pages["Menu-en.html"]
    assert "Non inclus sur cette clé" in french
    assert (
        "browser</strong>&#160;: 128.0esr demande glibc 2.28 ou plus récent ; "
        "115.9.0esr et 52.9.0esr n’existent pas pour Linux</li>" in french
    )
    assert "anglais" not in french
    assert "browser</strong>: 128.0esr needs glibc 2.28 or later; 115.9.0esr and 52.9.0esr have no Linux build" in english


def test_app_pages_say_why_in_the_page_language(tmp_path: Path) -> None:
    pages = _pages(tmp_path, "xp-nosse")
    fr = [text for path, text in pages.items() if path.endswith(".html") and not path.endswith(".en.html") and "/apps/" in path]
    assert fr and not any("en anglais" in text for text in fr)
    assert any("Les versions plus récentes ne fonctionnent pas sur ces PC" in text for text in fr)
    assert any("C’est la version la plus récente." in text for text in fr)
    assert any("Pourquoi&#160;: 128.0esr demande Windows 10 ou plus récent" in text for text in fr)  # oldbrowser


@pytest.mark.parametrize(
    ("profile", "fr", "en"),
    [
        ("xp", "Poste de travail", "My Computer"),
        ("w7-32", "Ordinateur", "Computer"),
        ("w10-64", "Ce PC", "This PC"),
    ],
)
def test_the_explorer_is_named_as_that_windows_names_it(tmp_path: Path, profile: str, fr: str, en: str) -> None:
    lock = _lock(profile)["lock"]
    root = tmp_path / profile
    root.mkdir()
    render_menu(lock, root, {}, [], "1.0")  # type: ignore[arg-type]
    assert f"«&#160;{fr}&#160;»" in (root / "LISEZMOI.html").read_text(encoding="utf-8")
    assert f"“{en}”" in (root / "README.html").read_text(encoding="utf-8")
    others = {"Poste de travail", "Ordinateur", "Ce PC"} - {fr}
    assert not any(f"«&#160;{o}&#160;»" in (root / "LISEZMOI.html").read_text(encoding="utf-8") for o in others)
