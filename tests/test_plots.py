"""Loss plots: the legend sits outside the axes, so it never hides a point."""

from __future__ import annotations

import pytest

from picochat.plots import plot_history

HISTORY = [
    {"step": s, "train_loss": 3.0 - s / 50, "val_loss": 3.1 - s / 60, "val_bpb": 4.0 - s / 40}
    for s in range(0, 101, 10)
]


def test_legend_does_not_overlap_the_plotted_area(tmp_path, monkeypatch):
    plt = pytest.importorskip("matplotlib.pyplot")
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    path = plot_history(HISTORY, tmp_path / "curve.png", secondary=("val_bpb", "val BPB"),
                        mark_step=100)  # fmt: skip
    assert path is not None and path.stat().st_size > 0
    figure = figures[0]
    renderer = figure.canvas.get_renderer()
    legend = figure.legends[0].get_window_extent(renderer)
    assert len(figure.legends[0].get_texts()) == 4  # train, validation, BPB, best mark
    for axes in figure.axes:
        assert not legend.overlaps(axes.get_window_extent(renderer))
