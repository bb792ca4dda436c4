"""Picochat: train small language models from scratch and tell the truth about them.

The public Python API (SPEC §10). Heavy modules (torch) load on first use, so
`import picochat` stays instant.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "PicochatError",
    "__version__",
    "chat",
    "generate",
    "load_checkpoint",
    "load_tokenizer",
]

from picochat.errors import PicochatError
from picochat.version import __version__


def load_tokenizer(path: str) -> Any:
    """Load a `tokenizer.json` (char, byte or bpe) -> object with encode/decode/vocab_size."""
    from picochat.tokenizer import load_tokenizer as _load

    return _load(path)


def load_checkpoint(path: str, device: str = "cpu", tokenizer: Any = None) -> Any:
    """Load a checkpoint folder -> the model (torch.nn.Module, eval mode, `.config`).

    With `tokenizer` (loaded, or a tokenizer.json path), check it is the one it was trained with.
    """
    from picochat.model.checkpoint import load_checkpoint as _load

    return _load(path, device=device, tokenizer=tokenizer)


def generate(model: Any, tokenizer: Any, prompt: str, **sampling: Any) -> str:
    """Continue raw text `prompt`; sampling flags as `picochat generate`."""
    from picochat.generation import generate_text

    return generate_text(model, tokenizer, prompt, **sampling)


def chat(model: Any, tokenizer: Any, messages: list[dict[str, str]], **sampling: Any) -> str:
    """Reply to a conversation rendered through the chat template."""
    from picochat.generation import chat_reply

    return chat_reply(model, tokenizer, messages, **sampling)
