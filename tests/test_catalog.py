"""The shipped catalog: clean, complete, sourced, and valid against its own JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from packbuilder.catalog import check_tree, find_catalog, load_catalog
from packbuilder.model import KINDS, Category
from packbuilder.plan.checks import check_capacity
from packbuilder.plan.resolve import live_base, resolve
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


def items(catalog, pack: str, profile: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return {i.app.id: i for i in resolve(catalog, catalog.pack(pack), catalog.profile(profile)).items}


def test_small_memory_gets_32_bit_mozilla_builds(catalog) -> None:  # type: ignore[no-untyped-def]
    small = items(catalog, "asso-essentiel", "windows-10-x64-2g")
    for app in ("firefox-esr", "thunderbird"):
        assert small[app].artifact.arch.value == "x86", app
        assert "x86_64 build not recommended with 2048 MiB of memory" in small[app].reason
    big = items(catalog, "asso-essentiel", "windows-10-x64")
    assert big["firefox-esr"].artifact.arch.value == "x86_64"


def test_french_packs_get_french_mozilla_builds_on_every_windows(catalog) -> None:  # type: ignore[no-untyped-def]
    for pack in catalog.packs.values():
        if pack.locale != "fr":
            continue
        for profile in pack.profiles:
            for app, item in items(catalog, pack.id, profile).items():
                if app in ("firefox-esr", "thunderbird") and item.artifact.platform.value == "windows":
                    assert item.artifact.lang == "fr", (pack.id, profile, app, item.release.version)


def test_every_requirement_says_where_it_was_read(catalog) -> None:  # type: ignore[no-untyped-def]
    for app in catalog.apps.values():
        for release in app.releases:
            for art in release.artifacts:
                req = art.requires
                if req.os or req.ram_mb or req.ram_mb_recommended or req.cpu or req.depends:
                    assert req.source, (app.id, release.version, art.arch.value)


def test_every_shipped_pack_and_profile_resolves_or_fails_clearly(catalog) -> None:  # type: ignore[no-untyped-def]
    from packbuilder.errors import InputError

    for pack in catalog.packs.values():
        for profile in catalog.profiles.values():
            # As `plan` does: a pack with a base goes to a Linux PC as a live key.
            plan = resolve(catalog, pack, profile, base=live_base(catalog, pack, profile))
            declared = not pack.profiles or profile.id in pack.profiles
            try:
                check_capacity(catalog, plan)
            except InputError as exc:
                if declared:  # never an empty key on a PC the pack promises to serve
                    assert "key holds about" in exc.message, exc.message
                else:
                    assert "key holds about" in exc.message or "the key would be empty" in exc.message
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


# What vieux-pc promises on its Windows PCs: each need met by one of these apps.
OLD_PC_NEEDS = {
    "word processing": {"abiword", "libreoffice", "onlyoffice"},
    "pdf": {"sumatrapdf"},
    "passwords": {"keepassxc", "keepass", "keepass1"},
    "accounting": {"homebank", "gnucash", "grisbi", "moneymanagerex"},
    "media": {"vlc", "mpc-hc"},
    "archives": {"7zip", "peazip"},
    "text": {"notepadplusplus", "notepad3"},
    "browser": {"firefox-esr", "firefox", "supermium"},
}


@pytest.mark.parametrize("profile", ["windows-xp-x86", "windows-7-x86"])
def test_old_pc_pack_covers_every_need_on_xp_and_7(catalog, profile: str) -> None:  # type: ignore[no-untyped-def]
    got = set(items(catalog, "vieux-pc", profile))
    missing = [need for need, apps in OLD_PC_NEEDS.items() if not apps & got]
    assert missing == [], (profile, sorted(got))


def test_xp_gets_the_last_versions_that_run_there(catalog) -> None:  # type: ignore[no-untyped-def]
    xp = items(catalog, "vieux-pc", "windows-xp-x86")
    assert xp["sumatrapdf"].release.version == "3.1.2"
    assert xp["gnucash"].release.version == "3.5" and xp["gnucash"].replaces == "homebank"
    assert xp["keepass1"].replaces == "keepassxc"
    assert "works, but 1024 MiB of memory is recommended" in xp["supermium"].reason


def test_gnucash_floors_follow_its_announcements(catalog) -> None:  # type: ignore[no-untyped-def]
    gnucash = catalog.app("gnucash")
    from packbuilder.plan.resolve import runnable_on

    assert runnable_on(gnucash, catalog.profile("windows-10-x64")).version == "5.16"
    assert runnable_on(gnucash, catalog.profile("windows-7-x86")).version == "3.11"
    assert runnable_on(gnucash, catalog.profile("windows-xp-x86")).version == "3.5"


def test_scribus_brings_ghostscript(catalog) -> None:  # type: ignore[no-untyped-def]
    plan = items(catalog, "atelier-graphisme", "windows-10-x64")
    assert plan["ghostscript"].needed_by == "scribus"
    assert plan["ghostscript"].reason.startswith("ghostscript 10.07.1: needed by scribus")


def test_live_debian_12_refuses_appimages_built_for_a_newer_glibc(catalog) -> None:  # type: ignore[no-untyped-def]
    pack, profile = catalog.pack("atelier-graphisme"), catalog.profile("linux-x86_64-uefi")
    assert "gimp" in {i.app.id for i in resolve(catalog, pack, profile).items}  # Debian 13 installed: fine
    live = resolve(catalog, pack, profile, base=catalog.base("debian-live-12-amd64"))
    reasons = {e.app: e.reason for e in live.excluded}
    assert "gimp" not in {i.app.id for i in live.items}
    assert "needs glibc 2.41 or later" in reasons["gimp"] and "debian-live-12-amd64 has glibc 2.36" in reasons["gimp"]


def test_old_linux_pc_gets_a_live_key_with_the_base_apps_listed(catalog) -> None:  # type: ignore[no-untyped-def]
    from packbuilder.errors import InputError
    from packbuilder.plan.checks import check_not_empty

    pack, profile = catalog.pack("vieux-pc"), catalog.profile("linux-i686-bios-1g")
    with pytest.raises(InputError) as err:  # as a plain key: nothing runs there
        check_not_empty(resolve(catalog, pack, profile))
    assert "--format iso or usb-live" in (err.value.hint or "")
    live = resolve(catalog, pack, profile, base=catalog.base(pack.base or ""))
    check_not_empty(live)
    assert {b.app.id for b in live.base_apps} >= {"firefox-esr", "libreoffice"}


def test_plan_lists_the_base_apps(tmp_path: Path) -> None:
    result = run_cli("plan", "vieux-pc", "--profile", "linux-i686-bios-1g", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["base"] == "debian-live-12-i386"
    assert {b["app"] for b in data["base_apps"]} >= {"firefox-esr", "libreoffice"}
    empty = run_cli("build", "vieux-pc", "--profile", "linux-i686-bios-1g", "--format", "dir", "-o", str(tmp_path / "k"))
    assert empty.returncode == 2 and "the key would be empty" in empty.stderr


def test_live_builds_plan_for_the_base_they_name(catalog) -> None:  # type: ignore[no-untyped-def]
    from packbuilder.plan.targets import make_plan

    dir_key = make_plan(catalog, "atelier-graphisme", "linux-x86_64-uefi", None, live=False)
    assert "gimp" in {i.app.id for i in dir_key.items} and dir_key.base is None
    iso = make_plan(catalog, "atelier-graphisme", "linux-x86_64-uefi", None, live=True, base_id="debian-live-12-amd64")
    assert iso.base is not None and iso.base.id == "debian-live-12-amd64"
    assert "gimp" not in {i.app.id for i in iso.items}
    assert {b.app.id for b in iso.base_apps} >= {"firefox-esr", "libreoffice"}


def test_a_lock_planned_for_an_installed_linux_is_refused_for_an_older_live_base(tmp_path: Path) -> None:
    lock = tmp_path / "graphisme.lock"
    made = run_cli("plan", "atelier-graphisme", "--profile", "linux-x86_64-uefi", "--lock", str(lock), "--json")
    assert made.returncode == 0, made.stderr
    assert "gimp" in {i["app"] for i in json.loads(made.stdout)["items"]}
    iso = run_cli(
        "--cache", str(tmp_path / "cache"), "build", str(lock), "--format", "iso", "--base", "debian-live-12-amd64",
        "--offline", "-o", str(tmp_path / "k.iso"),
    )
    assert iso.returncode == 2, iso.stderr
    assert "will not start on the live system of debian-live-12-amd64" in iso.stderr
    assert "gimp: needs glibc 2.41 or later, debian-live-12-amd64 has glibc 2.36" in iso.stderr
