"""The memory estimate against what autograd really keeps; the preflight's refusal and
the dry run, through the real CLI."""

from __future__ import annotations

import json
import time

import pytest
import torch

from picochat.model.config import ModelConfig
from picochat.model.transformer import Transformer
from picochat.runtime import autocast
from picochat.training.memory_estimate import estimate_memory


def saved_activation_bytes(config: ModelConfig, batch: int, precision: str) -> int:
    """Bytes of every tensor autograd saves in one forward (storages counted once,
    parameters excluded): the ground truth the activation estimate models."""
    torch.manual_seed(0)
    model = Transformer(config)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    idx = torch.randint(0, config.vocab_size, (batch, config.context_size))
    with (
        torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
        autocast(torch.device("cpu"), precision),
    ):
        model(idx, idx)
    return sum(storages.values())


SHAPES = [
    dict(n_embd=128, n_layer=2, n_head=4, context_size=128),
    dict(n_embd=192, n_layer=2, n_head=6, n_kv_head=2, context_size=64),
    dict(n_embd=128, n_layer=2, n_head=2, context_size=128, qk_norm=True),
    dict(n_embd=128, n_layer=3, n_head=4, n_kv_head=2, context_size=128, value_residual=True),
]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("shape", SHAPES)
def test_activation_estimate_matches_what_autograd_saves(shape, precision):
    if precision == "bf16" and not torch.cpu._is_avx512_bf16_supported():
        pytest.skip("bf16 autocast runs the other attention path without native bf16")
    config = ModelConfig(vocab_size=300, **{"n_kv_head": shape["n_head"], **shape})
    measured = saved_activation_bytes(config, 4, precision)
    estimate = estimate_memory(config, batch_size=4, precision=precision, device_type="cpu")
    b = estimate["bytes"]
    autocast_copies = b["weights"] - 4 * estimate["parameters"]  # bf16 weights, saved too
    assert b["activations"] + autocast_copies == pytest.approx(measured, rel=0.1)


def test_estimate_scales_as_it_should():
    config = ModelConfig(vocab_size=1000, n_layer=4, n_head=4, n_embd=256, context_size=256)

    def peak(**kw):
        base = dict(batch_size=8, precision="bf16", device_type="cuda")
        return estimate_memory(config, **{**base, **kw})["bytes"]

    assert peak(batch_size=16)["activations"] == pytest.approx(2 * peak()["activations"], 0.01)
    assert peak(activation_checkpointing=True)["activations"] < peak()["activations"] / 2
    sharded = peak(world_size=4, parallel="fsdp")
    assert sharded["optimizer"] == pytest.approx(peak()["optimizer"] / 4, rel=0.01)
    assert peak(optimizer="muon")["optimizer"] < peak()["optimizer"]
    assert peak(precision="fp32")["activations"] > peak()["activations"]


def test_a_run_that_cannot_fit_is_refused_with_the_estimate_and_fixes(
    make_inputs, doc_text, tmp_path, run_cli
):
    paths = make_inputs("".join(doc_text(i) for i in range(4)))
    out = tmp_path / "huge"
    code, _, err = run_cli(
        "train", "base", "--corpus", paths["corpus"], "--tokenizer", paths["tokenizer"],
        "--out-dir", out, "--depth", "64", "--device", "cpu",
    )  # fmt: skip
    assert code == 2 and "Traceback" not in err
    assert "per device (weights" in err and "would run out of memory" in err
    assert "--activation-checkpointing" in err and "a smaller model" in err
    assert not out.exists()  # refused before anything was written


def test_dry_run_reports_speed_memory_and_eta_and_keeps_nothing(
    make_inputs, doc_text, tmp_path, run_cli
):
    paths = make_inputs("".join(doc_text(i) for i in range(6)))
    out = tmp_path / "dry"
    code, stdout, err = run_cli(
        "train", "base", "--corpus", paths["corpus"], "--tokenizer", paths["tokenizer"],
        "--out-dir", out, "--preset", "smoke", "--context-size", "32", "--batch-size", "4",
        "--max-steps", "1000", "--dry-run", "4", "--device", "cpu", "--precision", "fp32",
    )  # fmt: skip
    assert code == 0, err
    assert "preflight:" in stdout and "compute-optimal" in stdout
    assert "dry run: 3 timed steps of 4" in stdout and "tokens/s" in stdout
    assert "full run of 1000 steps: ETA" in stdout
    assert not (out / "dry_run").exists() and not (out / "checkpoint").exists()
    figures = json.loads((out / "dry_run.json").read_text())["dry_run"]
    assert figures["tokens_per_step"] == 4 * 32 and figures["peak_memory_bytes"] > 0


def test_the_report_keeps_the_preflight(make_inputs, doc_text, tmp_path, run_cli):
    paths = make_inputs("".join(doc_text(i) for i in range(6)))
    out = tmp_path / "run"
    code, _, err = run_cli(
        "--quiet", "train", "base", "--corpus", paths["corpus"], "--tokenizer",
        paths["tokenizer"], "--out-dir", out, "--preset", "smoke", "--context-size", "32",
        "--batch-size", "4", "--max-steps", "2", "--device", "cpu",
    )  # fmt: skip
    assert code == 0, err
    preflight = json.loads((out / "train_report.json").read_text())["preflight"]
    assert preflight["planned_tokens"] == 2 * 4 * 32
    assert preflight["memory"]["bytes"]["peak"] > 0 and preflight["memory_limit_bytes"] > 0


def test_dry_run_peak_memory_counts_its_own_steps_not_the_process_history():
    from picochat.training.dry_run import _PeakRss, _rss_bytes

    earlier = bytearray(256 * 2**20)  # an earlier job in the same process peaked high...
    del earlier  # ...and returned its memory (a block this large is its own mapping)
    before = _rss_bytes()
    with _PeakRss() as idle:
        pass
    assert idle.peak - before < 64 * 2**20  # the old ru_maxrss reading said >= 256 MiB
    with _PeakRss() as busy:
        during = b"\x01" * (96 * 2**20)  # every page written: resident
        time.sleep(10 * _PeakRss.EVERY_S)  # held for a whole step, as a step's tensors are
        del during
    assert busy.peak - before >= 80 * 2**20
