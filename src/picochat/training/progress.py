"""The training progress bar: step, loss, tokens/s and ETA; silent when not a terminal.

Not for: logging or reports (the loop's history is the record; this is only a view).
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class TrainingProgress:
    """A rich bar over optimizer steps; every method is a no-op when disabled."""

    def __init__(self, total_steps: int, *, start_step: int, enabled: bool, label: str) -> None:
        console = Console(file=sys.stderr)
        self.enabled = enabled and console.is_terminal
        self._progress: Progress | None = None
        if not self.enabled:
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("val {task.fields[val]}"),
            TextColumn("{task.fields[tps]} tok/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task = self._progress.add_task(
            label, total=total_steps, completed=start_step, loss="-", val="-", tps="-"
        )
        self._progress.start()

    def update(
        self, step: int, *, loss: float, tokens_per_sec: float, val_loss: float | None = None
    ) -> None:
        if self._progress is None:
            return
        fields = {"loss": f"{loss:.4f}", "tps": f"{tokens_per_sec:,.0f}"}
        if val_loss is not None:
            fields["val"] = f"{val_loss:.4f}"
        self._progress.update(self._task, completed=step, **fields)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
