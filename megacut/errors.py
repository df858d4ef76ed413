"""Errors megacut raises: one base class; subclasses carry where the problem is.

The library raises, the CLI prints. Every message is written for the person who
has to fix the input: what is wrong, where, and what to do about it.
"""

from __future__ import annotations

from pathlib import Path


class MegacutError(Exception):
    """Base class of every error megacut raises on purpose."""


class UsageError(MegacutError):
    """A command-line option or environment value is wrong (exit code 2)."""


class InputError(MegacutError):
    """Something in a user's input file is wrong, optionally at a line."""

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
    """A movie name or path in the CSV does not resolve to exactly one file."""


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
