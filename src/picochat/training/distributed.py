"""DDP under `torchrun`: who am I, wrap the model, agree on numbers across processes.

Not for: anything when run as one plain process; then every helper here is a cheap
no-op, so stage code calls them unconditionally.

`torchrun --standalone --nproc_per_node=N -m picochat train base ...` (the `-m`: torchrun
runs a Python file or, with -m, a module; `picochat` alone is neither) sets RANK/WORLD_SIZE/LOCAL_RANK;
`setup()` then joins the process group (gloo on CPU, nccl on GPU). Only rank 0 writes
artifacts (`is_main()`); all ranks take the same decisions because every stop flag and
every validation sum goes through an all-reduce.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    # nccl only moves CUDA tensors; gloo only CPU ones.
    comm_device: str = "cpu"

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun; else a single-process info."""
    if not launched_by_torchrun():
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return DistInfo(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", 0)),
        comm_device=str(device) if device.type == "cuda" else "cpu",
    )


_left_group = False  # this process joined torchrun's group and left it (`teardown`)


def teardown(info: DistInfo) -> None:
    global _left_group
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
        _left_group = True


def exit_after_group(code: int) -> None:
    """After a stage that joined and left torchrun's process group: flush, then leave with
    `os._exit(code)`, skipping interpreter shutdown. That shutdown aborted a gloo rank about
    once in 10-20 CPU runs under load ("terminate called without an active exception", no
    Python frame: a C++ thread still joinable in a static destructor) after the stage had
    finished and written everything, failing the whole torchrun job. A no-op otherwise."""
    if not _left_group:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def wrap_model(model: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """DistributedDataParallel around `model` when distributed, else `model` itself."""
    if not info.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def all_reduce_sum(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum `values` over ranks; returns the sum on the tensor's own device."""
    if not info.enabled:
        return values
    moved = values.to(info.comm_device)
    dist.all_reduce(moved, op=dist.ReduceOp.SUM)
    return moved.to(values.device)


def max_over_ranks(values: list[float], info: DistInfo) -> list[float]:
    """Each value's maximum over ranks (stop flags as 0/1, budget fractions), so every
    rank takes the same decision at the same step."""
    if not info.enabled:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=info.comm_device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor.tolist()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def describe(device: Any, precision: str, info: DistInfo) -> str:
    """How a stage ran, for its report: e.g. "cpu (bf16, 1 process(es))"."""
    return f"{device} ({precision}, {info.world_size} process(es))"
