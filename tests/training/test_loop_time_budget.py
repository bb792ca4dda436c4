"""`--max-minutes`: the final evaluation ends within the budget (on a fake clock)."""

from __future__ import annotations

import types

import pytest
import torch

from picochat.configs import BaseTrainConfig
from picochat.training import loop
from picochat.training.loop import TrainTask, run_loop
from tiny_models import tiny_model


class Batches:
    """The same batch forever; a position to save."""

    def next_batch(self) -> torch.Tensor:
        return torch.arange(17).remainder(61)[None]

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def test_the_final_evaluation_ends_within_the_time_budget(tmp_path, monkeypatch):
    """A step takes 1 s and an evaluation 5 s, then 5.4 s (load varies): keeping back
    only the last evaluation's time, the run would stop after the step at 55 s and end
    at 60.4 s, past a 60 s budget; the margin and the step's own time end it in time."""
    clock = {"now": 0.0}
    evaluations: list[float] = []
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(perf_counter=lambda: clock["now"]))

    def loss_fn(model, batch):
        clock["now"] += 1.0
        _, loss = model(batch[:, :-1], batch[:, 1:])
        return loss

    def evaluate(model):
        clock["now"] += 5.0 if not evaluations else 5.4
        evaluations.append(clock["now"])
        return {"val_loss": 1.0}

    task = TrainTask(
        model=tiny_model(),
        loss_fn=loss_fn,
        train_batches=Batches(),
        evaluate=evaluate,
        save_checkpoint=lambda model, folder, state: None,
        count_tokens=lambda batch: batch.numel(),
    )
    config = BaseTrainConfig(
        corpus=tmp_path, tokenizer=tmp_path, out_dir=tmp_path / "run", max_steps=10_000,
        eval_every=10_000, warmup_steps=0, max_minutes=1.0, device="cpu", learning_rate=1e-3,
    )  # fmt: skip
    result = run_loop(
        task, config, device=torch.device("cpu"), precision="fp32", show_progress=False
    )
    assert result.stop_reason == "max_minutes"
    assert result.history[-1]["elapsed_seconds"] == pytest.approx(evaluations[-1])
    assert 59.0 <= evaluations[-1] <= 60.0  # in time, and not stopped needlessly early
