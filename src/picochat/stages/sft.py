"""The SFT stage: chat fine-tuning of the base model's best checkpoint (`train sft`).

Its work is `picochat.training.sft.train_sft`; this module only declares it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from picochat import layout
from picochat.configs import SFTConfig
from picochat.data.jsonl import skipped_summary
from picochat.markdown import fmt
from picochat.stages.declaration import (
    Command,
    Plan,
    RunSpec,
    Stage,
    checkpoint_of,
    final_line,
    runner,
)

MANY_PASSES = 20  # past this many epochs SFT reproduces its training answers
# What summary.json keeps of the stage's report.
SUMMARY_KEYS = ("dataset", "final", "best", "stop_reason", "diverged", "memorization_risk")
SUMMARY_KEYS += ("peft", "sample")


def _describe(result: Any) -> list[str]:
    final, risk = result.report["final"], result.report["memorization_risk"]
    ds = result.report["dataset"]
    lines = [
        f"stopped: {result.stop_reason} ({result.stop_message})",
        f"rows {ds['rows']}: usable {ds['usable']}, skipped {ds['skipped']}, truncated "
        f"{ds['truncated']}; train {ds['train_rows']}, validation {ds['val_rows']}",
        final_line(result.report, f"gap {fmt(final['gap'])}"),
        f"memorisation: {risk['verdict']}",
    ]
    if result.adapter_dir is not None:
        lines.append(f"LoRA adapter: {result.adapter_dir / 'adapter_model.safetensors'}")
    lines.append(f"merged checkpoint: {result.checkpoint}")
    lines.append(f"report: {result.out_dir / layout.STAGE_MARKDOWN}")
    return lines


def _wire(config: SFTConfig, run: RunSpec) -> SFTConfig:
    return replace(
        config,
        input=run.inputs.chat,
        tokenizer=run.root / layout.TOKENIZER,
        checkpoint=checkpoint_of(run, layout.BASE_DIR, best=True),
        out_dir=run.stage_dir(layout.SFT_DIR),
    )


def _validate(config: SFTConfig, run: RunSpec) -> None:
    """The stage's own config check, and at least one usable chat row (before base trains)."""
    from picochat.data.chat import read_chat_jsonl
    from picochat.errors import InputError
    from picochat.training.sft import check_config

    check_config(config)
    chat = read_chat_jsonl(config.input, strict=config.strict)  # --sft-strict: stops at a bad row
    if not chat.examples:
        raise InputError(
            f"No usable chat rows for SFT ({skipped_summary(chat.skipped)}); nothing was trained.",
            file=config.input,
            fix="Fix the rows listed, or check that the file is a chat JSONL.",
        )


def _estimate(config: SFTConfig, plan: Plan) -> None:
    """Chat rows, passes over them, and an ETA scaled from the base probe per token."""
    from picochat.chat_format import render_training
    from picochat.data.chat import read_chat_jsonl

    chat = read_chat_jsonl(config.input)
    lengths = [
        min(len(render_training(plan.tokenizer, ex.messages)[0]), plan.context)
        for ex in chat.examples
    ]
    rows = len(lengths)
    train_rows = max(1, round(rows * (1 - config.val_fraction)))
    sequences = config.max_steps * config.batch_size * config.grad_accum_steps
    mean_len = sum(lengths) / max(rows, 1)
    # An SFT step costs about what a base step costs per token it processes.
    seconds = plan.seconds_per_token * sequences * mean_len
    plan.seconds_per_chat_sequence = seconds / max(config.max_steps, 1) / config.batch_size
    plan.facts.update(chat_rows=rows, chat_tokens_mean=round(mean_len, 1))
    plan.eta["sft"] = seconds
    passes = plan.passes["chat_rows"] = round(sequences / train_rows, 2)
    if passes > MANY_PASSES:
        plan.warnings.append(
            f"SFT plans {passes} passes over {train_rows} chat rows: it will memorise the "
            "answers; the SFT-fit eval will look good and say little about new prompts."
        )


STAGE = Stage(
    name="sft",
    config=SFTConfig,
    command=Command("train", "sft", "Teach a base checkpoint a chat format (full or LoRA)."),
    run=runner("picochat.training.sft", "train_sft", progress=True),
    describe=_describe,
    folder=layout.SFT_DIR,
    report=layout.SFT_REPORT,
    # 300 steps at 5e-3 memorise the 92 example rows (greedy replies reproduce 100% of
    # training answers, 0% of validation answers): the report shows exactly that.
    run_defaults={"learning_rate": 5e-3},
    run_defaults_reason=(
        "a higher learning rate so 300 steps visibly memorise the example chat rows, "
        "which the SFT report then shows"
    ),
    needs=("base",),
    trains=True,
    chat_model=True,
    wire=_wire,
    files=lambda config, run: {"chat": run.inputs.chat},
    validate=_validate,
    estimate=_estimate,
    summary_keys=SUMMARY_KEYS,
)
