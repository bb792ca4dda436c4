"""Optimizers of the training loop: AdamW alone, or Muon for the matrices plus AdamW.

Not for: the learning-rate schedule (`schedule.py`) or the loop (`loop.py`).

`--optimizer muon` (Keller Jordan's Muon, as in the nanoGPT speedrun and nanochat):
the 2-D weight matrices inside the transformer blocks (attn_qkv, attn_proj, mlp_fc,
mlp_proj) are updated with SGD-momentum (Nesterov, 0.95) whose update is
orthogonalised by 5 Newton-Schulz iterations, so every direction of the matrix moves
by about the same amount however skewed the gradient's spectrum. The embedding table,
the output head and the RMSNorm gains stay on AdamW: Muon's argument holds for hidden
matrices, not for lookup tables or per-channel gains (the published recipe does the same).

We use torch's own `torch.optim.Muon` (torch >= 2.9; the loop requires 2.5 otherwise,
so the option says so when it is missing). Its "original" learning-rate adjustment
scales the step by sqrt(max(1, rows / cols)), as the reference implementation does.

Two optimizers behind one object (`CombinedOptimizer`), so the loop keeps calling
`step()`, `zero_grad()`, `state_dict()` and sets one learning rate per step: each
param group carries an `lr_scale` (Muon's peak / AdamW's peak) that
`schedule.set_learning_rate` applies, so both follow the same warmup and decay.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from picochat.errors import ConfigError

# Momentum of Muon's SGD (reference implementation and torch's default).
MUON_MOMENTUM = 0.95
# Modules whose weights Muon updates (the hidden matrices of every block).
MUON_SUFFIXES = ("attn_qkv.weight", "attn_proj.weight", "mlp_fc.weight", "mlp_proj.weight")


def muon_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(Muon's params, the rest) among the trainable parameters of `model`.

    A parameter shared with an embedding (a tied head) is never Muon's; the check is by
    name suffix and dimension, so LoRA's low-rank factors (other names) stay on AdamW.
    """
    embedding_ids = {
        id(module.weight) for module in model.modules() if isinstance(module, nn.Embedding)
    }
    muon, rest = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_matrix = param.ndim == 2 and id(param) not in embedding_ids
        (muon if is_matrix and name.endswith(MUON_SUFFIXES) else rest).append(param)
    return muon, rest


class CombinedOptimizer:
    """Several torch optimizers stepped together; looks like one to the loop."""

    def __init__(self, optimizers: list[torch.optim.Optimizer]) -> None:
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [group for opt in self.optimizers for group in opt.param_groups]

    @property
    def state(self) -> dict[Any, Any]:
        merged: dict[Any, Any] = {}
        for opt in self.optimizers:
            merged.update(opt.state)
        return merged

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {"combined": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        parts = state.get("combined") if isinstance(state, dict) else None
        if not isinstance(parts, list) or len(parts) != len(self.optimizers):
            raise ValueError("the saved optimizer state is not this run's optimizer (muon)")
        for opt, part in zip(self.optimizers, parts, strict=True):
            opt.load_state_dict(part)


def build_muon(
    model: nn.Module,
    *,
    learning_rate: float,
    muon_learning_rate: float,
    weight_decay: float,
    adamw: Any,
) -> CombinedOptimizer:
    """Muon on the block matrices (peak `muon_learning_rate`), `adamw(params)` on the rest.

    `weight_decay` is Muon's decoupled decay (scaled by its learning rate, as AdamW's).
    """
    muon_cls = getattr(torch.optim, "Muon", None)
    if muon_cls is None:
        raise ConfigError(
            f"--optimizer muon needs torch.optim.Muon (torch >= 2.9); this is torch "
            f"{torch.__version__}.",
            fix="Upgrade torch, or use --optimizer adamw.",
        )
    matrices, rest = muon_parameters(model)
    if not matrices:
        raise ConfigError(
            "--optimizer muon found no trainable block matrices to update.",
            fix="Use --optimizer adamw (e.g. for LoRA, whose adapters are not block weights).",
        )
    muon = muon_cls(
        matrices,
        lr=muon_learning_rate,
        weight_decay=weight_decay,
        momentum=MUON_MOMENTUM,
        nesterov=True,
    )
    for group in muon.param_groups:
        group["lr_scale"] = muon_learning_rate / learning_rate
    return CombinedOptimizer([muon, adamw(rest)])
