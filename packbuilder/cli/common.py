"""Options shared by every command, and the state they set."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from packbuilder.i18n import _
from packbuilder.ui import OUTPUT

if TYPE_CHECKING:
    from packbuilder.catalog import Catalog


class State:
    catalog_dir: Path | None = None
    cache_dir: Path | None = None


STATE = State()

JsonOpt = Annotated[bool, typer.Option("--json", help=_("Print one JSON document."))]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", "-p", help=_("Hardware profile id, or a profile file (profiles new)."))
]


def set_json(flag: bool) -> None:
    if flag:
        OUTPUT.json_mode = True


def load() -> Catalog:
    """The catalog chosen by --catalog, $PACKBUILDER_CATALOG, ./manifests or the shipped one."""
    from packbuilder.catalog import find_catalog, load_catalog

    return load_catalog(find_catalog(STATE.catalog_dir))
