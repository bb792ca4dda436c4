"""`picochat train ...`: base pretraining, chat SFT, DPO, Hugging Face SFT."""

from __future__ import annotations

import argparse

from picochat.cli.commands import add_command, not_built
from picochat.configs import BaseTrainConfig, DPOConfig, HFSFTConfig, SFTConfig


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("train", help="Training stages: base, sft, dpo, hf-sft.")
    sub = group.add_subparsers(dest="train_command", metavar="SUBCOMMAND", required=True)
    add_command(
        sub,
        "base",
        config=BaseTrainConfig,
        handler=not_built("train base", 4),
        help="Pretrain a decoder-only transformer to predict the next token.",
    )
    add_command(
        sub,
        "sft",
        config=SFTConfig,
        handler=not_built("train sft", 5),
        help="Teach a base checkpoint a chat format (full or LoRA).",
    )
    add_command(
        sub,
        "dpo",
        config=DPOConfig,
        handler=not_built("train dpo", 8),
        help="Preference-tune a chat checkpoint on chosen/rejected pairs.",
    )
    add_command(
        sub,
        "hf-sft",
        config=HFSFTConfig,
        handler=not_built("train hf-sft", 10),
        help="Fine-tune an existing Hugging Face causal LM on chat rows.",
    )
