"""`picochat train ...`: base pretraining, chat SFT, DPO, Hugging Face SFT.

Every command here is a stage: its flags, work and console lines come from its
declaration in `picochat.stages` (base, sft, dpo, hf_sft).
"""

from __future__ import annotations

import argparse

from picochat.cli.commands import add_group


def register(commands: argparse._SubParsersAction) -> None:
    add_group(commands, "train", "Training stages: base, sft, dpo, hf-sft.")
