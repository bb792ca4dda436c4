"""`picochat eval chat`: generate replies to eval items and score them with rules.

A stage: its flags, work and console lines come from `picochat.stages.eval`.
"""

from __future__ import annotations

import argparse

from picochat.cli.commands import add_group


def register(commands: argparse._SubParsersAction) -> None:
    add_group(commands, "eval", "Score a chat model on eval items with transparent rules.")
