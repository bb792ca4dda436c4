"""`picochat import hf`: a Hugging Face Llama-architecture model as a native checkpoint."""

from __future__ import annotations

import argparse
from typing import Any

from picochat.cli.commands import CommandSpec, add_group
from picochat.configs import ImportHFConfig
from picochat.stages.declaration import runner


def _imported(result: Any) -> list[str]:
    lines = [
        f"Imported {result.num_parameters:,} parameters (vocab {result.vocab_size}) to "
        f"{result.checkpoint} with {result.tokenizer}"
    ]
    if result.new_rows:
        lines.append(f"New token rows (mean-initialised, untrained): {', '.join(result.new_rows)}")
    if result.dropped_tokens:
        lines.append(f"Dropped tokens with no Picochat role: {', '.join(result.dropped_tokens)}")
    return lines


def register(commands: argparse._SubParsersAction) -> None:
    hf = CommandSpec(
        "hf",
        ImportHFConfig,
        None,
        "Convert a Llama-architecture Hugging Face folder (safetensors + byte-level BPE "
        "tokenizer.json) into a Picochat checkpoint and tokenizer.",
        run=runner("picochat.hf.llama_import", "import_hf"),
        describe=_imported,
    )
    add_group(commands, "import", "Bring a model from another ecosystem in.", [hf])
