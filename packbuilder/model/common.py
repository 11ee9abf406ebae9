"""Shared pieces of the manifest models: closed sets, checked strings, base class."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from packbuilder.i18n import N_, _

ID_RE = re.compile(r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$")
HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
HEX128_RE = re.compile(r"^[0-9a-f]{128}$")


class Model(BaseModel):
    """Frozen, no unknown keys: manifests are parsed once, then only read."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False, defer_build=True)


class Category(StrEnum):
    OFFICE = "office"
    GRAPHICS = "graphics"
    WEB = "web"
    MANAGEMENT = "management"
    UTILITIES = "utilities"
    EDUCATION = "education"
    MULTIMEDIA = "multimedia"


class Platform(StrEnum):
    WINDOWS = "windows"
    LINUX = "linux"


class Arch(StrEnum):
    X86 = "x86"
    X86_64 = "x86_64"
    ARM64 = "arm64"
    ANY = "any"


class Kind(StrEnum):
    ZIP = "zip"
    SEVEN_Z = "7z"
    PAF = "paf"
    EXE = "exe"
    MSI = "msi"
    APPIMAGE = "appimage"
    TAR = "tar"


PORTABLE_KINDS = frozenset({Kind.ZIP, Kind.SEVEN_Z, Kind.PAF, Kind.APPIMAGE, Kind.TAR})


class CpuFlag(StrEnum):
    SSE2 = "sse2"
    PAE = "pae"
    NX = "nx"
    X86_64_V2 = "x86-64-v2"


class Firmware(StrEnum):
    BIOS = "bios"
    UEFI32 = "uefi32"
    UEFI64 = "uefi64"


def _check_id(value: str) -> str:
    from packbuilder.paths import is_reserved_name

    if not ID_RE.match(value):
        raise ValueError(
            _("{value!r} is not a valid id: use lowercase letters, digits, '-' and '_' (e.g. 'firefox-esr')").format(value=value)
        )
    if is_reserved_name(value):
        raise ValueError(
            _("{value!r} is a device name on Windows (con, aux, nul, com1...): choose another id").format(value=value)
        )
    return value


def _check_app_name(value: str) -> str:
    from packbuilder.paths import is_reserved_name

    _check_line(value)
    if is_reserved_name(value.strip()):
        message = _("{value!r} is a device name on Windows: the app's folder could not be made; choose another name")
        raise ValueError(message.format(value=value))
    return value


def _check_sha256(value: str) -> str:
    if not HEX64_RE.match(value):
        if HEX64_RE.match(value.lower()):
            raise ValueError(_("sha256 must be lowercase hex (write it in lowercase)"))
        raise ValueError(_("expected 64 lowercase hex digits, got {count} characters").format(count=len(value)))
    return value


def _check_sha512(value: str) -> str:
    if not HEX128_RE.match(value):
        raise ValueError(_("expected 128 lowercase hex digits, got {count} characters").format(count=len(value)))
    return value


def _check_url(value: str) -> str:
    if not re.match(r"^(https?)://[^\s/]+/\S*$", value):
        raise ValueError(_("{value!r} is not an absolute http(s) URL").format(value=value))
    return value


@lru_cache(maxsize=1)
def _licensing() -> Any:
    # license-expression builds its SPDX index at import: only pay for it when checking licences.
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


def _check_spdx(value: str) -> str:
    from license_expression import ExpressionError

    licensing = _licensing()
    try:
        info = licensing.validate(value, strict=True)
    except ExpressionError as exc:
        raise ValueError(_("not a valid SPDX expression: {reason}").format(reason=exc)) from None
    if info.errors:
        raise ValueError(_("not a valid SPDX expression: {reason}").format(reason="; ".join(info.errors)))
    return value


