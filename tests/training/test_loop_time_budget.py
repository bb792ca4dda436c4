"""`--max-minutes`: the final evaluation ends within the budget (on a fake clock)."""

from __future__ import annotations

import os
import signal
import types

import pytest
import torch

from picochat.configs import BaseTrainConfig
from picochat.model.checkpoint import save_checkpoint
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


class FakeClock:
    """The loop's only clock: a step takes 1 s, an evaluation 5 s, later ones 5.4 s
    (or `eval_seconds`)."""

    def __init__(self, monkeypatch, eval_seconds: tuple[float, float] = (5.0, 5.4)) -> None:
        self.now = 0.0
        self.eval_seconds = eval_seconds  # the first evaluation's, and every later one's
        self.evaluations: list[float] = []
        monkeypatch.setattr(loop, "time", types.SimpleNamespace(perf_counter=lambda: self.now))

    def task(self) -> TrainTask:
        def loss_fn(model, batch):
            self.now += 1.0
            return model(batch[:, :-1], batch[:, 1:])[1]

        def evaluate(model):
            self.now += self.eval_seconds[1] if self.evaluations else self.eval_seconds[0]
            self.evaluations.append(self.now)
            return {"val_loss": 1.0}

        def save(model, folder, state):
            save_checkpoint(folder, model, tokenizer_sha256=None, training_state=state)

        return TrainTask(
            model=tiny_model(), loss_fn=loss_fn, train_batches=Batches(), evaluate=evaluate,
            save_checkpoint=save, count_tokens=lambda batch: batch.numel(),
        )  # fmt: skip


def budget_config(out_dir, **overrides) -> BaseTrainConfig:
    return BaseTrainConfig(
        corpus=out_dir, tokenizer=out_dir, out_dir=out_dir, max_steps=10_000, eval_every=10_000,
        warmup_steps=0, max_minutes=1.0, device="cpu", learning_rate=1e-3, **overrides,
    )  # fmt: skip


def run(task: TrainTask, config: BaseTrainConfig, on_step=None):
    return run_loop(
        task, config, device=torch.device("cpu"), precision="fp32", show_progress=False,
        on_step=on_step,
    )  # fmt: skip


def test_the_final_evaluation_ends_within_the_time_budget(tmp_path, monkeypatch):
    """Keeping back only the last evaluation's time (5 s), the run would stop after the
    step at 55 s and end at 60.4 s, past a 60 s budget; the 25% margin and the step's own
    time end it in time (after the step at 53 s: 58.4 s)."""
    clock = FakeClock(monkeypatch)
    result = run(clock.task(), budget_config(tmp_path / "run"))
    assert result.stop_reason == "max_minutes"
    assert result.history[-1]["elapsed_seconds"] == pytest.approx(clock.evaluations[-1])
    assert 58.0 <= clock.evaluations[-1] <= 60.0  # in time, and not stopped needlessly early


def test_under_compile_the_budget_keeps_back_a_warm_evaluation(tmp_path, monkeypatch):
    """--compile: the step-0 evaluation also compiles its graph (20 s here, 2 s warm).
    Keeping back 1.25 x 20 s, the run would stop near 34 s of a 60 s budget; it times a
    second, warm evaluation and keeps back that, so the final one ends just in time."""
    clock = FakeClock(monkeypatch, eval_seconds=(20.0, 2.0))
    task = clock.task()
    task.compile_model = lambda model: model  # the clock stands in for compiling
    result = run(task, budget_config(tmp_path / "run", compile=True))
    assert result.stop_reason == "max_minutes"
    assert len(clock.evaluations) == 3  # step 0, its warm timing, the final one
    assert [entry["step"] for entry in result.history] == [0, result.steps]
    assert 59.0 <= clock.evaluations[-1] <= 60.0


def test_a_resumed_run_spends_what_is_left_of_the_budget(tmp_path, monkeypatch):
    """Interrupted at 26 s and resumed, the run ends where an uninterrupted one would
    (58.4 s of loop time in all, the learning rate decayed to its floor), not after a
    fresh 60 s from the resume."""
    clock = FakeClock(monkeypatch)
    out = tmp_path / "run"

    def interrupt(step: int) -> None:
        if step == 20:
            os.kill(os.getpid(), signal.SIGINT)

    first = run(clock.task(), budget_config(out), on_step=interrupt)
    assert first.stop_reason == "interrupted" and first.steps == 21  # seen at the next step
    resumed = run(clock.task(), budget_config(out, resume=True))
    assert resumed.stop_reason == "max_minutes"
    assert resumed.steps == 48  # the uninterrupted run's last step (5 s + 48 x 1 s + 5.4 s)
    assert resumed.history[-1]["elapsed_seconds"] == pytest.approx(58.4)
    assert resumed.history[-1]["lr"] == pytest.approx(1e-3 * 0.1)  # the floor, on time
