"""Reading the files of a checkpoint folder, each failure a CheckpointError that names
the file: a missing file, a JSON file that does not parse, a safetensors file that is
corrupted or truncated.

Every reader of a checkpoint folder (full, sharded, a LoRA adapter, DPO's reference
log-probs, the training state) goes through these, so a broken file reads the same
wherever it is met: `unusable_file` words every such failure as "<file> <problem>
(<cause>).".
Not for: what the files hold (`checkpoint.py`, `sharded.py`, `lora.py`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
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


@contextlib.contextmanager
def unusable_file(
    path: Path,
    errors: tuple[type[Exception], ...],
    problem: str,
    fix: str,
    *,
    typed: bool = False,
) -> Iterator[None]:
    """Any of `errors` raised inside becomes a CheckpointError naming the file: "<its
    name> `problem` (<the cause>)."; `typed` puts the cause's type before it (where the
    errors are many kinds, or a bare KeyError would print only the key)."""
    try:
        yield
    except errors as exc:
        cause = f"{type(exc).__name__}: {exc}" if typed else str(exc)
        raise CheckpointError(f"{path.name} {problem} ({cause}).", file=path, fix=fix) from exc


def read_checkpoint_json(path: Path) -> Any:
    """A checkpoint folder's JSON file (config.json, the shard index, adapter_config.json)
    parsed; a CheckpointError naming the file when it is not JSON (a corrupted checkpoint)."""
    with unusable_file(
        path,
        (json.JSONDecodeError, UnicodeDecodeError),
        "is not valid JSON",
        fix="The checkpoint is corrupted; use another one or retrain.",
    ):
        return json.loads(path.read_text(encoding="utf-8"))


def read_checkpoint_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A checkpoint's safetensors file (weights, a rank's shard, a LoRA adapter) loaded
    on the CPU; a CheckpointError naming the file when it is corrupted or truncated."""
    with unusable_file(
        path,
        (SafetensorError, OSError, ValueError, RuntimeError),
        "cannot be read",
        fix="The file is corrupted or truncated; use another checkpoint or retrain.",
    ):
        return load_file(str(path))
