"""`run tiny`'s check of every later stage's inputs and settings, before base trains.

Without it an all-bad chat file, an empty preference file or an unknown LoRA target
fails only after base pretraining has run (minutes to hours). Each check here is the
one the stage itself would make, run early: the stage's own config check, its own
reader, and "is anything usable left". Not here: checks that need the trained model
(context-length truncation depends on the base checkpoint's context).
"""

from __future__ import annotations

from typing import Any

from picochat.errors import InputError


def _reasons(skipped: list[Any], shown: int = 3) -> str:
    listed = "; ".join(f"line {r.line}: {r.reason}" for r in skipped[:shown])
    more = f"; and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return f"{len(skipped)} skipped" + (f": {listed}{more}" if skipped else "")


def check_before_training(ctx: Any) -> None:
    """Raise the first error a later stage would raise on its inputs or flags."""
    from dataclasses import replace

    from picochat.data.chat import read_chat_jsonl
    from picochat.data.preferences import read_preferences_jsonl
    from picochat.evaluation.items import read_eval_items
    from picochat.training import dpo, sft

    placeholders = {"input": "-", "tokenizer": "-", "checkpoint": "-", "out_dir": "-"}
    sft._check_config(replace(ctx.settings.sft, **placeholders))
    chat = read_chat_jsonl(ctx.inputs.chat)
    if not chat.examples:
        raise InputError(
            f"No usable chat rows for SFT ({_reasons(chat.skipped)}); nothing was trained.",
            file=ctx.inputs.chat,
            fix="Fix the rows listed, or check that the file is a chat JSONL.",
        )
    if ctx.inputs.preferences is not None:
        dpo._check_config(replace(ctx.settings.dpo, **placeholders))
        prefs = read_preferences_jsonl(ctx.inputs.preferences)
        if not prefs.pairs:
            raise InputError(
                f"No usable preference pairs for DPO ({_reasons(prefs.skipped)}); nothing "
                "was trained.",
                file=ctx.inputs.preferences,
                fix='Each row needs "user" (or "prompt"/"messages"), "chosen" and "rejected".',
            )
    for path in [ctx.inputs.eval, *ctx.inputs.external_evals.values()]:
        read_eval_items(path)  # raises on a bad row, with its line
