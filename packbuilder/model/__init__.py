"""Manifest models: parsed once at the edge, frozen, unknown keys refused."""

from pydantic import BaseModel

from packbuilder.model.app import App, Artifact, Release, Requires, Signature
from packbuilder.model.base import Base, LiveKind, ProvidedApp
from packbuilder.model.common import PORTABLE_KINDS, Arch, Category, CpuFlag, Firmware, Kind, Platform, Text
from packbuilder.model.pack import CategoryRef, Pack
from packbuilder.model.profile import OsName, Profile

KINDS: dict[str, type[BaseModel]] = {"app": App, "profile": Profile, "pack": Pack, "base": Base}

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
