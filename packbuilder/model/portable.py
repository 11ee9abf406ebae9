"""Running an app from the key (an app manifest's ``portable``): what its launcher sets up.

Apart from ``app.py`` because a lock carries these settings too: reading a lock needs this
module and not the rest of the app model.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from packbuilder.i18n import _
from packbuilder.model.common import Model, RelPath, Text

# Placeholders a recipe may use; the launcher replaces them with the key's paths at run time, so
# they are right whatever drive letter Windows gives the key.
PLACEHOLDERS = ("data", "data_url", "app")
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
# cmd.exe gives these characters a meaning even inside quotes ("%" expands, "^" "!" may escape):
# refused in recipe values so a launcher can always quote them safely.
_CMD_SPECIAL = set('%"^!<>|&\r\n')


def _check_template_value(value: str) -> str:
    bad = sorted(_CMD_SPECIAL & set(value))
    if bad:
        raise ValueError(
            _("{value!r}: the characters {characters} cannot be passed safely by a launcher").format(
                value=value, characters=" ".join(map(repr, bad))
            )
        )
    for name in _PLACEHOLDER_RE.findall(value):
        if name not in PLACEHOLDERS:
            known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            raise ValueError(
                _("{value!r}: unknown placeholder {placeholder}; use {known}").format(
                    value=value, placeholder="{" + name + "}", known=known
                )
            )
    return value


def _check_hkcu(value: str) -> str:
    if not re.match(r"^(HKCU|HKEY_CURRENT_USER)\\[^%\"^!<>|&]+$", value):
        raise ValueError(
            _("{value!r}: give a key under HKCU\\ (a launcher only touches the current user's registry)").format(value=value)
        )
    return value


TemplateStr = Annotated[str, AfterValidator(_check_template_value)]
HkcuKey = Annotated[str, AfterValidator(_check_hkcu)]


class FileTarget(StrEnum):
    APP = "app"
    DATA = "data"


class PortableFile(Model):
    """A file written at build time that switches the app to its portable mode."""

    path: RelPath = Field(description="relative to the app's folder (where: app) or to its data folder (where: data)")
    where: FileTarget = Field(FileTarget.APP, description="app (next to the program) or data")
    content: str = Field(description="the file's text, written as UTF-8 with CRLF line ends")


class Runtime(StrEnum):
    """Shared runtimes an app needs on the PC (see README, "Runtimes")."""

    VCREDIST_2015 = "vcredist-2015"  # Microsoft Visual C++ 2015-2022 Redistributable (vcruntime140.dll)


class Portable(Model):
    """How a launcher on the key starts the app with its settings on the key (Windows)."""

    title: Text | None = Field(None, description="what the app is for, names its launcher: 'Traitement de texte'")
    env: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], TemplateStr] = Field(
        default_factory=dict, description="environment variables, e.g. GIMP2_DIRECTORY: '{data}\\gimp'"
    )
    args: tuple[TemplateStr, ...] = Field((), description="arguments before the user's, e.g. ['-profile', '{data}\\profile']")
    dirs: tuple[RelPath, ...] = Field((), description="folders the launcher creates in the data folder first")
    files: tuple[PortableFile, ...] = ()
    shell_folders: bool = Field(
        True,
        description="point the user's AppData shell folders at the key while the app runs (apps that ask Windows "
        "for these folders ignore %APPDATA%); false only when the app's own switches cover everything",
    )
    registry: tuple[HkcuKey, ...] = Field((), description="registry keys the app still writes")
    registry_cleanup: bool = Field(False, description="keep these keys in the data folder and restore the PC's own after the run")
    runtimes: tuple[Runtime, ...] = Field((), description="runtimes the PC must have (not carried on the key)")
    source: str = Field(min_length=3, description="where the portable switches were read (documentation URL)")
    notes: str | None = None

    @field_validator("env")
    @classmethod
    def _launcher_owns(cls, env: dict[str, str]) -> dict[str, str]:
        owned = sorted(k for k in env if k.upper() in LAUNCHER_VARS)
        if owned:
            raise ValueError(_("{names} is set by every launcher: remove it").format(names=", ".join(owned)))
        return env


# Set by every launcher; a recipe may not change them.
LAUNCHER_VARS = frozenset({"APPDATA", "LOCALAPPDATA", "PB_KEY", "PB_DATA", "PB_APP", "PB_DATA_URL", "PB_MIN"})
