"""LoRA: low-rank adapters on a Picochat transformer's linear layers.

    y = W x + (alpha / r) * B (A x)        W frozen; A [r, in], B [out, r] trained

A starts as PEFT does (Kaiming-uniform, a = sqrt(5)) and B at zeros, so a fresh adapter
changes nothing until training moves B. Targets are the block layers by name:
`attn_qkv`, `attn_proj`, `mlp_fc`, `mlp_proj`, or `all` of them.

    apply_lora(model, "attn_qkv,attn_proj", rank=8, alpha=16)   # freezes every base weight
    ... train ...
    save_adapter(model, folder, base_checkpoint=...)  # adapter_model.safetensors + adapter_config.json
    merge_lora(model)                                 # plain nn.Linear with W + (alpha/r) B A

The adapter files follow PEFT's layout (tensor names
`base_model.model.<module>.lora_A.weight`, config fields `peft_type`, `r`, `lora_alpha`,
`target_modules`, ...), plus the base checkpoint's path and the sha256 of its weights, so
`load_adapter` puts the adapter back on the base it was trained from.

Not here: training (`picochat.training.sft`), full checkpoints (`checkpoint.py`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as safetensors_bytes
from torch import nn

from picochat.artifacts import atomic_write_bytes, atomic_write_json, sha256_file
from picochat.configs.training import LORA_TARGETS
from picochat.errors import CheckpointError, ConfigError
from picochat.model.checkpoint import WEIGHTS_FILE, unwrap_model
from picochat.model.checkpoint_files import (
    read_checkpoint_json,
    read_checkpoint_tensors,
    require_file,
)

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"
_PEFT_PREFIX = "base_model.model."


class LoRALinear(nn.Module):
    """A frozen `nn.Linear` plus a trainable low-rank update scaled by alpha / rank."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        self.rank, self.alpha, self.scale = rank, alpha, alpha / rank
        weight = base.weight
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, device=weight.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, device=weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # PEFT's default init
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = self.dropout(x) @ self.lora_A.T.to(x.dtype) @ self.lora_B.T.to(x.dtype)
        return self.base(x) + update * self.scale

    def delta_weight(self) -> torch.Tensor:
        """scale * B @ A, the update merged into the base weight (fp32)."""
        return self.scale * (self.lora_B.detach().float() @ self.lora_A.detach().float())

    def merged(self) -> nn.Linear:
        """A plain Linear (the base layer's class) holding W + scale * B @ A."""
        layer = type(self.base)(self.base.in_features, self.base.out_features, bias=False)
        layer = layer.to(self.base.weight.device)
        with torch.no_grad():
            weight = self.base.weight.float() + self.delta_weight()
            layer.weight.copy_(weight.to(self.base.weight.dtype))
        return layer


def parse_targets(targets: str | Iterable[str]) -> tuple[str, ...]:
    """ "attn_qkv,attn_proj" / ["mlp_fc"] / "all" -> target names; ConfigError if unknown."""
    names = targets.split(",") if isinstance(targets, str) else list(targets)
    names = [n.strip() for n in names if n.strip()]
    if "all" in names:
        return LORA_TARGETS
    unknown = [n for n in names if n not in LORA_TARGETS]
    if unknown or not names:
        raise ConfigError(
            f"Unknown LoRA target(s): {', '.join(unknown) or '(none given)'}.",
            fix=f"Use a comma-separated list of: {', '.join(LORA_TARGETS)}, or all.",
        )
    return tuple(n for n in LORA_TARGETS if n in names)  # canonical order, no repeats


def _target_layers(model: nn.Module, targets: tuple[str, ...]) -> list[tuple[str, nn.Module]]:
    """(dotted name, parent module) for every linear whose last name is a target."""
    found = []
    for name, module in model.named_modules():
        if isinstance(module, LoRALinear):
            continue
        leaf = name.rsplit(".", 1)[-1]
        if leaf in targets and isinstance(module, nn.Linear):
            parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
            found.append((name, parent))
    return found


