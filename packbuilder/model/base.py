"""Base live ISOs: ``manifests/bases/<id>.yaml``."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from packbuilder.i18n import _
from packbuilder.model.common import Arch, Category, Firmware, Id, Model, PositiveInt, Sha256, Signature, Text, Url


class LiveKind(StrEnum):
    DEBIAN_LIVE_BOOT = "debian-live-boot"
    CASPER = "casper"
    ANTIX = "antix"
    PLAIN = "plain"


class ChecksumFile(Model):
    """An upstream SHA256SUMS file, optionally signed."""

    url: Url
    signature: Signature | None = None


class ProvidedApp(Model):
    """An app the live system already contains: not copied again, listed in the plan."""

    id: Id = Field(description="the catalog's app id when the catalog has it, else a short id of its own")
    name: str = Field(min_length=1)
    category: Category
    version: str = Field(min_length=1, description="the version in the base (a distribution package version)")
    source: str = Field(min_length=3, description="where it was read that the base contains it")


class Base(Model):
    id: Id
    name: Text
    url: Url
    mirrors: tuple[Url, ...] = ()
    sha256: Sha256 | None = None
    checksum_source: str = Field(min_length=3)
    checksums: ChecksumFile | None = None
    size: PositiveInt | None = None
    size_approx: PositiveInt | None = None
    size_source: str | None = None
    arch: Arch
    firmware: tuple[Firmware, ...] = Field(min_length=1)
    live: LiveKind
    glibc: str | None = Field(
        None,
        pattern=r"^2\.[0-9]+$",
        description="glibc of the live system: AppImages that need a newer one are refused for iso and usb-live keys",
    )
    glibc_source: str | None = Field(None, description="where the glibc version was read")
    apps: tuple[ProvidedApp, ...] = Field((), description="apps already in the live system")
    verified: bool = Field(True, description="false when a fact above could not be checked against its source")
    notes: str | None = None

    @model_validator(mode="after")
    def _needs_hash(self) -> Base:
        if self.sha256 is None and self.checksums is None:
            raise ValueError(_("a base needs 'sha256' or 'checksums' (an upstream SHA256SUMS file)"))
        if self.size is None and self.size_approx is None:
            raise ValueError(_("size is missing: give 'size' in bytes (or 'size_approx' with 'size_source')"))
        if self.glibc is not None and self.glibc_source is None:
            raise ValueError(_("glibc_source is missing: say where the base's glibc version was read"))
        return self
