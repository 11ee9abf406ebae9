"""Error types and exit codes.

Every error a user can cause or meet carries a hint naming the next thing to do.
The CLI's top-level handler maps them to the exit codes documented in README.md;
tracebacks are shown only with ``--debug``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    CHECK_FAILED = 1  # lint or verify found problems
    USAGE = 2  # usage or input error (bad manifest, unknown id, does not fit)
    NETWORK = 3  # download failed after retries and mirrors
    VERIFICATION = 4  # hash or signature mismatch
    ASSEMBLY = 5  # image or tree assembly failed
    INTERNAL = 70  # a bug: the traceback is shown with --debug (sysexits EX_SOFTWARE)
    INTERRUPTED = 130  # Ctrl-C (SIGINT)
    TERMINATED = 143  # SIGTERM (128 + 15), as shells report it


class PackbuilderError(Exception):
    """Base class: a message for the user, a hint, and an exit code."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, hint: str | None = None, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or []


class InputError(PackbuilderError):
    """Bad input: unknown id, unreadable file, invalid manifest, plan that does not fit."""

    exit_code = ExitCode.USAGE


class CheckFailed(PackbuilderError):
    """A check (lint, verify) ran and found problems."""

    exit_code = ExitCode.CHECK_FAILED


class NetworkError(PackbuilderError):
    exit_code = ExitCode.NETWORK


class VerificationError(PackbuilderError):
    exit_code = ExitCode.VERIFICATION


class AssemblyError(PackbuilderError):
    exit_code = ExitCode.ASSEMBLY


class ToolMissing(PackbuilderError):
    """An external tool is not installed."""

    exit_code = ExitCode.USAGE


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every ``finally`` cleans up (staging folders)."""
