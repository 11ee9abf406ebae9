"""Pick the right version of each app of a pack for one kind of PC, and say why.

A pure function of the catalog, the pack and the profile: no I/O. For each app, the
newest release with an artifact that fits the profile (platform, arch, OS range, RAM,
CPU features) wins; among that release's fitting artifacts, portable kinds beat
installers, a build recommended for the PC's memory beats one that only works there
(``ram_mb_recommended``), the pack's language beats others, and the PC's native arch beats
a compatible one. When nothing fits, a declared lighter alternative is tried, else the app
is excluded. Apps an artifact depends on (``requires.depends``) are added like apps. For a
live key (``base``), Linux apps run on the base's system: its glibc and arch count, and the
apps it already contains are listed, not copied. Every item and every exclusion carries a
sentence a volunteer can read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from packbuilder.catalog import Catalog
from packbuilder.model import (
    App,
    Arch,
    Artifact,
    Base,
    CategoryRef,
    Kind,
    Pack,
    Platform,
    Profile,
    ProvidedApp,
    Release,
)
from packbuilder.model.lock import LockedArtifact
from packbuilder.reasons import VersionMisfit, phrase
from packbuilder.versions import OsRange, version_key, windows_name

# What an artifact grows to once unpacked, when its manifest does not say (rough, on the safe side).
UNPACK_FACTOR = {Kind.ZIP: 2.5, Kind.SEVEN_Z: 3.5, Kind.PAF: 2.5, Kind.EXE: 3.0, Kind.MSI: 3.0, Kind.TAR: 3.0, Kind.APPIMAGE: 1.0}
FAT32_MAX_FILE = 4 * 1024**3 - 1
# FAT tables, directories and cluster slack: keep this share of the key free.
FS_OVERHEAD = 0.03

CATEGORY_FOLDERS = {
    "office": "Bureautique",
    "graphics": "Graphisme",
    "web": "Internet",
    "management": "Gestion",
    "utilities": "Utilitaires",
    "education": "Education",
    "multimedia": "Multimedia",
}

_COMPATIBLE_ARCHS: dict[tuple[Platform, Arch], tuple[Arch, ...]] = {
    # 64-bit Windows runs 32-bit programs (WOW64); the reverse is impossible.
    (Platform.WINDOWS, Arch.X86_64): (Arch.X86_64, Arch.X86, Arch.ANY),
    (Platform.WINDOWS, Arch.X86): (Arch.X86, Arch.ANY),
    (Platform.WINDOWS, Arch.ARM64): (Arch.ARM64, Arch.X86_64, Arch.X86, Arch.ANY),
    # A 32-bit AppImage on 64-bit Linux needs 32-bit libraries that live systems lack.
    (Platform.LINUX, Arch.X86_64): (Arch.X86_64, Arch.ANY),
    (Platform.LINUX, Arch.X86): (Arch.X86, Arch.ANY),
    (Platform.LINUX, Arch.ARM64): (Arch.ARM64, Arch.ANY),
}


def unpacked_estimate(art: Artifact | LockedArtifact) -> int:
    """Bytes an artifact takes on the key once unpacked: its declared size, else an estimate by kind."""
    if art.installed_size:
        return art.installed_size
    return int(art.download_size * UNPACK_FACTOR[art.kind])


@dataclass(frozen=True)
class PlanItem:
    app: App
    release: Release
    artifact: Artifact
    reason: str
    dest: str
    replaces: str | None = None
    needed_by: str | None = None
    misfits: tuple[VersionMisfit, ...] = ()  # why newer releases were skipped, as codes
    replaced_misfits: tuple[VersionMisfit, ...] = ()  # why the app it replaces does not run

    @property
    def unpacked_size(self) -> int:
        return unpacked_estimate(self.artifact)


@dataclass(frozen=True)
class Exclusion:
    app: str
    reason: str
    misfits: tuple[VersionMisfit, ...] = ()  # the reason as codes, for pages in any language


@dataclass(frozen=True)
class BaseItem:
    """An app the live system already contains; ``wanted`` when the pack asked for it."""

    app: ProvidedApp
    wanted: bool
    reason: str


@dataclass(frozen=True)
class Plan:
    pack: Pack
    profile: Profile
    items: tuple[PlanItem, ...]
    excluded: tuple[Exclusion, ...]
    capacity_bytes: int
    overlay_bytes: int
    warnings: tuple[str, ...] = ()
    base: Base | None = None
    base_apps: tuple[BaseItem, ...] = ()

    @property
    def download_bytes(self) -> int:
        return sum(i.artifact.download_size for i in self.items)

    @property
    def total_bytes(self) -> int:
        """What lands on the key: unpacked apps plus overlays."""
        return sum(i.unpacked_size for i in self.items) + self.overlay_bytes

    @property
    def usable_bytes(self) -> int:
        return int(self.capacity_bytes * (1 - FS_OVERHEAD))

    @property
    def fits(self) -> bool:
        return self.total_bytes <= self.usable_bytes


# --- does an artifact fit a profile -----------------------------------------------------------


def profile_os_name(profile: Profile) -> str:
    family, version = profile.os_family_version
    return windows_name(version) if family == "windows" else f"Linux (glibc {version})"


def misfit_code(artifact: Artifact, profile: Profile) -> tuple[int, str, str] | None:
    """None when the artifact runs on the profile, else (how far it got, reason code, value):
    the codes of :mod:`packbuilder.reasons`, which locks keep and pages put in words."""
    if artifact.platform != profile.platform:
        return (0, "platform", profile.platform.value)
    if artifact.arch not in _COMPATIBLE_ARCHS[(profile.platform, profile.arch)]:
        return (1, "arch", artifact.arch.value)
    req = artifact.requires
    if req.os:
        family, version = profile.os_family_version
        if not OsRange.parse(req.os).contains(family, version):
            return (2, "os", req.os)
    missing = [c.value.upper() for c in req.cpu if c not in profile.cpu]
    if missing:
        return (3, "cpu", ",".join(missing))
    if req.ram_mb and req.ram_mb > profile.ram_mb:
        return (4, "ram", str(req.ram_mb))
    return None


def misfit(artifact: Artifact, profile: Profile) -> tuple[int, str] | None:
    """None when the artifact runs on the profile, else (how far it got, why not, in English)."""
    found = misfit_code(artifact, profile)
    return None if found is None else (found[0], phrase(found[1], found[2]))


def recommended(artifact: Artifact, profile: Profile) -> bool:
    """False when the build works on the PC but its publisher advises against it for that memory."""
    wanted = artifact.requires.ram_mb_recommended
    return wanted is None or wanted <= profile.ram_mb


def _preference(artifact: Artifact, profile: Profile, locale: str) -> tuple[int, int, int, int]:
    lang = artifact.lang
    lang_rank = 2 if lang and lang.split("-")[0] == locale else (1 if lang is None else 0)
    return (int(artifact.portable), int(recommended(artifact, profile)), lang_rank, int(artifact.arch == profile.arch))


def _release_misfit(release: Release, profile: Profile) -> tuple[str, str]:
    """The most telling reason why no artifact of a release fits: (code, value)."""
    reasons = [m for art in release.artifacts if (m := misfit_code(art, profile)) is not None]
    _version, code, value = max(reasons)
    return code, value


def sorted_releases(app: App) -> list[Release]:
    return sorted(app.releases, key=lambda r: version_key(r.version), reverse=True)


def explain_skipped(skipped: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> str:
    """``[(3.0, needs x86_64), (2.1, needs W7), (2.0, needs W7)]`` -> ``3.0 needs x86_64; 2.1 and 2.0 need W7``."""
    if skipped and all(reason.startswith("has no ") and reason == skipped[0][1] for _, reason in skipped):
        return skipped[0][1].removeprefix("has ")  # "no Linux build": the versions add nothing
    groups: list[tuple[list[str], str]] = []
    for version, reason in skipped:
        if groups and groups[-1][1] == reason:
            groups[-1][0].append(version)
        else:
            groups.append(([version], reason))
    parts = []
    for versions, reason in groups:
        if len(versions) == 1:
            parts.append(f"{versions[0]} {reason}")
        else:
            verb, _sep, rest = reason.partition(" ")
            plural = f"{ {'needs': 'need', 'has': 'have'}.get(verb, verb) } {rest}"
            parts.append(f"{', '.join(versions[:-1])} and {versions[-1]} {plural}")
    return "; ".join(parts)


@dataclass(frozen=True)
class Choice:
    """The outcome for one app on one profile, before pack-level decisions."""

    release: Release | None
    artifact: Artifact | None
    reason: str
    skipped: tuple[tuple[str, str], ...] = field(default=())
    codes: tuple[VersionMisfit, ...] = field(default=())  # the same as (version, code, value)

    @property
    def version(self) -> str | None:
        return self.release.version if self.release else None


def runnable_on(app: App, profile: Profile, locale: str = "fr") -> Choice:
    """The best release and artifact of ``app`` for ``profile``, with the reason."""
    skipped: list[tuple[str, str]] = []
    codes: list[VersionMisfit] = []
    for release in sorted_releases(app):
        fitting = [a for a in release.artifacts if misfit(a, profile) is None]
        if fitting:
            best = max(fitting, key=lambda a: _preference(a, profile, locale))
            reason = _chosen_reason(app, release, best, profile, skipped, fitting)
            return Choice(release, best, reason, tuple(skipped), tuple(codes))
        code, value = _release_misfit(release, profile)
        skipped.append((release.version, phrase(code, value)))
        codes.append((release.version, code, value))
    why = explain_skipped(skipped)
    where = f"{profile_os_name(profile)}, {profile.arch.value}, {profile.ram_mb} MiB"
    return Choice(None, None, f"{app.id}: {why} (profile: {where})", tuple(skipped), tuple(codes))


def _chosen_reason(
    app: App, release: Release, art: Artifact, profile: Profile, skipped: list[tuple[str, str]], fitting: list[Artifact]
) -> str:
    if skipped:
        newer = explain_skipped(skipped)
        text = f"{app.id} {release.version}: {newer} (profile: {profile_os_name(profile)})"
    else:
        text = f"{app.id} {release.version}: newest release"
    notes = []
    if art.arch != profile.arch and art.arch != Arch.ANY:
        notes.append(f"{art.arch.value} build runs on {profile.arch.value}")
    advised_against = sorted({a.arch.value for a in fitting if not recommended(a, profile)} - {art.arch.value})
    if advised_against and recommended(art, profile):
        notes.append(f"{'/'.join(advised_against)} build not recommended with {profile.ram_mb} MiB of memory")
    elif not recommended(art, profile):
        notes.append(f"works, but {art.requires.ram_mb_recommended} MiB of memory is recommended")
    if not art.portable:
        notes.append(f"{art.kind.value} unpacked without installing")
    return "; ".join([text, *notes])


# --- the pack ------------------------------------------------------------------------------------


def pack_app_ids(catalog: Catalog, pack: Pack) -> list[str]:
    """The pack's apps in order, categories expanded (sorted by id), without duplicates."""
    ids: list[str] = []
    for entry in pack.apps:
        if isinstance(entry, CategoryRef):
            members = sorted(a.id for a in catalog.apps.values() if a.category == entry.category)
        else:
            members = [entry]
        ids.extend(m for m in members if m not in ids)
    return ids


def lighter_alternatives(catalog: Catalog, app: App) -> list[App]:
    """Declared replacements: apps that say they are lighter than ``app`` first, then its alternatives."""
    lighter = sorted((a for a in catalog.apps.values() if app.id in a.lighter_than), key=lambda a: a.id)
    others = [catalog.apps[i] for i in app.alternatives if i in catalog.apps and catalog.apps[i] not in lighter]
    return lighter + others


def dest_for(app: App, release: Release, art: Artifact) -> str:
    """Where the artifact lands on the key (see README, "Key layout")."""
    safe = "".join(c if c.isalnum() or c in " ._+-" else "_" for c in app.name).strip(" .") or app.id
    if art.kind == Kind.APPIMAGE:
        return f"AppImages/{safe.replace(' ', '_')}-{release.version}-{art.arch.value}.AppImage"
    if art.platform == Platform.LINUX:
        return f"Apps/Linux/{safe}"
    return f"Apps/{CATEGORY_FOLDERS[app.category.value]}/{safe}"


def live_base(
    catalog: Catalog, pack: Pack, profile: Profile, live: bool | None = None, base_id: str | None = None
) -> Base | None:
    """The base a key runs on as a live system: for iso/usb-live builds (``live``), and by
    default when a pack with a base goes to a Linux PC. None for a base not in the catalog
    (an ISO file given by path: its contents are unknown)."""
    if live is None:
        live = pack.base is not None and profile.platform == Platform.LINUX
    wanted = base_id or pack.base
    return catalog.bases.get(wanted) if live and wanted else None


