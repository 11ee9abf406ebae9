"""Packs: ``manifests/packs/<id>.yaml``, a set of apps and documents for one kind of workshop."""

from __future__ import annotations

from pydantic import Field

from packbuilder.model.common import Category, Id, Model, Text


class CategoryRef(Model):
    """``- category: office``: every app of a category."""

    category: Category


class Pack(Model):
    id: Id
    name: Text
    summary: Text
    apps: tuple[Id | CategoryRef, ...] = Field(min_length=1, description="app ids, or {category: X} for a whole category")
    profiles: tuple[Id, ...] = Field((), description="profiles this pack is meant for (empty: any)")
    overlays: tuple[str, ...] = Field(("docs-fr",), description="folders under overlays/ copied onto the key")
    base: Id | None = Field(None, description="base live ISO for iso and usb-live outputs")
    locale: str = Field("fr", pattern=r"^[a-z]{2}$")
    label: str = Field(
        "PACKBUILDER",
        pattern=r"^[A-Z0-9_-]{1,11}$",
        description="FAT volume label: at most 11 upper-case letters, digits, '_' or '-'",
    )
