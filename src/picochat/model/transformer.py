"""The decoder-only transformer, readable top to bottom (the Llama layout, nanoGPT style).

    tokens -> wte -> n_layer x Block -> norm_f -> lm_head -> logits
    Block:  x + attn_proj(attention(rope(attn_qkv(rms_norm(x)))))
            x + mlp_proj(silu(gate) * up),  gate, up = mlp_fc(rms_norm(x))

Pre-norm RMSNorm, rotary position embeddings (the "rotate half" convention of
Hugging Face Llama, so export is a renaming), SwiGLU, no biases, optional tied
embeddings, grouped-query attention; optional QK-norm, relu^2 MLP, logit soft-cap and
value residual (blocks after the first mix their values with the first block's), and
residual dropout while training (`set_dropout`).
Attention is `F.scaled_dot_product_attention`, except on a CPU with short contexts,
where two batched matmuls are faster (see `attention`). q/k/v and gate/up are fused
into one matmul each (`attn_qkv`, `mlp_fc`).

With `targets`, the loss comes from `chunked_loss.py`: the lm_head matmul and the
cross-entropy run chunk by chunk, gradients included, so the full [B*T, vocab] fp32
logits are never held in memory when only the loss is wanted.

Generation uses `KVCache` (preallocated keys/values, written in place). Batched prompts
of different lengths are LEFT-PADDED: every row shares the cache slot index, row b's
first `pad[b]` slots are padding that no real query attends to, and its rotary
positions start at 0 on its first real token (position = slot - pad[b]). So a padded
row computes exactly what it would alone, and each decode step is one [B, 1] forward.

Not here: sampling (`picochat.generation`), save/load (`checkpoint.py`, `loading.py`),
LoRA (`lora.py`), the chunked loss (`chunked_loss.py`), torch.compile (`compile.py`).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint

from picochat.model.chunked_loss import linear_cross_entropy, linear_token_nll, soft_cap
from picochat.model.compile import static_bool
from picochat.model.config import ModelConfig

# Above this many attention scores (B * heads * T * S) the CPU uses SDPA's flash kernel:
# the matmul path keeps all scores (and their softmax, for backward) in memory.
_MATMUL_ATTENTION_MAX_SCORES = 1 << 25


def rope_tables(config: ModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of shape [context_size, head_dim / 2] for rotary embeddings."""
    half = config.head_dim // 2
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, half, dtype=torch.float64) / half))
    angles = torch.outer(torch.arange(config.context_size, dtype=torch.float64), inv_freq)
    return angles.cos().float(), angles.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs (i, i + head_dim/2) of x [B, T, H, D] by position angles."""
    x1, x2 = x.chunk(2, dim=-1)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    causal: bool = False,
) -> torch.Tensor:
    """softmax(q k^T / sqrt(D) + mask) v for q [B, H, T, D], k and v [B, KV, S, D];
    `mask` is boolean [B, 1, T, S] (True = may attend), or `causal` (T == S), or neither.

    On a CPU, while the score matrix is small, batched matmuls beat SDPA's flash kernel
    (bf16 training fwd+bwd of [16, 6, 256, 64] on 2 cores: 15 ms vs 39 ms; a batch-8
    decode step: bench_generate's batch-8 speedup 4.45x with them, 3.8x without), except
    for causal attention in fp32, where the flash kernel's skipping of the masked half
    of the scores wins (37 ms vs 41 ms; a whole fp32 training step of the 12M bench
    model ~3% faster). On CUDA, for long contexts and for grouped-query decoding (the
    cache would be copied to repeat kv heads), SDPA's fused kernels are used.
    """
    B, H, T, D = q.shape
    KV, S = k.size(1), k.size(2)
    grouped = static_bool(KV != H)
    use_matmuls = (
        q.device.type == "cpu"
        and not (causal and q.dtype == torch.float32)
        and B * H * T * S <= _MATMUL_ATTENTION_MAX_SCORES
    )
    if not use_matmuls or (grouped and not causal):
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, enable_gqa=grouped
        )
    if grouped:  # grouped-query: each kv head serves H / KV query heads
        k, v = k.repeat_interleave(H // KV, dim=1), v.repeat_interleave(H // KV, dim=1)
    q3, k3, v3 = q.reshape(B * H, T, D), k.reshape(B * H, S, D), v.reshape(B * H, S, D)
    if causal:
        bias = torch.full((T, S), float("-inf"), device=q.device, dtype=q.dtype).triu(1)
    elif mask is not None:
        bias = torch.zeros(mask.shape, device=q.device, dtype=q.dtype).masked_fill(
            ~mask, -torch.inf
        )
        bias = bias.expand(B, H, T, S).reshape(B * H, T, S)
    else:
        bias = None
    if bias is None:
        scores = torch.bmm(q3, k3.transpose(1, 2)) * D**-0.5
    else:
        scores = torch.baddbmm(bias, q3, k3.transpose(1, 2), alpha=D**-0.5)
    return torch.bmm(scores.softmax(dim=-1), v3).view(B, H, T, D)


class Linear(nn.Linear):
    """`nn.Linear` without bias, plus the form compiled batch-1 decoding needs.

    Decoding one token reads every weight once, so its speed is memory bandwidth. Under
    `torch.compile` a single input row is computed as a multiply-and-sum, which
    inductor turns into one vectorised reduction split over all cores: on the 2-core
    bench machine 45 GB/s of weights, against 19 GB/s for the BLAS gemv that
    `F.linear` calls (see `compile_for_decoding`). Eager mode and every other shape
    use `F.linear` (eagerly, the multiply-and-sum would build a weight-sized temporary).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = False, **kwargs) -> None:
        if bias:
            raise ValueError("Picochat's linear layers have no bias")
        super().__init__(in_features, out_features, bias=False, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_compiling() and x.numel() == x.size(-1):
            return (x.unsqueeze(-2) * self.weight).sum(-1)
        return F.linear(x, self.weight)


class RMSNorm(nn.Module):
    """x / rms(x) * gain (no bias, no mean subtraction)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # QK-norm sees bf16 q/k under autocast: a gain of another dtype would send
        # rms_norm down its slow unfused path (the residual stream is fp32: a no-op there).
        return F.rms_norm(x, (x.size(-1),), self.weight.to(x.dtype), self.eps)


class KVCache:
    """Preallocated keys and values for generation: [B, n_kv_head, max_len, head_dim]
    per layer, written in place at slot `length` (no torch.cat of the whole cache).

    `pad_lengths[b]` leading slots of row b are left padding (see module docstring).
    """

    def __init__(
        self,
        config: ModelConfig,
        batch_size: int,
        max_len: int,
        *,
        pad_lengths: list[int] | torch.Tensor | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if max_len > config.context_size:
            raise ValueError(f"max_len {max_len} exceeds context_size {config.context_size}")
        shape = (batch_size, config.n_kv_head, max_len, config.head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.values = [
            torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)
        ]
        pads = torch.zeros(batch_size, dtype=torch.long) if pad_lengths is None else pad_lengths
        self.pad = torch.as_tensor(pads, dtype=torch.long, device=device)
        self.padded = bool((self.pad > 0).any())
        self.max_len = max_len
        self.length = 0  # slots filled so far (the same for every row)

    def positions(self, n_new: int) -> torch.Tensor:
        """Rotary positions [B, n_new] of the next `n_new` slots (padding slots get 0)."""
        slots = torch.arange(self.length, self.length + n_new, device=self.pad.device)
        return (slots[None, :] - self.pad[:, None]).clamp(min=0)

    def attention_mask(self, n_new: int) -> torch.Tensor | None:
        """Boolean [B, 1, n_new, length + n_new] (True = may attend); None when plain causal
        attention is exact (no padding, and a first chunk or a single new token)."""
        if not self.padded and (n_new == 1 or self.length == 0):
            return None  # plain causal attention (or one query seeing everything)
        device = self.pad.device
        query = torch.arange(self.length, self.length + n_new, device=device)[:, None]
        key = torch.arange(self.length + n_new, device=device)[None, :]
        causal = key <= query  # [n_new, S]
        real_key = key[None] >= self.pad[:, None, None]  # [B, 1, S]
        # A padding query attends to itself only, so its softmax is never empty (no NaN).
        return (causal[None] & (real_key | (key == query)[None]))[:, None]

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Write k, v [B, n_kv_head, T, D] at the current slots; return all keys/values so far."""
        end = self.length + k.size(2)
        if end > self.max_len:
            raise ValueError(f"KV cache full: {end} slots needed, {self.max_len} allocated")
        self.keys[layer][:, :, self.length : end] = k
        self.values[layer][:, :, self.length : end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]


class Block(nn.Module):
    """One transformer layer: attention then MLP, each pre-normed and residual."""

    def __init__(self, config: ModelConfig, layer: int) -> None:
        super().__init__()
        self.layer = layer
        self.n_head, self.n_kv_head, self.head_dim = (
            config.n_head,
            config.n_kv_head,
            config.head_dim,
        )
        qkv_width = (config.n_head + 2 * config.n_kv_head) * config.head_dim
        self.attn_norm = RMSNorm(config.n_embd, config.norm_eps)
        self.attn_qkv = Linear(config.n_embd, qkv_width)
        self.attn_proj = Linear(config.n_head * config.head_dim, config.n_embd)
        # QK-norm: one gain per head channel, shared by the heads (as Qwen3's q_norm/k_norm).
        self.q_norm = RMSNorm(config.head_dim, config.norm_eps) if config.qk_norm else None
        self.k_norm = RMSNorm(config.head_dim, config.norm_eps) if config.qk_norm else None
        self.mlp_norm = RMSNorm(config.n_embd, config.norm_eps)
        # Value residual: v = a * v + (1 - a) * v_first, a learned (not in block 0).
        self.value_mix = (
            nn.Parameter(torch.full((1,), 0.5)) if config.value_residual and layer else None
        )
        self.relu2 = config.mlp == "relu2"
        fc_width = config.mlp_hidden * (1 if self.relu2 else 2)  # swiglu: [gate; up]
        self.mlp_fc = Linear(config.n_embd, fc_width)
        self.mlp_proj = Linear(config.mlp_hidden, config.n_embd)
        self.dropout = 0.0  # a run setting (`Transformer.set_dropout`), not in the checkpoint

    def attention(self, x, cos, sin, cache, mask, v_first=None):
        """(output, this block's values [B, T, KV, D] before mixing: `v_first` for the
        blocks after the first under --value-residual)."""
        B, T, _ = x.shape
        H, KV, D = self.n_head, self.n_kv_head, self.head_dim
        qkv = self.attn_qkv(x).view(B, T, H + 2 * KV, D)
        qk = qkv[:, :, : H + KV]
        if self.q_norm is not None:
            qk = torch.cat([self.q_norm(qk[:, :, :H]), self.k_norm(qk[:, :, H:])], dim=2)
        qk = apply_rope(qk, cos, sin)  # q and k rotated in one go
        q = qk[:, :, :H].transpose(1, 2)  # [B, H, T, D]
        k = qk[:, :, H:].transpose(1, 2)  # [B, KV, T, D]
        v_own = qkv[:, :, H + KV :]
        v = v_own
        if self.value_mix is not None:
            a = self.value_mix.to(v.dtype)
            v = a * v + (1 - a) * v_first
        v = v.transpose(1, 2)
        if cache is not None:
            k, v = cache.update(self.layer, k, v)
        causal = static_bool(mask is None and (cache is None or cache.length == 0) and T > 1)
        y = attention(q, k, v, mask, causal)
        return self.attn_proj(y.transpose(1, 2).reshape(B, T, H * D)), v_own

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        if self.relu2:
            return self.mlp_proj(F.relu(self.mlp_fc(x)).square())
        gate, up = self.mlp_fc(x).chunk(2, dim=-1)
        return self.mlp_proj(F.silu(gate) * up)

    def forward(self, x, cos, sin, cache=None, mask=None, v_first=None):
        """(x after the block, the first block's values: `v_first`, or this block's own
        when none is given) -- the values are used by --value-residual only."""
        attended, v_own = self.attention(self.attn_norm(x), cos, sin, cache, mask, v_first)
        x = x + self.drop(attended)
        return x + self.drop(self.mlp(self.mlp_norm(x))), v_own if v_first is None else v_first

    def drop(self, branch: torch.Tensor) -> torch.Tensor:
        """Residual dropout (--dropout) on a branch's output, in training mode only."""
        if self.dropout and self.training:
            return F.dropout(branch, self.dropout, training=True)
        return branch


class Transformer(nn.Module):
    """Token ids -> logits (or the loss): embedding, `n_layer` Blocks, final norm, lm_head."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.norm_f = RMSNorm(config.n_embd, config.norm_eps)
        self.lm_head = Linear(config.n_embd, config.vocab_size)
        if config.tie_embeddings:
            self.lm_head.weight = self.wte.weight
        cos, sin = rope_tables(config)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        # --activation-checkpointing: each block's activations are recomputed in the
        # backward pass instead of kept (a run setting, not part of the checkpoint).
        self.activation_checkpointing = False
        self.dropout = 0.0  # --dropout, likewise a run setting: see `set_dropout`
        self.reset_parameters()

    def set_dropout(self, p: float) -> None:
        """Dropout with probability `p` on the embeddings and on each attention and MLP
        output before it joins the residual stream (nanoGPT's places, less its dropout of
        attention weights, which would cost the fused kernels). Training mode only: eval()
        and generation never drop."""
        self.dropout = p
        for block in self.blocks:
            block.dropout = p

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """nanoGPT/Llama init: N(0, 0.02); residual projections scaled by 1/sqrt(2 n_layer)
        so the residual stream's variance does not grow with depth."""
        std = self.config.init_std
        for name, p in self.named_parameters():
            if name.endswith("value_mix"):  # half own values, half the first block's
                p.fill_(0.5)
            elif p.dim() == 1:  # RMSNorm gains
                p.fill_(1.0)
            elif name.endswith(("attn_proj.weight", "mlp_proj.weight")):
                p.normal_(0.0, std / math.sqrt(2 * self.config.n_layer))
            else:
                p.normal_(0.0, std)

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Distinct parameters (a tied embedding counts once)."""
        total = sum(p.numel() for p in self.parameters())
        if exclude_embeddings:
            total -= self.wte.weight.numel()
        return total

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        *,
        cache: KVCache | None = None,
        loss_reduction: str = "mean",
        last_logits_only: bool = False,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """idx [B, T] -> (logits [B, T, vocab] or None, loss or None).

        With `targets` [B, T] (-100 = not scored) the loss is returned and logits are
        None: the chunked loss never builds them. `loss_reduction` "mean" (0 when every
        target is ignored), "sum" (total nats: for bits-per-byte) or "none" (per-token
        [B, T] fp32, 0 at ignored positions; chunked too, also under autograd, where the
        backward recomputes each chunk's logits: DPO's per-answer sums). With `cache`, idx
        are the next tokens after the cached ones (prefill, then one per step).
        """
        B, T = idx.shape
        if cache is None:
            if idx.size(1) > self.config.context_size:
                raise ValueError(
                    f"sequence of {T} tokens > context_size {self.config.context_size}"
                )
            cos, sin = self.rope_cos[None, :T, None], self.rope_sin[None, :T, None]
            mask = None
        else:
            positions = cache.positions(T)
            cos, sin = self.rope_cos[positions][:, :, None], self.rope_sin[positions][:, :, None]
            mask = cache.attention_mask(T)
        x = self.wte(idx)
        if self.dropout and self.training:
            x = F.dropout(x, self.dropout, training=True)
        recompute = self.activation_checkpointing and cache is None and torch.is_grad_enabled()
        v_first = None  # the first block's values (--value-residual)
        for block in self.blocks:
            if recompute:
                x, values = torch.utils.checkpoint.checkpoint(
                    block, x, cos, sin, None, None, v_first, use_reentrant=False
                )
            else:
                x, values = block(x, cos, sin, cache, mask, v_first)
            # Without --value-residual every block gets None: one compiled graph for all
            # (a tensor after the first block was a second graph under --compile).
            v_first = values if self.config.value_residual else None
        if cache is not None:
            cache.length += T
        x = self.norm_f(x)

        cap = self.config.logit_softcap
        if targets is None:
            if last_logits_only:
                x = x[:, -1:]
            return soft_cap(self.lm_head(x), cap), None
        hidden, flat_targets = x.reshape(B * T, -1), targets.reshape(-1)
        if loss_reduction == "none" and torch.is_grad_enabled():  # per-token, differentiable
            nll = linear_token_nll(hidden, self.lm_head.weight, flat_targets, cap)
            return None, nll.view(B, T)
        loss = linear_cross_entropy(hidden, self.lm_head.weight, flat_targets, loss_reduction, cap)
        return None, loss.view(B, T) if loss_reduction == "none" else loss
