"""The resolver on a small hand-written catalog (tests/fixtures/resolver)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from packbuilder.catalog import Catalog, load_catalog
from packbuilder.errors import InputError
from packbuilder.model import Arch, Profile
from packbuilder.plan.checks import check_capacity, check_not_empty
from packbuilder.plan.resolve import Plan, misfit, resolve
from packbuilder.versions import OsRange
from tests.conftest import FIXTURES

RESOLVER = FIXTURES / "resolver" / "manifests"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(RESOLVER)


def plan_for(catalog: Catalog, profile: str, pack: str = "all") -> Plan:
    return resolve(catalog, catalog.pack(pack), catalog.profile(profile))


def chosen(plan: Plan) -> dict[str, str]:
    return {i.app.id: i.release.version for i in plan.items}


def test_newest_release_that_fits_each_windows_generation(catalog: Catalog) -> None:
    assert chosen(plan_for(catalog, "w10-64"))["editor"] == "3.0.0"
    assert chosen(plan_for(catalog, "w7-64"))["editor"] == "2.10.0"
    assert chosen(plan_for(catalog, "w7-32"))["editor"] == "2.10.0"
    assert chosen(plan_for(catalog, "xp"))["editor"] == "1.0.0"


def test_reasons_name_the_newer_release_and_what_it_needs(catalog: Catalog) -> None:
    item = next(i for i in plan_for(catalog, "w7-64").items if i.app.id == "editor")
    assert item.reason == "editor 2.10.0: 3.0.0 needs Windows 10 or later (profile: Windows 7)"
    item = next(i for i in plan_for(catalog, "xp").items if i.app.id == "editor")
    assert "3.0.0 needs x86_64; 2.10.0 and 2.9.0 need Windows 7 or later (profile: Windows XP)" in item.reason


def test_upper_bound_of_an_os_range_is_exclusive(catalog: Catalog) -> None:
    # editor 1.0.0 says windows>=5.1,<6.1: never offered to Windows 7 even if nothing else fitted.
    art = next(r for r in catalog.app("editor").releases if r.version == "1.0.0").artifacts[0]
    assert misfit(art, catalog.profile("w7-32")) is not None
    assert misfit(art, catalog.profile("xp")) is None


def test_native_arch_preferred_and_32_bit_allowed_on_64_bit(catalog: Catalog) -> None:
    plan = plan_for(catalog, "w7-64")
    editor = next(i for i in plan.items if i.app.id == "editor")
    assert editor.artifact.arch == Arch.X86_64  # 2.10.0 has both: native wins
    browser = next(i for i in plan.items if i.app.id == "browser")
    assert browser.artifact.arch == Arch.X86 and "x86 build runs on x86_64" in browser.reason


def test_64_bit_never_offered_to_32_bit(catalog: Catalog) -> None:
    for profile in ("xp", "xp-nosse", "w7-32"):
        assert all(i.artifact.arch in (Arch.X86, Arch.ANY) for i in plan_for(catalog, profile).items)


def test_ram_requirement_picks_the_32_bit_build_or_an_alternative(catalog: Catalog) -> None:
    plan = plan_for(catalog, "w10-64-2g")
    browser = next(i for i in plan.items if i.app.id == "browser")
    assert browser.release.version == "128.0esr"
    suite = [i for i in plan.items if i.replaces == "suite"]
    assert [i.app.id for i in suite] == ["lite"]
    assert "10.0 needs 4096 MiB of memory" in suite[0].reason


def test_sse2_missing_falls_back_to_the_lighter_alternative(catalog: Catalog) -> None:
    with_sse2 = plan_for(catalog, "xp")
    assert chosen(with_sse2)["browser"] == "52.9.0esr"
    without = plan_for(catalog, "xp-nosse")
    assert "browser" not in chosen(without)
    old = next(i for i in without.items if i.app.id == "oldbrowser")
    assert old.replaces == "browser" and "52.9.0esr needs a CPU with SSE2" in old.reason


def test_portable_preferred_over_installer(catalog: Catalog) -> None:
    suite = next(i for i in plan_for(catalog, "w10-64").items if i.app.id == "suite")
    assert suite.artifact.kind.value == "zip"


def test_pack_language_preferred(catalog: Catalog) -> None:
    browser = next(i for i in plan_for(catalog, "w10-64").items if i.app.id == "browser")
    assert browser.artifact.lang == "fr"


def test_no_candidate_is_excluded_with_reason(catalog: Catalog) -> None:
    plan = plan_for(catalog, "w10-64")
    assert [(e.app, e.reason) for e in plan.excluded] == [
        ("armonly", "armonly excluded: 1.0 needs arm64 (profile: Windows 10, x86_64, 8192 MiB)")
    ]


def test_glibc_floor_at_the_boundary(catalog: Catalog) -> None:
    assert chosen(plan_for(catalog, "linux-228")) == {"browser": "128.0esr", "tool": "5.0.0"}
    plan = plan_for(catalog, "linux-227")
    assert chosen(plan) == {}
    reasons = {e.app: e.reason for e in plan.excluded}
    assert reasons["tool"] == "tool excluded: 5.0.0 needs glibc 2.28 or later (profile: Linux (glibc 2.27), x86_64, 4096 MiB)"
    assert reasons["editor"].startswith("editor excluded: no Linux build")


def test_category_entries_expand_and_pack_profiles_warn(catalog: Catalog) -> None:
    plan = resolve(catalog, catalog.pack("office"), catalog.profile("w10-64"))
    assert [i.app.id for i in plan.items][:3] == ["editor", "lite", "suite"]
    assert plan.warnings == ("pack office is meant for w7-64, not w10-64",)


def test_capacity_overflow_fails_before_download_listing_largest_and_lighter(catalog: Catalog) -> None:
    plan = resolve(catalog, catalog.pack("all"), catalog.profile("w10-64"), capacity_bytes=1_000_000_000)
    assert not plan.fits
    with pytest.raises(InputError, match="needs 3,292 MB but a 1,000 MB key") as err:
        check_capacity(catalog, plan)
    assert err.value.details[0].startswith("suite 10.0: 3,100 MB on the key")
    assert any(d.startswith("lighter: lite 0.9.1") for d in err.value.details)


def test_capacity_fits_on_the_profile_key(catalog: Catalog) -> None:
    plan = plan_for(catalog, "w10-64")
    assert plan.capacity_bytes == 8_000_000_000 and plan.fits
    check_capacity(catalog, plan)


def test_resolve_does_not_depend_on_the_order_of_the_catalog(catalog: Catalog) -> None:
    shuffled = Catalog(
        root=catalog.root, apps=dict(reversed(list(catalog.apps.items()))), profiles=catalog.profiles, packs=catalog.packs
    )
    for profile in catalog.profiles:
        assert chosen(plan_for(shuffled, profile)) == chosen(plan_for(catalog, profile))


def test_build_not_recommended_for_the_memory_gives_way_to_one_that_is(catalog: Catalog) -> None:
    small = next(i for i in plan_for(catalog, "w10-64-2g", "print").items if i.app.id == "mailer")
    assert (small.artifact.arch, small.artifact.lang) == (Arch.X86, "fr")
    assert "x86 build runs on x86_64" in small.reason
    assert "x86_64 build not recommended with 2048 MiB of memory" in small.reason
    big = next(i for i in plan_for(catalog, "w10-64", "print").items if i.app.id == "mailer")
    assert big.artifact.arch == Arch.X86_64 and "not recommended" not in big.reason


def test_dependencies_are_added_like_apps_with_who_needs_them(catalog: Catalog) -> None:
    plan = plan_for(catalog, "w7-32", "print")
    by_id = {i.app.id: i for i in plan.items}
    assert list(by_id) == ["layout", "postscript", "fonts"]  # mailer needs Windows 10
    assert by_id["postscript"].needed_by == "layout"
    assert by_id["postscript"].reason == "postscript 10.0: needed by layout; newest release; exe unpacked without installing"
    assert by_id["fonts"].needed_by == "postscript"


def test_a_dependency_that_cannot_run_is_excluded_with_the_app_that_needs_it(catalog: Catalog) -> None:
    plan = plan_for(catalog, "linux-228", "live")
    assert "layout" in chosen(plan)
    reasons = {e.app: e.reason for e in plan.excluded}
    assert reasons["postscript"].startswith("postscript (needed by layout) excluded: no Linux build (profile: Linux")


def test_live_key_uses_the_base_glibc_and_lists_what_the_base_provides(catalog: Catalog) -> None:
    pack, profile, base = catalog.pack("live"), catalog.profile("linux-228"), catalog.base("live-old")
    assert set(chosen(resolve(catalog, pack, profile))) == {"browser", "tool", "layout"}
    plan = resolve(catalog, pack, profile, base=base)
    assert chosen(plan) == {}  # browser is in the base; tool and layout need glibc 2.28, the base has 2.27
    reasons = {e.app: e.reason for e in plan.excluded}
    assert reasons["tool"] == (
        "tool excluded: 5.0.0 needs glibc 2.28 or later (profile: Linux (glibc 2.27), x86_64, 4096 MiB); "
        "the live system of live-old has glibc 2.27"
    )
    assert [(b.app.id, b.wanted) for b in plan.base_apps] == [("browser", True), ("notes", False)]
    assert plan.base_apps[0].reason == "browser 115.0esr: in the live system of live-old (asked by the pack, not copied)"
    check_not_empty(plan)  # the base's apps are on the key: not empty


def test_base_apps_do_not_replace_windows_apps(catalog: Catalog) -> None:
    plan = resolve(catalog, catalog.pack("live"), catalog.profile("w7-32"), base=catalog.base("live-old"))
    assert "browser" in chosen(plan)
    assert all(not b.wanted for b in plan.base_apps)


def test_a_base_that_cannot_start_on_the_pc_is_warned_about(catalog: Catalog) -> None:
    plan = resolve(catalog, catalog.pack("all"), catalog.profile("xp"), base=catalog.base("live-old"))
    assert "base live-old is for x86_64 PCs: it will not start on x86" in plan.warnings


def test_a_pack_with_no_app_for_a_profile_is_an_error_with_the_reasons(catalog: Catalog) -> None:
    plan = plan_for(catalog, "linux-227")
    assert plan.items == ()
    with pytest.raises(InputError) as err:
        check_capacity(catalog, plan)
    assert err.value.message == "pack all has no app for linux-227 (Linux (glibc 2.27), x86_64): the key would be empty"
    assert "tool excluded: 5.0.0 needs glibc 2.28 or later" in "\n".join(err.value.details)
    live = resolve(catalog, catalog.pack("live"), catalog.profile("linux-227"))
    with pytest.raises(InputError) as err:
        check_not_empty(live)
    assert "--format iso or usb-live" in (err.value.hint or "")


# --- property: whatever the PC, every chosen artifact runs on it ---------------------------------

_profiles = st.builds(
    lambda os_name, arch, cpu, ram, glibc: Profile.model_validate(
        {
            "id": "generated",
            "name": {"fr": "g", "en": "g"},
            "os": os_name,
            "glibc": glibc if os_name == "linux" else None,
            "arch": arch,
            "cpu": cpu,
            "ram_mb": ram,
            "firmware": ["bios"],
            "key_mb": 64000,
        }
    ),
    st.sampled_from(["windows-xp", "windows-vista", "windows-7", "windows-8.1", "windows-10", "windows-11", "linux"]),
    st.sampled_from(["x86", "x86_64", "arm64"]),
    st.lists(st.sampled_from(["sse2", "pae", "nx"]), unique=True),
    st.integers(min_value=64, max_value=16384),
    st.sampled_from(["2.17", "2.27", "2.28", "2.31", "2.36", "2.41"]),
)

_ALLOWED = {
    ("windows", "x86"): {"x86", "any"},
    ("windows", "x86_64"): {"x86", "x86_64", "any"},
    ("windows", "arm64"): {"x86", "x86_64", "arm64", "any"},
    ("linux", "x86"): {"x86", "any"},
    ("linux", "x86_64"): {"x86_64", "any"},
    ("linux", "arm64"): {"arm64", "any"},
}


@settings(max_examples=200, deadline=None)
@given(profile=_profiles)
def test_every_chosen_artifact_satisfies_the_profile(catalog: Catalog, profile: Profile) -> None:
    for shipped in (catalog, SHIPPED):
        for pack in shipped.packs.values():
            plan = resolve(shipped, pack, profile)
            family, version = profile.os_family_version
            for item in plan.items:
                art = item.artifact
                assert art.platform == profile.platform
                assert art.arch.value in _ALLOWED[(profile.platform.value, profile.arch.value)]
                if art.requires.os:
                    assert OsRange.parse(art.requires.os).contains(family, version)
                assert (art.requires.ram_mb or 0) <= profile.ram_mb
                assert set(art.requires.cpu) <= set(profile.cpu)
            assert len(plan.items) + len(plan.excluded) >= len({i.app.id for i in plan.items})
            assert all(d in {i.app.id for i in plan.items} | {e.app for e in plan.excluded}
                       for i in plan.items for d in i.artifact.requires.depends)
            for base in shipped.bases.values():
                live = resolve(shipped, pack, profile, base=base)
                for item in live.items:
                    req = item.artifact.requires.os
                    if item.artifact.platform.value == "linux" and req and base.glibc:
                        assert OsRange.parse(req).contains("linux-glibc", base.glibc)


SHIPPED = load_catalog(Path(__file__).resolve().parent.parent / "manifests")
