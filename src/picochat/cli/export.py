"""`picochat export hf|gguf`: a native checkpoint as a Hugging Face folder or a GGUF file."""

from __future__ import annotations

import argparse

from picochat.cli.commands import add_command
from picochat.cli.console import console
from picochat.cli.options import config_from_args
from picochat.configs import ExportGGUFConfig, ExportHFConfig


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("export", help="Export a checkpoint to another ecosystem.")
    sub = group.add_subparsers(dest="export_command", metavar="SUBCOMMAND", required=True)
    add_command(
        sub,
        "hf",
        config=ExportHFConfig,
        handler=_export_hf,
        help="Write a LlamaForCausalLM folder (safetensors, config, tokenizer, chat template).",
    )
    add_command(
        sub,
        "gguf",
        config=ExportGGUFConfig,
        handler=_export_gguf,
        help="Write one GGUF file (llama architecture, tokenizer, chat template) for "
        "llama.cpp / Ollama.",
    )


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
