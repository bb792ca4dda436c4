"""The chunked language-model loss: cross-entropy of `hidden @ lm_head.T` without the
full [N, vocab] fp32 logits.

The lm_head matmul and the cross-entropy run chunk by chunk, gradients included:
`linear_cross_entropy` (mean/sum/per-row loss; its backward is computed in the
forward, chunk by chunk) and `linear_token_nll` (per-token losses under autograd, for
DPO's per-answer sums; its backward recomputes each chunk's logits). The transformer
calls them when it is given targets. Both take the model's logit soft-cap (`softcap`:
logits = c * tanh(logits / c), Gemma 2's and the speedrun GPTs'; 0 = off), applied to
each chunk's logits and, in the backward, through tanh's derivative 1 - (z / c)^2.

Not here: the model (`transformer.py`), perplexity/BPB bookkeeping (`training/lm_metrics.py`).
"""

from __future__ import annotations

import torch

IGNORE_INDEX = -100  # targets not scored (PyTorch cross_entropy's ignore_index)
# Rows of logits computed at once by the chunked loss: ~1M elements (4 MB in fp32)
# stays in cache on a CPU and is large enough to keep a GPU busy.
_LOSS_CHUNK_ELEMENTS = 1 << 20


def _matmul_dtype(hidden: torch.Tensor) -> torch.dtype:
    """The dtype autocast would run the lm_head matmul in (hidden's own dtype without it)."""
    device_type = hidden.device.type
    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return hidden.dtype


