"""What `train base` measures about memorisation after the loop: samples, copy rates
(8- and 3-word), the loss gap and the canary probe, on the final weights (or the best
checkpoint's after a divergence), and the verdict (`memorization_verdict.py`).

Not for: the measurements themselves (`memorization.py`, `copy_scale.py`) or the report
text (`pretrain_report.py`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from picochat.model.checkpoint import load_checkpoint
from picochat.model.sharded import is_sharded
from picochat.training import memorization, memorization_verdict
from picochat.training.copy_scale import copy_diagnostics_shards
from picochat.training.loop import LoopResult
from picochat.training.shard_windows import ShardTokenData
from picochat.training.token_data import TokenData

SAMPLE_COUNT = 4
SAMPLE_TOKENS = 200
# Copy rate: greedy continuations of prompts cut from the training stream.
COPY_PROMPTS = 8
COPY_PROMPT_TOKENS = 32
COPY_NEW_TOKENS = 192


def weights_to_diagnose(
    model: nn.Module, loop: LoopResult, device: torch.device
) -> tuple[nn.Module | None, str]:
    """(model, which weights) for the diagnostics: the final weights, or after a
    divergence (whose last weights give NaN logits) the best checkpoint."""
    if loop.stop_reason != "diverged" and is_sharded(model):  # FSDP: rank 0 reads it whole
        weights = load_checkpoint(loop.checkpoint_dir, device=device)
        return weights, f"final weights (step {loop.steps})"
    if loop.stop_reason != "diverged":
        return model, f"final weights (step {loop.steps})"
    if loop.best_checkpoint_dir is None:
        return None, "training diverged before any validation, so no usable weights exist"
    best = load_checkpoint(loop.best_checkpoint_dir, device=device)
    return best, f"best checkpoint weights (step {loop.best['step']}): training diverged"


def diagnosed_gap(
    loop: LoopResult, whole: tuple[dict | None, dict | None], measured_on: str
) -> dict[str, Any]:
    """The loss-gap signal of the diagnosed weights: the whole-validation loss minus the
    training-window loss the loop measured on the same weights (final, or best)."""
    best_weights = measured_on.startswith("best")
    step = loop.best["step"] if best_weights and loop.best else loop.steps
    entry = next((h for h in reversed(loop.history) if h["step"] == step), None)
    figures = whole[1] if best_weights else whole[0]
    if entry is None or figures is None:  # e.g. interrupted between two evaluations
        return memorization_verdict.loss_gap(None, None, step)
    return memorization_verdict.loss_gap(entry.get("train_loss"), figures["val_loss"], step)


def short_ngrams(
    continuations: list[str], data: TokenData | ShardTokenData, tokenizer: Any
) -> dict[str, Any]:
    """The 3-gram view of the copy rate, with the training/held-out text size ratio."""
    n = memorization.SHORT_NGRAM_WORDS
    if isinstance(data, ShardTokenData):
        short = copy_diagnostics_shards(continuations, data.train, data.val, tokenizer, n=n)
        scan = short.get("scan", {})
        sizes = [scan.get(side, {}).get("scanned_tokens") for side in ("train", "val")]
    else:
        short = memorization.copy_diagnostics(continuations, data.train_text, data.val_text, n=n)
        sizes = [len(data.train_text), len(data.val_text)]
    ratio = sizes[0] / sizes[1] if all(sizes) else None
    return memorization_verdict.short_ngram_excess(short, ratio)


def diagnose(
    diagnosed: tuple[nn.Module | None, str],
    tokenizer: Any,
    data: TokenData | ShardTokenData,
    canaries: list[memorization.Canary],
    seed: int,
    gap: dict[str, Any],
) -> dict[str, Any]:
    """Samples, copy rates, loss gap and canary probe (fp32, eval mode) of the chosen weights."""
    model, measured_on = diagnosed
    if model is None:
        copy = memorization.copy_diagnostics([], "", "")
        for key in ("train_copy_rate", "heldout_overlap"):
            copy[f"{key}_reason"] = measured_on
        return {
            "samples": [],
            "continuations": [],
            "copy": copy,
            "canaries": [],
            "risk": "unknown",
            "risk_reason": measured_on,
            "measured_on": measured_on,
            "loss_gap": gap,
            "short_ngrams": memorization_verdict.short_ngram_excess(copy, None),
        }
    model.eval()
    samples = memorization.sample_texts(
        model, tokenizer, count=SAMPLE_COUNT, max_new_tokens=SAMPLE_TOKENS, seed=seed
    )
    context = model.config.context_size
    prompt = min(COPY_PROMPT_TOKENS, context // 4)
    continuations = memorization.training_continuations(
        model,
        tokenizer,
        data.train,
        count=COPY_PROMPTS,
        prompt_tokens=prompt,
        max_new_tokens=min(COPY_NEW_TOKENS, context - prompt),
        seed=seed,
    )
    if isinstance(data, ShardTokenData):  # hashed n-grams over the shards, bounded memory
        copy = copy_diagnostics_shards(continuations, data.train, data.val, tokenizer)
    else:
        copy = memorization.copy_diagnostics(continuations, data.train_text, data.val_text)
    short = short_ngrams(continuations, data, tokenizer)
    device = next(model.parameters()).device
    probes = memorization.probe_canaries(model, tokenizer, canaries, device=device, seed=seed)
    risk, risk_reason = memorization.risk_verdict(copy, probes, gap=gap, short=short)
    return {
        "samples": samples,
        "continuations": continuations,
        "copy": copy,
        "canaries": probes,
        "risk": risk,
        "risk_reason": risk_reason,
        "measured_on": measured_on,
        "loss_gap": gap,
        "short_ngrams": short,
    }
