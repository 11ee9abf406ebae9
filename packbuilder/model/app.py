"""App manifests: ``manifests/apps/<id>.yaml``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from packbuilder.model.common import (
    Arch,
    Category,
    CpuFlag,
    Id,
    Kind,
    Model,
    Platform,
    PositiveInt,
    Sha256,
    Sha512,
    Spdx,
    Text,
    Url,
    VersionStr,
)


def _check_os_range(value: str) -> str:
    from packbuilder.versions import OsRange

    OsRange.parse(value)
    return value


OsRangeStr = Annotated[str, AfterValidator(_check_os_range)]


class Requires(Model):
    """What a PC needs to run an artifact."""

    os: OsRangeStr | None = Field(None, description="OS range, e.g. 'windows>=6.1', 'windows>=6.1,<10', 'linux-glibc>=2.28'")
    ram_mb: PositiveInt | None = Field(None, description="minimum RAM in MiB")
    cpu: tuple[CpuFlag, ...] = Field((), description="CPU features needed, e.g. [sse2]")
    source: str | None = Field(None, description="where these requirements were read")


class Signature(Model):
    """A detached OpenPGP signature published upstream."""

    url: Url
    key_fingerprint: str = Field(pattern=r"^[0-9A-F]{40}$", description="40 upper-case hex digits")
    key: str = Field(description="file under manifests/keys/ holding the public key")
    required: bool = Field(True, description="refuse the file when no verifier (gpgv, sqv) is installed")


class SourceArchive(Model):
    url: Url
    sha256: Sha256 | None = None


class Artifact(Model):
    platform: Platform
    arch: Arch
    kind: Kind
    url: Url
    mirrors: tuple[Url, ...] = ()
    insecure: bool = Field(False, description="allow a plain http URL (lint warns)")
    sha256: Sha256 | None = None
    sha512: Sha512 | None = Field(None, description="when upstream publishes only sha512")
    checksum_source: str = Field(min_length=3, description="where the hash was read (file @ commit, upstream SHA256SUMS)")
    size: PositiveInt | None = Field(None, description="exact size in bytes, from a named source")
    size_approx: PositiveInt | None = Field(None, description="approximate size in bytes when the exact one is unknown")
    size_source: str | None = None
    installed_size: PositiveInt | None = Field(None, description="unpacked size in bytes, when known")
    lang: str | None = Field(
        None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$", description="language of the build (fr, en-US); none = multilingual"
    )
    signature: Signature | None = None
    requires: Requires = Requires()
    launch: str | None = Field(None, description="program to start, relative to the unpacked tree")
    notes: str | None = None

    @model_validator(mode="after")
    def _needs_hash_and_size(self) -> Artifact:
        if self.sha256 is None and self.sha512 is None:
            raise ValueError("sha256 is missing: every artifact needs the sha256 (or sha512) its publisher gave")
        if self.size is None and self.size_approx is None:
            raise ValueError("size is missing: give the exact 'size' in bytes (or 'size_approx' with 'size_source')")
        return self

    @property
    def digest(self) -> tuple[str, str]:
        """The strongest hash this artifact has: (algorithm, hex)."""
        if self.sha256:
            return ("sha256", self.sha256)
        assert self.sha512
        return ("sha512", self.sha512)

    @property
    def portable(self) -> bool:
        from packbuilder.model.common import PORTABLE_KINDS

        return self.kind in PORTABLE_KINDS

    @property
    def download_size(self) -> int:
        return self.size or self.size_approx or 0


class Release(Model):
    version: VersionStr
    date: dt.date | None = None
    line: str | None = Field(None, description="release line, e.g. 'esr' or 'win7' (for update checks)")
    notes: str | None = None
    source: SourceArchive | None = None
    artifacts: tuple[Artifact, ...] = Field(min_length=1)


class App(Model):
    id: Id
    name: str = Field(min_length=1)
    category: Category
    license: Spdx
    homepage: Url
    source_code: Url = Field(description="where the source code is published (licence obligations)")
    summary: Text
    description: Text | None = None
    alternatives: tuple[Id, ...] = Field((), description="apps that can replace this one")
    lighter_than: tuple[Id, ...] = Field((), description="apps this one can replace on small PCs")
    checkver: dict[str, str] | None = Field(None, description="how to find new versions (see CONTRIBUTING)")
    releases: tuple[Release, ...] = Field(min_length=1)
