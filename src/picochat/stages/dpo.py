"""The DPO stage: preference tuning of the SFT checkpoint (`train dpo`), when pairs are given.

Its work is `picochat.training.dpo.train_dpo`; this module only declares it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from picochat import layout
from picochat.configs import DPOConfig
from picochat.data.jsonl import skipped_summary
from picochat.stages.declaration import (
    Command,
    Plan,
    RunSpec,
    Stage,
    checkpoint_of,
    runner,
)

SUMMARY_KEYS = ("dataset", "best", "stop_reason", "beta", "reference", "final")


def _describe(result: Any) -> list[str]:
    report, best = result.report, result.report["best"]
    data = report["dataset"]
    lines = [
        f"pairs: {data['train_pairs']} train, {data['val_pairs']} validation, "
        f"{data['skipped']} skipped",
        f"stopped: {result.stop_reason} ({result.stop_message})",
    ]
    if best:
        lines.append(
            f"best step {best['step']}: val loss {best['val_loss']:.4f}, "
            f"val reward accuracy {best['val_rewards/accuracies']:.3f} ({best['folder']}/)"
        )
    if data["synthetic_pairs"]:
        lines.append("note: synthetic pairs test DPO mechanics, not alignment.")
    if result.adapter_dir is not None:
        lines.append(f"LoRA adapter: {result.adapter_dir / 'adapter_model.safetensors'}")
    lines.append(f"report: {result.out_dir / layout.STAGE_MARKDOWN}")
    return lines


def _wire(config: DPOConfig, run: RunSpec) -> DPOConfig:
    config = replace(
        config,
        input=run.inputs.preferences,
        tokenizer=run.root / layout.TOKENIZER,
        checkpoint=checkpoint_of(run, layout.SFT_DIR),
        out_dir=run.stage_dir(layout.DPO_DIR),
    )
    if run.dpo_steps is not None:  # `run tiny --dpo-steps N`: shorthand for --dpo-max-steps
        config = replace(config, max_steps=run.dpo_steps)
    return config


def _validate(config: DPOConfig, run: RunSpec) -> None:
    """The stage's own config check, and at least one usable pair (before base trains)."""
    from picochat.data.preferences import read_preferences_jsonl
    from picochat.errors import InputError
    from picochat.training.dpo import check_config

    check_config(config)
    prefs = read_preferences_jsonl(config.input)
    if not prefs.pairs:
        raise InputError(
            f"No usable preference pairs for DPO ({skipped_summary(prefs.skipped)}); nothing "
            "was trained.",
            file=config.input,
            fix='Each row needs "user" (or "prompt"/"messages"), "chosen" and "rejected".',
        )


def _estimate(config: DPOConfig, plan: Plan) -> None:
    # chosen + rejected: twice the sequences of an SFT step at the same batch.
    plan.eta["dpo"] = plan.seconds_per_chat_sequence * config.max_steps * 2 * config.batch_size


def _summarize(report: dict[str, Any], run: RunSpec) -> dict[str, Any]:
    summary = {k: report.get(k) for k in SUMMARY_KEYS}
    if report.get("history"):
        summary["last"] = report["history"][-1]
    return summary


STAGE = Stage(
    name="dpo",
    config=DPOConfig,
    command=Command("train", "dpo", "Preference-tune a chat checkpoint on chosen/rejected pairs."),
    run=runner("picochat.training.dpo", "train_dpo", progress=True),
    describe=_describe,
    folder=layout.DPO_DIR,
    report=layout.DPO_REPORT,
    run_defaults={
        "max_steps": 40,
        "learning_rate": 5e-5,
        "eval_every": 10,
    },
    run_defaults_reason=(
        "40 steps (not 200) at a 10x learning rate, evaluated every 10: the whole run is "
        "sized to finish in about three minutes on two CPU cores"
    ),
    needs=("sft",),
    trains=True,
    chat_model=True,
    wire=_wire,
    files=lambda config, run: {"preferences": run.inputs.preferences},
    enabled=lambda run: run.inputs.preferences is not None,
    validate=_validate,
    estimate=_estimate,
    summarize=_summarize,
)
