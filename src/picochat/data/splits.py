"""Grouped train/validation splits for row files (chat SFT rows, preference pairs).

Rows are split by *group*, never one by one, so two near-identical prompts ("What is
LoRA?" and "what is lora") always land on the same side: otherwise validation loss
would measure recall of a training row, not generalisation. The default group key is
the normalised prompt (`normalize_prompt`): Unicode NFKC, lowercase, punctuation
dropped, whitespace collapsed.

How the split is drawn: the distinct group keys are sorted, shuffled with
`random.Random(seed)` and the first `round(val_fraction * groups)` of them (at least 1
when there are >= 2 groups and val_fraction > 0; never all of them) go to validation.
Same rows + same seed = same split on every machine. Rows keep their file order
within each side. `val_fraction` counts groups, so with uneven groups the share of
*rows* held out is approximate.

Not here: reading the files (`chat`, `preferences`) or token-level splits of a corpus.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

_NOT_WORD = re.compile(r"[\W_]+")


def normalize_prompt(text: str) -> str:
    """Lowercase, punctuation-free, single-spaced form of `text` (the default group key)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _NOT_WORD.sub(" ", text).strip()


def grouped_split(
    items: Sequence[T],
    key: Callable[[T], str],
    *,
    val_fraction: float,
    seed: int,
) -> tuple[list[T], list[T]]:
    """(train, validation) with every group of `key` wholly on one side (see module doc)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    groups = sorted({key(item) for item in items})
    n_val = 0
    if len(groups) >= 2 and val_fraction > 0:
        n_val = min(len(groups) - 1, max(1, round(val_fraction * len(groups))))
    random.Random(seed).shuffle(groups)
    val_groups = set(groups[:n_val])
    train = [item for item in items if key(item) not in val_groups]
    val = [item for item in items if key(item) in val_groups]
    return train, val