def live_profile(profile: Profile, base: Base) -> Profile:
    """The PC as a live key on ``base`` runs it: Linux apps meet the base's glibc and arch."""
    if profile.platform != Platform.LINUX:
        return profile
    update: dict[str, object] = {"arch": base.arch} if base.arch != Arch.ANY else {}
    if base.glibc:
        update["glibc"] = base.glibc
    return profile.model_copy(update=update)


def _base_items(base: Base, wanted: list[str], profile: Profile) -> tuple[BaseItem, ...]:
    items = []
    for provided in base.apps:
        asked = provided.id in wanted and profile.platform == Platform.LINUX
        why = "asked by the pack, not copied" if asked else "also there"
        items.append(BaseItem(provided, asked, f"{provided.id} {provided.version}: in the live system of {base.id} ({why})"))
    return tuple(items)


def _pick(
    catalog: Catalog, app: App, profile: Profile, locale: str, taken: set[str]
) -> tuple[PlanItem | None, str, tuple[VersionMisfit, ...]]:
    """The app, else its first runnable lighter alternative (``replaces`` set), else None and why."""
    choice = runnable_on(app, profile, locale)
    if choice.release and choice.artifact:
        dest = dest_for(app, choice.release, choice.artifact)
        return PlanItem(app, choice.release, choice.artifact, choice.reason, dest, misfits=choice.codes), "", ()
    for alt in lighter_alternatives(catalog, app):
        if alt.id in taken:
            continue
        alt_choice = runnable_on(alt, profile, locale)
        if alt_choice.release and alt_choice.artifact:
            reason = f"{alt.id} {alt_choice.release.version} instead of {choice.reason}"
            if not recommended(alt_choice.artifact, profile):
                reason += f"; works, but {alt_choice.artifact.requires.ram_mb_recommended} MiB of memory is recommended"
            dest = dest_for(alt, alt_choice.release, alt_choice.artifact)
            item = PlanItem(alt, alt_choice.release, alt_choice.artifact, reason, dest, replaces=app.id, misfits=alt_choice.codes)
            return dataclasses.replace(item, replaced_misfits=choice.codes), "", ()
    return None, choice.reason.removeprefix(app.id + ": "), choice.codes


