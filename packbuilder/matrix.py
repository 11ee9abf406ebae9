"""The image matrix: every image the catalog declares, one build job each (CI and ``make images``).

A pack is built for each of its ``profiles`` (every profile of the catalog when it names none):

- ``usb``, a key of portable apps, for every one of them but the Linux PCs of a pack with a base;
- ``iso``, a live ISO on the pack's ``base``, when the pack has one and that base can start on the
  profile's PC: the PC runs the base's architecture (an x86 base also starts on an x86_64 PC)
  and has one of the firmware kinds the base boots with.

Pure: no I/O, sorted, so adding a pack or a profile to the catalog adds jobs and nothing else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from packbuilder.catalog import Catalog
from packbuilder.i18n import _
from packbuilder.model import Arch, Base, Pack, Profile

FORMATS = ("usb", "iso")
SUFFIXES = {"usb": ".img", "iso": ".iso"}
# Which PCs start a base built for an architecture.
RUNS_ON = {Arch.X86: {Arch.X86, Arch.X86_64}, Arch.X86_64: {Arch.X86_64}, Arch.ARM64: {Arch.ARM64}}


@dataclass(frozen=True)
class Job:
    """One image to build: ``packbuilder build PACK --profile PROFILE --format FORMAT -o OUTPUT``."""

    name: str  # unique, safe in file names and CI job names: PACK-PROFILE[-FORMAT]
    pack: str
    profile: str
    format: str
    output: str  # file name of the image
    base: str | None = None

    def as_dict(self) -> dict[str, str]:
        # GitHub's matrix values are strings: "" rather than null for "no base".
        return {k: v or "" for k, v in asdict(self).items()}


def base_starts_on(base: Base, profile: Profile) -> bool:
    return profile.arch in RUNS_ON.get(base.arch, {base.arch}) and bool(set(base.firmware) & set(profile.firmware))


def pack_jobs(catalog: Catalog, pack: Pack) -> list[Job]:
    profile_ids = pack.profiles or tuple(sorted(catalog.profiles))
    base = catalog.bases.get(pack.base) if pack.base else None
    jobs = []
    for profile_id in profile_ids:
        profile = catalog.profile(profile_id)
        name = f"{pack.id}-{profile.id}"
        live = base is not None and base_starts_on(base, profile)
        # A Linux PC of a pack with a live base gets the live system, not a key of Linux apps alone.
        if not (live and profile.os.value == "linux"):
            jobs.append(Job(name, pack.id, profile.id, "usb", name + SUFFIXES["usb"]))
        if base is not None and live:
            jobs.append(Job(f"{name}-live", pack.id, profile.id, "iso", f"{name}-live" + SUFFIXES["iso"], base.id))
    return jobs


def image_matrix(catalog: Catalog, packs: list[str] | None = None, formats: list[str] | None = None) -> list[Job]:
    """Every declared image, sorted by name; optionally only some packs or formats."""
    from packbuilder.errors import InputError

    unknown = sorted(set(formats or ()) - set(FORMATS))
    if unknown:
        raise InputError(
            _("unknown image format {unknown!r} in the matrix").format(unknown=unknown[0]),
            hint=_("use one of: {formats}").format(formats=", ".join(FORMATS)),
        )
    selected = [catalog.pack(p) for p in packs] if packs else list(catalog.packs.values())
    jobs = [job for pack in selected for job in pack_jobs(catalog, pack)]
    return sorted((j for j in jobs if not formats or j.format in formats), key=lambda j: j.name)
