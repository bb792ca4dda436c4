"""`picochat export hf`: a native checkpoint as a Hugging Face folder."""

from __future__ import annotations

import argparse

from picochat.cli.commands import add_command
from picochat.cli.console import console
from picochat.cli.options import config_from_args
from picochat.configs import ExportHFConfig


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


def _export_hf(args: argparse.Namespace) -> int:
    from picochat.hf.export import export_hf

    result = export_hf(config_from_args(ExportHFConfig, args))
    console.print(
        f"Exported LlamaForCausalLM ({result.num_parameters:,} parameters, vocab "
        f"{result.vocab_size}) to {result.out_dir}",
        markup=False,
    )
    return 0