def _hash_not_number(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(_("write the hash in quotes: unquoted, YAML reads a hash made only of digits as a number"))
    return value


def _no_number(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(
            _('write the version in quotes (version: "..."): unquoted, YAML reads it as the number {value}').format(value=value)
        )
    return value


def _check_line(value: str) -> str:
    from packbuilder.paths import has_control

    if has_control(value):
        raise ValueError(
            _("{value!r} holds a control character (a line break, a tab...): write it on one line").format(value=value)
        )
    return value


def _check_text(value: str) -> str:
    from packbuilder.paths import has_control

    if has_control(value.replace("\n", "")):
        raise ValueError(_("{value!r} holds a control character other than a line break").format(value=value))
    return value


def _check_relpath(value: str) -> str:
    from packbuilder.paths import UnsafePath, check_relpath

    try:
        return check_relpath(value)
    except UnsafePath as exc:
        raise ValueError(str(exc)) from None


def _check_version(value: str) -> str:
    from packbuilder.versions import is_valid_version

    if not is_valid_version(value):
        message = _("{value!r} is not a sortable version: it must start with a digit (e.g. '2.10.38', '140.14.0esr')")
        raise ValueError(message.format(value=value))
    return value


Id = Annotated[str, AfterValidator(_check_id)]
Sha256 = Annotated[str, BeforeValidator(_hash_not_number), AfterValidator(_check_sha256)]
Sha512 = Annotated[str, BeforeValidator(_hash_not_number), AfterValidator(_check_sha512)]
Url = Annotated[str, AfterValidator(_check_url)]
Line = Annotated[str, Field(min_length=1), AfterValidator(_check_line)]
RelPath = Annotated[str, AfterValidator(_check_relpath)]
AppName = Annotated[str, Field(min_length=1), AfterValidator(_check_app_name)]
Spdx = Annotated[str, AfterValidator(_check_spdx)]
VersionStr = Annotated[str, BeforeValidator(_no_number), AfterValidator(_check_version)]
PositiveInt = Annotated[int, Field(gt=0)]


class Downloadable:
    """What an artifact in a manifest and an item of a lock share: its strongest hash and its size."""

    if TYPE_CHECKING:
        sha256: str | None
        sha512: str | None
        size: int | None
        size_approx: int | None

    @property
    def digest(self) -> tuple[str, str]:
        """The strongest hash given: (algorithm, hex)."""
        if self.sha256:
            return ("sha256", self.sha256)
        assert self.sha512
        return ("sha512", self.sha512)

    @property
    def download_size(self) -> int:
        """Exact size when known, else the estimate."""
        return self.size or self.size_approx or 0

    def check_hash_and_size(self) -> None:
        """Every download needs a strong hash and a size (exact or estimated): raise when one is missing."""
        if self.sha256 is None and self.sha512 is None:
            raise ValueError(_(MISSING_HASH))
        if self.size is None and self.size_approx is None:
            raise ValueError(_(MISSING_SIZE))


# Also said by lint_rules on artifacts whose other fields are wrong (then the model never gets here).
MISSING_HASH = N_("sha256 is missing: every artifact needs the sha256 (or sha512) its publisher gave")
MISSING_SIZE = N_("size is missing: give the exact 'size' in bytes (or 'size_approx' with 'size_source')")


class Signature(Model):
    """A detached OpenPGP signature published upstream."""

    url: Url
    key_fingerprint: str = Field(pattern=r"^[0-9A-F]{40}$", description="40 upper-case hex digits")
    key: str = Field(description="file under manifests/keys/ holding the public key")
    required: bool = Field(True, description="refuse the file when no verifier (gpgv, sqv) is installed")


class Text(Model):
    """A short text in French (first) and English."""

    fr: Annotated[str, Field(min_length=1), AfterValidator(_check_text)]
    en: Annotated[str, Field(min_length=1), AfterValidator(_check_text)]


def in_language(text: Text | str | None, lang: str) -> str | None:
    """A text given in both languages (``{fr, en}``) or in one, in ``lang`` when it can be."""
    if isinstance(text, Text):
        return text.fr if lang == "fr" else text.en
    return text
