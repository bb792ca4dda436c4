"""What SFT did to the model, beyond the loss: divergence and memorisation risk.

Shared by native SFT (`sft.py`) and Hugging Face SFT (`picochat.hf.sft_report`), so both say
the same thing with the same rules. Not for: training or report layout.

Divergence (the `diverged` flag): validation loss rose while train loss fell. Rule:
the last evaluation's validation loss is more than 5% above the best one so far, and its
train loss is below the train loss measured at that best step. (5%: the noise of a
validation set of a few dozen answers; a flag for every wobble would be ignored.)

Memorisation risk: greedy replies to training prompts and to validation prompts are
compared with the trained answers. A reply counts as exact when, after collapsing
whitespace (`" ".join(text.split())`), it starts with the whole reference answer
(anything the model writes after it is ignored). Verdict: "memorised" when at least
half the training answers come back exact and the validation rate is at least 25 points
lower: the model copies its rows rather than answering unseen prompts alike.
"""

from __future__ import annotations

from typing import Any

# Val loss this much above its best, while train loss fell, counts as divergence.
DIVERGENCE_TOLERANCE = 1.05
MEMORISED_TRAIN_RATE = 0.5
MEMORISED_GAP = 0.25


def divergence(history: list[dict[str, Any]]) -> bool:
    """True when the last validation loss rose above its best while train loss fell."""
    evals = [
        h for h in history if h.get("val_loss") is not None and h.get("train_loss") is not None
    ]
    if len(evals) < 2:
        return False
    best = min(evals, key=lambda h: h["val_loss"])
    last = evals[-1]
    return (
        last["val_loss"] > best["val_loss"] * DIVERGENCE_TOLERANCE
        and last["train_loss"] < best["train_loss"]
    )


def normalise_whitespace(text: str) -> str:
    return " ".join(text.split())


def is_exact(reply: str, reference: str) -> bool:
    """The reply starts with the whole reference answer (whitespace-normalised)."""
    return normalise_whitespace(reply).startswith(normalise_whitespace(reference))


def verdict(train: float | None, val: float | None) -> str:
    """A plain-language reading of the two exact-answer rates."""
    if train is None:
        return "unknown: no training rows to probe"
    if train >= MEMORISED_TRAIN_RATE and (val is None or train - val >= MEMORISED_GAP):
        held_out = (
            "no validation rows to compare" if val is None else f"{val:.0%} of validation answers"
        )
        return (
            f"memorised: greedy replies reproduce {train:.0%} of training answers word for "
            f"word ({held_out}); the model copies its training rows"
        )
    if train >= MEMORISED_TRAIN_RATE:
        return (
            f"reproduces answers on both sides ({train:.0%} train, {val:.0%} validation): "
            "validation prompts may be near copies of training ones, or answers are generic"
        )
    return f"low: {train:.0%} of training answers are reproduced word for word"
