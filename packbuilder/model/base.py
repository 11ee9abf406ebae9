"""Base live ISOs: ``manifests/bases/<id>.yaml``."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, model_validator

from packbuilder.model.app import Signature
from packbuilder.model.common import Arch, Firmware, Id, Model, PositiveInt, Sha256, Text, Url


class LiveKind(StrEnum):
    DEBIAN_LIVE_BOOT = "debian-live-boot"
    CASPER = "casper"
    ANTIX = "antix"
    PLAIN = "plain"


class ChecksumFile(Model):
    """An upstream SHA256SUMS file, optionally signed."""

    url: Url
    signature: Signature | None = None


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
    verified: bool = Field(True, description="false when a fact above could not be checked against its source")
    notes: str | None = None

    @model_validator(mode="after")
    def _needs_hash(self) -> Base:
        if self.sha256 is None and self.checksums is None:
            raise ValueError("a base needs 'sha256' or 'checksums' (an upstream SHA256SUMS file)")
        if self.size is None and self.size_approx is None:
            raise ValueError("size is missing: give 'size' in bytes (or 'size_approx' with 'size_source')")
        return self
