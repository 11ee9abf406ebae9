"""One output path for every command: rich on a terminal, one JSON document with --json,
errors only with --quiet."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class Output:
    json_mode: bool = False
    quiet: bool = False
    debug: bool = False

    def __post_init__(self) -> None:
        self._out: Console | None = None
        self._err: Console | None = None

    @property
    def out(self) -> Console:
        if self._out is None:
            from rich.console import Console

            self._out = Console(highlight=False, soft_wrap=True)
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._err

    @property
    def progress_enabled(self) -> bool:
        """Progress bars only for a person watching a terminal."""
        return not (self.json_mode or self.quiet) and sys.stderr.isatty()

    def emit_json(self, document: Any) -> None:
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n")

    def info(self, message: str) -> None:
        if not (self.quiet or self.json_mode):
            self.out.print(message)

    def warn(self, message: str) -> None:
        if not self.quiet:
            from packbuilder.i18n import _

            label = _("warning:")
            self.err.print(f"[yellow]{label}[/] {message}", markup=True)

    def error(self, message: str, hint: str | None = None, details: list[str] | None = None) -> None:
        from rich.markup import escape

        from packbuilder.i18n import _

        label, hint_label = _("error:"), _("hint:")  # French: « erreur : », « conseil : »
        self.err.print(f"[bold red]{label}[/] {escape(message)}")
        for line in details or []:
            self.err.print(f"  {escape(line)}")
        if hint:
            self.err.print(f"[cyan]{hint_label}[/] {escape(hint)}")


OUTPUT = Output()
