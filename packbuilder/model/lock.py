"""Lock files: the exact artifacts a build uses, written by ``plan --lock``.

A lock carries everything a build needs (URLs, hashes, sizes, destinations, the texts
of the menu), so a build months later is identical even if the catalog moved on.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from packbuilder.i18n import _
from packbuilder.model.common import (
    AppName,
    Arch,
    Category,
    Downloadable,
    Id,
    Kind,
    Line,
    Model,
    Platform,
    PositiveInt,
    RelPath,
    Sha256,
    Sha512,
    Signature,
    Text,
    Url,
    VersionStr,
)
from packbuilder.model.pack import Label
from packbuilder.model.portable import Portable

LOCK_VERSION = 1
# Where a lock may put an artifact on the key: nowhere else.
DEST_ROOTS = ("Apps/", "AppImages/")


def _check_dest(value: str) -> str:
    if not value.startswith(DEST_ROOTS) or value.count("/") < 1 or value in DEST_ROOTS:
        raise ValueError(_("{value!r} is not under Apps/ or AppImages/: a lock places apps there only").format(value=value))
    return value


Dest = Annotated[RelPath, AfterValidator(_check_dest)]


class LockedMisfit(Model):
    """Why one release does not run on the PC, as a code and a value (packbuilder.reasons puts it
    in words, in the language of the page that shows it)."""

    version: VersionStr
    code: Literal["platform", "arch", "os", "cpu", "ram"]
    value: Line


class LockedArtifact(Model, Downloadable):
    """One artifact, validated like a manifest's: a lock is shared, so it is data from outside."""

    app: Id
    name: AppName
    category: Category
    license: Line
    homepage: Url
    source_code: Url
    summary: Text
    description: Text | None = None
    version: VersionStr
    date: dt.date | None = None
    platform: Platform
    arch: Arch
    kind: Kind
    lang: str | None = Field(None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    url: Url
    mirrors: tuple[Url, ...] = ()
    insecure: bool = False
    sha256: Sha256 | None = None
    sha512: Sha512 | None = None
    checksum_source: Line
    signature: Signature | None = None
    size: PositiveInt | None = None
    size_approx: PositiveInt | None = None
    installed_size: PositiveInt | None = None
    launch: RelPath | None = None
    dest: Dest
    reason: Line
    replaces: Id | None = None
    portable: Portable | None = None
    misfits: tuple[LockedMisfit, ...] = ()  # newer releases skipped, and why (optional: older locks have none)
    replaced_misfits: tuple[LockedMisfit, ...] = ()  # why the app it replaces does not run

    @model_validator(mode="after")
    def _safe_download(self) -> LockedArtifact:
        self.check_hash_and_size()
        for url in (self.url, *self.mirrors):
            if not url.startswith("https://") and not self.insecure:
                raise ValueError(_("{url!r}: downloads must use https (a plain http URL needs 'insecure: true')").format(url=url))
        if (self.kind == Kind.APPIMAGE) != self.dest.startswith("AppImages/"):
            raise ValueError(_("{dest!r}: AppImages go under AppImages/, other kinds under Apps/").format(dest=self.dest))
        return self


class LockedPack(Model):
    id: Id
    name: Text
    label: Label
    locale: str = Field(pattern=r"^[a-z]{2}$")
    overlays: tuple[Id, ...]
    base: Id | None = None


class LockedProfile(Model):
    id: Id
    name: Text
    os: Line
    arch: Arch
    ram_mb: int
    key_mb: int
    firmware: tuple[str, ...]
    notes: Text | Line | None = None  # the profile's, shown again by build (optional: older locks have none)


class LockedExclusion(Model):
    app: Id
    reason: Line
    misfits: tuple[LockedMisfit, ...] = ()  # the reason as codes (optional: older locks have none)


class Lock(Model):
    lock_version: int = Field(LOCK_VERSION, description="format version of this file")
    pack: LockedPack
    profile: LockedProfile
    source_date: dt.date | None = Field(None, description="newest release date among the items: the build's timestamp")
    capacity_bytes: PositiveInt
    items: tuple[LockedArtifact, ...]
    excluded: tuple[LockedExclusion, ...] = ()
