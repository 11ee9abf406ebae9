"""Hardware profiles: ``manifests/profiles/<id>.yaml``, one kind of PC an association has."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, ValidationInfo, field_validator

from packbuilder.i18n import _
from packbuilder.model.common import Arch, CpuFlag, Firmware, Id, Line, Model, Platform, PositiveInt, Text


class OsName(StrEnum):
    WINDOWS_XP = "windows-xp"
    WINDOWS_VISTA = "windows-vista"
    WINDOWS_7 = "windows-7"
    WINDOWS_8_1 = "windows-8.1"
    WINDOWS_10 = "windows-10"
    WINDOWS_11 = "windows-11"
    LINUX = "linux"


class Profile(Model):
    id: Id
    name: Text
    os: OsName
    glibc: str | None = Field(
        None, pattern=r"^2\.[0-9]+$", validate_default=True, description="glibc version of the Linux system (linux only)"
    )
    arch: Arch
    cpu: tuple[CpuFlag, ...] = Field((), description="CPU features the PC has")
    ram_mb: PositiveInt
    firmware: tuple[Firmware, ...] = Field(min_length=1)
    key_mb: PositiveInt = Field(description="USB key size in MB (10^6 bytes, as sold)")
    notes: Text | Line | None = Field(None, description="shown by plan and build: {fr, en}, or one line")

    @field_validator("glibc")
    @classmethod
    def _linux_needs_glibc(cls, value: str | None, info: ValidationInfo) -> str | None:
        os_name = info.data.get("os")
        if os_name == OsName.LINUX and value is None:
            raise ValueError(_("a linux profile needs 'glibc' (e.g. '2.36' for Debian 12)"))
        if os_name is not None and os_name != OsName.LINUX and value is not None:
            raise ValueError(_("'glibc' is only for linux profiles"))
        return value

    @field_validator("arch")
    @classmethod
    def _real_arch(cls, value: Arch) -> Arch:
        if value == Arch.ANY:
            raise ValueError(_("a profile's arch is the PC's: x86, x86_64 or arm64"))
        return value

    @property
    def platform(self) -> Platform:
        return Platform.LINUX if self.os == OsName.LINUX else Platform.WINDOWS

    @property
    def os_family_version(self) -> tuple[str, str]:
        """('windows', '6.1') or ('linux-glibc', '2.36'): what OS ranges are checked against."""
        from packbuilder.versions import WINDOWS_VERSIONS

        if self.os == OsName.LINUX:
            assert self.glibc
            return ("linux-glibc", self.glibc)
        return ("windows", WINDOWS_VERSIONS[self.os.value])
