"""What the training-stage reports share: the run facts every report starts from, the
final figures of a loop, the Outcome section's common lines, the learning-curve table,
skipped-row lists and the writing of `<stage>_report.json`, report.md and the curve.

The stage report modules (`pretrain_report`, `sft_report`, `dpo_report` and
`picochat.hf.sft_report`) keep only their own keys and wording and build on these.
Not for: formatting single values (`picochat.markdown`: fmt, fixed, pct).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.artifacts import atomic_write_json, atomic_write_text, hash_inputs, report_header
from picochat.markdown import Block, Bullets, Heading, Paragraph, Table, fixed
from picochat.plots import plot_history
from picochat.training.loop import LoopResult
from picochat.training.stage_run import StageRun

# The loop's per-evaluation figures a `final` section reports.
FINAL_FIGURES = ("train_loss", "val_loss", "val_bpb", "gap")
LOSS_HEADERS = ("step", "train loss", "val loss")
# Skipped rows listed in report.md; the JSON report lists them all.
SHOWN_SKIPS = 20


@dataclass(frozen=True)
class RunFacts:
    """What every stage report starts from: the run's settings, inputs, device and time,
    and what its training loop did."""

    config: Any
    inputs: dict[str, str]  # input path -> sha256 (`hash_inputs`)
    wall_seconds: float
    device: str  # `StageRun.describe()`, e.g. "cpu (fp32, 1 process(es))"
    loop: LoopResult

    @classmethod
    def of(cls, run: StageRun, loop: LoopResult, inputs: list[str | Path | None]) -> RunFacts:
        """The facts as the stage ends (wall time up to now: probes included)."""
        return cls(run.config, hash_inputs(inputs), run.wall_seconds(), run.describe(), loop)

    def header(self) -> dict[str, Any]:
        """The keys every report starts with (SPEC §11)."""
        return report_header(
            self.config,
            inputs=self.inputs,
            seed=self.config.seed,
            wall_seconds=self.wall_seconds,
            device=self.device,
        )

    def stop_keys(self) -> dict[str, Any]:
        """stop_reason, stop_message and steps: why and where the loop stopped."""
        loop = self.loop
        return {
            "stop_reason": loop.stop_reason,
            "stop_message": loop.stop_message,
            "steps": loop.steps,
        }


def final_figures(loop: LoopResult, why_none: str) -> dict[str, Any]:
    """`final`: the last evaluation's figures and the gap (validation - train); with no
    evaluation, every figure null with `why_none` as its `<key>_reason`."""
    if not loop.history:
        reasons = {f"{k}_reason": why_none for k in FINAL_FIGURES}
        return {"step": loop.steps, **dict.fromkeys(FINAL_FIGURES), **reasons}
    last = loop.history[-1]
    final = {k: last.get(k) for k in ("step", *FINAL_FIGURES[:-1])}
    measured = final["val_loss"] is not None and final["train_loss"] is not None
    final["gap"] = final["val_loss"] - final["train_loss"] if measured else None
    return final


def figures_lines(
    report: dict[str, Any], *, gap: str, periodic: str, bpb: bool = False
) -> list[str]:
    """The Outcome lines of the final and best validation figures and what they scored
    beside each periodic evaluation (`periodic`); `gap` words the final gap."""
    final, best, scope = report["final"], report["best"], report.get("validation_scope")
    bpb_final = f", validation BPB {fixed(final['val_bpb'])}" if bpb else ""
    lines = [
        f"Final (step {final['step']}): train loss {fixed(final['train_loss'])}, validation "
        f"loss {fixed(final['val_loss'])}{bpb_final}, {gap}."
    ]
    if best:
        bpb_best = f", BPB {fixed(best['val_bpb'])}" if bpb else ""
        lines.append(
            f"Best validation: step {best['step']}, loss {fixed(best['val_loss'])}{bpb_best}."
        )
    if scope:
        lines.append(
            f"Final and best validation figures score {scope['final_and_best']}; the learning "
            f"curve's periodic evaluations score {periodic}"
        )
    return lines


def model_line(report: dict[str, Any]) -> str:
    return f"Model: {report['model']['num_parameters']:,} parameters; device {report['device']}."


def outcome(report: dict[str, Any], items: list[str], stopped_more: str = "") -> list[Block]:
    """The 'Outcome' section: why and after how many steps the loop stopped (then
    `stopped_more`), then the stage's own `items`."""
    stopped = (
        f"Stopped: **{report['stop_reason']}** ({report['stop_message']}) after "
        f"{report['steps']} steps{stopped_more}."
    )
    return [Heading("Outcome"), Bullets([stopped, *items])]


def lr_cell(entry: dict[str, Any]) -> str:
    return f"{entry['lr']:.2e}"


def loss_rows(
    history: list[dict[str, Any]], *columns: Callable[[dict[str, Any]], str]
) -> list[list[str]]:
    """A learning-curve table's rows: step, train loss, val loss, then `columns`."""
    return [
        [
            str(h["step"]),
            fixed(h.get("train_loss")),
            fixed(h.get("val_loss")),
            *(c(h) for c in columns),
        ]
        for h in history
    ]


def curve_section(headers: Sequence[str], rows: list[list[str]]) -> list[Block]:
    """'Learning curve': the loss-curve PNG, then the table of every evaluation."""
    return [
        Heading("Learning curve"),
        Paragraph(f"![loss curve]({layout.LOSS_CURVE})"),
        Table(headers, rows),
    ]


def skipped_lines(skipped: list[dict[str, Any]], more_in: str | None = None) -> list[str]:
    """Indented 'line N: reason' items for the first SHOWN_SKIPS skipped rows (and how
    many more `more_in` lists, when named)."""
    lines = [f"  - line {s['line']}: {s['reason']}" for s in skipped[:SHOWN_SKIPS]]
    if more_in and len(skipped) > SHOWN_SKIPS:
        lines.append(f"  - ... {len(skipped) - SHOWN_SKIPS} more in {more_in}")
    return lines


def write_stage_files(
    out_dir: Path,
    json_name: str,
    report: dict[str, Any],
    markdown: str,
    curve: str | None = None,
    **plot: Any,
) -> Path:
    """`json_name`, report.md and (with `curve`) the history plot marking the best step;
    returns the JSON report's path."""
    path = atomic_write_json(out_dir / json_name, report)
    atomic_write_text(out_dir / layout.STAGE_MARKDOWN, markdown)
    if curve is not None:
        best = report.get("best")
        mark = best["step"] if best else None
        plot_history(report["history"], out_dir / curve, mark_step=mark, **plot)
    return path
