"""Progress of a long step: a bar with the rate and ETA, or plain lines.

Counted in bytes (MB, MB/s: the data steps) or in items (`unit="rows"`: scoring the
whole validation set after training, minutes on a CPU for a GB-scale corpus).

On a terminal (stderr) a rich bar; without one, a plain line every `PLAIN_EVERY_S`
seconds (and at the end), so a log of a long job still shows it moving. `quiet`
silences both. Not for training steps (`training/progress.py`).
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

PLAIN_EVERY_S = 30.0  # a log line at most this often without a terminal


class ByteProgress:
    """Counts bytes (or `unit`s) done out of `total` (None when unknown: no ETA)."""

    def __init__(
        self, label: str, total: int | None, *, quiet: bool = False, unit: str = "bytes"
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self.quiet = quiet
        self.started = self._last_line = time.perf_counter()
        console = Console(file=sys.stderr)
        self._bar: Progress | None = None
        if not quiet and console.is_terminal:
            counted = (
                (DownloadColumn(), TransferSpeedColumn()) if unit == "bytes"
                else (MofNCompleteColumn(), TextColumn(unit))
            )  # fmt: skip
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                *counted,
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
            )
            self._task = self._bar.add_task(label, total=total)
            self._bar.start()

    def advance(self, nbytes: int) -> None:
        self.done += nbytes
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done)
        elif not self.quiet and time.perf_counter() - self._last_line >= PLAIN_EVERY_S:
            self._plain()

    def line(self) -> str:
        """`label: 120.0 of 512.0 MB (23%), 12.3 MB/s, ETA 32 s` (what the plain log prints)."""
        seconds = max(time.perf_counter() - self.started, 1e-9)
        if self.unit != "bytes":
            if not self.total:
                return f"{self.label}: {self.done:,} {self.unit}"
            eta = (self.total - self.done) / max(self.done / seconds, 1e-9)
            return (
                f"{self.label}: {self.done:,} of {self.total:,} {self.unit} "
                f"({self.done / self.total:.0%}), ETA {eta:,.0f} s"
            )
        rate = self.done / seconds / 1e6
        text = f"{self.label}: {self.done / 1e6:,.1f}"
        if self.total:
            eta = (self.total - self.done) / max(self.done / seconds, 1e-9)
            text += (
                f" of {self.total / 1e6:,.1f} MB ({self.done / self.total:.0%}), "
                f"{rate:.1f} MB/s, ETA {eta:,.0f} s"
            )
        else:
            text += f" MB, {rate:.1f} MB/s"
        return text

    def _plain(self) -> None:
        self._last_line = time.perf_counter()
        print(self.line(), file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elif not self.quiet and time.perf_counter() - self.started >= PLAIN_EVERY_S:
            self._plain()  # a closing line for a log only when the step was long enough to wait on
