"""The shipped catalog: clean, complete, sourced, and valid against its own JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from packbuilder.catalog import check_tree, find_catalog, load_catalog
from packbuilder.model import KINDS, Category
from packbuilder.plan.resolve import check_capacity, resolve
from tests.conftest import ROOT, run_cli

MANIFESTS = ROOT / "manifests"


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    return load_catalog(MANIFESTS)


def test_shipped_catalog_has_no_errors() -> None:
    _, problems = check_tree(MANIFESTS)
    assert [str(p) for p in problems if p.severity == "error"] == []


def test_catalog_covers_the_four_main_categories(catalog) -> None:  # type: ignore[no-untyped-def]
    assert len(catalog.apps) >= 25
    for category in (Category.OFFICE, Category.GRAPHICS, Category.WEB, Category.MANAGEMENT):
        assert sum(a.category == category for a in catalog.apps.values()) >= 4, category
    assert len(catalog.profiles) >= 5 and len(catalog.packs) >= 3


def test_every_artifact_names_where_its_hash_was_read(catalog) -> None:  # type: ignore[no-untyped-def]
    for app in catalog.apps.values():
        for release in app.releases:
            for art in release.artifacts:
                assert art.sha256 or art.sha512
                assert len(art.checksum_source) > 10, (app.id, release.version)
                if art.size is None:
                    assert art.size_source, (app.id, release.version, "approximate size without a source")


def test_old_hardware_gets_the_versions_the_facts_say(catalog) -> None:  # type: ignore[no-untyped-def]
    def versions(pack: str, profile: str) -> dict[str, str]:
        plan = resolve(catalog, catalog.pack(pack), catalog.profile(profile))
        return {i.app.id: i.release.version for i in plan.items}

    w7 = versions("asso-essentiel", "windows-7-x86")
    assert w7["firefox-esr"].startswith("115.")  # ESR 115 is the last for Windows 7
    assert w7["libreoffice"].startswith("25.2.")  # 25.8 dropped Windows 7
    assert w7["keepassxc"] == "2.6.6"  # last 32-bit build
    assert versions("atelier-graphisme", "windows-7-x64")["gimp"] == "2.10.38"
    xp = versions("vieux-pc", "windows-xp-x86")
    assert xp["notepadplusplus"] == "7.9.2" and "firefox-esr" not in xp
    w10 = versions("asso-essentiel", "windows-10-x64")
    assert w10["libreoffice"] == "26.2.5" and w10["firefox-esr"] == "140.14.0esr"


def test_every_shipped_pack_and_profile_resolves_or_fails_clearly(catalog) -> None:  # type: ignore[no-untyped-def]
    from packbuilder.errors import InputError

    for pack in catalog.packs.values():
        for profile in catalog.profiles.values():
            plan = resolve(catalog, pack, profile)
            try:
                check_capacity(catalog, plan)
            except InputError as exc:
                assert "key holds about" in exc.message
            if profile.arch.value == "x86":
                assert all(i.artifact.arch.value in ("x86", "any") for i in plan.items)


@pytest.mark.parametrize("kind", list(KINDS))
def test_json_schema_validates_the_shipped_manifests(kind: str) -> None:
    result = run_cli("manifest", "schema", "--kind", kind)
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    folder = {"app": "apps", "profile": "profiles", "pack": "packs", "base": "bases"}[kind]
    files = sorted((MANIFESTS / folder).glob("*.yaml"))
    for path in files:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert errors == [], (path, errors[0].message if errors else "")
    # The schema refuses what the loader refuses: an unknown key.
    if files:
        doc = yaml.safe_load(files[0].read_text())
        doc["no_such_key"] = 1
        assert not validator.is_valid(doc)


def test_catalog_discovery_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PACKBUILDER_CATALOG", raising=False)
    assert find_catalog(None).resolve() == MANIFESTS.resolve()  # nothing local: the shipped one
    (tmp_path / "manifests" / "apps").mkdir(parents=True)
    assert find_catalog(None) == Path("manifests")
    monkeypatch.setenv("PACKBUILDER_CATALOG", str(ROOT / "tests" / "fixtures" / "mini" / "manifests"))
    assert find_catalog(None) == ROOT / "tests" / "fixtures" / "mini" / "manifests"
    assert find_catalog(tmp_path / "manifests") == tmp_path / "manifests"
