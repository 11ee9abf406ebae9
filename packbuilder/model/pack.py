"""Packs: ``manifests/packs/<id>.yaml``, a set of apps and documents for one kind of workshop."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from packbuilder.i18n import _
from packbuilder.model.common import Category, Id, Model, Text


def _check_label(value: str) -> str:
    # FAT volume labels: 11 bytes, upper case; keep to characters every OS shows the same way.
    if not re.fullmatch(r"[A-Z0-9_-]{1,11}", value):
        raise ValueError(
            _("{value!r} is not a FAT volume label: use 1 to 11 upper-case letters, digits, '_' or '-'").format(value=value)
        )
    return value


Label = Annotated[str, AfterValidator(_check_label)]


class CategoryRef(Model):
    """``- category: office``: every app of a category."""

    category: Category


class Pack(Model):
    id: Id
    name: Text
    summary: Text
    apps: tuple[Id | CategoryRef, ...] = Field(min_length=1, description="app ids, or {category: X} for a whole category")
    profiles: tuple[Id, ...] = Field((), description="profiles this pack is meant for (empty: any)")
    overlays: tuple[Id, ...] = Field(("docs-fr",), description="names of folders under overlays/ copied onto the key")
    base: Id | None = Field(None, description="base live ISO for iso and usb-live outputs")
    locale: str = Field("fr", pattern=r"^[a-z]{2}$")
    label: Label = Field(
        "PACKBUILDER", description="FAT volume label: at most 11 upper-case letters, digits, '_' or '-'"
    )
