"""What every training batch source shares: its whole state is its position k.

Batch k is a function of (seed, rank, k) alone, so `--resume` restores a source exactly
from one integer. `RandomWindows` (pretraining), `ChatBatches` (SFT) and `PairBatches`
(DPO) give rank r of `world_size` its own slice of one global batch k, so N processes at
batch B see what one process sees at batch N x B.
Each subclass defines `next_batch`.
"""

from __future__ import annotations

from typing import Any

import torch


class SeededBatches:
    """The position, seed, rank (of world_size) and device of a batch source, and its
    resume state."""

    def __init__(
        self,
        *,
        batch_size: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | None = None,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not one of {world_size} processes")
        self.batch_size = batch_size
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self.device = device or torch.device("cpu")
        self.position = 0  # batches drawn so far: the whole state

    def state_dict(self) -> dict[str, Any]:
        return {"position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.position = int(state["position"])
