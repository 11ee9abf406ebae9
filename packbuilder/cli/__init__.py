"""The ``packbuilder`` command: global options, command groups, and the one error handler."""

from __future__ import annotations

import atexit
import gc
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from packbuilder import __version__, i18n

# Before the command modules are imported: typer reads their help texts then, in this language.
i18n.setup(sys.argv[1:])

from packbuilder.cli import (  # noqa: E402 (after the language is chosen)
    build_cmd,
    cache_cmd,
    catalog_cmd,
    clicktext,
    fetch_cmd,
    flash_cmd,
    iso_cmd,
    manifest_cmd,
    packs_cmd,
    plan_cmd,
    profiles_cmd,
    publish_cmd,
    update_cmd,
)
from packbuilder.cli.options import WORKSPACE  # noqa: E402
from packbuilder.errors import ExitCode, PackbuilderError, Terminated  # noqa: E402
from packbuilder.i18n import _  # noqa: E402
from packbuilder.ui import OUTPUT  # noqa: E402

clicktext.install()

app = typer.Typer(
    rich_markup_mode=None,
    name="packbuilder",
    help=_("Build USB keys and live images of portable free software for associations' PCs."),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(catalog_cmd.app, name="catalog")
app.add_typer(manifest_cmd.app, name="manifest")
app.add_typer(profiles_cmd.app, name="profiles")
app.add_typer(packs_cmd.app, name="packs")
app.command("plan")(plan_cmd.plan)
app.command("fetch")(fetch_cmd.fetch)
app.command("build")(build_cmd.build)
app.command("update")(update_cmd.update)
app.command("verify")(build_cmd.verify)
app.command("publish")(publish_cmd.publish)
app.command("flash")(flash_cmd.flash)
app.command("inspect")(iso_cmd.inspect)
app.add_typer(cache_cmd.app, name="cache")


def _translate_help(group: typer.Typer) -> None:
    """Each command's help is its docstring, in the language of this run (make pot extracts the
    docstrings of command functions, hatch_build.extract_cli)."""
    import inspect

    for info in group.registered_commands:
        if info.help is None and info.callback is not None and info.callback.__doc__:
            info.help = _(inspect.cleandoc(info.callback.__doc__))
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _translate_help(sub.typer_instance)


_translate_help(app)


def _version(value: bool) -> None:
    if value:
        OUTPUT.text(f"packbuilder {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    catalog: Annotated[
        Path | None, typer.Option("--catalog", help=_("Manifests folder (default: $PACKBUILDER_CATALOG, ./manifests, shipped)."))
    ] = None,
    cache: Annotated[Path | None, typer.Option("--cache", help=_("Download cache folder (default: $PACKBUILDER_CACHE)."))] = None,
    json_mode: Annotated[bool, typer.Option("--json", help=_("Print one JSON document."))] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=_("Print errors only."))] = False,
    debug: Annotated[bool, typer.Option("--debug", help=_("Show tool commands and tracebacks."))] = False,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang", metavar="fr|en", help=_("Language of messages (default: from LANGUAGE, LC_ALL, LC_MESSAGES, LANG).")
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help=_("Print the version and exit."))
    ] = False,
) -> None:
    WORKSPACE.use(catalog, cache)
    OUTPUT.json_mode = json_mode
    OUTPUT.quiet = quiet
    OUTPUT.debug = debug
    if lang is not None and lang not in i18n.LANGUAGES:
        raise typer.BadParameter(_("use fr or en"), param_hint="--lang")


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def _stopped_hint() -> str:
    return _("nothing half-made was kept: downloads resume where they stopped; run the command again")


def main() -> None:
    """Entry point: map errors to exit codes; tracebacks only with --debug."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    # At exit, Python's last collections walk every object the libraries made (typer, pydantic,
    # requests: some 20 ms) to find cycles that the end of the process frees anyway. Frozen
    # first, they are skipped; atexit still runs every other handler, and files are closed by
    # the commands themselves, not by a collection at exit.
    atexit.register(gc.freeze)
    try:
        code = app(standalone_mode=False)
        if code == ExitCode.INTERRUPTED:  # typer turns Ctrl-C into this code without a word
            raise KeyboardInterrupt
        sys.exit(code if isinstance(code, int) else 0)
    except PackbuilderError as exc:
        if OUTPUT.debug:
            raise
        OUTPUT.error(exc.message, exc.hint, exc.details)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        OUTPUT.error(_("interrupted (Ctrl-C)"), _stopped_hint())
        sys.exit(int(ExitCode.INTERRUPTED))
    except Terminated:
        OUTPUT.error(_("stopped (SIGTERM)"), _stopped_hint())
        sys.exit(int(ExitCode.TERMINATED))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:  # a disk full, a read-only or vanished folder met outside the checks
        if OUTPUT.debug:
            raise
        message = _("cannot use {path}: {reason}") if exc.filename else _("cannot use it: {reason}")
        OUTPUT.error(
            message.format(path=exc.filename, reason=exc.strerror or exc),
            hint=_("check the folder exists, is writable and has room"),
        )
        sys.exit(int(ExitCode.ASSEMBLY))
    except Exception as exc:  # click's usage errors, then anything unexpected
        if isinstance(exc, typer.Abort):
            OUTPUT.error(_("aborted"))
            sys.exit(int(ExitCode.INTERRUPTED))
        if callable(getattr(exc, "format_message", None)) and hasattr(exc, "exit_code"):  # typer's usage errors
            message, hint = clicktext.usage_error(exc)
            OUTPUT.error(message, hint)
            sys.exit(int(ExitCode.USAGE))
        if OUTPUT.debug:
            raise
        OUTPUT.error(
            _("internal error: {kind}: {error}").format(kind=type(exc).__name__, error=exc),
            hint=_("run again with --debug and report the traceback"),
        )
        sys.exit(int(ExitCode.INTERNAL))
