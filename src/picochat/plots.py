"""Loss-curve PNGs for every training stage (base, SFT, DPO), drawn with matplotlib.

Not for: deciding what is plotted (the stage passes its history) or Markdown.

Uses the non-interactive Agg backend, so it works on servers without a display, and
writes through `atomic_write_bytes` like every other artifact.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from picochat.artifacts import atomic_write_bytes


def plot_history(
    history: Sequence[dict[str, Any]],
    path: str | Path,
    *,
    series: Sequence[tuple[str, str]] = (
        ("train_loss", "train loss"),
        ("val_loss", "validation loss"),
    ),
    secondary: tuple[str, str] | None = None,
    title: str = "Loss",
    mark_step: int | None = None,
    mark_label: str = "best validation",
    ylabel: str = "loss (nats per token)",
) -> Path | None:
    """Plot `series` (history key, label) against `step`; None when nothing to plot.

    `secondary` (key, label) goes on a right-hand axis (e.g. validation bits per byte);
    `mark_step` draws a vertical line (e.g. the best checkpoint).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def points(key: str) -> tuple[list[float], list[float]]:
        pairs = [(h["step"], h[key]) for h in history if h.get(key) is not None]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    drawn = [(key, label, *points(key)) for key, label in series]
    if not any(xs for _, _, xs, _ in drawn):
        return None
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for _, label, xs, ys in drawn:
        if xs:
            ax.plot(xs, ys, marker="o", markersize=3, label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if secondary is not None:
        xs, ys = points(secondary[0])
        if xs:
            right = ax.twinx()
            right.plot(xs, ys, color="tab:green", linestyle="--", label=secondary[1])
            right.set_ylabel(secondary[1])
            extra_handles, extra_labels = right.get_legend_handles_labels()
            handles, labels = handles + extra_handles, labels + extra_labels
    if mark_step is not None:
        line = ax.axvline(mark_step, color="gray", linestyle=":", label=mark_label)
        handles, labels = handles + [line], labels + [mark_label]
    # Below the axes, never over them: inside, the last (often lowest) validation points
    # of an SFT curve hid under it.
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())
