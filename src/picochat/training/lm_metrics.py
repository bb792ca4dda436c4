"""Language-model losses over fixed windows: mean loss per token and bits per byte.

Not for: training losses (the model's own chunked loss) or generation.

Bits per byte (BPB) compares tokenizers fairly: a loss per token depends on how much
text a token covers, a loss per byte of text does not.

    BPB = sum of token losses (nats) / (ln 2 * UTF-8 bytes of the predicted tokens)

Special tokens (`<|bos|>` ...) have 0 bytes (`tok.token_byte_lengths()`): they are
markup, not text, so they are left out of both sums (nanochat does the same). `<unk>`
stands for text: its loss is counted over 1 byte (its real UTF-8 length, 1-4 bytes, is
lost at encoding), so an unknown character makes BPB look worse, never better.
The mean loss per token (`val_loss`) counts every target, specials included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from picochat.model.chunked_loss import IGNORE_INDEX
from picochat.training import distributed

# Rows of [T, vocab] fp32 logits per forward pass: ~256 MB at most.
_LOGIT_ELEMENTS = 1 << 26


@dataclass
class LossSums:
    """Sums over the scored targets (add them across shards, then divide)."""

    nats: float = 0.0  # loss over every target
    targets: int = 0
    text_nats: float = 0.0  # loss over targets that stand for text (bytes > 0)
    text_bytes: int = 0

    @property
    def mean_loss(self) -> float | None:
        return self.nats / self.targets if self.targets else None

    @property
    def bits_per_byte(self) -> float | None:
        return self.text_nats / (math.log(2) * self.text_bytes) if self.text_bytes else None


@torch.no_grad()
def window_loss_sums(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    byte_lengths: torch.Tensor,
    *,
    device: torch.device,
    dist_info: distributed.DistInfo | None = None,
) -> LossSums:
    """Loss sums of `model` over the windows [rows, T]; rows are split across DDP ranks.

    Targets equal to IGNORE_INDEX (padding of the last window) are not scored.
    """
    info = dist_info or distributed.DistInfo()
    rows = torch.arange(info.rank, inputs.shape[0], info.world_size)
    vocab = byte_lengths.numel()
    step = max(1, _LOGIT_ELEMENTS // (inputs.shape[1] * vocab))
    lengths = byte_lengths.to(device)
    totals = torch.zeros(4, dtype=torch.float64, device=device)
    for start in range(0, len(rows), step):
        chosen = rows[start : start + step]
        x = inputs[chosen].to(device)
        y = targets[chosen].to(device)
        _, losses = model(x, y, loss_reduction="none")
        losses = losses.double()
        valid = y != IGNORE_INDEX
        nbytes = torch.where(valid, lengths[y.clamp(min=0)], 0)
        text = nbytes > 0
        totals += torch.stack(
            [
                losses[valid].sum(),
                valid.sum().double(),
                losses[text].sum(),
                nbytes.sum().double(),
            ]
        )
    totals = distributed.all_reduce_sum(totals, info).tolist()
    return LossSums(totals[0], int(totals[1]), totals[2], int(totals[3]))
