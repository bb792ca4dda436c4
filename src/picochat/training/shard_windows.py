"""The train/validation split of token shards, read lazily: no token is loaded up front.

Not for: building shards (`data/tokenize_shards.py`) or the in-memory path for small
corpora (`token_data.py`, which keeps today's exact figures).

- `document` split: document `i` (its manifest id) is held out when
  `splitmix64(i * 2**32 + seed) / 2**64 < val_fraction`: a seeded rule over ids alone,
  so it needs no pass over the text and gives the same answer on every rank and run.
  At least one document stays on each side (the lowest-scoring one goes to validation
  if none did). About `val_fraction` of the documents are held out, so about that share
  of the text for documents of similar size.
- `window` split: the last `val_fraction` of the tokens (nanoGPT's split, on tokens).

`SplitTokens` is a logical array over the kept segments (runs of consecutive
documents of one side): `len()`, slices and integer-array indexing, mapped to global
shard positions with `searchsorted`, so `RandomWindows`, `spread_windows` and the
memorisation prompts read shards exactly as they read an in-memory stream. Training
windows cross from one training document into the next, as in the in-memory stream;
they never touch a validation token. Extra in-memory tokens (canary lines) can be
appended to the training side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from picochat.data import token_shards as fmt
from picochat.data.dedup import splitmix64
from picochat.model.chunked_loss import IGNORE_INDEX

_SCALE = float(2**64)


def holdout_mask(doc_ids: np.ndarray, val_fraction: float, seed: int) -> np.ndarray:
    """True for the documents the seeded rule holds out (see the module docstring)."""
    keys = (doc_ids.astype(np.uint64) << np.uint64(32)) + np.uint64(seed & 0xFFFFFFFF)
    scores = splitmix64(keys).astype(np.float64) / _SCALE
    mask = scores < val_fraction
    if len(mask) >= 2 and not mask.any():
        mask[int(np.argmin(scores))] = True
    if len(mask) >= 2 and mask.all():
        mask[int(np.argmax(scores))] = False
    return mask


class SplitTokens:
    """One side of the split as a logical token array over shard segments (+ extra)."""

    def __init__(
        self, shards: fmt.TokenShards, starts: np.ndarray, lengths: np.ndarray,
        extra: np.ndarray | None = None,
    ) -> None:  # fmt: skip
        self.shards = shards
        self.extra = np.zeros(0, dtype=shards.dtype) if extra is None else extra
        keep = lengths > 0
        self.starts, self.lengths = starts[keep].astype(np.int64), lengths[keep].astype(np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])  # logical segment starts
        self.shard_part = int(self.offsets[-1])
        self.dtype = shards.dtype

    def __len__(self) -> int:
        return self.shard_part + len(self.extra)

    def take(self, positions: Any) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size and (positions.min() < 0 or positions.max() >= len(self)):
            raise IndexError(f"token position out of range 0..{len(self) - 1}")
        segment = np.searchsorted(self.offsets, positions, side="right") - 1
        in_shards = positions < self.shard_part
        segment = np.minimum(segment, len(self.starts) - 1)
        out = np.empty(positions.shape, dtype=self.dtype)
        if in_shards.any():
            seg = segment[in_shards]
            out[in_shards] = self.shards.take(
                self.starts[seg] + positions[in_shards] - self.offsets[seg]
            )
        if (~in_shards).any():
            out[~in_shards] = self.extra[positions[~in_shards] - self.shard_part]
        return out

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            return self.take(np.arange(start, stop, step, dtype=np.int64))
        if isinstance(key, (int, np.integer)):
            return self.take(np.asarray(key))
        return self.take(key)


@dataclass
class ShardTokenData:
    """What `TokenData` offers the pretraining stage, over shards (no texts in memory)."""

    train: SplitTokens
    val: SplitTokens
    split_mode: str
    split_reason: str
    train_documents: int
    val_documents: int | None
    unknown_rate: float
    val_doc_mask: np.ndarray  # per row of shards.documents: held out?
    shards: fmt.TokenShards
    warnings: list[str] = field(default_factory=list)
    # The held-out documents by name (at most token_data.MAX_NAMED_DOCUMENTS).
    val_document_names: list[dict[str, Any]] | None = None


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first index, length) of each run of True in `mask`."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return edges[::2], edges[1::2] - edges[::2]


def split_shards(
    shards: fmt.TokenShards,
    mode: str,
    val_fraction: float,
    seed: int,
    extra_train: np.ndarray | None = None,
    contained_in: dict[int, int] | None = None,
) -> tuple[SplitTokens, SplitTokens, np.ndarray]:
    """(train, validation, per-document held-out mask) for `mode` (document | window).

    `contained_in` ({document id: id of the document holding its text}, from the
    manifest): such a document takes its container's side, whatever its own score."""
    docs = shards.documents
    if mode == "window":
        cut = int(len(shards) * (1 - val_fraction))
        train = SplitTokens(shards, np.array([0]), np.array([cut]), extra_train)
        val = SplitTokens(shards, np.array([cut]), np.array([len(shards) - cut]))
        return train, val, np.zeros(len(docs), dtype=bool)
    held = holdout_mask(docs[:, fmt.DOC_ID], val_fraction, seed)
    if contained_in:
        row_of = {int(d): row for row, d in enumerate(docs[:, fmt.DOC_ID])}
        for doc, outer in contained_in.items():
            if doc in row_of and outer in row_of:
                held[row_of[doc]] = held[row_of[outer]]
    sides = []
    for mask in (~held, held):
        first, count = _runs(mask)
        last = first + count - 1
        starts = docs[first, fmt.TOK_START]
        sides.append((starts, docs[last, fmt.TOK_END] - starts))
    train = SplitTokens(shards, *sides[0], extra=extra_train)
    val = SplitTokens(shards, *sides[1])
    return train, val, held


def fixed_window_rows(
    tokens: Any, context_size: int, rows: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows `rows` of `token_data.fixed_windows(tokens, context_size)`, reading only them.

    Row r covers inputs tokens[r*c : r*c+c] and their next tokens; targets past the end
    are IGNORE_INDEX (inputs there 0), exactly as fixed_windows builds every row.
    """
    n_targets = len(tokens) - 1
    starts = np.asarray(rows, dtype=np.int64) * context_size
    positions = starts[:, None] + np.arange(context_size + 1)
    valid = positions < len(tokens)
    chunk = np.zeros(positions.shape, dtype=np.int64)
    chunk[valid] = np.asarray(tokens[positions[valid]], dtype=np.int64)
    inputs = chunk[:, :-1].copy()
    targets = chunk[:, 1:].copy()
    target_pos = positions[:, 1:]
    targets[target_pos > n_targets] = IGNORE_INDEX
    inputs[positions[:, :-1] >= n_targets] = 0
    return torch.from_numpy(inputs), torch.from_numpy(targets)


def fixed_window_count(tokens: Any, context_size: int) -> int:
    """How many rows `fixed_windows` has (at least one)."""
    return max(1, -(-(len(tokens) - 1) // context_size))
