"""Chat rows -> supervised token sequences and padded batches for SFT.

Not for: reading the JSONL (`picochat.data.chat`), the template (`picochat.chat_format`)
or training (`sft.py`).

Each conversation is rendered once by `chat_format.render_training` (ids + a mask over
the final assistant message and its `<|end|>`). A sequence of n ids gives n - 1
(input, target) pairs, so it may hold `context_size + 1` ids; a longer one is cut from
the left by `fit_to_context` (the answer stays whole), and a row whose answer alone does
not fit is skipped with its reason.

Batches: inputs `ids[:-1]`, targets `ids[1:]` where the shifted mask is 1 and -100
(IGNORE_INDEX) elsewhere, right-padded with the tokenizer's pad id (targets -100), so
the loss covers only the final answer and its end token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from picochat.chat_format import fit_to_context, render_training
from picochat.data.chat import ChatExample
from picochat.errors import InputError
from picochat.model.chunked_loss import IGNORE_INDEX
from picochat.training.batches import SeededBatches


@dataclass(frozen=True)
class SFTSequence:
    """One rendered conversation, ready to batch."""

    line: int
    ids: list[int]
    mask: list[int]

    @property
    def supervised_tokens(self) -> int:
        return sum(self.mask)


@dataclass
class RenderedChats:
    """Usable sequences plus what was dropped or shortened, each with line and reason."""

    sequences: list[SFTSequence]
    skipped: list[dict[str, Any]]
    truncated: list[dict[str, Any]]


def render_examples(
    examples: Sequence[ChatExample], tokenizer: Any, context_size: int
) -> RenderedChats:
    """Render every example; cut long ones from the left, skip those that cannot fit."""
    max_ids = context_size + 1
    sequences, skipped, truncated = [], [], []
    for example in examples:
        try:
            ids, mask = render_training(tokenizer, example.messages)
        except InputError as error:
            skipped.append({"line": example.line, "reason": error.message})
            continue
        fitted = fit_to_context(ids, mask, max_ids)
        if fitted is None:
            answer = sum(mask)
            skipped.append(
                {
                    "line": example.line,
                    "reason": f"the answer alone is {answer} tokens (+ <|bos|> and "
                    f"<|assistant|>), more than the model's context of {context_size}",
                }
            )
            continue
        if len(fitted[0]) < len(ids):
            truncated.append(
                {
                    "line": example.line,
                    "reason": f"{len(ids)} tokens > context {context_size} + 1: "
                    f"{len(ids) - len(fitted[0])} earlier-context tokens cut from the left, "
                    "answer kept whole",
                }
            )
        sequences.append(SFTSequence(example.line, *fitted))
    return RenderedChats(sequences, skipped, truncated)


def collate(sequences: Sequence[Any], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) [B, T] right-padded; targets -100 except on the masked answer."""
    width = max(len(s.ids) for s in sequences) - 1
    inputs = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    targets = torch.full((len(sequences), width), IGNORE_INDEX, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids = torch.tensor(seq.ids, dtype=torch.long)
        scored = torch.tensor(seq.mask[1:], dtype=torch.bool)
        n = len(seq.ids) - 1
        inputs[row, :n] = ids[:-1]
        targets[row, :n] = torch.where(scored, ids[1:], IGNORE_INDEX)
    return inputs, targets


class ChatBatches(SeededBatches):
    """Shuffled batches of conversations; batch k depends only on (seed, rank, k).

    The rows form an endless stream of epochs, each a fresh permutation drawn from
    (seed, epoch); under DDP rank r takes global batch k * world_size + r, so ranks never
    see the same slice. The state is k alone: resume is exact.
    """

    def __init__(
        self,
        sequences: Sequence[Any],
        *,
        pad_id: int,
        **batching: Any,
    ) -> None:
        """`batching`: batch_size, seed, rank, world_size, device (see SeededBatches)."""
        if not sequences:
            raise ValueError("no training sequences")
        super().__init__(**batching)
        self.sequences = list(sequences)
        self.pad_id = pad_id
        self._orders: dict[int, np.ndarray] = {}

    def _row(self, stream_index: int) -> Any:
        epoch, offset = divmod(stream_index, len(self.sequences))
        if epoch not in self._orders:
            self._orders = {
                epoch: np.random.default_rng([self.seed, epoch]).permutation(len(self.sequences))
            }
        return self.sequences[int(self._orders[epoch][offset])]

    def next_rows(self) -> list[Any]:
        """This rank's rows of the next global batch."""
        first = (self.position * self.world_size + self.rank) * self.batch_size
        self.position += 1
        return [self._row(first + i) for i in range(self.batch_size)]

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(inputs, targets, supervised target count); the count is taken on the CPU."""
        inputs, targets = collate(self.next_rows(), self.pad_id)
        supervised = int((targets != IGNORE_INDEX).sum())
        return inputs.to(self.device), targets.to(self.device), supervised
