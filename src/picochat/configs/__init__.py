"""Config dataclasses of every stage; each field is also the stage's CLI flag.

Kept free of heavy imports (no torch) so `picochat --help` starts instantly.
"""

from picochat.configs.data import (
    CorpusConfig,
    EvalStarterConfig,
    HFImportConfig,
    PreferenceStarterConfig,
    TokenizeConfig,
)
from picochat.configs.fields import option
from picochat.configs.inference import (
    ChatConfig,
    EvalConfig,
    ExportHFConfig,
    GenerateConfig,
    ModelSourceConfig,
    SamplingConfig,
)
from picochat.configs.interop import ExportGGUFConfig, ImportHFConfig
from picochat.configs.run import GateConfig, RunConfig
from picochat.configs.tokenizer import TokenizerInspectConfig, TokenizerTrainConfig
from picochat.configs.training import (
    BaseTrainConfig,
    DPOConfig,
    HFSFTConfig,
    LoopConfig,
    ModelShapeConfig,
    PeftConfig,
    SFTConfig,
)

__all__ = [
    "BaseTrainConfig",
    "ChatConfig",
    "CorpusConfig",
    "DPOConfig",
    "EvalConfig",
    "EvalStarterConfig",
    "ExportGGUFConfig",
    "ExportHFConfig",
    "GateConfig",
    "GenerateConfig",
    "HFImportConfig",
    "HFSFTConfig",
    "ImportHFConfig",
    "LoopConfig",
    "ModelShapeConfig",
    "ModelSourceConfig",
    "PeftConfig",
    "PreferenceStarterConfig",
    "RunConfig",
    "SFTConfig",
    "SamplingConfig",
    "TokenizeConfig",
    "TokenizerInspectConfig",
    "TokenizerTrainConfig",
    "option",
]
