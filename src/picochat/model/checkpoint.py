"""Checkpoint folders: save and load a model safely, check it belongs to its tokenizer.

    checkpoint/
      model.safetensors   weights only (no pickle: loading cannot run code)
      config.json         model hyper-parameters, tokenizer sha256, Picochat version,
                          kind ("base", "sft", "dpo"), free-form metadata
      training_state.pt   optional, for --resume: optimizer state, step, RNG states, data
                          position; plain tensors/dicts loaded with weights_only=True

An FSDP run writes the sharded variant (one safetensors file per rank + an index,
`sharded.py`); `load_checkpoint` consolidates it, so every reader takes either.

A folder is written whole through `atomic_dir`: it is complete or absent. Not here:
what goes into training_state (the training loop decides), LoRA adapters, HF export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import save_file

from picochat.artifacts import atomic_dir, atomic_write_json, recover_dir, sha256_file
from picochat.errors import CheckpointError, PicochatError
from picochat.model import sharded
from picochat.model.checkpoint_files import (
    read_checkpoint_json,
    read_checkpoint_tensors,
    require_file,
    unusable_file,
)
from picochat.model.config import ModelConfig
from picochat.model.size_check import check_fits
from picochat.model.transformer import Transformer
from picochat.version import __version__

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
TRAINING_STATE_FILE = "training_state.pt"
FORMAT = "picochat-checkpoint"
FORMAT_VERSION = 1
# With tied embeddings lm_head.weight IS wte.weight: safetensors refuses shared tensors,
# so the head is not stored and is re-tied on load.
TIED_KEY = "lm_head.weight"


def unwrap_model(model: torch.nn.Module) -> Transformer:
    """The Transformer inside torch.compile (`_orig_mod`) and DDP (`module`) wrappers."""
    for attr in ("_orig_mod", "module", "_orig_mod"):
        inner = getattr(model, attr, None)
        if isinstance(inner, torch.nn.Module):
            model = inner
    return model  # type: ignore[return-value]


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    *,
    tokenizer_sha256: str | None,
    kind: str = "base",
    metadata: dict[str, Any] | None = None,
    training_state: dict[str, Any] | None = None,
) -> Path:
    """Write the checkpoint folder `path` atomically (replacing an older one whole)."""
    model = unwrap_model(model)
    state = {
        name: tensor
        for name, tensor in model.state_dict().items()
        if not (model.config.tie_embeddings and name == TIED_KEY)
    }
    info = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "model": model.config.to_dict(),
        "num_parameters": model.num_parameters(),
        "tokenizer_sha256": tokenizer_sha256,
        "picochat_version": __version__,
        "metadata": metadata or {},
    }
    path = Path(path)
    if sharded.is_sharded(model):  # FSDP: every rank writes its slice (a collective)
        sharded.save_sharded(path, state, info, training_state)
        return path
    state = {name: t.detach().to("cpu", torch.float32).contiguous() for name, t in state.items()}
    try:
        with atomic_dir(path) as tmp:
            save_file(state, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT})
            atomic_write_json(tmp / CONFIG_FILE, info)
            if training_state is not None:
                torch.save(training_state, tmp / TRAINING_STATE_FILE)
    except (SafetensorError, RuntimeError) as exc:  # a full disk surfaces as these, not OSError
        raise CheckpointError(
            f"Writing the checkpoint failed ({exc}); the previous checkpoint, if any, is intact.",
            file=path,
            fix="Free disk space (or check the folder's permissions), then rerun with --resume "
            "to continue from the last complete checkpoint.",
        ) from exc
    return path


def read_checkpoint_info(path: str | Path) -> dict[str, Any]:
    """The parsed config.json of a checkpoint folder, or a CheckpointError saying why not."""
    folder = Path(path)
    recover_dir(folder)  # a crash between the two renames of a save leaves .old/.tmp
    if not folder.is_dir():
        raise CheckpointError(
            "Checkpoint folder not found.",
            file=folder,
            fix="Pass the folder written by training (it holds model.safetensors and config.json).",
        )
    config_path = require_file(
        folder / CONFIG_FILE,
        f"{CONFIG_FILE} is missing: this is not a complete Picochat checkpoint.",
        fix="Point at a checkpoint folder written by `picochat train ...`.",
    )
    info = read_checkpoint_json(config_path)
    if not isinstance(info, dict) or info.get("format") != FORMAT or "model" not in info:
        raise CheckpointError(
            f"{CONFIG_FILE} is not a Picochat checkpoint config (no format/model keys).",
            file=config_path,
            fix="For a Hugging Face model folder use --hf-model instead of --checkpoint.",
        )
    return info


def _tokenizer_sha(tokenizer: Any) -> str:
    if isinstance(tokenizer, (str, Path)):
        return sha256_file(tokenizer)
    return tokenizer.sha256


def _check_tokenizer(info: dict[str, Any], folder: Path, tokenizer: Any) -> None:
    recorded, given = info.get("tokenizer_sha256"), _tokenizer_sha(tokenizer)
    if recorded and recorded != given:
        raise CheckpointError(
            f"Checkpoint {folder} was trained with tokenizer sha256 {recorded[:12]}..., "
            f"you gave one with sha256 {given[:12]}...",
            file=folder,
            fix="Pass the tokenizer.json from the same run as the checkpoint.",
        )
    model_vocab = (info.get("model") or {}).get("vocab_size")
    tok_vocab = getattr(tokenizer, "vocab_size", None)
    if tok_vocab is not None and model_vocab != tok_vocab:  # even with no recorded hash
        raise CheckpointError(
            f"Checkpoint {folder} has a vocabulary of {model_vocab} tokens, the tokenizer "
            f"{tok_vocab}: they were not trained together.",
            file=folder / CONFIG_FILE,
            fix="Pass the tokenizer.json from the same run as the checkpoint.",
        )


def _check_state(model: Transformer, state: dict[str, torch.Tensor], weights_path: Path) -> None:
    """The stored tensors are exactly the model's (names and shapes; a tied head is not stored)."""
    expected = {k: v.shape for k, v in model.state_dict().items()}
    if model.config.tie_embeddings:
        expected.pop(TIED_KEY)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k])]
    if not (missing or unexpected or wrong):
        return
    details = []
    if missing:
        details.append(f"missing {', '.join(missing[:5])}")
    if unexpected:
        details.append(f"unexpected {', '.join(unexpected[:5])}")
    for k in wrong[:5]:
        details.append(f"{k} is {tuple(state[k].shape)}, config says {tuple(expected[k])}")
    raise CheckpointError(
        f"{WEIGHTS_FILE} does not match {CONFIG_FILE}: {'; '.join(details)}.",
        file=weights_path,
        fix="The two files come from different models; use a complete checkpoint folder.",
    )


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu", tokenizer: Any = None
) -> Transformer:
    """Load a checkpoint folder -> Transformer in eval mode, with `.config` and
    `.checkpoint_meta` (the config.json). `tokenizer` (object with `.sha256`, or the
    path of a tokenizer.json) is checked against the hash recorded at training time.
    """
    folder = Path(path)
    info = read_checkpoint_info(folder)
    if tokenizer is not None:
        _check_tokenizer(info, folder, tokenizer)
    try:
        config = ModelConfig.from_dict(info["model"])
    except (PicochatError, TypeError) as exc:
        raise CheckpointError(
            f"{CONFIG_FILE} has an invalid model config: {exc}",
            file=folder / CONFIG_FILE,
            fix="The checkpoint is corrupted or from another Picochat version.",
        ) from exc
    # Weights are read and built on the CPU first: refuse a shape that cannot fit there.
    check_fits(config, device="cpu", file=folder / CONFIG_FILE)
    weights_path = folder / WEIGHTS_FILE
    index = sharded.read_index(folder)
    if index:  # a sharded (FSDP) folder is consolidated: every reader gets the whole model
        state = sharded.consolidate(folder, index)
    else:
        require_file(
            weights_path,
            f"{WEIGHTS_FILE} is missing.",
            fix="The checkpoint is incomplete; retrain.",
        )
        state = read_checkpoint_tensors(weights_path)

    model = Transformer(config)
    _check_state(model, state, weights_path)
    model.load_state_dict(state, strict=False)  # strict=False only for the tied head
    model.to(device)
    model.eval()
    model.checkpoint_meta = info
    return model


def training_state_file(path: str | Path, rank: int = 0, world_size: int = 1) -> Path:
    """The training_state.pt of a checkpoint folder; of a sharded folder, this rank's own file."""
    folder = Path(path)
    return sharded.training_state_path(folder, rank, world_size) or folder / TRAINING_STATE_FILE


def load_training_state(path: str | Path, rank: int = 0, world_size: int = 1) -> dict[str, Any]:
    """The `training_state_file` of a checkpoint folder loaded (weights_only: no code can run)."""
    state_path = require_file(
        training_state_file(path, rank, world_size),
        f"{TRAINING_STATE_FILE} is missing, so training cannot resume from here.",
        fix="Resume from the `checkpoint/` folder of the run (best_checkpoint has no "
        "optimizer state), or start without --resume.",
    )
    with unusable_file(
        state_path,
        (Exception,),  # torch raises many types for a bad file; all mean "unusable"
        "cannot be loaded",
        fix="The file is corrupted or holds objects other than tensors/dicts; retrain "
        "or start without --resume.",
        typed=True,
    ):
        return torch.load(state_path, map_location="cpu", weights_only=True)
