"""The named model sizes as a table: parameters and compute-optimal token budgets.

Not for: the shapes themselves (`config.PRESETS`, `depth.depth_shape`). Pure Python
(no torch), so `picochat train base --help` can print the table instantly.

Compute-optimal budget: about 20 training tokens per parameter (Hoffmann et al. 2022,
"Chinchilla"; nanochat trains at the same ratio). Fewer tokens leave a model of this
size undertrained; many more are better spent on a bigger model (at fixed compute).
"""

from __future__ import annotations

import textwrap
from typing import Any

from picochat.model.config import PRESETS, swiglu_hidden

TOKENS_PER_PARAMETER = 20
# The vocabulary the help table assumes (a BPE tokenizer's); a char tokenizer has ~100.
TABLE_VOCAB = 32768
WRAP = 86  # columns of the help text


def count_parameters(shape: dict[str, Any], vocab_size: int) -> int:
    """Parameters of a Picochat Transformer of `shape` (ModelConfig fields), in closed
    form: equals `Transformer.num_parameters()` (a test checks it on every preset)."""
    n_embd, n_head = shape["n_embd"], shape["n_head"]
    n_kv = shape.get("n_kv_head", n_head)
    head_dim = n_embd // n_head
    relu2 = shape.get("mlp") == "relu2"  # two matrices, hidden 4 * n_embd
    hidden = shape.get("mlp_hidden") or (4 * n_embd if relu2 else swiglu_hidden(n_embd))
    per_layer = (
        n_embd * (n_head + 2 * n_kv) * head_dim  # attn_qkv
        + n_head * head_dim * n_embd  # attn_proj
        + (2 if relu2 else 3) * n_embd * hidden  # mlp_fc (gate, up) + mlp_proj
        + 2 * n_embd  # RMSNorm gains
        + (2 * head_dim if shape.get("qk_norm") else 0)
    )
    heads = 1 if shape.get("tie_embeddings", True) else 2
    value_mixes = shape["n_layer"] - 1 if shape.get("value_residual") else 0  # one per block
    return heads * vocab_size * n_embd + shape["n_layer"] * per_layer + n_embd + value_mixes


def compute_optimal_tokens(num_parameters: int) -> int:
    return TOKENS_PER_PARAMETER * num_parameters


def token_budget_note(planned_tokens: int, num_parameters: int) -> str:
    """One line comparing planned training tokens with the ~20 tokens/parameter budget."""
    optimal = compute_optimal_tokens(num_parameters)
    ratio = planned_tokens / max(optimal, 1)
    if ratio < 0.5:
        verdict = "undertrained for its size: a smaller model would reach a lower loss"
    elif ratio > 4:
        verdict = "far past compute-optimal: a bigger model would use this compute better"
    else:
        verdict = "near compute-optimal"
    return (
        f"planned {_short(planned_tokens)} tokens = {ratio:.2f}x the compute-optimal "
        f"{_short(optimal)} (~{TOKENS_PER_PARAMETER} tokens/parameter x "
        f"{_short(num_parameters)} parameters): {verdict}"
    )


def _short(n: float) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.0f}"


def preset_rows(vocab_size: int = TABLE_VOCAB) -> list[dict[str, Any]]:
    """Every named preset: shape, parameters at `vocab_size`, compute-optimal tokens."""
    rows = []
    for name, shape in PRESETS.items():
        params = count_parameters(shape, vocab_size)
        rows.append(
            {
                "preset": name,
                **shape,
                "parameters": params,
                "non_embedding_parameters": params - vocab_size * shape["n_embd"],
                "compute_optimal_tokens": compute_optimal_tokens(params),
            }
        )
    return rows


def presets_help() -> str:
    """The table `picochat train base --help` prints after the flags."""
    lines = [
        textwrap.fill(
            f"Model presets (--preset NAME; dN = --depth N). Parameters with a "
            f"{TABLE_VOCAB:,}-token vocabulary (a char tokenizer's ~100 removes nearly all "
            "of the embedding column); compute-optimal tokens = ~20 per parameter:",
            WRAP,
        ),
        "",
        f"  {'preset':<8}{'layers':>7}{'width':>7}{'heads':>7}{'kv':>5}{'context':>9}"
        f"{'params':>9}{'non-emb':>9}{'tokens':>9}",
    ]
    for row in preset_rows():
        lines.append(
            f"  {row['preset']:<8}{row['n_layer']:>7}{row['n_embd']:>7}{row['n_head']:>7}"
            f"{row['n_kv_head']:>5}{row['context_size']:>9}{_short(row['parameters']):>9}"
            f"{_short(row['non_embedding_parameters']):>9}"
            f"{_short(row['compute_optimal_tokens']):>9}"
        )
    lines += [
        "",
        textwrap.fill(
            "--depth N derives the rest: width 64*N, head size 64 (128 from width 1536), "
            "kv-heads ~n_head/4 from depth 12, context 256/512/1024, and a learning rate "
            "3e-3*128/width unless --learning-rate is given (picochat.model.depth explains "
            "why). Explicit --n-embd/--n-head/... flags override any preset or depth.",
            WRAP,
        ),
    ]
    return "\n".join(lines)
