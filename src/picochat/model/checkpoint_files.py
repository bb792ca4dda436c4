"""Reading the files of a checkpoint folder, each failure a CheckpointError that names
the file: a missing file, a JSON file that does not parse, a safetensors file that is
corrupted or truncated.

Every reader of a checkpoint folder (full, sharded, a LoRA adapter, DPO's reference
log-probs) goes through these, so a broken file reads the same wherever it is met.
Not for: what the files hold (`checkpoint.py`, `sharded.py`, `lora.py`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from picochat.errors import CheckpointError


def require_file(path: Path, message: str, fix: str) -> Path:
    """`path` when the file exists; else a CheckpointError naming its folder, with
    `message` (which file is missing and what that means) and `fix`."""
    if not path.is_file():
        raise CheckpointError(message, file=path.parent, fix=fix)
    return path


def read_checkpoint_json(path: Path) -> Any:
    """A checkpoint folder's JSON file (config.json, the shard index, adapter_config.json)
    parsed; a CheckpointError naming the file when it is not JSON (a corrupted checkpoint)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"{path.name} is not valid JSON ({exc}).",
            file=path,
            fix="The checkpoint is corrupted; use another one or retrain.",
        ) from exc


def read_checkpoint_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A checkpoint's safetensors file (weights, a rank's shard, a LoRA adapter) loaded
    on the CPU; a CheckpointError naming the file when it is corrupted or truncated."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path.name} cannot be read ({exc}).",
            file=path,
            fix="The file is corrupted or truncated; use another checkpoint or retrain.",
        ) from exc
