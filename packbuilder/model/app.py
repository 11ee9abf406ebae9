"""App manifests: ``manifests/apps/<id>.yaml``."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from packbuilder.i18n import _
from packbuilder.model.common import (
    AppName,
    Arch,
    Category,
    CpuFlag,
    Downloadable,
    Id,
    Kind,
    Model,
    Platform,
    PositiveInt,
    RelPath,
    Sha256,
    Sha512,
    Signature,
    Spdx,
    Text,
    Url,
    VersionStr,
)
from packbuilder.model.portable import Portable


def _check_os_range(value: str) -> str:
    from packbuilder.versions import OsRange

    OsRange.parse(value)
    return value


OsRangeStr = Annotated[str, AfterValidator(_check_os_range)]


class Requires(Model):
    """What a PC needs to run an artifact."""

    os: OsRangeStr | None = Field(None, description="OS range, e.g. 'windows>=6.1', 'windows>=6.1,<10', 'linux-glibc>=2.28'")
    ram_mb: PositiveInt | None = Field(None, description="minimum RAM in MiB")
    ram_mb_recommended: PositiveInt | None = Field(
        None,
        description="RAM in MiB below which the build still works but is not recommended: "
        "another build of the same release that needs less is preferred",
    )
    cpu: tuple[CpuFlag, ...] = Field((), description="CPU features needed, e.g. [sse2]")
    depends: tuple[Id, ...] = Field((), description="other apps this build needs (e.g. [ghostscript]), added to the key")
    source: str | None = Field(None, description="where these requirements were read")

    @model_validator(mode="after")
    def _recommended_above_minimum(self) -> Requires:
        if self.ram_mb and self.ram_mb_recommended and self.ram_mb_recommended < self.ram_mb:
            raise ValueError(_("ram_mb_recommended is below ram_mb: the recommended memory is at least the minimum"))
        return self


class SourceArchive(Model):
    url: Url
    sha256: Sha256 | None = None


class Artifact(Model, Downloadable):
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
    launch: RelPath | None = Field(None, description="program to start, relative to the unpacked tree ('/' separators)")
    no_launch: str | None = Field(None, min_length=3, description="why a Windows artifact has no program to start (lint)")
    notes: str | None = None

    @model_validator(mode="after")
    def _needs_hash_and_size(self) -> Artifact:
        self.check_hash_and_size()
        return self

    @property
    def portable(self) -> bool:
        from packbuilder.model.common import PORTABLE_KINDS

        return self.kind in PORTABLE_KINDS



# --- update checks (``checkver``) and templates for new releases (``autoupdate``) -------------


class CheckType(StrEnum):
    GITHUB = "github"
    HTML = "html"
    JSON = "json"


def _check_template(value: str) -> str:
    from packbuilder.versionspec import check_url_template

    check_url_template(value)
    return value


def _check_hash_url(value: str) -> str:
    from packbuilder.versionspec import HASH_URL_FIELDS, check_url_template

    check_url_template(value, HASH_URL_FIELDS)
    return value


def _check_version_regex(value: str) -> str:
    from packbuilder.versionspec import check_version_regex

    check_version_regex(value)
    return value


def _check_hash_regex(value: str) -> str:
    from packbuilder.versionspec import check_hash_regex

    check_hash_regex(value)
    return value


def _check_constraint(value: str) -> str:
    from packbuilder.versionspec import Constraint

    Constraint.parse(value)
    return value


UrlTemplate = Annotated[str, AfterValidator(_check_template)]
VersionRegex = Annotated[str, AfterValidator(_check_version_regex)]


class AutoArtifact(Model):
    """One artifact of a new release: where it is, as a template of the version."""

    platform: Platform
    arch: Arch
    kind: Kind
    lang: str | None = Field(None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    url: UrlTemplate = Field(description="URL template: {version}, {major}, {minor}, {patch}")


class HashSource(Model):
    """An upstream checksum file to read the new sha256 from (never guessed)."""

    url: Annotated[str, AfterValidator(_check_hash_url)] = Field(
        description="checksum file URL template: {version}, {major}, {minor}, {patch}, {url} (the artifact's), {basename}"
    )
    regex: Annotated[str, AfterValidator(_check_hash_regex)] | None = Field(
        None,
        description="regex template with a named group 'hash'; {basename} and {relpath} are the artifact's file name "
        "and its path relative to the checksum file (escaped). Default: a sha256sum line for the artifact",
    )


class AutoUpdate(Model):
    artifacts: tuple[AutoArtifact, ...] = Field(min_length=1)
    hash: HashSource | None = Field(None, description="upstream checksum file; without it, bump downloads and hashes")


_FIELDS_BY_TYPE = {
    CheckType.GITHUB: ({"repo"}, {"url", "regex", "path"}),
    CheckType.HTML: ({"url", "regex"}, {"repo", "path"}),
    CheckType.JSON: ({"url", "path"}, {"repo", "regex"}),
}


class Check(Model):
    """Where to look for new versions of one release line."""

    line: str | None = Field(None, description="release line this check follows (releases with the same 'line')")
    type: CheckType
    repo: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", description="github: owner/name")
    tag: VersionRegex = Field(
        "^v?(.+)$", description="github: regex over the tag; group 'version' (or group 1) is the version"
    )
    url: Url | None = Field(None, description="html/json: the page or feed")
    regex: VersionRegex | None = Field(None, description="html: regex; group 'version' (or group 1) is a version")
    path: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_$-]+(\[\d+\])*(\.[A-Za-z0-9_$-]+(\[\d+\])*)*$",
        description="json: dotted path to a version or a list of versions, e.g. 'releases[0].version'",
    )
    constraint: Annotated[str, AfterValidator(_check_constraint)] | None = Field(
        None, description="versions to keep, e.g. '<116' or '>=140,<141'"
    )
    prerelease: bool = Field(False, description="github: accept releases marked as pre-releases")
    autoupdate: AutoUpdate | None = None

    @model_validator(mode="after")
    def _fields_for_type(self) -> Check:
        needed, refused = _FIELDS_BY_TYPE[self.type]
        missing = sorted(name for name in needed if getattr(self, name) is None)
        if missing:
            raise ValueError(_("a {type} check needs {keys}").format(type=self.type.value, keys=_(" and ").join(missing)))
        extra = sorted(name for name in refused if getattr(self, name) is not None)
        if extra:
            raise ValueError(
                _("{keys} is not used by a {type} check: remove it").format(keys=", ".join(extra), type=self.type.value)
            )
        return self


class Release(Model):
    version: VersionStr
    date: dt.date | None = None
    line: str | None = Field(None, description="release line, e.g. 'esr' or 'win7' (for update checks)")
    notes: str | None = None
    source: SourceArchive | None = None
    artifacts: tuple[Artifact, ...] = Field(min_length=1)


class App(Model):
    id: Id
    name: AppName
    category: Category
    license: Spdx
    homepage: Url
    source_code: Url = Field(description="where the source code is published (licence obligations)")
    summary: Text
    description: Text | None = None
    alternatives: tuple[Id, ...] = Field((), description="apps that can replace this one")
    lighter_than: tuple[Id, ...] = Field((), description="apps this one can replace on small PCs")
    releases: tuple[Release, ...] = Field(min_length=1)
    # After releases: its validator compares the checks' lines with the releases' lines.
    checkver: tuple[Check, ...] | None = Field(
        None, min_length=1, description="how to find new versions, one check per release line (see CONTRIBUTING.md)"
    )
    portable: Portable | None = Field(None, description="how a launcher keeps the app's settings on the key (Windows)")

    @model_validator(mode="after")
    def _portable_needs_windows(self) -> App:
        windows = any(a.platform == Platform.WINDOWS for r in self.releases for a in r.artifacts)
        if self.portable is not None and not windows:
            raise ValueError(_("portable: this app has no Windows artifact, so no launcher uses the recipe: remove it"))
        return self

    @field_validator("checkver")
    @classmethod
    def _one_check_per_line(cls, checks: tuple[Check, ...] | None, info: ValidationInfo) -> tuple[Check, ...] | None:
        if not checks:
            return checks
        lines = [c.line for c in checks]
        twice = sorted({str(line) for line in lines if lines.count(line) > 1})
        if twice:
            raise ValueError(_("more than one check for line(s) {lines}: keep one per line").format(lines=", ".join(twice)))
        releases: Any = info.data.get("releases")
        if releases:
            known = {r.line for r in releases}
            for line in lines:
                if line is not None and line not in known:
                    raise ValueError(
                        _("no release has line {line!r}: set 'line: {line}' on its releases or fix the check").format(line=line)
                    )
        return checks
