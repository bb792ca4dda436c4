"""`picochat export hf`: a native checkpoint as a Hugging Face folder."""

from __future__ import annotations

import argparse

from picochat.cli.commands import add_command, not_built
from picochat.configs import ExportHFConfig


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("export", help="Export a checkpoint to another ecosystem.")
    sub = group.add_subparsers(dest="export_command", metavar="SUBCOMMAND", required=True)
    add_command(
        sub,
        "hf",
        config=ExportHFConfig,
        handler=not_built("export hf", 10),
        help="Write a LlamaForCausalLM folder (safetensors, config, tokenizer, chat template).",
    )