def soft_cap(logits: torch.Tensor, softcap: float) -> torch.Tensor:
    """c * tanh(logits / c): every logit inside (-c, c); the identity when c is 0."""
    return softcap * torch.tanh(logits / softcap) if softcap else logits


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    reduction: str = "mean",
    softcap: float = 0.0,
) -> torch.Tensor:
    """cross_entropy(hidden @ weight.T, targets, ignore_index=-100) without materialising
    all the logits: `reduction` "mean" (0 if no target counts), "sum", or "none" (per-row
    losses, 0 where ignored; not differentiable: the caller builds logits when it must).

    Under autocast the matmuls run in the autocast dtype and the softmax in fp32, like
    autocast does for `F.cross_entropy(lm_head(x))`.
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    valid = targets != IGNORE_INDEX
    row_weight = valid.float()
    if reduction == "mean":
        row_weight = row_weight / valid.sum().clamp(min=1)
    safe_targets = torch.where(valid, targets, 0)
    dtype = _matmul_dtype(hidden)
    args = (hidden, weight, safe_targets, row_weight, dtype, softcap)
    if reduction == "none":
        with torch.no_grad():
            return _chunked_loss(*args, per_row=True)[0]
    if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
        return _LinearCrossEntropy.apply(*args)
    return _chunked_loss(*args)[0]


def linear_token_nll(
    hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, softcap: float = 0.0
) -> torch.Tensor:
    """Per-row cross_entropy(hidden @ weight.T, targets) [N] in fp32, 0 where the target is
    -100, without materialising all the logits: the forward computes them chunk by chunk,
    the backward recomputes each chunk (one extra lm_head matmul instead of [N, vocab]
    fp32 logits, their log-softmax and its gradient held at once)."""
    valid = targets != IGNORE_INDEX
    safe_targets = torch.where(valid, targets, 0)
    dtype = _matmul_dtype(hidden)
    return _LinearTokenNLL.apply(hidden, weight, safe_targets, valid.float(), dtype, softcap)


def _chunked_loss(
    hidden,
    weight,
    targets,
    row_weight,
    dtype,
    softcap=0.0,
    grad_hidden=False,
    grad_weight=False,
    per_row=False,
):
    """sum_i row_weight_i * nll_i (or the N terms, `per_row`), plus (optionally) its
    gradients, chunk by chunk.

    d loss / d logits = row_weight * (softmax - onehot): computed right away from the
    chunk's logits, which are then dropped; only [N, C] and [V, C] gradients are kept.
    """
    N, V = hidden.size(0), weight.size(0)
    chunk = max(1, _LOSS_CHUNK_ELEMENTS // V)
    with torch.autocast(hidden.device.type, enabled=False):
        w = weight.to(dtype)
        loss = torch.zeros(N if per_row else (), device=hidden.device, dtype=torch.float32)
        d_hidden = torch.empty_like(hidden) if grad_hidden else None
        d_weight = torch.zeros_like(weight, dtype=torch.float32) if grad_weight else None
        for start in range(0, N, chunk):
            h = hidden[start : start + chunk].to(dtype)
            t, rw = targets[start : start + chunk], row_weight[start : start + chunk]
            logits = soft_cap((h @ w.T).float(), softcap)
            logprobs = torch.log_softmax(logits, dim=-1)  # one fused kernel
            terms = -logprobs.gather(1, t[:, None]).squeeze(1) * rw
            if per_row:
                loss[start : start + chunk] = terms
            else:
                loss += terms.sum()
            if not (grad_hidden or grad_weight):
                continue
            d_logits = logprobs.exp_()  # softmax, in place
            d_logits[torch.arange(len(t), device=t.device), t] -= 1.0
            d_logits = d_logits.mul_(rw[:, None])
            if softcap:  # through c * tanh(a / c): d z / d a = 1 - (z / c)^2
                d_logits.mul_(1.0 - (logits / softcap).square_())
            d_logits = d_logits.to(dtype)
            if grad_hidden:
                d_hidden[start : start + chunk] = d_logits @ w
            if grad_weight and dtype == torch.float32:
                d_weight.addmm_(d_logits.T, h)  # accumulate in place: no [V, C] temporary
            elif grad_weight:
                d_weight += (d_logits.T @ h).float()
    return loss, d_hidden, d_weight


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, row_weight, dtype, softcap):
        loss, d_hidden, d_weight = _chunked_loss(
            hidden,
            weight,
            targets,
            row_weight,
            dtype,
            softcap,
            ctx.needs_input_grad[0],
            ctx.needs_input_grad[1],
        )
        ctx.save_for_backward(d_hidden, d_weight)
        ctx.weight_dtype = weight.dtype
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        d_hidden, d_weight = ctx.saved_tensors
        if d_hidden is not None:
            d_hidden = d_hidden * grad_loss.to(d_hidden.dtype)
        if d_weight is not None:
            d_weight = (d_weight * grad_loss).to(ctx.weight_dtype)
        return d_hidden, d_weight, None, None, None, None


class _LinearTokenNLL(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, valid, dtype, softcap):
        chunk = max(1, _LOSS_CHUNK_ELEMENTS // weight.size(0))
        nll = torch.empty(hidden.size(0), device=hidden.device, dtype=torch.float32)
        with torch.autocast(hidden.device.type, enabled=False):
            w = weight.to(dtype)
            for start in range(0, hidden.size(0), chunk):
                logits = soft_cap((hidden[start : start + chunk].to(dtype) @ w.T).float(), softcap)
                picked = logits.gather(1, targets[start : start + chunk, None]).squeeze(1)
                nll[start : start + chunk] = torch.logsumexp(logits, dim=-1) - picked
        ctx.save_for_backward(hidden, weight, targets, valid)
        ctx.dtype, ctx.softcap = dtype, softcap
        return nll * valid

    @staticmethod
    def backward(ctx, grad_nll):
        hidden, weight, targets, valid = ctx.saved_tensors
        # d(sum_i g_i * nll_i): _chunked_loss with row weights g_i (0 at ignored rows).
        _, d_hidden, d_weight = _chunked_loss(
            hidden,
            weight,
            targets,
            grad_nll.float() * valid,
            ctx.dtype,
            ctx.softcap,
            ctx.needs_input_grad[0],
            ctx.needs_input_grad[1],
        )
        if d_weight is not None:
            d_weight = d_weight.to(weight.dtype)
        return d_hidden, d_weight, None, None, None, None
