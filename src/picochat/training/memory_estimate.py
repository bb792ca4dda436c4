"""How much memory a training run needs per device, before it starts.

Not for: deciding whether the run may start (`capacity.py`) or measuring (bench/).

    estimate_memory(model_config, batch_size=16, precision="bf16", device_type="cpu")

Counted per device, in bytes, from what this code base keeps (not a generic rule):

- weights: fp32 master weights, 4 bytes/parameter (bf16 runs under autocast, which
  also keeps one bf16 copy of every block matrix while a step runs: 2 bytes each).
- gradients: 4 bytes/parameter. optimizer: AdamW's two moments (8 bytes/parameter);
  Muon keeps one momentum (4) for block matrices. FSDP divides these three by the
  number of processes and adds two blocks' gathered weights (the running one and the
  prefetched next); DDP adds its gradient buckets (one more copy of the gradients).
- activations: what autograd saves per token per block, read off `transformer.py`
  (and checked against torch's saved-tensor hooks in the tests): the block input and
  mid-block residual (fp32), both norm outputs, q/k/v, the rotated q/k, attention's
  saved tensors, the MLP's gate/up, SiLU and product, in the matmul dtype (2 bytes in
  bf16, else 4). The CPU matmul attention path also keeps each head's softmax
  (T values per token: quadratic in the context); SDPA's fused kernels keep only the
  output and a log-sum-exp. Then the final norm and the chunked loss's saved
  gradients (hidden: 4 bytes/channel/token; head: vocab x width fp32).
- with activation checkpointing only each block's input is kept, plus one block's
  activations while it is recomputed.
- transient: one block's activations again (its gradients exist briefly while its
  saved tensors are freed).

Peak = weights + optimizer + max(backward: activations + transient + head gradient,
optimizer step: gradients + AdamW's per-parameter temporaries).
"""

from __future__ import annotations

from typing import Any

from picochat.model.presets import count_parameters

# Mirrors transformer._MATMUL_ATTENTION_MAX_SCORES: above it the CPU uses SDPA.
MATMUL_ATTENTION_MAX_SCORES = 1 << 25
GIB = 1024**3


def _attention_bytes_per_token(c: Any, batch: int, e: int, device_type: str, fp32: bool) -> int:
    """Bytes attention saves per token of one block (see `transformer.attention`)."""
    H, D, T = c.n_head, c.head_dim, c.context_size
    matmuls = device_type == "cpu" and not fp32 and batch * H * T * T <= MATMUL_ATTENTION_MAX_SCORES
    if matmuls:  # q, k, v reshaped copies (kv repeated to H heads), softmax, output copy
        repeated = 2 * (H - c.n_kv_head) * D  # grouped-query: k, v repeated to H heads
        return e * (3 * H * D + H * T + H * D + repeated)
    return e * 2 * H * D + 4 * H  # SDPA output, its transposed copy, log-sum-exp


def block_activation_bytes(c: Any, batch: int, precision: str, device_type: str) -> int:
    """Bytes autograd keeps for one block over one micro-batch of `batch` sequences."""
    fp32 = precision != "bf16"
    e = 4 if fp32 else 2
    C, H, KV, D, M = c.n_embd, c.n_head, c.n_kv_head, c.head_dim, c.mlp_hidden
    per_token = (
        4 * 2 * C  # block input and mid-block residual (fp32)
        + e * 2 * C  # the two norm outputs, as the matmuls read them
        + 4 * 2  # the norms' reciprocal RMS
        + e * (H + 2 * KV) * D  # fused q/k/v
        + e * (H + KV) * D  # rotated q and k
        # QK-norm: the normed q/k concatenated; in bf16 the norm also keeps fp32 copies
        # of its input and output (measured with saved-tensor hooks: 4 vs 8 bytes each)
        + ((4 if fp32 else 8) * (H + KV) * D if getattr(c, "qk_norm", False) else 0)
        # value residual: the mixed values (in bf16 also the mixing's operands; measured
        # with saved-tensor hooks: 4 vs 12 bytes a value; block 0, which mixes nothing,
        # is counted too)
        + ((4 if fp32 else 12) * KV * D if getattr(c, "value_residual", False) else 0)
        + _attention_bytes_per_token(c, batch, e, device_type, fp32)
        # swiglu: gate/up, SiLU(gate), SiLU(gate) * up; relu2: fc output, its square
        + e * (2 if getattr(c, "mlp", "swiglu") == "relu2" else 4) * M
    )
    return per_token * batch * c.context_size


