"""`picochat train ...`: base pretraining, chat SFT, DPO, Hugging Face SFT."""

from __future__ import annotations

import argparse

from picochat.cli.commands import add_command, not_built
from picochat.cli.console import console
from picochat.cli.options import config_from_args
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
        handler=_hf_sft,
        help="Fine-tune an existing Hugging Face causal LM on chat rows.",
    )


def _hf_sft(args: argparse.Namespace) -> int:
    from picochat.training.hf_sft import train_hf_sft

    result = train_hf_sft(config_from_args(HFSFTConfig, args))
    best = "n/a" if result.best_val_loss is None else f"{result.best_val_loss:.4f}"
    console.print(
        f"hf-sft stopped ({result.stop_reason}) after {result.steps} steps; "
        f"best val loss {best} at step {result.best_step}.\n"
        f"final model: {result.final_model}\nbest model:  {result.best_model}\n"
        f"report:      {result.report}",
        markup=False,
    )
    return 0