def _add_dependencies(
    catalog: Catalog, items: list[PlanItem], excluded: list[Exclusion], profile: Profile, locale: str, present: set[str]
) -> None:
    """Add what the chosen artifacts depend on, and what those depend on, like apps."""
    queue = list(items)
    while queue:
        item = queue.pop(0)
        for dep_id in item.artifact.requires.depends:
            if dep_id in present:
                continue
            present.add(dep_id)
            dep = catalog.apps.get(dep_id)
            if dep is None:
                excluded.append(Exclusion(dep_id, f"{dep_id} (needed by {item.app.id}) excluded: not in the catalog"))
                continue
            choice = runnable_on(dep, profile, locale)
            if not (choice.release and choice.artifact):
                why = choice.reason.removeprefix(dep_id + ": ")
                excluded.append(Exclusion(dep_id, f"{dep_id} (needed by {item.app.id}) excluded: {why}", choice.codes))
                continue
            reason = choice.reason.replace(": ", f": needed by {item.app.id}; ", 1)
            dest = dest_for(dep, choice.release, choice.artifact)
            added = PlanItem(dep, choice.release, choice.artifact, reason, dest, needed_by=item.app.id)
            items.append(added)
            queue.append(added)


def resolve(
    catalog: Catalog,
    pack: Pack,
    profile: Profile,
    capacity_bytes: int | None = None,
    overlay_bytes: int = 0,
    base: Base | None = None,
) -> Plan:
    """Resolve ``pack`` for ``profile`` (as a live key on ``base`` when given).

    Pure: the caller measures overlays and checks capacity and emptiness.
    """
    wanted = pack_app_ids(catalog, pack)
    items: list[PlanItem] = []
    excluded: list[Exclusion] = []
    warnings: list[str] = []
    if pack.profiles and profile.id not in pack.profiles:
        from packbuilder.i18n import _

        meant = _("pack {pack} is meant for {profiles}, not {profile}")
        warnings.append(meant.format(pack=pack.id, profiles=", ".join(pack.profiles), profile=profile.id))
    run_on = profile
    base_items: tuple[BaseItem, ...] = ()
    if base is not None:
        if profile.arch not in _RUNS_ON.get(base.arch, (base.arch,)):
            from packbuilder.i18n import _

            wrong = _("base {base} is for {arch} PCs: it will not start on {pc}")
            warnings.append(wrong.format(base=base.id, arch=base.arch.value, pc=profile.arch.value))
        run_on = live_profile(profile, base)
        base_items = _base_items(base, wanted, profile)
    from_base = {b.app.id for b in base_items if b.wanted}
    taken = set(wanted)
    for app_id in wanted:
        if app_id in from_base:
            continue
        item, why, codes = _pick(catalog, catalog.apps[app_id], run_on, pack.locale, taken)
        if item is None:
            if base is not None and run_on is not profile and base.glibc and "needs glibc" in why:
                why += f"; the live system of {base.id} has glibc {base.glibc}"
            excluded.append(Exclusion(app_id, f"{app_id} excluded: {why}", codes))
            continue
        items.append(item)
        taken.add(item.app.id)
    _add_dependencies(catalog, items, excluded, run_on, pack.locale, {i.app.id for i in items} | from_base)
    capacity = capacity_bytes if capacity_bytes is not None else profile.key_mb * 1_000_000
    return Plan(pack, profile, tuple(items), tuple(excluded), capacity, overlay_bytes, tuple(warnings), base, base_items)


# A live system of one arch starts on these PCs (an i386 system runs on 64-bit PCs too).
_RUNS_ON: dict[Arch, tuple[Arch, ...]] = {Arch.X86: (Arch.X86, Arch.X86_64), Arch.ANY: tuple(Arch)}
