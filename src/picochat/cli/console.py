"""The one console the CLI prints through (rich), quiet when asked."""

from __future__ import annotations

from rich.console import Console

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def set_quiet(quiet: bool) -> None:
    """Silence ordinary output (errors still reach stderr)."""
    console.quiet = quiet