def apply_lora(
    model: nn.Module,
    targets: str | Iterable[str],
    rank: int,
    alpha: float,
    dropout: float = 0.0,
) -> nn.Module:
    """Freeze every weight of `model` and wrap the target linears in `LoRALinear` (in place).

    The adapter's init uses torch's global RNG: seed first for a reproducible run.
    """
    if rank < 1:
        raise ConfigError(f"LoRA rank must be >= 1, got {rank}.", fix="Try --lora-rank 8.")
    if alpha <= 0:
        raise ConfigError(f"LoRA alpha must be > 0, got {alpha}.", fix="Try --lora-alpha 16.")
    names = parse_targets(targets)
    model = unwrap_model(model)
    for param in model.parameters():
        param.requires_grad_(False)
    layers = _target_layers(model, names)
    if not layers:
        raise ConfigError(f"The model has no layers named {', '.join(names)}.")
    for name, parent in layers:
        leaf = name.rsplit(".", 1)[-1]
        setattr(parent, leaf, LoRALinear(getattr(parent, leaf), rank, alpha, dropout))
    model.lora_config = {"rank": rank, "alpha": alpha, "targets": names, "dropout": dropout}
    return model


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """Dotted module name -> LoRALinear, in model order."""
    return {n: m for n, m in unwrap_model(model).named_modules() if isinstance(m, LoRALinear)}


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter tensors under PEFT names (`base_model.model.<module>.lora_A.weight`)."""
    state = {}
    for name, layer in lora_layers(model).items():
        state[f"{_PEFT_PREFIX}{name}.lora_A.weight"] = layer.lora_A.detach().cpu().contiguous()
        state[f"{_PEFT_PREFIX}{name}.lora_B.weight"] = layer.lora_B.detach().cpu().contiguous()
    return state


def load_lora_state_dict(model: nn.Module, state: dict[str, torch.Tensor], source: Path) -> None:
    """Copy adapter tensors into `model`'s LoRA layers; CheckpointError on any mismatch."""
    layers = lora_layers(model)
    expected = {}
    for name, layer in layers.items():
        expected[f"{_PEFT_PREFIX}{name}.lora_A.weight"] = layer.lora_A
        expected[f"{_PEFT_PREFIX}{name}.lora_B.weight"] = layer.lora_B
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"The adapter does not fit this model (missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}, wrong shape {wrong[:3]}).",
            file=source,
            fix="Load the adapter onto the base checkpoint it was trained from.",
        )
    with torch.no_grad():
        for key, param in expected.items():
            param.copy_(state[key].to(param.device, param.dtype))


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every LoRALinear by a plain Linear with W + (alpha/r) B A (in place)."""
    model = unwrap_model(model)
    for name, layer in lora_layers(model).items():
        parent_name, leaf = name.rsplit(".", 1) if "." in name else ("", name)
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, leaf, layer.merged())
    for param in model.parameters():
        param.requires_grad_(True)
    model.__dict__.pop("lora_config", None)
    return model


def adapter_config(model: nn.Module, base_checkpoint: str | Path | None) -> dict[str, Any]:
    """PEFT-style adapter_config.json fields (+ the base checkpoint's path and sha256)."""
    settings = unwrap_model(model).lora_config
    base_sha = None
    if base_checkpoint is not None and (Path(base_checkpoint) / WEIGHTS_FILE).is_file():
        base_sha = sha256_file(Path(base_checkpoint) / WEIGHTS_FILE)
    return {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": settings["rank"],
        "lora_alpha": settings["alpha"],
        "lora_dropout": settings["dropout"],
        "target_modules": list(settings["targets"]),
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "base_model_name_or_path": None if base_checkpoint is None else str(base_checkpoint),
        "base_checkpoint_sha256": base_sha,
        "library": "picochat",
    }


def save_adapter(
    model: nn.Module, folder: str | Path, *, base_checkpoint: str | Path | None = None
) -> tuple[Path, Path]:
    """Write adapter_model.safetensors + adapter_config.json into `folder` (atomically)."""
    folder = Path(folder)
    config = adapter_config(model, base_checkpoint)
    weights = safetensors_bytes(lora_state_dict(model), metadata={"format": "pt"})
    return (
        atomic_write_bytes(folder / ADAPTER_WEIGHTS, weights),
        atomic_write_json(folder / ADAPTER_CONFIG, config),
    )


def read_adapter_config(folder: str | Path) -> dict[str, Any]:
    path = require_file(
        Path(folder) / ADAPTER_CONFIG,
        f"{ADAPTER_CONFIG} is missing.",
        fix="Pass the folder written by `picochat train sft --peft lora`.",
    )
    config = read_checkpoint_json(path)
    if not isinstance(config, dict) or config.get("peft_type") != "LORA":
        raise CheckpointError(f"{ADAPTER_CONFIG} is not a LoRA adapter config.", file=path)
    return config


def load_adapter(
    model: nn.Module, folder: str | Path, *, base_checkpoint: str | Path | None = None
) -> nn.Module:
    """Put the adapter saved in `folder` onto `model` (its base, loaded already).

    With `base_checkpoint`, its weights' sha256 must match the one the adapter recorded.
    """
    folder = Path(folder)
    config = read_adapter_config(folder)
    recorded = config.get("base_checkpoint_sha256")
    if base_checkpoint is not None and recorded:
        given = sha256_file(Path(base_checkpoint) / WEIGHTS_FILE)
        if given != recorded:
            raise CheckpointError(
                f"This adapter was trained on a base with weights sha256 {recorded[:12]}..., "
                f"{base_checkpoint} has {given[:12]}....",
                file=folder / ADAPTER_CONFIG,
                fix=f"Load it onto {config.get('base_model_name_or_path')}.",
            )
    state = read_checkpoint_tensors(folder / ADAPTER_WEIGHTS)
    apply_lora(
        model,
        config["target_modules"],
        int(config["r"]),
        float(config["lora_alpha"]),
        float(config.get("lora_dropout", 0.0)),
    )
    load_lora_state_dict(model, state, folder / ADAPTER_WEIGHTS)
    return model
