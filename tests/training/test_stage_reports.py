"""Every stage report's JSON and Markdown, built from fixed inputs, against stored copies.

The reports (base, SFT, DPO, Hugging Face SFT) share their common parts through
`picochat.training.stage_report`; these goldens pin every key and every Markdown line
so a change to the shared parts shows up here, stage by stage. Two runs each: a full
one (validation, best step, LoRA, whole-validation figures) and one stopped before
any evaluation. Regenerate a golden only for an intended change:
`PICOCHAT_WRITE_GOLDEN=1 pytest tests/training/test_stage_reports.py`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from picochat.training.loop_types import LoopResult
from picochat.training.stage_report import RunFacts

GOLDEN = Path(__file__).parent / "stage_reports"
# Different on every run or machine: kept out of the comparison.
VOLATILE = ("versions", "created_at")


@dataclass(frozen=True)
class _Config:
    seed: int = 7
    canary_count: int = 1
    checkpoint: str = "run/base/checkpoint"
    eval_batches: int = 2
    batch_size: int = 2
    beta: float = 0.1
    peft: str = "lora"
    lora_rank: int = 4
    lora_alpha: int = 8
    lora_targets: str = "q_proj, v_proj"
    max_length: int = 512
    probe_rows: int = 4
    max_new_tokens: int = 16
    model: str = "tiny-hf"
    input: str = "chat.jsonl"


HISTORY = [
    {"step": 0, "train_loss": 4.5, "val_loss": 4.6, "val_bpb": 2.1, "lr": 0.0,
     "tokens_per_sec": None, "val_targets": 64},
    {"step": 10, "train_loss": 3.25, "val_loss": 3.5, "val_bpb": 1.6, "lr": 1e-3,
     "tokens_per_sec": 1234.5, "val_targets": 64},
    {"step": 20, "train_loss": 2.0, "val_loss": 3.75, "val_bpb": 1.7, "lr": 5e-4,
     "tokens_per_sec": 1300.0, "val_targets": 64},
]  # fmt: skip


def _loop(full: bool, history: list[dict[str, Any]] | None = None) -> LoopResult:
    history = (HISTORY if history is None else history) if full else []
    best = {"step": 10, "val_loss": 3.5, "val_bpb": 1.6} if full else None
    return LoopResult(
        history=[dict(h) for h in history],
        best=best,
        stop_reason="max_steps" if full else "interrupted",
        stop_message="reached --max-steps 20" if full else "Ctrl-C",
        steps=20 if full else 3,
        tokens_seen=40960 if full else 96,
        train_seconds=12.5,
        tokens_per_sec=3276.8 if full else None,
        checkpoint_dir=Path("checkpoint"),
        best_checkpoint_dir=Path("best_checkpoint") if full else None,
    )


def _whole(full: bool) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    if not full:
        return None, None
    final = {
        "val_loss": 3.7,
        "val_bpb": 1.69,
        "val_tokens": 900,
        "val_tokens_total": 900,
        "val_scope": "whole",
        "weights_step": 20,
    }
    best = {**final, "val_loss": 3.45, "val_bpb": 1.58, "weights_step": 10}
    return final, best  # fmt: skip


def _pretrain(full: bool) -> tuple[dict[str, Any], str]:
    from picochat.training import pretrain_report

    data = SimpleNamespace(
        split_mode="documents", split_reason="held-out documents", train=[0] * 5000,
        val=[0] * 900, val_documents=2 if full else None, train_documents=10,
        unknown_rate=0.0, warnings=["tiny corpus"] if full else [],
        val_document_names=[{"source": "a.txt", "id": 3}, {"source": None, "id": 9}]
        if full else None,
    )  # fmt: skip
    canary = {"text": "the canary 42", "hit": True, "exposure_bits": 3.5, "rank": 1,
              "candidates": 100, "prefix": "the canary", "continuation": " 42"}  # fmt: skip
    diagnostics = {
        "copy": {"train_copy_rate": 0.5, "heldout_overlap": 0.125,
                 "copied_spans": [{"words": 8, "text": "a b c d e f g h"}],
                 "ngram_words": 8, "generated_ngrams": 40},
        "canaries": [canary] if full else [],
        "risk": "high" if full else "unknown",
        "risk_reason": "copies training text",
        "measured_on": "final weights (step 20)",
        "loss_gap": {"gap": 1.5, "val_loss": 3.7, "train_loss": 2.2, "step": 20} if full else None,
        "short_ngrams": {"train_copy_rate": 0.9, "ngram_words": 3, "heldout_overlap": 0.6,
                         "size_ratio": 5.5, "size_bound": 0.7, "excess": True} if full else None,
        "samples": ["once upon a time"] if full else [],
        "continuations": ["there was"] if full else [],
    }  # fmt: skip
    report = _build(
        pretrain_report, full, num_parameters=123456, data=data, diagnostics=diagnostics,
        whole=_whole(full),
    )  # fmt: skip
    return report, pretrain_report.render_markdown(report)


def _sft(full: bool) -> tuple[dict[str, Any], str]:
    from picochat.training import sft_report

    seq = SimpleNamespace
    train = [seq(supervised_tokens=30), seq(supervised_tokens=20)]
    val = [seq(supervised_tokens=25)] if full else []
    dataset = SimpleNamespace(rows=5, skipped=[SimpleNamespace(line=4, reason="no answer")])
    rendered = SimpleNamespace(
        sequences=train + val,
        skipped=[{"line": 2, "reason": "empty"}],
        truncated=[{"line": 3, "reason": "cut 10 tokens"}],
    )
    model = SimpleNamespace(
        num_parameters=lambda: 5000,
        parameters=lambda: [SimpleNamespace(numel=lambda: 300, requires_grad=True),
                            SimpleNamespace(numel=lambda: 4700, requires_grad=False)],
        config=SimpleNamespace(context_size=256),
    )  # fmt: skip
    probe = {"split": "val", "line": 3, "exact": True, "user": "hi?", "reference": "hello",
             "reply": "hello there"}  # fmt: skip
    probes = {
        "train_exact_rate": 1.0, "val_exact_rate": 0.5 if full else None,
        "verdict": "memorised", "train_probes": 2, "val_probes": 1 if full else 0,
        "probes": [probe] if full else [],
    }  # fmt: skip
    peft = {"type": "lora", "rank": 4, "alpha": 8, "targets": ["attn_qkv"]} if full else None
    report = _build(
        sft_report, full, model=model, probes=probes, peft=peft, whole=_whole(full),
        data=SimpleNamespace(dataset=dataset, rendered=rendered, train_seq=train, val_seq=val),
    )  # fmt: skip
    return report, sft_report.render_markdown(report)


def _dpo(full: bool) -> tuple[dict[str, Any], str]:
    from picochat.training import dpo_report
    from picochat.training.dpo_loss import METRIC_NAMES

    history = [
        {"step": 0, "train_loss": None, "val_bpb": None, "lr": 0.0, "val_loss": 0.6931,
         **{f"val_{m}": 0.0 for m in METRIC_NAMES if m != "loss"}},
        {"step": 10, "train_loss": 0.5, "lr": 1e-4, "val_loss": 0.61, "loss": 0.5,
         **{m: 0.25 for m in METRIC_NAMES if m != "loss"},
         **{f"val_{m}": 0.5 for m in METRIC_NAMES if m != "loss"}},
        {"step": 20, "lr": 1e-4, "loss": 0.4, **{m: 0.3 for m in METRIC_NAMES if m != "loss"}},
    ]  # fmt: skip
    pair = SimpleNamespace
    pairs = [
        pair(pair=pair(extra={"synthetic": True, "strategy": "echo"}, group_key="a",
                       category="math"), truncated=True),
        pair(pair=pair(extra={"synthetic": full}, group_key="b", category=None), truncated=False),
    ]  # fmt: skip
    data = SimpleNamespace(
        all_pairs=pairs, train=pairs[:1], val=pairs[1:] if full else [],
        dataset=SimpleNamespace(rows=3),
        skipped=[SimpleNamespace(line=n, reason="same answers") for n in range(22 if full else 1)],
    )  # fmt: skip
    reference = {"source": "the SFT checkpoint", "checkpoint": "sft/checkpoint",
                 "sha256": "ab" * 32, "computed": "once", "file": "reference_logps.safetensors",
                 "tie_tolerance": {"rtol": 1e-5, "method": "relative"} if full else None}  # fmt: skip
    loop = _loop(full, history)
    report = _build(
        dpo_report, full, loop=loop, model_info={"num_parameters": 5000, "trainable_parameters": 300},
        data=data, reference=reference,
        peft={"type": "lora", "rank": 4, "alpha": 8, "targets": ["attn_qkv"]} if full else None,
    )  # fmt: skip
    return report, dpo_report.render_markdown(report)


def _hf_sft(full: bool) -> tuple[dict[str, Any], str]:
    from picochat.hf import sft_report

    rows = SimpleNamespace(
        data=SimpleNamespace(rows=6, skipped=[SimpleNamespace(line=5, reason="no answer")]),
        train_set=SimpleNamespace(examples=[1, 2, 3], skipped=[(2, "too long")], truncated=1,
                                  supervised_tokens=77),
        val_set=SimpleNamespace(examples=[4] if full else [], skipped=[], truncated=0),
    )  # fmt: skip
    validation = {"val_rows": 1 if full else 0, "periodic_val_rows": 0,
                  "step": 20, "val_loss": 3.6 if full else None}  # fmt: skip
    risk = {"train_exact_rate": 1.0, "val_exact_rate": 0.0 if full else None, "train_probes": 3,
            "val_probes": 1 if full else 0, "max_new_tokens": 16, "model": "final_model",
            "verdict": "memorised"}  # fmt: skip
    sample = {"prompt": "hi?", "reply": "hello", "reference": "hello", "line": 4} if full else None
    model = {"source": "tiny-hf", "architecture": "GPT2LMHeadModel", "num_parameters": 9000,
             "chat_template": "own", "precision": "fp32"}  # fmt: skip
    config = _Config(peft="lora" if full else "none", max_length=2048)
    report = _build(
        sft_report, full, config=config, model=model, rows=rows, risk=risk, sample=sample,
        trainable_parameters=400, artifacts={"final_model": Path("out/final_model")},
        max_length=1024, validation=validation,
    )  # fmt: skip
    return report, sft_report.render_markdown(report)


def _build(module: Any, full: bool, *, config: Any = None, loop: Any = None, **own: Any):
    """A stage's report from the shared run facts and its own inputs."""
    hf = module.__name__ == "picochat.hf.sft_report"
    facts = RunFacts(
        config=config or _Config(),
        inputs={"chat.jsonl" if hf else "data": "sha256:0"},
        wall_seconds=3.25,
        device="cpu",
        loop=loop or _loop(full),
    )
    if hf:
        return module.build_report(facts, module.HFSFTFacts(**own))
    return module.build_report(facts, **own)


STAGES = {"base": _pretrain, "sft": _sft, "dpo": _dpo, "hf_sft": _hf_sft}


@pytest.mark.parametrize("full", [True, False], ids=["full", "stopped_early"])
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_report_matches_golden(stage: str, full: bool) -> None:
    report, markdown = STAGES[stage](full)
    text = json.dumps({k: v for k, v in report.items() if k not in VOLATILE}, indent=1,
                      default=str)  # fmt: skip
    name = f"{stage}_{'full' if full else 'stopped_early'}"
    json_path, md_path = GOLDEN / f"{name}.json", GOLDEN / f"{name}.md"
    if os.environ.get("PICOCHAT_WRITE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        json_path.write_text(text + "\n", encoding="utf-8")
        md_path.write_text(markdown, encoding="utf-8")
    assert text + "\n" == json_path.read_text(encoding="utf-8")
    assert markdown == md_path.read_text(encoding="utf-8")
