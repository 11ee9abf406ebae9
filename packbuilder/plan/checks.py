"""The checks a plan goes through before anything is downloaded: a lock's Linux apps against a
live base, a key that would be empty, a key that would not fit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from packbuilder.i18n import _, current_language
from packbuilder.model import Kind, Platform
from packbuilder.plan.resolve import FAT32_MAX_FILE, PlanItem, lighter_alternatives, profile_os_name, runnable_on
from packbuilder.reasons import describe_os_range
from packbuilder.versions import OsRange

if TYPE_CHECKING:
    from packbuilder.catalog import Catalog
    from packbuilder.model import Base
    from packbuilder.plan.resolve import Plan


def check_live_items(catalog: Catalog, base: Base, items: list[tuple[str, str]]) -> None:
    """Refuse, for a live key on ``base``, the artifacts (app id, url) of a lock whose catalog
    entry needs a newer glibc than the base's: a lock may have been planned for another system."""
    from packbuilder.errors import InputError

    if not base.glibc:
        return
    problems = []
    for app_id, url in items:
        app = catalog.apps.get(app_id)
        arts = [a for r in app.releases for a in r.artifacts if a.url == url] if app else []
        for art in arts:
            rng = OsRange.parse(art.requires.os) if art.requires.os else None
            if art.platform == Platform.LINUX and rng and not rng.contains("linux-glibc", base.glibc):
                needs = describe_os_range(art.requires.os or "", current_language())
                line = _("{app}: needs {needs}, {base} has glibc {glibc}")
                problems.append(line.format(app=app_id, needs=needs, base=base.id, glibc=base.glibc))
    if problems:
        raise InputError(
            _("the lock holds Linux apps that will not start on the live system of {base}").format(base=base.id),
            hint=_("plan the pack again for the live key (build PACK --format iso), or drop these apps"),
            details=problems,
        )


def check_not_empty(plan: Plan) -> None:
    """Refuse a key with nothing on it: say why each app was left out, and what would help."""
    from packbuilder.errors import InputError

    if plan.items or plan.base_apps:
        return
    pack, profile = plan.pack, plan.profile
    if pack.base and plan.base is None and profile.platform == Platform.LINUX:
        hint = _("build a live key instead (--format iso or usb-live): the pack's base {base} brings its own apps").format(
            base=pack.base
        )
    elif pack.profiles and profile.id not in pack.profiles:
        hint = _("pack {pack} is meant for {profiles}").format(pack=pack.id, profiles=", ".join(pack.profiles))
    else:
        hint = _("add apps that run on {profile} to the pack, or remove {profile} from its profiles").format(profile=profile.id)
    raise InputError(
        _("pack {pack} has no app for {profile} ({os}, {arch}): the key would be empty").format(
            pack=pack.id, profile=profile.id, os=profile_os_name(profile), arch=profile.arch.value
        ),
        hint=hint,
        details=[e.reason for e in plan.excluded],
    )


def check_capacity(catalog: Catalog, plan: Plan) -> None:
    """Refuse a plan that is empty or cannot fit on the key, before anything is downloaded."""
    from packbuilder.errors import InputError

    check_not_empty(plan)
    too_big = [i for i in plan.items if i.artifact.kind == Kind.APPIMAGE and i.artifact.download_size > FAT32_MAX_FILE]
    if too_big:
        from packbuilder.sizes import format_size

        names = ", ".join(f"{i.app.id} ({format_size(i.artifact.download_size)})" for i in too_big)
        raise InputError(
            _("FAT32 cannot hold files of 4 GiB or more: {names}").format(names=names), hint=_("remove these apps from the pack")
        )
    if plan.fits:
        return

    def mb(n: int) -> str:  # megabytes, as sold: "3,292 MB", « 3 292 Mo »
        return f"{n / 1e6:,.0f} MB" if current_language() != "fr" else f"{n / 1e6:,.0f} Mo".replace(",", "\u00a0")

    largest = sorted(plan.items, key=lambda i: i.unpacked_size, reverse=True)[:5]
    on_key = _("{app} {version}: {size} on the key")
    details = [on_key.format(app=i.app.id, version=i.release.version, size=mb(i.unpacked_size)) for i in largest]
    for item in largest:
        for alt in lighter_alternatives(catalog, item.app):
            choice = runnable_on(alt, plan.profile, plan.pack.locale)
            if choice.artifact and alt.id not in {i.app.id for i in plan.items}:
                alt_item = PlanItem(alt, choice.release, choice.artifact, "", "")  # type: ignore[arg-type]
                lighter = _("lighter: {app} {version} ({size}) instead of {instead}")
                size = mb(alt_item.unpacked_size)
                details.append(lighter.format(app=alt.id, version=choice.version, size=size, instead=item.app.id))
    raise InputError(
        _("pack {pack} needs {needed} but a {capacity} key holds about {usable} of files").format(
            pack=plan.pack.id, needed=mb(plan.total_bytes), capacity=mb(plan.capacity_bytes), usable=mb(plan.usable_bytes)
        ),
        hint=_("use a bigger key (--size), drop the largest apps, or use the lighter alternatives listed"),
        details=details,
    )
