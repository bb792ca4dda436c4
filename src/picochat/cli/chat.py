"""`picochat chat` and `picochat generate`: sample from a checkpoint by hand."""

from __future__ import annotations

import argparse

from picochat.cli.commands import add_command, not_built
from picochat.configs import ChatConfig, GenerateConfig


def register(commands: argparse._SubParsersAction) -> None:
    add_command(
        commands,
        "chat",
        config=ChatConfig,
        handler=not_built("chat", 6),
        help="Talk to a chat checkpoint (/reset, /show-prompt, /quit); reads piped stdin too.",
    )
    add_command(
        commands,
        "generate",
        config=GenerateConfig,
        handler=not_built("generate", 6),
        help="Continue a raw text prompt with a (base) checkpoint.",
    )
