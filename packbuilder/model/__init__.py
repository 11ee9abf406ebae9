"""Manifest models: parsed once at the edge, frozen, unknown keys refused.

The names below are loaded on first use (PEP 562): importing one light submodule
(``packbuilder.model.build``) does not load pydantic and every manifest model, which keeps the
command line's start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from packbuilder.model.app import App, Artifact, Release, Requires
    from packbuilder.model.base import Base, LiveKind, ProvidedApp
    from packbuilder.model.common import PORTABLE_KINDS, Arch, Category, CpuFlag, Firmware, Kind, Platform, Signature, Text
    from packbuilder.model.pack import CategoryRef, Pack
    from packbuilder.model.profile import OsName, Profile

    KINDS: dict[str, type[BaseModel]]

_HOMES = {
    "App": "app",
    "Artifact": "app",
    "Release": "app",
    "Requires": "app",
    "Signature": "common",
    "Base": "base",
    "LiveKind": "base",
    "ProvidedApp": "base",
    "PORTABLE_KINDS": "common",
    "Arch": "common",
    "Category": "common",
    "CpuFlag": "common",
    "Firmware": "common",
    "Kind": "common",
    "Platform": "common",
    "Text": "common",
    "CategoryRef": "pack",
    "Pack": "pack",
    "OsName": "profile",
    "Profile": "profile",
}


def __getattr__(name: str) -> Any:
    if name == "KINDS":
        kinds = {kind: __getattr__(kind.title()) for kind in ("app", "profile", "pack", "base")}
        globals()["KINDS"] = kinds
        return kinds
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "KINDS",
    "PORTABLE_KINDS",
    "App",
    "Arch",
    "Artifact",
    "Base",
    "Category",
    "CategoryRef",
    "CpuFlag",
    "Firmware",
    "Kind",
    "LiveKind",
    "OsName",
    "Pack",
    "Platform",
    "Profile",
    "ProvidedApp",
    "Release",
    "Requires",
    "Signature",
    "Text",
]
