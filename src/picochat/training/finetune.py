"""Starting weights of the fine-tuning stages (SFT, DPO): full or LoRA, fresh or resumed.

Not for: the training itself (`loop.py`) or the adapter arithmetic (`model/lora.py`).
With LoRA the base stays frozen and the adapter's state rides in training_state.pt, so
a resumed LoRA run starts again from the frozen base plus its saved adapter.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from picochat.configs.training import PeftConfig
from picochat.errors import CheckpointError, ConfigError
from picochat.model.checkpoint import load_checkpoint, load_training_state, save_checkpoint
from picochat.model.lora import (
    apply_lora,
    load_lora_state_dict,
    lora_state_dict,
    merge_lora,
    parse_targets,
)
from picochat.tokenizer import load_tokenizer
from picochat.training.loop import CHECKPOINT_DIR


def load_chat_tokenizer(path: Path) -> Any:
    """The tokenizer of a chat stage; one without role tokens cannot render conversations."""
    tokenizer = load_tokenizer(path)
    if not tokenizer.has_chat_tokens:
        raise ConfigError(
            "The tokenizer has no chat role tokens, so it cannot render conversations.",
            file=path,
            fix="Use a tokenizer.json written by `picochat tok train`.",
        )
    return tokenizer


def peft_summary(config: PeftConfig, targets: list[str] | None = None) -> dict[str, Any] | None:
    """The report's `peft` entry: null for full fine-tuning. `targets` overrides the
    parsed Picochat layer names (`train hf-sft` names a Hugging Face model's modules)."""
    if config.peft != "lora":
        return None
    return {
        "type": "lora",
        "rank": config.lora_rank,
        "alpha": config.lora_alpha,
        "targets": list(parse_targets(config.lora_targets)) if targets is None else targets,
    }


def finetune_saver(
    config: Any, tokenizer: Any, *, kind: str, metadata: dict[str, Any]
) -> Callable[[nn.Module, Path, dict[str, Any] | None], None]:
    """The loop's checkpoint writer: later stages get plain merged weights; with LoRA the
    adapter's own state rides in training_state.pt so a resume continues the adapter."""
    lora = config.peft == "lora"

    def save(model: nn.Module, folder: Path, state: dict[str, Any] | None) -> None:
        weights = model
        if lora:
            weights = merge_lora(copy.deepcopy(model))
            if state is not None:
                state = {**state, "lora": lora_state_dict(model)}
        save_checkpoint(
            folder,
            weights,
            tokenizer_sha256=tokenizer.sha256,
            kind=kind,
            metadata=metadata,
            training_state=state,
        )

    return save


def load_finetune_model(
    config: Any, tokenizer: Any, device: torch.device, *, command: str
) -> nn.Module:
    """`config.checkpoint` (or, with --resume, the run's own checkpoint), LoRA-wrapped when asked."""
    resume_dir = Path(config.out_dir) / CHECKPOINT_DIR
    lora = config.peft == "lora"
    start = resume_dir if config.resume and not lora else config.checkpoint
    model = load_checkpoint(start, device=device, tokenizer=tokenizer)
    if lora:
        apply_lora(model, config.lora_targets, config.lora_rank, config.lora_alpha)
        if config.resume:
            state = load_training_state(resume_dir)
            if "lora" not in state:
                raise CheckpointError(
                    "This checkpoint holds no LoRA adapter to resume.",
                    file=resume_dir,
                    fix=f"Resume with the flags of the original run (full {command}: no --peft).",
                )
            load_lora_state_dict(model, state["lora"], resume_dir)
    return model.to(device)
