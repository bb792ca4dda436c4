"""Every stage, in pipeline order: the one list the CLI, `run tiny`, preflight and the
summary walk.

Adding a stage: write `picochat/stages/NAME.py` with its `STAGE` declaration, add it
here, and give it a config in `picochat/configs/` and tests. Nothing else restates it.
"""

from __future__ import annotations

from picochat.stages import base, corpus, dpo, eval, hf_import, hf_sft, sft, tokenizer
from picochat.stages.declaration import Stage

STAGES: tuple[Stage, ...] = (
    corpus.STAGE,
    tokenizer.STAGE,
    base.STAGE,
    sft.STAGE,
    dpo.STAGE,
    eval.STAGE,
    hf_import.STAGE,
    hf_sft.STAGE,
)
# The stages of `run tiny`, in the order it runs them.
PIPELINE: tuple[Stage, ...] = tuple(s for s in STAGES if s.in_run)
BY_NAME: dict[str, Stage] = {s.name: s for s in STAGES}
