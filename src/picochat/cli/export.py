"""`picochat export hf|gguf`: a native checkpoint as a Hugging Face folder or a GGUF file."""

from __future__ import annotations

import argparse
from typing import Any

from picochat.cli.commands import CommandSpec, add_group
from picochat.configs import ExportGGUFConfig, ExportHFConfig
from picochat.stages.declaration import runner


def _exported_hf(result: Any) -> list[str]:
    return [
        f"Exported LlamaForCausalLM ({result.num_parameters:,} parameters, vocab "
        f"{result.vocab_size}) to {result.out_dir}"
    ]


def _exported_gguf(result: Any) -> list[str]:
    return [
        f"Exported {result.num_parameters:,} parameters ({result.tensors} tensors, "
        f"{result.dtype}) to {result.path}"
    ]


def register(commands: argparse._SubParsersAction) -> None:
    hf = "Write a LlamaForCausalLM folder (safetensors, config, tokenizer, chat template)."
    gguf = (
        "Write one GGUF file (llama architecture, tokenizer, chat template) for llama.cpp / Ollama."
    )
    specs = [
        CommandSpec(
            "hf",
            ExportHFConfig,
            None,
            hf,
            run=runner("picochat.hf.export", "export_hf"),
            describe=_exported_hf,
        ),
        CommandSpec(
            "gguf",
            ExportGGUFConfig,
            None,
            gguf,
            run=runner("picochat.hf.gguf_export", "export_gguf"),
            describe=_exported_gguf,
        ),
    ]
    add_group(commands, "export", "Export a checkpoint to another ecosystem.", specs)
