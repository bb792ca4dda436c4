"""Token streams -> model batches for pretraining: random training windows, and the
fixed windows validation and the train-loss estimate are measured on.

Not here: the streams themselves (`token_data.py`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from picochat.model.chunked_loss import IGNORE_INDEX
from picochat.training.batches import SeededBatches


class RandomWindows(SeededBatches):
    """Training batches of random windows; batch k depends only on (seed, rank, k).

    Its state is just k (the data position), so resume is exact and cheap. Rank r takes
    rows r*B..(r+1)*B of global batch k (world_size x B windows): N processes at batch B
    train on what one process trains on at batch N x B.
    """

    def __init__(self, tokens: np.ndarray, *, context_size: int, **batching: Any) -> None:
        """`batching`: batch_size, seed, rank, world_size, device (see SeededBatches)."""
        super().__init__(**batching)
        self.tokens = tokens
        self.context_size = context_size
        self._offsets = np.arange(context_size + 1)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        # The 0 was the rank before ranks sliced one global batch: one process draws
        # the windows it drew before.
        rng = np.random.default_rng([self.seed, 0, self.position])
        self.position += 1
        high, size = len(self.tokens) - self.context_size, self.world_size * self.batch_size
        first = self.rank * self.batch_size
        starts = rng.integers(0, high, size=size)[first : first + self.batch_size]
        chunk = torch.from_numpy(
            np.asarray(self.tokens[starts[:, None] + self._offsets], dtype=np.int64)
        )
        chunk = chunk.to(self.device, non_blocking=True)
        return chunk[:, :-1], chunk[:, 1:]


def fixed_windows(tokens: np.ndarray, context_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping windows covering the stream: every token after the first is a
    target exactly once. Targets past the end are IGNORE_INDEX; inputs there are 0."""
    n_targets = len(tokens) - 1
    count = max(1, -(-n_targets // context_size))
    inputs = np.zeros((count, context_size), dtype=np.int64)
    targets = np.full((count, context_size), IGNORE_INDEX, dtype=np.int64)
    flat = np.asarray(tokens, dtype=np.int64)
    for row in range(count):
        start = row * context_size
        length = min(context_size, n_targets - start)
        inputs[row, :length] = flat[start : start + length]
        targets[row, :length] = flat[start + 1 : start + 1 + length]
    return torch.from_numpy(inputs), torch.from_numpy(targets)


def spread_rows(count: int, wanted: int) -> np.ndarray:
    """`wanted` row indices spread evenly over `count` rows (all of them if wanted <= 0)."""
    if wanted <= 0 or wanted >= count:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, wanted).round().astype(np.int64))


def spread_windows(
    tokens: np.ndarray, context_size: int, count: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` full windows at evenly spaced starts (the train-loss estimate: every
    position has its full left context, as in training)."""
    starts = np.unique(
        np.linspace(0, len(tokens) - context_size - 1, max(1, count)).astype(np.int64)
    )
    chunk = np.asarray(tokens[starts[:, None] + np.arange(context_size + 1)], dtype=np.int64)
    chunk = torch.from_numpy(chunk)
    return chunk[:, :-1], chunk[:, 1:]
