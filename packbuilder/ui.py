"""One output path for every command: rich on a terminal, one JSON document with --json,
errors only with --quiet.

What a command prints goes through :class:`Output`:

- ``info`` and ``show`` (tables): for a person; silent with ``--quiet`` and ``--json``;
- ``result``: the findings of a check (lint problems, failed downloads), on stdout even with
  ``--quiet``, since they are what the exit code is about; not with ``--json``, whose document has them;
- ``text``: a document the user asked for (``--version``), always;
- ``emit_json``: the one JSON document of ``--json``;
- ``warn`` and ``error`` on stderr (``warn`` silent with ``--quiet``), ``prompt`` before a question;
- ``bars``: the progress bars of long operations, on a terminal only (:class:`Bars`);
- ``step``: a long step (a spinner, then how long it took); inside it, ``meter``: a bar with the bytes
  done, for the parts whose size is known (an image written, a file hashed or compressed). The code
  doing the work takes a :class:`Meter` (``NO_METER`` by default: library calls show nothing).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console, RenderableType
    from rich.progress import Progress, TaskID
    from rich.status import Status


class Meter:
    """The bytes of one long step, told by the code that does the work: ``total`` once it is known,
    then ``advance`` (or ``reading``/``growing`` for work done by another program). This one shows
    nothing: it is what library calls, ``--quiet`` and ``--json`` get."""

    def total(self, nbytes: int | None) -> None:
        """The step's size in bytes (None: unknown, the bar then only pulses)."""

    def advance(self, nbytes: int) -> None:
        """``nbytes`` more bytes are done (any thread may call it)."""

    @contextlib.contextmanager
    def following(self, probe: Callable[[], int]) -> Iterator[None]:
        """While the block runs, ``probe()`` (bytes done so far) is read a few times a second."""
        yield

    def reading(self, fd: int) -> contextlib.AbstractContextManager[None]:
        """Follow the read offset of ``fd``: a file another program (xz) or a library reads."""
        return self.following(lambda: os.lseek(fd, 0, os.SEEK_CUR))

    def growing(self, path: Path) -> contextlib.AbstractContextManager[None]:
        """Follow the size of ``path``: a file another program (xorriso) writes."""

        def size() -> int:
            try:
                return path.stat().st_size
            except OSError:  # not created yet
                return 0

        return self.following(size)


NO_METER = Meter()


