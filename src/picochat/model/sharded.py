"""Sharded checkpoint folders (FSDP): each process writes its own slice, any reader
gets the whole model back.

    checkpoint/
      config.json                          as in every checkpoint, plus "sharded": true
      model.index.json                     world size and each tensor's rows per rank
      model-00000-of-00002.safetensors     rank 0's rows of every sharded tensor
      model-00001-of-00002.safetensors     rank 1's rows
      training_state-00000.pt ...          per rank, for --resume: optimizer slices,
                                           RNG, data position (tensors only)

FSDP (`fully_shard`) splits every parameter along its first dimension in rank order
(torch.chunk), so the whole tensor is the ranks' rows concatenated: that is all
`consolidate` does. No pickle anywhere (safetensors + JSON; training state loaded
with weights_only=True), and `load_checkpoint` consolidates on load, so `export hf`,
SFT, eval and chat read a sharded folder like any other. Resuming needs the same
number of processes (each reloads its own optimizer slice); the weights alone load
anywhere.

Not for: the unsharded format (`checkpoint.py`), or when and how FSDP wraps the model
(`picochat.training.parallel`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors.torch import save_file

from picochat.artifacts import atomic_dir, atomic_write_json
from picochat.errors import CheckpointError
from picochat.model.checkpoint_files import (
    read_checkpoint_json,
    read_checkpoint_tensors,
    require_file,
)

INDEX_FILE = "model.index.json"
INDEX_FORMAT = "picochat-sharded"


def shard_file(rank: int, world: int) -> str:
    return f"model-{rank:05d}-of-{world:05d}.safetensors"


def state_file(rank: int) -> str:
    return f"training_state-{rank:05d}.pt"


def is_sharded(model: torch.nn.Module) -> bool:
    """Whether `model`'s parameters are FSDP DTensor slices."""
    from torch.distributed.tensor import DTensor

    return any(isinstance(p, DTensor) for p in model.parameters())


def to_local(tree: Any) -> Any:
    """`tree` with every DTensor replaced by this rank's local slice (for torch.save)."""
    from torch.distributed.tensor import DTensor

    if isinstance(tree, DTensor):
        return tree.to_local()
    if isinstance(tree, dict):
        return {key: to_local(value) for key, value in tree.items()}
    if isinstance(tree, list):
        return [to_local(value) for value in tree]
    return tree


def save_sharded(
    path: Path,
    state: dict[str, torch.Tensor],
    info: dict[str, Any],
    training_state: dict[str, Any] | None,
) -> None:
    """Collective: every rank calls it with its model state dict (DTensors); rank 0
    builds the folder atomically, each rank writes its slice into it."""
    rank, world = dist.get_rank(), dist.get_world_size()
    local = {
        name: to_local(tensor).detach().to("cpu", torch.float32).contiguous()
        for name, tensor in state.items()
    }
    rows = {name: int(tensor.shape[0]) for name, tensor in local.items()}
    shapes = {name: list(tensor.shape) for name, tensor in state.items()}
    all_rows: list[Any] = [None] * world
    dist.all_gather_object(all_rows, rows)
    tmp = path.with_name(path.name + ".tmp")  # atomic_dir's scratch name

    def write_own() -> None:
        save_file(local, str(tmp / shard_file(rank, world)))
        if training_state is not None:
            torch.save(to_local(training_state), tmp / state_file(rank))

    if rank == 0:
        with atomic_dir(path) as folder:
            dist.barrier()  # the scratch folder exists
            write_own()
            dist.barrier()  # every rank has written
            index = {
                "format": INDEX_FORMAT,
                "world_size": world,
                "files": [shard_file(r, world) for r in range(world)],
                "tensors": {
                    name: {"shape": shapes[name], "rows": [all_rows[r][name] for r in range(world)]}
                    for name in local
                },
            }
            atomic_write_json(folder / INDEX_FILE, index)
            atomic_write_json(folder / "config.json", {**info, "sharded": True})
    else:
        dist.barrier()
        write_own()
        dist.barrier()
    dist.barrier()  # the folder is in place before anyone reads it


def read_index(folder: Path) -> dict[str, Any] | None:
    """The folder's shard index, or None for an unsharded checkpoint."""
    index_path = folder / INDEX_FILE
    if not index_path.is_file():
        return None
    index = read_checkpoint_json(index_path)
    if not isinstance(index, dict) or index.get("format") != INDEX_FORMAT:
        raise CheckpointError(
            f"{INDEX_FILE} is not a Picochat shard index.", file=index_path, fix="Retrain."
        )
    return index


def consolidate(folder: Path, index: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The whole state dict from every rank's file (rows concatenated in rank order)."""
    parts = []
    for name in index["files"]:
        shard = require_file(
            folder / name,
            f"{name} is missing: a sharded checkpoint needs every rank's file.",
            fix="Copy the whole checkpoint folder, or retrain.",
        )
        parts.append(read_checkpoint_tensors(shard))
    state = {}
    for name, entry in index["tensors"].items():
        pieces = [part[name] for part in parts]
        tensor = torch.cat(pieces, dim=0) if pieces[0].dim() else pieces[0]
        if list(tensor.shape) != entry["shape"]:
            raise CheckpointError(
                f"{name}: the shards add up to {list(tensor.shape)}, the index says "
                f"{entry['shape']}.",
                file=folder / INDEX_FILE,
                fix="The checkpoint is corrupted; retrain.",
            )
        state[name] = tensor
    return state


def training_state_path(folder: Path, rank: int, world: int) -> Path | None:
    """This rank's training state file of a sharded folder (None when unsharded);
    a different number of processes is a clear error."""
    index = read_index(folder)
    if index is None:
        return None
    if index["world_size"] != world:
        raise CheckpointError(
            f"This sharded checkpoint was written by {index['world_size']} processes; this "
            f"run has {world}, so the optimizer slices do not match.",
            file=folder,
            fix=f"Resume with torchrun --nproc_per_node={index['world_size']}, or start a new "
            "run from its weights (--checkpoint works with any number of processes).",
        )
    return folder / state_file(rank)


def shard_optimizer_state(optimizer: Any, state: dict[str, Any]) -> dict[str, Any]:
    """A saved optimizer state (local slices) made whole for `optimizer` again: each
    slice becomes a DTensor laid out like its parameter. Unsharded states pass through."""
    from torch.distributed.tensor import DTensor

    params = [p for group in optimizer.param_groups for p in group["params"]]
    if not any(isinstance(p, DTensor) for p in params):
        return state
    rebuilt = {}
    for key, values in state["state"].items():
        param = params[int(key)]
        rebuilt[key] = {
            name: DTensor.from_local(
                value.to(param.device),
                param.device_mesh,
                param.placements,
                shape=param.shape,
                stride=param.stride(),
            )  # fmt: skip
            if torch.is_tensor(value) and value.dim() > 0
            else value
            for name, value in values.items()
        }
    return {**state, "state": rebuilt}
