"""Errors megacut raises: one base class; subclasses carry where the problem is.

The library raises, the CLI prints. Every message is written for the person who
has to fix the input: what is wrong, where, and what to do about it.
"""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """The exit codes of every megacut command: the one table."""

    OK = 0  # everything asked for was done
    FAILED = 1  # some items or parts failed (the others were written)
    INVALID = 2  # invalid input or usage, or not enough disk: nothing was rendered
    RUNNING = 3  # `megacut status`: the run goes on
    STALE = 4  # `megacut status`: the process that ran it is gone without ending it
    INTERRUPTED = 130  # stopped by Ctrl+C or SIGTERM (what was finished is kept)


class MegacutError(Exception):
    """Base class of every error megacut raises on purpose; ``exit_code`` is what a command exits with."""

    exit_code = ExitCode.FAILED


class UsageError(MegacutError):
    """A command-line option or environment value is wrong (exit code 2)."""

    exit_code = ExitCode.INVALID


class ClusterError(MegacutError):
    """The Dask cluster cannot render the run: unreachable, no workers, or a worker that lacks something
    (exit code 2, nothing rendered)."""

    exit_code = ExitCode.INVALID


class InputError(MegacutError):
    """Something in a user's input file is wrong, optionally at a line."""

    exit_code = ExitCode.INVALID

    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None):
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        super().__init__(self.location_prefix() + message)

    def location_prefix(self) -> str:
        if self.file is None:
            return ""
        if self.line is None:
            return f"{self.file}: "
        return f"{self.file}:{self.line}: "


class SourceLookupError(MegacutError):
    """A movie name or path in the CSV does not resolve to exactly one file: ``what`` went wrong, and the
    ``advice`` (the same for many rows, which a plan says once)."""

    def __init__(self, what: str, advice: str = ""):
        super().__init__(f"{what} {advice}" if advice else what)
        self.what, self.advice = what, advice


class SourceError(MegacutError):
    """A source file cannot be read or probed."""

    def __init__(self, path: str | Path, message: str):
        self.path = str(path)
        self.message = message
        super().__init__(f"{path}: {message}")


class FFmpegError(MegacutError):
    """An ffmpeg run failed; carries the command and the last lines of its stderr."""

    def __init__(self, message: str, *, command: list[str] | None = None, stderr_tail: str = ""):
        self.command = command or []
        self.stderr_tail = stderr_tail
        text = message if not stderr_tail else f"{message}\n{stderr_tail}"
        super().__init__(text)


class Cancelled(MegacutError):
    """Work stopped because the user cancelled (Ctrl+C or SIGTERM)."""


class NotStarted(Cancelled):
    """A job reached its worker after the first Ctrl+C: it was not started."""
