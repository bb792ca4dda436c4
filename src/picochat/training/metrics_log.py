"""What a training stage tells the world while it runs: metrics.jsonl, plain lines,
TensorBoard.

- `metrics.jsonl` in the stage folder: one JSON object per optimizer step
  (`{"kind": "train", "step", "loss", "lr", "tokens_per_sec", "time"}`) and per
  evaluation (`{"kind": "eval", ...the history entry...}`), flushed line by line, so
  `tail -f runs/x/base/metrics.jsonl` follows a live run. A resumed run first drops the
  lines after the step it resumes from (written after that checkpoint, so repeated now):
  every step appears once.
- Without a terminal (`picochat train base ... > log`) the progress bar is silent, so
  each evaluation prints one plain line instead.
- `--tensorboard DIR`: the same scalars through `torch.utils.tensorboard` (needs the
  `tensorboard` package: `pip install 'picochat[tensorboard]'`).

Only rank 0 logs. Not here: the history kept in the stage report (`loop.py`).
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from picochat.artifacts import atomic_write_text
from picochat.errors import ConfigError

METRICS_FILE = "metrics.jsonl"


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: a diverged loss is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 10**digits else f"{value:.{digits}g}"


def eval_line(entry: dict[str, Any], max_steps: int, label: str) -> str:
    """The plain line printed per evaluation when stdout is not a terminal."""
    parts = [f"{label} step {entry['step']}/{max_steps}"]
    for key, name in (
        ("train_loss", "train loss"),
        ("val_loss", "val loss"),
        ("val_bpb", "val BPB"),
    ):
        if entry.get(key) is not None:
            parts.append(f"{name} {_number(entry[key])}")
    if entry.get("tokens_per_sec") is not None:
        parts.append(f"{_number(entry['tokens_per_sec'])} tokens/s")
    if entry.get("elapsed_seconds") is not None:
        parts.append(f"{entry['elapsed_seconds']:.0f} s")
    return ", ".join(parts)


def _keep_until(path: Path, step: int) -> None:
    """Drop the lines of `path` after `step` (a resume repeats those steps)."""
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except (ValueError, AttributeError):
            continue  # a line cut by a crash
    atomic_write_text(path, "".join(f"{line}\n" for line in kept))


class MetricsLog:
    """Writes one stage's metrics.jsonl (+ TensorBoard, + plain lines) as it trains."""

    def __init__(
        self,
        out_dir: str | Path,
        *,
        resume_step: int | None,
        max_steps: int,
        enabled: bool = True,
        tensorboard: str | Path | None = None,
        plain_lines: bool | None = None,
        label: str = "train",
        stream: TextIO | None = None,
    ) -> None:
        """`resume_step`: the step a resumed run restarts from (None: a fresh run, which
        starts a new file). `plain_lines`: None prints them when stdout is no terminal."""
        self.enabled, self.max_steps, self.label = enabled, max_steps, label
        self.stream = stream or sys.stdout
        if plain_lines is None:
            plain_lines = not self.stream.isatty()
        self.plain_lines = plain_lines and enabled
        self.path = Path(out_dir) / METRICS_FILE
        self._file: TextIO | None = None
        self._tensorboard = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.is_file():
            _keep_until(self.path, resume_step)
        elif self.path.exists():
            self.path.unlink()
        self._file = self.path.open("a", encoding="utf-8", buffering=1)  # line-buffered
        if tensorboard is not None:
            self._tensorboard = _summary_writer(Path(tensorboard))

    @classmethod
    def for_loop(
        cls, config: Any, step: int, show_progress: bool, is_main: bool, label: str
    ) -> MetricsLog:
        """The training loop's log: `config` is its LoopConfig, `step` where it starts."""
        return cls(
            config.out_dir,
            resume_step=step if config.resume else None,
            max_steps=config.max_steps,
            enabled=is_main,
            tensorboard=config.tensorboard,
            plain_lines=show_progress and not sys.stdout.isatty(),
            label=label,
        )

    def _write(self, record: dict[str, Any]) -> None:
        assert self._file is not None
        record = {k: _clean(v) for k, v in record.items()}
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()

    def step(self, step: int, *, loss: float, lr: float, tokens_per_sec: float | None) -> None:
        if not self.enabled:
            return
        record = {"kind": "train", "step": step, "loss": loss, "lr": lr,
                  "tokens_per_sec": tokens_per_sec, "time": round(time.time(), 3)}  # fmt: skip
        self._write(record)
        if self._tensorboard is not None:
            self._tensorboard.add_scalar("train/loss", loss, step)
            self._tensorboard.add_scalar("train/lr", lr, step)
            if tokens_per_sec is not None:
                self._tensorboard.add_scalar("train/tokens_per_sec", tokens_per_sec, step)

    def evaluation(self, entry: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self._write({"kind": "eval", **entry, "time": round(time.time(), 3)})
        if self._tensorboard is not None:
            for key, value in entry.items():
                if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                    self._tensorboard.add_scalar(f"eval/{key}", value, entry["step"])
            self._tensorboard.flush()
        if self.plain_lines:
            print(eval_line(entry, self.max_steps, self.label), file=self.stream, flush=True)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None


def _summary_writer(folder: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise ConfigError(
            f"--tensorboard needs the `tensorboard` package ({error}).",
            fix="pip install 'picochat[tensorboard]' (or drop --tensorboard).",
        ) from None
    return SummaryWriter(log_dir=str(folder))
