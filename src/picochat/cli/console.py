"""The one console the CLI prints through (rich), quiet when asked."""

from __future__ import annotations

from rich.console import Console

# soft_wrap: long lines are not cut at 80 columns when output goes to a file or pipe.
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def set_quiet(quiet: bool) -> None:
    """Silence ordinary output (errors still reach stderr)."""
    console.quiet = quiet
