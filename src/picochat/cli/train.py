"""`picochat train ...`: base pretraining, chat SFT, DPO, Hugging Face SFT."""

from __future__ import annotations

import argparse

from picochat import layout
from picochat.cli.commands import add_command
from picochat.cli.console import console
from picochat.cli.options import config_from_args
from picochat.configs import BaseTrainConfig, DPOConfig, HFSFTConfig, SFTConfig
from picochat.markdown import fmt
from picochat.model.presets import presets_help

# Exit code of a run stopped by Ctrl-C/SIGTERM (after saving), as the shell's 128 + SIGINT.
EXIT_INTERRUPTED = 130


def _final_line(report: dict, extra: str) -> str:
    """Where the run stopped and its last evaluation (which may be earlier: Ctrl-C at
    step 15 with --eval-every 50 stops at 15 and was last evaluated at 0)."""
    final = report["final"]
    steps = report.get("steps", final["step"])
    evaluated = "" if final["step"] == steps else f"; last evaluation at step {final['step']}"
    return (
        f"final step {steps}{evaluated}: train loss {fmt(final['train_loss'])}, "
        f"val loss {fmt(final['val_loss'])}, {extra}"
    )


def _train_base(args: argparse.Namespace) -> int:
    from picochat.training.pretrain import train_base

    result = train_base(config_from_args(BaseTrainConfig, args), show_progress=not args.quiet)
    if not result.report:  # a non-zero torchrun rank: rank 0 reports
        return 0
    if result.stop_reason == "dry_run":
        console.print(result.stop_message, markup=False)
        return 0
    final, rec = result.report["final"], result.report["recommended_checkpoint"]
    console.print(f"stopped: [bold]{result.stop_reason}[/] ({result.stop_message})")
    console.print(_final_line(result.report, f"val BPB {fmt(final['val_bpb'])}"), markup=False)
    console.print(f"recommended checkpoint: step {rec['step']} ({rec['folder']}/): {rec['reason']}")
    console.print(f"report: {result.out_dir / layout.STAGE_MARKDOWN}")
    return EXIT_INTERRUPTED if result.stop_reason == "interrupted" else 0


def _train_sft(args: argparse.Namespace) -> int:
    from picochat.training.sft import train_sft

    result = train_sft(config_from_args(SFTConfig, args), show_progress=not args.quiet)
    if not result.report:  # a non-zero torchrun rank: rank 0 reports
        return 0
    final, risk = result.report["final"], result.report["memorization_risk"]
    ds = result.report["dataset"]
    console.print(f"stopped: [bold]{result.stop_reason}[/] ({result.stop_message})", markup=True)
    console.print(
        f"rows {ds['rows']}: usable {ds['usable']}, skipped {ds['skipped']}, truncated "
        f"{ds['truncated']}; train {ds['train_rows']}, validation {ds['val_rows']}",
        markup=False,
    )
    console.print(_final_line(result.report, f"gap {fmt(final['gap'])}"), markup=False)
    console.print(f"memorisation: {risk['verdict']}", markup=False)
    if result.adapter_dir is not None:
        console.print(f"LoRA adapter: {result.adapter_dir / 'adapter_model.safetensors'}")
    console.print(f"merged checkpoint: {result.checkpoint}", markup=False)
    console.print(f"report: {result.out_dir / layout.STAGE_MARKDOWN}", markup=False)
    return EXIT_INTERRUPTED if result.stop_reason == "interrupted" else 0


def _train_dpo(args: argparse.Namespace) -> int:
    from picochat.training.dpo import train_dpo

    result = train_dpo(config_from_args(DPOConfig, args), show_progress=not args.quiet)
    if not result.report:  # a non-zero torchrun rank: rank 0 reports
        return 0
    report, best = result.report, result.report["best"]
    data = report["dataset"]
    console.print(
        f"pairs: {data['train_pairs']} train, {data['val_pairs']} validation, "
        f"{data['skipped']} skipped"
    )
    console.print(f"stopped: [bold]{result.stop_reason}[/] ({result.stop_message})")
    if best:
        console.print(
            f"best step {best['step']}: val loss {best['val_loss']:.4f}, "
            f"val reward accuracy {best['val_rewards/accuracies']:.3f} ({best['folder']}/)"
        )
    if data["synthetic_pairs"]:
        console.print("[yellow]note:[/] synthetic pairs test DPO mechanics, not alignment.")
    if result.adapter_dir is not None:
        console.print(f"LoRA adapter: {result.adapter_dir / 'adapter_model.safetensors'}")
    console.print(f"report: {result.out_dir / layout.STAGE_MARKDOWN}", markup=False)
    return EXIT_INTERRUPTED if result.stop_reason == "interrupted" else 0


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("train", help="Training stages: base, sft, dpo, hf-sft.")
    sub = group.add_subparsers(dest="train_command", metavar="SUBCOMMAND", required=True)
    base = add_command(
        sub,
        "base",
        config=BaseTrainConfig,
        handler=_train_base,
        help="Pretrain a decoder-only transformer to predict the next token.",
    )
    base.formatter_class = argparse.RawDescriptionHelpFormatter  # keeps the table's columns
    base.epilog = presets_help()
    add_command(
        sub,
        "sft",
        config=SFTConfig,
        handler=_train_sft,
        help="Teach a base checkpoint a chat format (full or LoRA).",
    )
    add_command(
        sub,
        "dpo",
        config=DPOConfig,
        handler=_train_dpo,
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
    from picochat.hf.sft import train_hf_sft

    result = train_hf_sft(config_from_args(HFSFTConfig, args), show_progress=not args.quiet)
    if result.report is None:  # a non-zero torchrun rank: rank 0 reports
        return 0
    best = "n/a" if result.best_val_loss is None else f"{result.best_val_loss:.4f}"
    console.print(
        f"hf-sft stopped ({result.stop_reason}: {result.stop_message}) after {result.steps} "
        f"steps; best val loss {best} at step {result.best_step}.\n"
        f"final model: {result.final_model}\nbest model:  {result.best_model}\n"
        f"report:      {result.report}",
        markup=False,
    )
    return EXIT_INTERRUPTED if result.stop_reason == "interrupted" else 0
