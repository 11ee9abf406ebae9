"""Pick the right version of each app of a pack for one kind of PC, and say why.

A pure function of the catalog, the pack and the profile: no I/O. For each app, the
newest release with an artifact that fits the profile (platform, arch, OS range, RAM,
CPU features) wins; among that release's fitting artifacts, portable kinds beat
installers, the PC's native arch beats a compatible one, and the pack's language beats
others. When nothing fits, a declared lighter alternative is tried, else the app is
excluded. Every item and every exclusion carries a sentence a volunteer can read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packbuilder.catalog import Catalog
from packbuilder.model import App, Arch, Artifact, CategoryRef, Kind, Pack, Platform, Profile, Release
from packbuilder.model.lock import LockedArtifact
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

    @property
    def unpacked_size(self) -> int:
        return unpacked_estimate(self.artifact)


@dataclass(frozen=True)
class Exclusion:
    app: str
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


def describe_os_range(text: str) -> str:
    """``windows>=6.1`` -> ``Windows 7 or later``; ``linux-glibc>=2.28`` -> ``glibc 2.28 or later``."""
    rng = OsRange.parse(text)
    name = windows_name if rng.family == "windows" else (lambda v: f"glibc {v}")
    parts = []
    for op, bound in rng.specs:
        if op in (">=", ">"):
            parts.append(f"{name(bound)} or later")
        elif op in ("<", "<="):
            parts.append(f"before {name(bound)}" if op == "<" else f"{name(bound)} at most")
        else:
            parts.append(f"{op} {name(bound)}")
    return " and ".join(parts) or name("")


def profile_os_name(profile: Profile) -> str:
    family, version = profile.os_family_version
    return windows_name(version) if family == "windows" else f"Linux (glibc {version})"


def misfit(artifact: Artifact, profile: Profile) -> tuple[int, str] | None:
    """None when the artifact runs on the profile, else (how far it got, why not)."""
    if artifact.platform != profile.platform:
        return (0, f"has no {profile.platform.value.capitalize()} build")
    if artifact.arch not in _COMPATIBLE_ARCHS[(profile.platform, profile.arch)]:
        return (1, f"needs {artifact.arch.value}")
    req = artifact.requires
    if req.os:
        family, version = profile.os_family_version
        if not OsRange.parse(req.os).contains(family, version):
            return (2, f"needs {describe_os_range(req.os)}")
    missing = [c.value.upper() for c in req.cpu if c not in profile.cpu]
    if missing:
        return (3, f"needs a CPU with {', '.join(missing)}")
    if req.ram_mb and req.ram_mb > profile.ram_mb:
        return (4, f"needs {req.ram_mb} MiB of memory")
    return None


def _preference(artifact: Artifact, profile: Profile, locale: str) -> tuple[int, int, int]:
    lang = artifact.lang
    lang_rank = 2 if lang and lang.split("-")[0] == locale else (1 if lang is None else 0)
    return (int(artifact.portable), int(artifact.arch == profile.arch), lang_rank)


def _release_misfit(release: Release, profile: Profile) -> str:
    """The most telling reason why no artifact of a release fits."""
    reasons = [m for art in release.artifacts if (m := misfit(art, profile)) is not None]
    return max(reasons)[1]


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
            verb, _, rest = reason.partition(" ")
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

    @property
    def version(self) -> str | None:
        return self.release.version if self.release else None


def runnable_on(app: App, profile: Profile, locale: str = "fr") -> Choice:
    """The best release and artifact of ``app`` for ``profile``, with the reason."""
    skipped: list[tuple[str, str]] = []
    for release in sorted_releases(app):
        fitting = [a for a in release.artifacts if misfit(a, profile) is None]
        if fitting:
            best = max(fitting, key=lambda a: _preference(a, profile, locale))
            return Choice(release, best, _chosen_reason(app, release, best, profile, skipped), tuple(skipped))
        skipped.append((release.version, _release_misfit(release, profile)))
    why = explain_skipped(skipped)
    where = f"{profile_os_name(profile)}, {profile.arch.value}, {profile.ram_mb} MiB"
    return Choice(None, None, f"{app.id}: {why} (profile: {where})", tuple(skipped))


def _chosen_reason(app: App, release: Release, art: Artifact, profile: Profile, skipped: list[tuple[str, str]]) -> str:
    if skipped:
        newer = explain_skipped(skipped)
        text = f"{app.id} {release.version}: {newer} (profile: {profile_os_name(profile)})"
    else:
        text = f"{app.id} {release.version}: newest release"
    notes = []
    if art.arch != profile.arch and art.arch != Arch.ANY:
        notes.append(f"{art.arch.value} build runs on {profile.arch.value}")
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


def resolve(
    catalog: Catalog,
    pack: Pack,
    profile: Profile,
    capacity_bytes: int | None = None,
    overlay_bytes: int = 0,
) -> Plan:
    """Resolve ``pack`` for ``profile``. Pure: the caller measures overlays and checks capacity."""
    wanted = pack_app_ids(catalog, pack)
    items: list[PlanItem] = []
    excluded: list[Exclusion] = []
    warnings: list[str] = []
    if pack.profiles and profile.id not in pack.profiles:
        warnings.append(f"pack {pack.id} is meant for {', '.join(pack.profiles)}, not {profile.id}")
    taken = set(wanted)
    for app_id in wanted:
        app = catalog.apps[app_id]
        choice = runnable_on(app, profile, pack.locale)
        if choice.release and choice.artifact:
            items.append(
                PlanItem(app, choice.release, choice.artifact, choice.reason, dest_for(app, choice.release, choice.artifact))
            )
            continue
        substitute = None
        for alt in lighter_alternatives(catalog, app):
            if alt.id in taken:
                continue
            alt_choice = runnable_on(alt, profile, pack.locale)
            if alt_choice.release and alt_choice.artifact:
                substitute = alt
                reason = f"{alt.id} {alt_choice.release.version} instead of {choice.reason}"
                items.append(
                    PlanItem(
                        alt,
                        alt_choice.release,
                        alt_choice.artifact,
                        reason,
                        dest_for(alt, alt_choice.release, alt_choice.artifact),
                        replaces=app.id,
                    )
                )
                taken.add(alt.id)
                break
        if substitute is None:
            excluded.append(Exclusion(app.id, f"{app.id} excluded: {choice.reason.removeprefix(app.id + ': ')}"))
    capacity = capacity_bytes if capacity_bytes is not None else profile.key_mb * 1_000_000
    return Plan(pack, profile, tuple(items), tuple(excluded), capacity, overlay_bytes, tuple(warnings))


def check_capacity(catalog: Catalog, plan: Plan) -> None:
    """Refuse a plan that cannot fit on the key, before anything is downloaded."""
    from packbuilder.errors import InputError

    too_big = [i for i in plan.items if i.artifact.kind == Kind.APPIMAGE and i.artifact.download_size > FAT32_MAX_FILE]
    if too_big:
        names = ", ".join(f"{i.app.id} ({i.artifact.download_size / 1e9:.1f} GB)" for i in too_big)
        raise InputError(f"FAT32 cannot hold files of 4 GiB or more: {names}", hint="remove these apps from the pack")
    if plan.fits:
        return

    def mb(n: int) -> str:
        return f"{n / 1e6:,.0f} MB"

    largest = sorted(plan.items, key=lambda i: i.unpacked_size, reverse=True)[:5]
    details = [f"{i.app.id} {i.release.version}: {mb(i.unpacked_size)} on the key" for i in largest]
    for item in largest:
        for alt in lighter_alternatives(catalog, item.app):
            choice = runnable_on(alt, plan.profile, plan.pack.locale)
            if choice.artifact and alt.id not in {i.app.id for i in plan.items}:
                alt_item = PlanItem(alt, choice.release, choice.artifact, "", "")  # type: ignore[arg-type]
                details.append(f"lighter: {alt.id} {choice.version} ({mb(alt_item.unpacked_size)}) instead of {item.app.id}")
    raise InputError(
        f"pack {plan.pack.id} needs {mb(plan.total_bytes)} but a {mb(plan.capacity_bytes)} key holds about "
        f"{mb(plan.usable_bytes)} of files",
        hint="use a bigger key (--size), drop the largest apps, or use the lighter alternatives listed",
        details=details,
    )