class _BarMeter(Meter):
    """A rich bar with the bytes done, the speed and the time left."""

    def __init__(self, bars: Progress, task: TaskID):
        self.bars, self.task = bars, task

    def total(self, nbytes: int | None) -> None:
        self.bars.update(self.task, total=nbytes)

    def advance(self, nbytes: int) -> None:
        self.bars.advance(self.task, nbytes)

    @contextlib.contextmanager
    def following(self, probe: Callable[[], int]) -> Iterator[None]:
        stop = threading.Event()
        start = self.bars.tasks[self.task].completed

        def poll() -> None:
            while not stop.wait(0.2):
                with contextlib.suppress(OSError, ValueError):  # the file was closed meanwhile
                    self.bars.update(self.task, completed=start + probe())

        thread = threading.Thread(target=poll, name="meter", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
        self.bars.update(self.task, completed=start + probe())  # the last bytes, read after the last poll

    def finish(self) -> None:
        """Done: a bar whose size was known ends full (an estimated size may be a little off)."""
        task = self.bars.tasks[self.task]
        if task.total is not None:
            self.bars.update(self.task, completed=task.total)
        else:
            self.bars.update(self.task, total=task.completed)


class Bars:
    """Rich progress bars: one per task (a download, a key being written), and an optional total."""

    def __init__(self, total_bytes: int | None = None, console: Console | None = None):
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bars = Progress(
            TextColumn("{task.description}", justify="left"),
            BarColumn(),
            _bytes_column(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        from packbuilder.i18n import _

        label = "[bold]" + _("total")
        self.total = self.bars.add_task(label, total=total_bytes or None) if total_bytes is not None else None
        self._keyed: dict[str, Any] = {}

    def __enter__(self) -> Bars:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def start(self, name: str, total: int | None, key: str | None = None) -> Any:
        """A new bar; with ``key``, the bar of an earlier task of that key starts again under ``name``."""
        if key is not None and key in self._keyed:
            task = self._keyed[key]
            self.bars.reset(task, total=total, description=name)
            return task
        task = self.bars.add_task(name, total=total)
        if key is not None:
            self._keyed[key] = task
        return task

    def advance(self, task: Any, nbytes: int) -> None:
        self.bars.advance(task, nbytes)
        if self.total is not None:
            self.bars.advance(self.total, nbytes)

    def reset(self, task: Any, done: int) -> None:
        """The task starts over with ``done`` bytes already there (a resumed or restarted download)."""
        self.bars.update(task, completed=done)
        if self.total is not None:
            self.bars.advance(self.total, done)

    def finish(self, task: Any) -> None:
        self.bars.remove_task(task)


def _bytes_column() -> Any:
    """Bytes done, the total and the speed in the language of the messages: « 1,2 Go / 4 Go, 85 Mo/s »."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    from packbuilder.i18n import _
    from packbuilder.sizes import format_size

    class BytesColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            done = format_size(int(task.completed))
            text = done if task.total is None else f"{done} / {format_size(int(task.total))}"
            if task.speed:
                text = _("{done}, {speed}/s").format(done=text, speed=format_size(int(task.speed)))
            return Text(text, style="progress.download")

    return BytesColumn()


@dataclass
class Output:
    json_mode: bool = False
    quiet: bool = False
    debug: bool = False

    def __post_init__(self) -> None:
        self._out: Console | None = None
        self._err: Console | None = None
        self._status: Status | None = None  # the spinner of the step under way

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
    def human(self) -> bool:
        """Lines for a person are printed (neither --quiet nor --json)."""
        return not (self.quiet or self.json_mode)

    @property
    def progress_enabled(self) -> bool:
        """Progress bars only for a person watching a terminal."""
        return self.human and sys.stderr.isatty()

    def bars(self, total_bytes: int | None = None) -> Bars:
        """Bars on standard error, where the terminal was checked (standard output keeps the results)."""
        return Bars(total_bytes, self.err)

    @contextlib.contextmanager
    def step(self, label: str) -> Iterator[None]:
        """A long step without byte counts (an image written, a tree hashed): a spinner with the time
        spent, on a terminal only; at its end one line says how long it took."""
        if not self.progress_enabled:
            yield
            return
        import time

        start = time.monotonic()
        with self.err.status(label, spinner="dots") as status:
            self._status = status
            try:
                yield
            finally:
                self._status = None
        from packbuilder.sizes import decimal

        seconds = decimal(time.monotonic() - start)
        self.err.print(f"{label} ({seconds} s)", markup=False)

    @contextlib.contextmanager
    def meter(self, label: str, total: int | None = None) -> Iterator[Meter]:
        """A part of a long step whose bytes are known: a bar with bytes done, speed and time left, on a
        terminal only (else :data:`NO_METER`); the step's spinner waits while the bar runs, and the bar
        stays on screen once done."""
        if not self.progress_enabled:
            yield NO_METER
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        status = self._status
        if status is not None:
            status.stop()  # one live display at a time on a console
        bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            _bytes_column(),
            TimeRemainingColumn(),
            console=self.err,
        )
        meter = _BarMeter(bars, bars.add_task(label, total=total))
        try:
            with bars:
                yield meter
                meter.finish()
        finally:
            if status is not None:
                status.start()

    def emit_json(self, document: Any) -> None:
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n")

    def text(self, text: str) -> None:
        sys.stdout.write(text + "\n")

    def info(self, message: str) -> None:
        """A line for a person (rich markup allowed)."""
        if self.human:
            self.out.print(message)

    def show(self, renderable: RenderableType) -> None:
        """A table (or any rich renderable) for a person."""
        if self.human:
            self.out.print(renderable)

    def note(self, message: str) -> None:
        """A summary line for a person, on stderr so that stdout keeps the findings."""
        if self.human:
            self.err.print(message, markup=False)

    def prompt(self, message: str) -> None:
        """What a question on the terminal is about: on stderr, always (even with --quiet)."""
        self.err.print(message, markup=False)

    def result(self, line: str) -> None:
        """A finding of a check, printed as it is (no markup) even with --quiet."""
        if not self.json_mode:
            sys.stdout.write(line + "\n")

    def warn(self, message: str) -> None:
        if not self.quiet:
            from packbuilder.i18n import _

            label = _("warning:")
            self.err.print(f"[yellow]{label}[/] {message}", markup=True)

    def debug_line(self, message: str) -> None:
        if self.debug:
            from rich.markup import escape

            self.err.print(f"[dim]{escape(message)}[/]", markup=True, highlight=False)

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
