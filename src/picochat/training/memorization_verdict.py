"""The base memorisation verdict (`high` | `medium` | `low` | `unknown`) and its signals.

Not for: measuring the signals (`memorization.py`, `copy_scale.py`, the loop's losses).

Four signals, each a different view of copying, so that one blind spot does not read
"low":
- **canaries**: a secret reproduced verbatim (high), or far likelier than random
  secrets (medium);
- **8-gram copy rate** of greedy continuations of training prompts: >= 50% high,
  >= 10% medium;
- **loss gap** (per-token likelihood): final validation loss minus the training loss of
  the same weights, in nats per token. Validation tokens e^gap times less likely than
  training tokens: >= `GAP_HIGH` (1 nat, 2.7x) medium on its own (a held-out domain
  shift also opens a gap), high together with copying; >= `GAP_MEDIUM` (0.5) medium;
- **3-gram copy excess**: short n-grams of the continuations are found in training text
  far more often than in held-out text. Training text is larger, so some excess is
  size alone: for a model that copies nothing, the chance of finding an n-gram in k
  times more text is at most k times the chance in the held-out text (1-(1-q)^(kN) <=
  k(1-(1-q)^N)), so an excess counts only when the training rate is >= 10% and above
  `size_ratio` x the held-out rate.

`unknown` where copying cannot be checked (no n-gram: continuations too short) and no
signal shows a risk, or no weights exist: "low" needs the copy rates measured.
"""

from __future__ import annotations

import math
from typing import Any

GAP_HIGH = 1.0  # nats per token: validation tokens 2.7x less likely than training ones
GAP_MEDIUM = 0.5  # nats per token: 1.6x
COPY_HIGH, COPY_MEDIUM = 0.5, 0.1  # shares of generated 8-grams copied from training
SHORT_COPY_MIN = 0.1  # a 3-gram excess needs at least this training copy rate


def loss_gap(train_loss: float | None, val_loss: float | None, step: Any) -> dict[str, Any]:
    """The gap signal: {train_loss, val_loss, gap, step} (gap null with a reason)."""
    out: dict[str, Any] = {"train_loss": train_loss, "val_loss": val_loss, "step": step}
    finite = all(v is not None and math.isfinite(v) for v in (train_loss, val_loss))
    out["gap"] = val_loss - train_loss if finite else None  # type: ignore[operator]
    if not finite:
        out["gap_reason"] = "no finite train and validation loss of the diagnosed weights"
    return out


def short_ngram_excess(short: dict[str, Any], size_ratio: float | None) -> dict[str, Any]:
    """The 3-gram signal: the copy figures plus `size_ratio`, `size_bound` and `excess`."""
    out = {
        k: short.get(k)
        for k in ("ngram_words", "train_copy_rate", "heldout_overlap", "generated_ngrams")
    }
    out["size_ratio"] = size_ratio
    train, held = short.get("train_copy_rate"), short.get("heldout_overlap")
    if train is None or held is None or size_ratio is None:
        out["size_bound"] = out["excess"] = None
        out["excess_reason"] = short.get("train_copy_rate_reason") or "no held-out text"
        return out
    out["size_bound"] = min(1.0, held * max(1.0, size_ratio))
    out["excess"] = train >= SHORT_COPY_MIN and train > out["size_bound"]
    return out


def risk_verdict(
    copy: dict[str, Any],
    canaries: list[dict[str, Any]],
    *,
    gap: dict[str, Any] | None = None,
    short: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """(`high`|`medium`|`low`|`unknown`, why): the strongest signal, its figures named."""
    n = copy.get("ngram_words", 8)
    rate = copy.get("train_copy_rate")
    hits = sum(c["hit"] for c in canaries)
    gap_value = (gap or {}).get("gap")
    excess = bool(short and short.get("excess"))
    gap_text = f"validation loss {gap_value:.2f} nats/token above train" if gap_value else ""
    short_text = (
        f"{short['train_copy_rate']:.0%} of generated {short['ngram_words']}-word spans "
        f"are in the training text vs {short['heldout_overlap']:.1%} in held-out text "
        f"(size alone explains at most {short['size_bound']:.1%})"
        if excess and short
        else ""
    )
    if hits:
        return "high", f"{hits} of {len(canaries)} canaries are reproduced verbatim"
    if rate is not None and rate >= COPY_HIGH:
        return "high", f"{rate:.0%} of generated {n}-word spans are copied from training"
    if gap_value is not None and gap_value >= GAP_HIGH and excess:
        return "high", f"{gap_text}, and {short_text}"
    if rate is not None and rate >= COPY_MEDIUM:
        return "medium", f"{rate:.0%} of generated {n}-word spans are copied from training"
    if canaries and max(c["exposure_bits"] for c in canaries) >= 0.5 * math.log2(
        canaries[0]["candidates"]
    ):
        return "medium", "a canary is much likelier than random secrets (high exposure)"
    if gap_value is not None and gap_value >= GAP_MEDIUM:
        likelier = f"training tokens {math.exp(gap_value):.1f}x likelier"
        return "medium", f"{gap_text} ({likelier})"
    if excess:
        return "medium", short_text
    if rate is None:
        why = copy.get("train_copy_rate_reason") or "the copy rate was not measured"
        return "unknown", f"copying could not be checked ({why}) and no other signal shows a risk"
    gap_note = f"; loss gap {gap_value:.2f} nats" if gap_value is not None else ""
    return (
        "low",
        f"{rate:.0%} of generated {n}-word spans copied, no canary reproduced, no 3-gram "
        f"excess over held-out text{gap_note}",
    )
