"""The model's hyper-parameters (`ModelConfig`), the named size presets, and the
resolver from CLI flags (`picochat.configs.ModelShapeConfig`) to a validated config.

Not the model itself (`transformer.py`) and not training settings (`picochat.configs`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from picochat.configs.training import MLP_KINDS
from picochat.errors import ConfigError
from picochat.model.depth import MAX_DEPTH, MIN_DEPTH, depth_shape

# SwiGLU hidden width: 8/3 * n_embd keeps the MLP at the parameter count of a 4x GELU
# MLP (3 matrices instead of 2); rounded up to a multiple of 64 for matmul-friendly shapes.
MLP_MULTIPLE = 64


def swiglu_hidden(n_embd: int, multiple: int = MLP_MULTIPLE) -> int:
    """~8/3 * n_embd rounded up to a multiple of `multiple`."""
    hidden = int(8 * n_embd / 3)
    return multiple * ((hidden + multiple - 1) // multiple)


@dataclass
class ModelConfig:
    """Shape of a decoder-only transformer (the Llama layout: RMSNorm, RoPE, SwiGLU)."""

    vocab_size: int
    n_layer: int = 4
    n_head: int = 4
    n_kv_head: int = 4  # < n_head: grouped-query attention (n_head / n_kv_head queries per key)
    n_embd: int = 128
    context_size: int = 256
    tie_embeddings: bool = True
    mlp_hidden: int = 0  # 0: swiglu_hidden(n_embd)
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    init_std: float = 0.02
    # RMSNorm on each head's queries and keys before rotary embeddings (OLMo 2, Qwen3,
    # the speedrun GPTs): bounded attention logits, so a higher learning rate stays
    # stable. Not in Llama, so `export hf` refuses such a checkpoint.
    qk_norm: bool = False
    # "relu2": relu(x)^2 MLP (two matrices, hidden 4 * n_embd), as the speedrun GPTs and
    # nanochat; "swiglu" is Llama's. Not in Llama, so `export hf` refuses relu2.
    mlp: str = "swiglu"
    # Logit soft-capping: logits = c * tanh(logits / c), c > 0 (Gemma 2, the speedrun GPTs
    # use 15-30); 0 = off. Bounds the output layer's logits. Not in Llama: `export hf`
    # refuses it.
    logit_softcap: float = 0.0
    # Value residual (ResFormer, as in the speedrun GPTs): every block after the first
    # mixes its attention values with the first block's, v = a * v + (1 - a) * v_first,
    # with one learned a per block (starting at 0.5). Not in Llama: `export hf` refuses it.
    value_residual: bool = False

    def __post_init__(self) -> None:
        if self.mlp_hidden <= 0:
            self.mlp_hidden = 4 * self.n_embd if self.mlp == "relu2" else swiglu_hidden(self.n_embd)
        self.validate()

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def validate(self) -> None:
        """Raise ConfigError (with a fix) for a shape the model cannot be built with."""
        positive = ("vocab_size", "n_layer", "n_head", "n_kv_head", "n_embd", "context_size")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"{name} must be >= 1, got {getattr(self, name)}.",
                    fix=f"Pass a positive --{name.replace('_', '-')}.",
                )
        if self.n_embd % self.n_head:
            raise ConfigError(
                f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}).",
                fix=f"Use e.g. --n-embd {self.n_head * max(1, round(self.n_embd / self.n_head))} "
                "or an --n-head that divides n_embd.",
            )
        if self.head_dim % 2:
            raise ConfigError(
                f"The head size n_embd / n_head = {self.head_dim} must be even (rotary "
                "embeddings rotate pairs of channels).",
                fix="Pick --n-embd and --n-head so that n_embd / n_head is even.",
            )
        if self.mlp not in MLP_KINDS:
            raise ConfigError(
                f"mlp must be one of {', '.join(MLP_KINDS)}, got {self.mlp!r}.",
                fix="Pass --mlp swiglu or --mlp relu2.",
            )
        if self.logit_softcap < 0:
            raise ConfigError(
                f"logit_softcap must be >= 0, got {self.logit_softcap}.",
                fix="Pass --logit-softcap 0 (off) or a cap such as 15.",
            )
        if self.n_head % self.n_kv_head:
            raise ConfigError(
                f"n_head ({self.n_head}) must be divisible by n_kv_head ({self.n_kv_head}).",
                fix="Use --n-kv-head equal to n_head (plain attention) or a divisor of it.",
            )

    def non_llama_switches(self) -> list[tuple[str, str]]:
        """(flag, what it computes) for each switch of this shape that Llama has no
        counterpart for."""
        switches = (
            ("--qk-norm", "RMSNorm on queries and keys", self.qk_norm),
            ("--mlp relu2", "a relu(x)^2 MLP", self.mlp == "relu2"),
            (
                f"--logit-softcap {self.logit_softcap:g}",
                "logits = c * tanh(logits / c)",
                self.logit_softcap > 0,
            ),
            (
                "--value-residual",
                "attention values mixed with the first block's",
                self.value_residual,
            ),
        )
        return [(flag, what) for flag, what, on in switches if on]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from a dict (e.g. a checkpoint's config.json); unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(
                f"Unknown model config keys: {', '.join(unknown)}.",
                fix="The checkpoint may come from a newer Picochat; upgrade Picochat.",
            )
        return cls(**data)


# Named sizes. Parameter counts are for a 512-token BPE vocabulary with tied embeddings
# (the vocab adds vocab_size * n_embd; see `Transformer.num_parameters()` for the truth).
PRESETS: dict[str, dict[str, Any]] = {
    # ~49K params: wiring checks and tests, trains in seconds on a laptop CPU.
    "smoke": dict(n_layer=2, n_head=2, n_kv_head=2, n_embd=32, context_size=64),
    # ~0.92M params: the default for `run tiny` on CPU.
    "tiny": dict(n_layer=4, n_head=4, n_kv_head=4, n_embd=128, context_size=256),
    # ~10.8M params (12.2M with a 4096 vocab: the throughput bench shape, context 256).
    "small": dict(n_layer=6, n_head=6, n_kv_head=6, n_embd=384, context_size=256),
    # ~26M params (27.8M with a 4096 vocab: the MFU bench shape); a long CPU run.
    "medium": dict(n_layer=8, n_head=8, n_kv_head=8, n_embd=512, context_size=512),
    # ~76M params (~100M with a 32K vocab): for GPUs; grouped-query attention, 4 kv heads.
    "large": dict(n_layer=12, n_head=12, n_kv_head=4, n_embd=768, context_size=1024),
    # The depth dial's named points (`--preset dN` = `--depth N`, see depth.py): GPT-2
    # small's shape (~124M with a 50K vocab), then ~210M, ~390M, ~645M and ~1B (32K vocab).
    **{f"d{depth}": depth_shape(depth) for depth in (12, 16, 20, 24, 28)},
}

DEFAULT_PRESET = "tiny"


def resolve_model_config(
    shape: Any, vocab_size: int, *, default_preset: str = DEFAULT_PRESET
) -> ModelConfig:
    """Preset (or `default_preset`) first, then every explicitly given dial on top.

    `shape` is a `picochat.configs.ModelShapeConfig` (or anything with its fields; None
    means "not given"). `depth` (the one dial, `depth.py`) replaces the preset. When n_head is overridden but n_kv_head is not, n_kv_head
    follows n_head (plain multi-head attention), so `--n-head 6` alone always works.
    """
    values = _base_shape(shape, default_preset)
    overrides = {
        key: getattr(shape, key, None)
        for key in (
            "n_layer",
            "n_head",
            "n_kv_head",
            "n_embd",
            "context_size",
            "tie_embeddings",
            "qk_norm",
            "mlp",
            "logit_softcap",
            "value_residual",
        )
    }
    if overrides["n_head"] is not None and overrides["n_kv_head"] is None:
        overrides["n_kv_head"] = overrides["n_head"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ModelConfig(vocab_size=vocab_size, **values)


def _base_shape(shape: Any, default_preset: str) -> dict[str, Any]:
    """The shape before explicit flags: from --depth, else --preset, else the default."""
    depth, preset = getattr(shape, "depth", None), getattr(shape, "preset", None)
    if depth is not None:
        if preset is not None:
            raise ConfigError(
                f"--depth {depth} and --preset {preset} both size the model.",
                fix="Give one of them (--preset dN is the same as --depth N).",
            )
        if not MIN_DEPTH <= depth <= MAX_DEPTH:
            raise ConfigError(
                f"--depth must be between {MIN_DEPTH} and {MAX_DEPTH}, got {depth}.",
                fix="Pick e.g. --depth 4 (a CPU toy), 12 (~124M) or 26 (~1B).",
            )
        return depth_shape(depth)
    name = preset or default_preset
    if name not in PRESETS:
        raise ConfigError(
            f"Unknown model preset {name!r}.",
            fix=f"Use one of: {', '.join(PRESETS)} (or --depth N, or --n-layer/--n-head/--n-embd).",
        )
    return dict(PRESETS[name])
