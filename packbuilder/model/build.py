"""What ``build`` is asked for: closed sets as enums, and one frozen set of options.

The command line parses its flags into a :class:`BuildOptions` once; everything after that
sees typed values only (no format string compared in three places).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from packbuilder.errors import InputError
from packbuilder.i18n import _


class OutputFormat(StrEnum):
    DIR = "dir"
    ZIP = "zip"
    USB = "usb"
    ISO = "iso"
    USB_LIVE = "usb-live"

    @property
    def extension(self) -> str:
        """The default output's suffix."""
        return {"dir": "", "zip": ".zip", "usb": ".img", "iso": ".iso", "usb-live": ".img"}[self.value]

    @property
    def needs_base(self) -> bool:
        """Built from a base live ISO."""
        return self in (OutputFormat.ISO, OutputFormat.USB_LIVE)

    def missing_base(self) -> InputError:
        """The error for an iso or usb-live build that names no base live ISO."""
        return InputError(
            _("--format {format} needs a base live ISO").format(format=self.value),
            hint=_("add --base BASE_ID or --base FILE.iso"),
        )

    @property
    def has_sha256_file(self) -> bool:
        """A single file, published with ``OUT.sha256`` beside it."""
        return self is not OutputFormat.DIR


class IsoEngine(StrEnum):
    """What writes an ISO overlay: ``auto`` picks xorriso when it can replay the base, else pycdlib."""

    AUTO = "auto"
    XORRISO = "xorriso"
    PYCDLIB = "pycdlib"


@dataclass(frozen=True)
class FetchOptions:
    """Where downloads may come from, and how many run at once."""

    jobs: int = 4
    mirrors: tuple[str, ...] = ()
    offline: bool = False


@dataclass(frozen=True)
class BuildOptions:
    """Everything ``build`` was asked for, checked for consistency once."""

    target: str  # a pack id, a pack file or a lock file
    format: OutputFormat = OutputFormat.DIR
    profile: str | None = None
    output: Path | None = None
    size_bytes: int | None = None
    label: str | None = None
    base: str | None = None
    iso_engine: IsoEngine = IsoEngine.AUTO
    dry_run: bool = False
    persistence_bytes: int | None = None
    fetch: FetchOptions = FetchOptions()

    def __post_init__(self) -> None:
        if self.dry_run and self.format is not OutputFormat.ISO:
            raise InputError(_("--dry-run goes with --format iso"))
        if self.base is not None and not self.format.needs_base:
            raise InputError(_("--base goes with --format iso or usb-live"))
        if self.iso_engine is not IsoEngine.AUTO and self.format is not OutputFormat.ISO:
            raise InputError(_("--iso-engine goes with --format iso"))
        if self.persistence_bytes is not None and self.format is not OutputFormat.USB_LIVE:
            raise InputError(_("--persistence goes with --format usb-live"))
