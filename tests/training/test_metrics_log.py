"""metrics.jsonl, plain lines without a terminal, and TensorBoard, from a real training run."""

from __future__ import annotations

import json
import sys

import pytest

from picochat.training.metrics_log import METRICS_FILE, MetricsLog


def _flags(paths, out_dir, *extra):
    return [
        "train", "base", "--corpus", paths["corpus"], "--tokenizer", paths["tokenizer"],
        "--out-dir", out_dir, "--preset", "smoke", "--context-size", "32", "--batch-size", "4",
        "--device", "cpu", "--precision", "fp32", "--eval-every", "2", "--eval-batches", "1",
        *extra,
    ]  # fmt: skip


def _records(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_each_step_and_evaluation_is_one_line_written_as_it_happens(tmp_path):
    log = MetricsLog(tmp_path, resume_step=None, max_steps=3, plain_lines=False)
    log.evaluation({"step": 0, "train_loss": None, "val_loss": 5.0, "tokens_per_sec": None})
    log.step(1, loss=4.5, lr=1e-3, tokens_per_sec=100.0)
    # Not closed yet: `tail -f` already sees both lines.
    assert [r["kind"] for r in _records(tmp_path / METRICS_FILE)] == ["eval", "train"]
    log.step(2, loss=float("nan"), lr=1e-3, tokens_per_sec=100.0)
    log.close()
    assert _records(tmp_path / METRICS_FILE)[-1]["loss"] is None  # NaN is not JSON


def test_a_training_run_logs_every_step_and_resume_does_not_repeat_any(
    make_inputs, doc_text, tmp_path, run_cli
):
    paths = make_inputs("".join(doc_text(i) for i in range(6)))
    out = tmp_path / "base"
    code, stdout, err = run_cli(*_flags(paths, out, "--max-steps", "4"))
    assert code == 0, err
    # stdout is captured (no terminal): one plain line per evaluation, precise enough.
    lines = [line for line in stdout.splitlines() if line.startswith("train base step ")]
    assert [line.split(",")[0] for line in lines] == [
        "train base step 0/4", "train base step 2/4", "train base step 4/4"
    ]  # fmt: skip
    assert "val loss " in lines[-1] and "tokens/s" in lines[-1]
    assert "e+0" not in stdout  # no 3.031e+04 tokens/s
    final = [line for line in stdout.splitlines() if line.startswith("final step")][0]
    assert len(final.split("train loss ")[1].split(",")[0]) <= 6  # 4 significant digits
    records = _records(out / METRICS_FILE)
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2, 3, 4]
    assert [r["step"] for r in records if r["kind"] == "eval"] == [0, 2, 4]
    report = json.loads((out / "train_report.json").read_text())
    evals = [r for r in records if r["kind"] == "eval"]
    assert [e["val_loss"] for e in evals] == [h["val_loss"] for h in report["history"]]
    # Pretend a crash after step 4's checkpoint had already logged a step 5.
    with (out / METRICS_FILE).open("a") as file:
        file.write(json.dumps({"kind": "train", "step": 5, "loss": 9.0}) + "\n")
    code, _, err = run_cli(*_flags(paths, out, "--max-steps", "6", "--resume"))
    assert code == 0, err
    records = _records(out / METRICS_FILE)
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2, 3, 4, 5, 6]
    assert [r["step"] for r in records if r["kind"] == "eval"] == [0, 2, 4, 6]
    assert 9.0 not in [r.get("loss") for r in records]


def test_tensorboard_gets_the_same_scalars(make_inputs, doc_text, tmp_path, run_cli):
    pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    paths = make_inputs("".join(doc_text(i) for i in range(6)))
    board = tmp_path / "tb"
    code, _, err = run_cli(*_flags(paths, tmp_path / "base", "--max-steps", "4",
                                   "--tensorboard", board))  # fmt: skip
    assert code == 0, err
    events = EventAccumulator(str(board))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2, 3, 4]
    val = [(e.step, e.value) for e in events.Scalars("eval/val_loss")]
    records = _records(tmp_path / "base" / METRICS_FILE)
    expected = [(r["step"], r["val_loss"]) for r in records if r["kind"] == "eval"]
    assert [s for s, _ in val] == [s for s, _ in expected]
    assert all(abs(a - b) < 1e-5 for (_, a), (_, b) in zip(val, expected, strict=True))


def test_tensorboard_missing_is_a_clear_error(
    make_inputs, doc_text, tmp_path, run_cli, monkeypatch
):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    paths = make_inputs("".join(doc_text(i) for i in range(6)))
    code, _, err = run_cli(*_flags(paths, tmp_path / "b", "--max-steps", "2",
                                   "--tensorboard", tmp_path / "tb"))  # fmt: skip
    assert code == 2 and "pip install" in err and "Traceback" not in err
