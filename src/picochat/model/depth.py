"""One dial: `--depth N` derives the model's width, heads, kv-heads, context and the
learning rate, so a model size is one number (as nanochat sizes its models).

Not for: the named presets table and token budgets (`presets.py`) or validation of a
shape (`config.py`). Pure Python (no torch): `picochat --help` imports it.

The rules, and why:

- width n_embd = 64 * depth. nanochat's aspect ratio: width grows with depth so a
  deeper model is also a wider one; depth 12 gives GPT-2 small's 768.
- head size 64 up to width 1472 (GPT-2/3's heads), 128 from width 1536 (depth 24:
  Llama's heads; fewer, larger heads keep attention's matmuls efficient at that
  width). An odd depth above 24 keeps 64 so the heads still divide the width.
- kv-heads: every head has its own keys/values below depth 12 (the cache is tiny there
  and grouped-query attention only costs quality); from depth 12, about a quarter of
  the query heads (the largest divisor of n_head not above n_head / 4): the KV cache,
  and so long-context decoding memory, shrinks 3-4x (Llama 2 70B / Llama 3 use 8:1).
- context: 256 tokens below depth 8, 512 up to depth 11, 1024 from depth 12.
- learning rate (AdamW peak) = 3e-3 * 128 / n_embd: proportional to 1 / width, the
  muP rule for Adam on hidden matrices (an update's effect on a layer's output grows
  with fan-in, so the step must shrink with it). Anchored at the tiny preset (width
  128, 3e-3, tuned on tinyshakespeare); it gives 1e-3 at width 384 (nanoGPT's
  shakespeare-char recipe), 5e-4 at 768 and 1.9e-4 at 2048, close to the GPT-3
  paper's 6e-4 (125M) and 2e-4 (1.3B). Muon's learning rate needs no such rule: its
  update is orthogonalised (every singular value ~1) and scaled by sqrt(rows/cols),
  which already keeps the update's spectral norm width-independent, so it stays at
  `MUON_LEARNING_RATE` at every depth (nanochat does the same).
"""

from __future__ import annotations

from typing import Any

ASPECT_RATIO = 64  # width per layer
ANCHOR_WIDTH, ANCHOR_LR = 128, 3e-3  # the tiny preset's width and tuned peak rate
MUON_LEARNING_RATE = 0.02  # reference Muon rate (nanochat's matrix_lr)
MIN_DEPTH, MAX_DEPTH = 1, 64


def _kv_heads(n_head: int, depth: int) -> int:
    if depth < 12:
        return n_head
    quarter = max(1, n_head // 4)
    return max(d for d in range(1, quarter + 1) if n_head % d == 0)


def depth_shape(depth: int) -> dict[str, Any]:
    """The model shape (ModelConfig fields) derived from `depth`; see the module doc."""
    width = ASPECT_RATIO * depth
    head_dim = 128 if width >= 1536 and width % 128 == 0 else 64
    n_head = width // head_dim
    context = 256 if depth < 8 else 512 if depth < 12 else 1024
    return dict(
        n_layer=depth,
        n_head=n_head,
        n_kv_head=_kv_heads(n_head, depth),
        n_embd=width,
        context_size=context,
    )


def width_learning_rate(n_embd: int) -> float:
    """AdamW peak learning rate for a model of width `n_embd` (1 / width rule)."""
    return ANCHOR_LR * ANCHOR_WIDTH / n_embd


DEFAULT_LEARNING_RATE = ANCHOR_LR  # without --depth: today's default for every preset


def resolve_learning_rate(
    given: float | None, *, depth: int | None, preset: str | None, n_embd: int
) -> float:
    """The peak AdamW learning rate of a run: `given` when set; the 1/width rule for a
    model sized by the dial (--depth N or --preset dN); else `DEFAULT_LEARNING_RATE`."""
    if given is not None:
        return given
    dialled = depth is not None or (
        preset is not None and preset[:1] == "d" and preset[1:].isdigit()
    )
    return width_learning_rate(n_embd) if dialled else DEFAULT_LEARNING_RATE
