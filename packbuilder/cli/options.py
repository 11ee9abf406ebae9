"""Every option shared by several commands, the parsers that turn flags into typed values, and the
state the global options set. Command modules import from here, never from each other."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from packbuilder.i18n import _
from packbuilder.model.build import IsoEngine, OutputFormat
from packbuilder.ui import OUTPUT
from packbuilder.workspace import Workspace

E = TypeVar("E", bound=StrEnum)

WORKSPACE = Workspace()  # --catalog and --cache, set by the main callback


def set_json(flag: bool) -> None:
    """A command's own --json (the global one may also be given before the command)."""
    if flag:
        OUTPUT.json_mode = True


def parse_size_option(text: str) -> int:
    """``--size``/``--persistence``: a size, or a usage error (exit 2) saying how to write one."""
    from packbuilder.sizes import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _enum_parser(enum: type[E], what: str) -> Callable[[str], E]:
    def parse(text: str) -> E:
        try:
            return enum(text)
        except ValueError:
            choices = ", ".join(m.value for m in enum)
            message = _("unknown {what} {value!r}: use one of: {choices}")
            raise typer.BadParameter(message.format(what=what, value=text, choices=choices)) from None

    return parse


JsonOpt = Annotated[bool, typer.Option("--json", help=_("Print one JSON document."))]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", "-p", help=_("Hardware profile id, or a profile file (profiles new)."))
]
TargetArg = Annotated[str, typer.Argument(metavar="PACK|LOCK", help=_("Pack id, pack file, or lock file."))]
SizeOpt = Annotated[
    int | None,
    typer.Option(
        "--size", metavar=_("SIZE"), parser=parse_size_option, help=_("Key size, e.g. 8G (10^9 bytes, as sold) or 7.5GiB.")
    ),
]
JobsOpt = Annotated[int, typer.Option("--jobs", "-j", min=1, max=32, help=_("Parallel downloads."))]
MirrorOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--mirror",
        help=_(
            "Source tried before the internet: a folder of downloads (any names), http://HOST:PORT of"
            " `cache serve`, or auto (find `cache serve` on the local network)."
        ),
    ),
]
OfflineOpt = Annotated[bool, typer.Option("--offline", help=_("No internet: the cache and the --mirror sources only."))]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help=_("Do not ask for confirmation."))]
FormatOpt = Annotated[
    OutputFormat,
    typer.Option(
        "--format",
        "-f",
        metavar="FORMAT",
        parser=_enum_parser(OutputFormat, _("format")),
        help=_("dir, zip, usb (FAT32 disk image), iso (live ISO + pack) or usb-live (bootable key + pack)."),
    ),
]
EngineOpt = Annotated[
    IsoEngine,
    typer.Option(
        "--iso-engine",
        metavar=_("ENGINE"),
        parser=_enum_parser(IsoEngine, _("ISO engine")),
        help=_("--format iso: auto, xorriso or pycdlib."),
    ),
]
BaseOpt = Annotated[str | None, typer.Option("--base", help=_("--format iso: base live ISO, a base id or an ISO file."))]
PersistenceOpt = Annotated[
    int | None,
    typer.Option(
        "--persistence",
        metavar=_("SIZE"),
        parser=parse_size_option,
        help=_("--format usb-live: size of a live-boot persistence volume, e.g. 1G."),
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help=_("--format iso: print the base's layout and the plan; write nothing."))
]
OutputPathOpt = Annotated[Path | None, typer.Option("--output", "-o", help=_("Output path (default: PACK-PROFILE[.zip|.img])."))]
