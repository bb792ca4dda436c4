"""`picochat tok ...`: train and inspect tokenizers."""

from __future__ import annotations

import argparse

from picochat.cli.commands import add_command, not_built
from picochat.configs import TokenizerInspectConfig, TokenizerTrainConfig


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("tok", help="Tokenizer stage: train (char, byte, bpe) and inspect.")
    sub = group.add_subparsers(dest="tok_command", metavar="SUBCOMMAND", required=True)
    add_command(
        sub,
        "train",
        config=TokenizerTrainConfig,
        handler=not_built("tok train", 3),
        help="Learn a tokenizer from a corpus and write tokenizer.json.",
    )
    add_command(
        sub,
        "inspect",
        config=TokenizerInspectConfig,
        handler=not_built("tok inspect", 3),
        help="Vocab, special tokens, token-by-token mapping, unknown rate, bytes per token.",
    )
