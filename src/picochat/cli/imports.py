"""`picochat import hf`: a Hugging Face Llama-architecture model as a native checkpoint."""

from __future__ import annotations

import argparse

from picochat.cli.commands import add_command
from picochat.cli.console import console
from picochat.cli.options import config_from_args
from picochat.configs import ImportHFConfig


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("import", help="Bring a model from another ecosystem in.")
    sub = group.add_subparsers(dest="import_command", metavar="SUBCOMMAND", required=True)
    add_command(
        sub,
        "hf",
        config=ImportHFConfig,
        handler=_import_hf,
        help="Convert a Llama-architecture Hugging Face folder (safetensors + byte-level BPE "
        "tokenizer.json) into a Picochat checkpoint and tokenizer.",
    )


def _import_hf(args: argparse.Namespace) -> int:
    from picochat.hf.llama_import import import_hf

    result = import_hf(config_from_args(ImportHFConfig, args))
    console.print(
        f"Imported {result.num_parameters:,} parameters (vocab {result.vocab_size}) to "
        f"{result.checkpoint} with {result.tokenizer}",
        markup=False,
    )
    if result.new_rows:
        console.print(
            f"New token rows (mean-initialised, untrained): {', '.join(result.new_rows)}",
            markup=False,
        )
    if result.dropped_tokens:
        console.print(
            f"Dropped tokens with no Picochat role: {', '.join(result.dropped_tokens)}",
            markup=False,
        )
    return 0
