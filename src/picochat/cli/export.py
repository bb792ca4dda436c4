"""`picochat export hf|gguf`: a native checkpoint as a Hugging Face folder or a GGUF file."""

from __future__ import annotations

import argparse

from picochat.cli.commands import CommandSpec, add_group
from picochat.cli.console import console
from picochat.cli.options import config_from_args
from picochat.configs import ExportGGUFConfig, ExportHFConfig


def register(commands: argparse._SubParsersAction) -> None:
    hf = CommandSpec(
        "hf",
        ExportHFConfig,
        _export_hf,
        "Write a LlamaForCausalLM folder (safetensors, config, tokenizer, chat template).",
    )
    gguf = CommandSpec(
        "gguf",
        ExportGGUFConfig,
        _export_gguf,
        "Write one GGUF file (llama architecture, tokenizer, chat template) for llama.cpp / Ollama.",
    )
    add_group(commands, "export", "Export a checkpoint to another ecosystem.", [hf, gguf])


def _export_hf(args: argparse.Namespace) -> int:
    from picochat.hf.export import export_hf

    result = export_hf(config_from_args(ExportHFConfig, args))
    console.print(
        f"Exported LlamaForCausalLM ({result.num_parameters:,} parameters, vocab "
        f"{result.vocab_size}) to {result.out_dir}",
        markup=False,
    )
    return 0


def _export_gguf(args: argparse.Namespace) -> int:
    from picochat.hf.gguf_export import export_gguf

    result = export_gguf(config_from_args(ExportGGUFConfig, args))
    console.print(
        f"Exported {result.num_parameters:,} parameters ({result.tensors} tensors, "
        f"{result.dtype}) to {result.path}",
        markup=False,
    )
    return 0
