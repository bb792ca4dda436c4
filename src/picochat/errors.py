"""Errors a user can act on.

A `PicochatError` says what went wrong, where (file and line when there is one) and
how to fix it. The CLI prints it as one short paragraph and exits with code 2; only
`--debug` shows the traceback. Anything else that escapes is a bug in Picochat.
"""

from __future__ import annotations

import errno
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


class StorageError(PicochatError):
    """The file system refused a write or read: permissions, a full disk, a wrong kind of path."""


# errno -> (what happened, how to fix it). Anything else stays a bug report (traceback).
_OS_ERRORS = {
    errno.EACCES: ("permission denied", "Pick a folder you can write to, or fix its permissions."),
    errno.EPERM: ("operation not permitted", "Pick a folder you can write to."),
    errno.EROFS: ("the file system is read-only", "Pick a folder on a writable disk."),
    errno.ENOSPC: (
        "the disk is full",
        "Free space (or pick --out-dir on a larger disk) and rerun; a training stage resumes "
        "from its last complete checkpoint with --resume.",
    ),
    errno.EDQUOT: ("the disk quota is exceeded", "Free space or pick another disk, then rerun."),
    errno.ENOTDIR: ("a path component is a file, not a folder", "Check the path."),
    errno.EISDIR: ("a folder is where a file was expected", "Pass a file path, not a folder."),
}


def from_os_error(error: OSError) -> PicochatError | None:
    """A StorageError that names the file and the fix, for the errors a user can act on."""
    known = _OS_ERRORS.get(error.errno) if error.errno is not None else None
    if known is None:
        return None
    what, fix = known
    return StorageError(f"Cannot write or read here: {what}.", file=error.filename, fix=fix)
