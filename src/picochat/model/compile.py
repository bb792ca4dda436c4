"""torch.compile for the transformer: regional compilation for training, whole-forward
compilation with frozen weights for decoding, `eager_stance` for eager work on a model
compiled for training, and `static_bool` for code that must compile with dynamic sizes.

Not here: the model itself (`transformer.py`), where compilation is chosen (the
training stages' `--compile` and the chat/generate/eval `--compile` flags).
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from picochat.model.transformer import Transformer


def static_bool(condition) -> bool:
    """`condition` as a Python bool. Under torch.compile with dynamic sizes, a comparison
    of sizes is symbolic and SDPA's flags reject it; `bool()` keeps it symbolic, while a
    branch makes dynamo guard on it and specialise."""
    return True if condition else False  # noqa: SIM210 (the branch is the point)


def compile_blocks(model: Transformer, **options) -> Transformer:
    """`torch.compile` each Block in place ("regional compilation"). The blocks share
    one compiled graph, so compile time does not grow with depth, and the chunked loss
    (already matmul-bound) stays eager. Returns the same model object."""
    for block in model.blocks:
        block.compile(**options)
    return model


def eager_stance() -> contextlib.AbstractContextManager:
    """Inside it, modules compiled by `compile_blocks` run eager: for work after training
    that would only recompile them (decoding with a KV cache specialises a graph per layer
    and cache length, past dynamo's limit of 8). torch >= 2.6; on 2.5 nothing changes."""
    set_stance = getattr(torch.compiler, "set_stance", None)
    return set_stance("force_eager") if set_stance else contextlib.nullcontext()


def compile_for_decoding(model: Transformer) -> Transformer:
    """`torch.compile` the whole forward for generation, in place; returns the model.

    One graph per decoding situation (prefill, batch-1 step, batched step, left-padded
    batch; the cache length is a symbolic size, so steps do not recompile). Inductor's
    "freezing" treats the weights as constants and, on a CPU, packs them for oneDNN's
    matmuls (batched steps ~2x faster here); it is meant for inference graphs, so it is
    switched on around these calls only. Use it on a model that no longer trains, under
    `torch.inference_mode` (as `picochat.generation` does). The first calls compile
    (~25 s for the 12M bench model on 2 CPU cores); after that, decoding on the bench
    machine runs ~2-3x faster than eager (bench_generate_hf). Outputs equal eager ones
    up to fp32 summation order.
    """
    from torch._inductor import config as inductor_config

    compiled = torch.compile(model.forward, dynamic=True)

    # Passed as torch.compile(options=...), freezing is not applied (torch 2.13); set
    # process-wide, it would reach every other compiled model, training ones included.
    @functools.wraps(model.forward)
    def forward(*args, **kwargs):
        with inductor_config.patch(freezing=True):
            return compiled(*args, **kwargs)

    model.forward = forward
    return model
