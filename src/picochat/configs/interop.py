"""Settings of the ecosystem bridges: `import hf` and `export gguf`.

(`export hf` keeps its settings in `inference.py` next to the other model sources.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from picochat.configs.fields import option

GGUF_DTYPES = ("f32", "f16", "bf16", "q8_0")


@dataclass
class ImportHFConfig:
    """`import hf`: a Hugging Face Llama-architecture model as a Picochat checkpoint."""

    model: Path | None = option(
        None,
        "A local Hugging Face model folder (config.json, model.safetensors, tokenizer.json).",
        path=True,
        required=True,
    )
    out_dir: Path | None = option(
        None,
        "Where to write checkpoint/, tokenizer.json and import_report.json.",
        path=True,
        required=True,
    )


@dataclass
class ExportGGUFConfig:
    """`export gguf`: a native checkpoint as one GGUF file for llama.cpp / Ollama."""

    checkpoint: Path | None = option(
        None, "The Picochat checkpoint folder.", path=True, required=True
    )
    tokenizer: Path | None = option(None, "Its tokenizer.json.", path=True, required=True)
    out: Path | None = option(
        None,
        "The .gguf file to write (default: model-DTYPE.gguf beside the checkpoint).",
        path=True,
    )
    dtype: str = option(
        "f16",
        "Weight type: f32, f16, bf16, or q8_0 (8-bit blocks; see the README for its "
        "measured agreement with the unquantised model).",
        choices=GGUF_DTYPES,
    )
