"""Preference pairs as token batches, and the answer log-probabilities DPO compares.

Not for: the loss (`dpo_loss.py`), the stage wiring (`dpo.py`) or reading the JSONL
file (`picochat.data.preferences`).

Each pair is rendered twice with the one chat template, `context + chosen` and
`context + rejected` (`chat_format.render_training`); the loss mask covers the final
answer and its `<|end|>`. A conversation longer than the model's context loses context
from the left (`fit_to_context`); a pair whose answer alone does not fit is skipped.
A batch of P pairs is ONE [2P, T] tensor, the P chosen rows then the P rejected rows
(TRL's "concatenated forward"), right-padded: padding comes after every scored token,
so causal attention never lets it change a score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from picochat.chat_format import fit_to_context, render_training
from picochat.data.jsonl import SkippedRow
from picochat.data.preferences import PreferencePair
from picochat.errors import InputError
from picochat.model.chunked_loss import IGNORE_INDEX
from picochat.runtime import autocast
from picochat.training.batches import SeededBatches


@dataclass(frozen=True)
class EncodedPair:
    """One pair as ids + loss masks; `index` is its row in the reference log-prob table."""

    index: int
    pair: PreferencePair
    chosen: tuple[list[int], list[int]]
    rejected: tuple[list[int], list[int]]
    truncated: bool


@dataclass
class PairBatch:
    """[2P, T] inputs/targets (chosen rows first), the pairs' reference-table rows and
    the number of real (not padding) input tokens."""

    inputs: torch.Tensor
    targets: torch.Tensor
    indices: torch.Tensor
    tokens: int

    @property
    def pairs(self) -> int:
        return int(self.indices.numel())

    def to(self, device: torch.device) -> PairBatch:
        return PairBatch(self.inputs.to(device), self.targets.to(device), self.indices, self.tokens)


def encode_pairs(
    pairs: list[PreferencePair], tokenizer: Any, context_size: int, *, first_index: int = 0
) -> tuple[list[EncodedPair], list[SkippedRow]]:
    """Render every pair; pairs whose answer cannot fit `context_size` + 1 are skipped.

    The model sees `ids[:-1]` and predicts `ids[1:]`, so a rendered conversation may be
    one token longer than the context. Indices count from `first_index`.
    """
    encoded: list[EncodedPair] = []
    skipped: list[SkippedRow] = []
    for pair in pairs:
        sides = []
        try:
            for answer in (pair.chosen, pair.rejected):
                ids, mask = render_training(
                    tokenizer, [*pair.messages, {"role": "assistant", "content": answer}]
                )
                sides.append((len(ids), fit_to_context(ids, mask, context_size + 1)))
        except InputError as error:
            skipped.append(SkippedRow(pair.line, error.message))
            continue
        if any(fitted is None for _, fitted in sides):
            skipped.append(
                SkippedRow(
                    pair.line,
                    f"an answer is longer than the model's context ({context_size} tokens); "
                    "shorten it or use a model with a larger context",
                )
            )
            continue
        truncated = any(length > context_size + 1 for length, _ in sides)
        encoded.append(
            EncodedPair(first_index + len(encoded), pair, sides[0][1], sides[1][1], truncated)
        )
    return encoded, skipped


def collate(pairs: list[EncodedPair], pad_id: int) -> PairBatch:
    """One [2P, T] batch: chosen rows then rejected rows, right-padded, shifted targets."""
    rows = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    width = max(len(ids) for ids, _ in rows) - 1
    inputs = torch.full((len(rows), width), pad_id, dtype=torch.long)
    targets = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    for row, (ids, mask) in enumerate(rows):
        n = len(ids) - 1
        inputs[row, :n] = torch.tensor(ids[:-1])
        scored = torch.tensor(mask[1:], dtype=torch.bool)
        targets[row, :n] = torch.where(scored, torch.tensor(ids[1:]), IGNORE_INDEX)
    tokens = sum(len(ids) - 1 for ids, _ in rows)
    return PairBatch(inputs, targets, torch.tensor([p.index for p in pairs]), tokens)


def sequence_logps(model: nn.Module, batch: PairBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """(chosen, rejected) sums of answer-token log-probs, [P] each, in ONE forward pass.

    `loss_reduction="none"` is the model's chunked per-token loss: the [2P, T, vocab]
    logits are never held at once. bench/bench_dpo.py: peak memory 1.03x / 0.95x / 1.02x
    that of SFT on the same sequences at vocab 264 / 4096 / 32768 (with full logits it
    was 2.05x at 32768).
    """
    _, token_nll = model(batch.inputs, batch.targets, loss_reduction="none")
    logps = -token_nll.float().sum(dim=-1)  # ignored positions are 0
    return logps[: batch.pairs], logps[batch.pairs :]


@torch.no_grad()
def answer_logps(
    model: nn.Module,
    pairs: list[EncodedPair],
    *,
    pad_id: int,
    batch_size: int,
    device: torch.device,
    precision: str,
) -> torch.Tensor:
    """[len(pairs), 2] (chosen, rejected) log-prob sums, eval mode, same precision as training."""
    was_training = model.training
    model.eval()
    out = torch.zeros(len(pairs), 2, dtype=torch.float32)
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        with autocast(device, precision):
            chosen, rejected = sequence_logps(model, collate(chunk, pad_id).to(device))
        out[start : start + len(chunk)] = torch.stack([chosen, rejected], dim=1).cpu()
    model.train(was_training)
    return out


class PairBatches(SeededBatches):
    """Training batches of pairs: seeded shuffled passes, batch k a function of (seed, rank, k).

    Its state is just k, so resume is exact. Rank r of N takes global batch k * N + r of
    one stream of passes, so N processes at batch B train on one process's pairs at N x B.
    """

    def __init__(self, pairs: list[EncodedPair], *, pad_id: int, **batching: Any) -> None:
        """`batching`: batch_size, seed, rank, world_size, device (see SeededBatches)."""
        if not pairs:
            raise ValueError("no training pairs")
        super().__init__(**batching)
        self.pairs = pairs
        self.pad_id = pad_id
        self._orders: dict[int, np.ndarray] = {}

    def _pass_order(self, number: int) -> np.ndarray:
        if number not in self._orders:
            # The 0 was the rank before ranks sliced one stream: one process keeps its order.
            rng = np.random.default_rng([self.seed, 0, number])
            self._orders = {number: rng.permutation(len(self.pairs))}  # one pass at a time
        return self._orders[number]

    def next_batch(self) -> PairBatch:
        n = len(self.pairs)
        first = (self.position * self.world_size + self.rank) * self.batch_size
        picks = [self._pass_order(i // n)[i % n] for i in range(first, first + self.batch_size)]
        self.position += 1
        return collate([self.pairs[i] for i in picks], self.pad_id).to(self.device)
