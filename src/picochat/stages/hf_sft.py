"""The Hugging Face SFT stage: fine-tune an existing Hugging Face causal LM on chat rows.

Its work is `picochat.hf.sft.train_hf_sft` (`train hf-sft`); not part of
`run tiny`, which trains its own model from scratch.
"""

from __future__ import annotations

from typing import Any

from picochat.configs import HFSFTConfig
from picochat.stages.declaration import Command, Stage, runner


def _describe(result: Any) -> list[str]:
    best = "n/a" if result.best_val_loss is None else f"{result.best_val_loss:.4f}"
    return [
        f"hf-sft stopped ({result.stop_reason}: {result.stop_message}) after {result.steps} "
        f"steps; best val loss {best} at step {result.best_step}.",
        f"final model: {result.final_model}",
        f"best model:  {result.best_model}",
        f"report:      {result.report}",
    ]


STAGE = Stage(
    name="hf-sft",
    config=HFSFTConfig,
    command=Command(
        "train", "hf-sft", "Fine-tune an existing Hugging Face causal LM on chat rows."
    ),
    run=runner("picochat.hf.sft", "train_hf_sft", progress=True),
    describe=_describe,
    in_run=False,
)
