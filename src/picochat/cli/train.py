"""`picochat train ...`: base pretraining, chat SFT, DPO, Hugging Face SFT."""

from __future__ import annotations

import argparse

from picochat.cli.commands import add_command, not_built
from picochat.cli.console import console
from picochat.cli.options import config_from_args
from picochat.configs import BaseTrainConfig, DPOConfig, HFSFTConfig, SFTConfig

# Exit code of a run stopped by Ctrl-C/SIGTERM (after saving), as the shell's 128 + SIGINT.
EXIT_INTERRUPTED = 130


def _train_base(args: argparse.Namespace) -> int:
    from picochat.training.pretrain import train_base

    result = train_base(config_from_args(BaseTrainConfig, args), show_progress=not args.quiet)
    if not result.report:  # a non-zero torchrun rank: rank 0 reports
        return 0
    final, rec = result.report["final"], result.report["recommended_checkpoint"]
    console.print(f"stopped: [bold]{result.stop_reason}[/] ({result.stop_message})")
    console.print(
        f"final step {final['step']}: train loss {final['train_loss']}, "
        f"val loss {final['val_loss']}, val BPB {final['val_bpb']}"
    )
    console.print(f"recommended checkpoint: step {rec['step']} ({rec['folder']}/): {rec['reason']}")
    console.print(f"report: {result.out_dir / 'report.md'}")
    return EXIT_INTERRUPTED if result.stop_reason == "interrupted" else 0


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("train", help="Training stages: base, sft, dpo, hf-sft.")
    sub = group.add_subparsers(dest="train_command", metavar="SUBCOMMAND", required=True)
    add_command(
        sub,
        "base",
        config=BaseTrainConfig,
        handler=_train_base,
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
