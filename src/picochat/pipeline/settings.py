"""The stage configs of one run: `run tiny`'s defaults, then the user's stage flags.

Each stage config keeps only its non-path settings here; `picochat.pipeline.run`
fills in the paths (corpus, tokenizer, checkpoints, out dirs) from the run folder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from picochat.configs import (
    BaseTrainConfig,
    CorpusConfig,
    DPOConfig,
    EvalConfig,
    SFTConfig,
    TokenizerTrainConfig,
)
from picochat.configs.run import RUN_TINY_DEFAULTS

# stage name -> (config class, flag prefix used by `run tiny`)
STAGE_FLAGS: dict[str, tuple[type, str]] = {
    "corpus": (CorpusConfig, "data-"),
    "tokenizer": (TokenizerTrainConfig, "tokenizer-"),
    "base": (BaseTrainConfig, "base-"),
    "sft": (SFTConfig, "sft-"),
    "dpo": (DPOConfig, "dpo-"),
    "eval": (EvalConfig, "eval-"),
}


def _default(stage: str) -> object:
    """The stage's config with `run tiny`'s defaults (path fields stay None)."""
    config_cls, _ = STAGE_FLAGS[stage]
    return config_cls(**RUN_TINY_DEFAULTS.get(stage, {}))


@dataclass
class StageSettings:
    """Non-path settings of every stage of a run."""

    corpus: CorpusConfig = field(default_factory=lambda: _default("corpus"))
    tokenizer: TokenizerTrainConfig = field(default_factory=lambda: _default("tokenizer"))
    base: BaseTrainConfig = field(default_factory=lambda: _default("base"))
    sft: SFTConfig = field(default_factory=lambda: _default("sft"))
    dpo: DPOConfig = field(default_factory=lambda: _default("dpo"))
    eval: EvalConfig = field(default_factory=lambda: _default("eval"))

    def on_device(self, device: str) -> StageSettings:
        """`device` (the run's --device) for every stage whose own --STAGE-device flag
        was not given (None)."""
        changes = {}
        for name, config in self.as_dict().items():
            if getattr(config, "device", "") is None:
                changes[name] = dataclasses.replace(config, device=device)
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
