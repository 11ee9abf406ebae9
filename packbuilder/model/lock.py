"""Lock files: the exact artifacts a build uses, written by ``plan --lock``.

A lock carries everything a build needs (URLs, hashes, sizes, destinations, the texts
of the menu), so a build months later is identical even if the catalog moved on.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from packbuilder.model.app import Portable, Signature
from packbuilder.model.common import Arch, Category, Downloadable, Kind, Model, Platform, Text

LOCK_VERSION = 1


class LockedArtifact(Model, Downloadable):
    app: str
    name: str
    category: Category
    license: str
    homepage: str
    source_code: str
    summary: Text
    description: Text | None = None
    version: str
    date: dt.date | None = None
    platform: Platform
    arch: Arch
    kind: Kind
    lang: str | None = None
    url: str
    mirrors: tuple[str, ...] = ()
    insecure: bool = False
    sha256: str | None = None
    sha512: str | None = None
    checksum_source: str
    signature: Signature | None = None
    size: int | None = None
    size_approx: int | None = None
    installed_size: int | None = None
    launch: str | None = None
    dest: str
    reason: str
    replaces: str | None = None
    portable: Portable | None = None



class LockedPack(Model):
    id: str
    name: Text
    label: str
    locale: str
    overlays: tuple[str, ...]
    base: str | None = None


class LockedProfile(Model):
    id: str
    name: Text
    os: str
    arch: Arch
    ram_mb: int
    key_mb: int
    firmware: tuple[str, ...]


class LockedExclusion(Model):
    app: str
    reason: str


class Lock(Model):
    lock_version: int = Field(LOCK_VERSION, description="format version of this file")
    pack: LockedPack
    profile: LockedProfile
    source_date: dt.date | None = Field(None, description="newest release date among the items: the build's timestamp")
    capacity_bytes: int
    items: tuple[LockedArtifact, ...]
    excluded: tuple[LockedExclusion, ...] = ()
