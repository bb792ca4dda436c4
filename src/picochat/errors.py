"""Errors a user can act on.

A `PicochatError` says what went wrong, where (file and line when there is one) and
how to fix it. The CLI prints it as one short paragraph and exits with code 2; only
`--debug` shows the traceback. Anything else that escapes is a bug in Picochat.
"""

from __future__ import annotations

from pathlib import Path


class PicochatError(Exception):
    """A problem with the user's input or settings, explained so it can be fixed."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.fix = fix

    @property
    def location(self) -> str | None:
        """`file:line`, `file`, or None."""
        if self.file is None:
            return None
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}" if self.location else self.message
        if self.fix:
            text += f"\nFix: {self.fix}"
        return text


class InputError(PicochatError):
    """A bad input file or row: missing, unreadable, malformed."""


class ConfigError(PicochatError):
    """Flags or settings that contradict each other or are out of range."""


class CheckpointError(PicochatError):
    """A checkpoint that is missing, corrupted, or does not fit its tokenizer."""
