"""Loading a model for any stage: a native checkpoint with its tokenizer, checked to
belong together, compiled for decoding when asked; and the checks on where a model
comes from (--checkpoint + --tokenizer, or --hf-model) that run before anything loads.

Used by chat, generate, eval and serving alike. Not here: the checkpoint folder format
(`checkpoint.py`), Hugging Face models (the hf package), the chat loop (`chat_session.py`).
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from picochat.errors import ConfigError


def load_native(source: Any, device: Any) -> tuple[Any, Any]:
    """(model, tokenizer) of a `ModelSourceConfig`'s --checkpoint and --tokenizer, checked
    to belong together; compiled for decoding with --compile."""
    if source.checkpoint is None or source.tokenizer is None:
        raise ConfigError(
            "A model is needed: --checkpoint with its --tokenizer (or --hf-model).",
            fix="e.g. --checkpoint runs/x/sft/checkpoint --tokenizer runs/x/tokenizer.json",
        )
    from picochat.model.checkpoint import load_checkpoint
    from picochat.model.compile import compile_for_decoding
    from picochat.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(source.tokenizer)
    model = load_checkpoint(source.checkpoint, device=device, tokenizer=tokenizer)
    if getattr(source, "compile", False):
        check_cpu_compiler(device)
        compile_for_decoding(model)
    return model, tokenizer


def check_cpu_compiler(device: Any) -> None:
    """torch.compile on a CPU builds C++ kernels: without a compiler it would fail only
    at the first reply, with a long traceback."""
    if getattr(device, "type", str(device)) != "cpu":
        return
    if not any(shutil.which(c) for c in (os.environ.get("CXX", ""), "g++", "clang++", "c++") if c):
        raise ConfigError(
            "--compile on a CPU needs a C++ compiler (torch.compile builds C++ kernels).",
            fix="Install g++ or clang++ (or set CXX), or drop --compile.",
        )


def check_hf_source(source: Any) -> None:
    """--hf-model excludes --checkpoint and --compile (Hugging Face models decode eagerly
    through `transformers`)."""
    if source.checkpoint is not None:
        raise ConfigError(
            "Both --checkpoint and --hf-model were given.", fix="Pass only one of them."
        )
    if getattr(source, "compile", False):
        raise ConfigError(
            "--compile applies to native checkpoints, not --hf-model.", fix="Drop --compile."
        )