def run_settings(
    config: Any, precision: str, device_type: str, world_size: int = 1
) -> dict[str, Any]:
    """`estimate_memory`'s settings of a `train base` config on a device: `train base`'s
    own preflight and `run tiny`'s plan estimate a run from the same ones."""
    return dict(
        batch_size=config.batch_size,
        precision=precision,
        device_type=device_type,
        optimizer=config.optimizer,
        activation_checkpointing=config.activation_checkpointing,
        world_size=world_size,
        parallel=config.parallel,
    )


def estimate_memory(
    c: Any,
    *,
    batch_size: int,
    precision: str,
    device_type: str,
    optimizer: str = "adamw",
    activation_checkpointing: bool = False,
    world_size: int = 1,
    parallel: str = "ddp",
) -> dict[str, Any]:
    """Per-device memory of training model config `c` (bytes), itemised; see module doc."""
    shape = c.to_dict()
    params = count_parameters(shape, c.vocab_size)
    embedding = c.vocab_size * c.n_embd * (1 if c.tie_embeddings else 2)
    matrices = params - embedding - c.n_layer * 2 * c.n_embd - c.n_embd
    shards = world_size if parallel == "fsdp" else 1
    weights = 4 * params / shards
    if precision == "bf16":
        weights += 2 * matrices / shards  # autocast's cached bf16 copies
    gradients = 4 * params / shards
    state_bytes = 4 * matrices + 8 * (params - matrices) if optimizer == "muon" else 8 * params
    optimizer_bytes = state_bytes / shards
    block = block_activation_bytes(c, batch_size, precision, device_type)
    tokens = batch_size * c.context_size
    # Final norm input + the chunked loss's saved hidden gradient, and its fp32 head gradient.
    final = tokens * (4 * c.n_embd * 2 + 8) + 4 * c.vocab_size * c.n_embd
    full = c.n_layer * block + final
    checkpointed = c.n_layer * tokens * 4 * c.n_embd + block + final
    activations = checkpointed if activation_checkpointing else full
    extra = 0.0
    if parallel == "fsdp" and world_size > 1:
        per_block = (params - embedding) / c.n_layer
        extra = 2 * 4 * per_block  # the gathered running block and the prefetched next one
    elif world_size > 1:
        extra = gradients  # DDP's gradient buckets
    backward = activations + block + 4 * c.vocab_size * c.n_embd / shards
    step = gradients + 2 * 4 * params / shards  # foreach AdamW's temporaries
    peak = weights + optimizer_bytes + extra + max(backward, step)
    return {
        "parameters": params,
        "precision": precision,
        "batch_size": batch_size,
        "context_size": c.context_size,
        "world_size": world_size,
        "parallel": parallel if world_size > 1 else "single",
        "optimizer": optimizer,
        "activation_checkpointing": activation_checkpointing,
        "bytes": {
            "weights": round(weights),
            "gradients": round(gradients),
            "optimizer": round(optimizer_bytes),
            "activations": round(activations),
            "activations_without_checkpointing": round(full),
            "activations_with_checkpointing": round(checkpointed),
            "parallel_overhead": round(extra),
            "peak": round(peak),
        },
    }


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'; GiB above 1 GiB, MiB below."""
    if n >= GIB:
        return f"{n / GIB:.2f} GiB"
    return f"{n / 1024**2:.1f} MiB"


def describe(estimate: dict[str, Any]) -> str:
    """'1.23 GiB per device (weights 100.0 MiB, ...)' for messages and the preflight."""
    b = {key: human_bytes(value) for key, value in estimate["bytes"].items()}
    return (
        f"{b['peak']} per device (weights {b['weights']}, gradients {b['gradients']}, "
        f"optimizer {b['optimizer']}, activations {b['activations']}; activations "
        f"{b['activations_without_checkpointing']} without / "
        f"{b['activations_with_checkpointing']} with activation checkpointing) at micro-batch "
        f"{estimate['batch_size']} x {estimate['context_size']} tokens, {estimate['precision']}"
    )
