"""The allowed range of every numeric flag, checked when the command line is parsed.

`checked_type(name, int|float)` is the argparse `type=` of a numeric config field: it
parses the text, refuses NaN and infinities, and checks the field's range from `BOUNDS`
(keyed by field name, so `--learning-rate` and run tiny's `--sft-learning-rate` share
one rule). argparse turns the refusal into a usage error (exit 2, no traceback) before
any work starts. Fields not listed only have to be finite.

Upper bounds are sanity limits far beyond any real setting on one machine; each says
why. Not here: checks that relate two settings (in each stage's own validation).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Bound:
    low: float
    high: float = math.inf
    low_open: bool = False  # True: the value must be strictly greater than `low`
    why: str = ""

    def describe(self) -> str:
        left = f"> {self.low:g}" if self.low_open else f">= {self.low:g}"
        text = left if self.high == math.inf else f"{left} and <= {self.high:g}"
        return f"{text} ({self.why})" if self.why else text


_SHARE = Bound(0.0, 1.0, why="a share")
_POSITIVE_COUNT = Bound(1)
_COUNT = Bound(0)

BOUNDS: dict[str, Bound] = {
    # Training loop.
    "max_steps": _POSITIVE_COUNT,
    "max_minutes": Bound(0.0, low_open=True, why="a time budget in minutes"),
    "early_stop_patience": _COUNT,
    "batch_size": Bound(1, 65536, why="larger batches do not fit one device's memory"),
    "grad_accum_steps": Bound(1, 65536),
    "learning_rate": Bound(0.0, 10.0, low_open=True, why="AdamW rates are ~1e-5..1e-2"),
    "embedding_learning_rate": Bound(0.0, 10.0, low_open=True, why="AdamW rates are ~1e-4..1"),
    "min_lr_ratio": _SHARE,
    "warmdown_fraction": _SHARE,
    "warmup_steps": _COUNT,
    "weight_decay": Bound(0.0, 10.0),
    "grad_clip": Bound(0.0, why="0 turns clipping off"),
    "eval_every": _POSITIVE_COUNT,
    "eval_batches": Bound(0, why="0 = the whole validation set"),
    "final_val_tokens": Bound(1, why="tokens scored after training"),
    "seed": Bound(0, 2**63 - 1),
    "dropout": Bound(0.0, 0.9, why="a probability; above ~0.5 little signal is left"),
    "val_fraction": Bound(0.0, 0.9, why="a share held out; most data must stay for training"),
    "canary_count": Bound(0, 10000, why="each canary is probed after training"),
    "probe_rows": _COUNT,
    "dpo_steps": _COUNT,
    "beta": Bound(0.0, 100.0, low_open=True),
    # Model shape: a config beyond these does not fit any one machine.
    "n_layer": Bound(1, 1024),
    "n_head": Bound(1, 1024),
    "n_kv_head": Bound(1, 1024),
    "n_embd": Bound(2, 65536),
    "context_size": Bound(2, 1 << 20),
    "vocab_size": Bound(1, 1 << 24, why="token ids are stored as uint32; 16M is far beyond any"),
    # LoRA.
    "lora_rank": Bound(1, 4096, why="a rank beyond the layer width adapts nothing more"),
    "lora_alpha": Bound(0.0, low_open=True),
    # Generation and evaluation.
    "max_new_tokens": _POSITIVE_COUNT,
    "max_length": Bound(2, 1 << 20),
    "temperature": Bound(0.0, 100.0, why="0 is greedy"),
    "top_k": _POSITIVE_COUNT,
    "top_p": Bound(0.0, 1.0, low_open=True, why="a probability mass"),
    "repetition_penalty": Bound(0.0, 100.0, low_open=True, why="1 = off"),
    "min_reference_f1": _SHARE,
    "min_corpus_support": _SHARE,
    # Data.
    "max_items": _POSITIVE_COUNT,
    "max_rows": Bound(0, why="0 = every row"),
    "max_bytes": Bound(0, why="0 = no limit"),
    "min_chars": _COUNT,
    "near_duplicate_threshold": _SHARE,
    # Release gates: shares of items.
    "min_heldout_pass_rate": _SHARE,
    "min_refusal_pass_rate": _SHARE,
    "min_sft_fit_pass_rate": _SHARE,
    "max_prompt_echo_rate": _SHARE,
    "max_unsupported_claim_rate": _SHARE,
}


def check_value(name: str, value: float) -> str | None:
    """Why `value` is not allowed for field `name`, or None when it is."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"must be a finite number, got {value}"
    bound = BOUNDS.get(name)
    if bound is None:
        return None
    too_low = value <= bound.low if bound.low_open else value < bound.low
    if too_low or value > bound.high:
        return f"must be {bound.describe()}, got {value:g}"
    return None


def checked_type(name: str, kind: type) -> Callable[[str], float]:
    """argparse `type=` for the numeric field `name`: parse, then check finite and range."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'an integer' if kind is int else 'a number'}"
            ) from None
        problem = check_value(name, value)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse
