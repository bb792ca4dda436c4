"""A multi-turn chat with a model: history, the exact prompt, fitting the context.

`picochat chat` is a thin loop over `ChatSession`: `send(text)` streams the reply and
records both turns; `reset()` forgets them; `show_prompt()` is the exact text and
token count the model would see next. Before each reply the oldest turns are dropped
(the system message stays) until the prompt leaves room for the reply, by the same
budget as `picochat.generation.fit_prompt`; `last_dropped` says how many were cut so
the CLI can tell the user.

Two engines answer: a native checkpoint (`NativeEngine`: streamed, through
`picochat.chat_format`) or a Hugging Face model (`HFEngine`: the model's own chat
template, reply printed whole). Not here: sampling (`generation.py`), loading a model
(`model/loading.py`), the terminal.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from picochat.generation import fit_prompt, sampling_config, stream_reply
from picochat.model.loading import check_hf_source, load_native

Message = dict[str, Any]


class NativeEngine:
    """A Picochat checkpoint and its tokenizer."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.context_size = model.config.context_size

    def prompt_ids(self, messages: list[Message]) -> list[int]:
        from picochat.chat_format import render_prompt

        return render_prompt(self.tokenizer, messages)

    def exact_prompt(self, messages: list[Message], max_new_tokens: int) -> tuple[str, int, int]:
        """(text, tokens, tokens cut) of what the model reads, after generation's left cut."""
        kept, cut = fit_prompt(self.prompt_ids(messages), self.context_size, max_new_tokens)
        return self.tokenizer.decode(kept), len(kept), cut

    def stream(self, messages: list[Message], sampling: dict[str, Any]) -> Iterator[str]:
        return stream_reply(self.model, self.tokenizer, self.prompt_ids(messages), **sampling)

    def warnings(self) -> list[str]:
        notes = []
        kind = getattr(self.model, "checkpoint_meta", {}).get("kind")
        if kind not in ("sft", "dpo"):
            notes.append(
                f"this checkpoint is a {kind or 'unknown'} model, not chat-tuned (SFT/DPO): it "
                "continues text and was never taught the chat format, so expect rambling. "
                "Train one with `picochat train sft`, or use `picochat generate` for raw text."
            )
        if not getattr(self.tokenizer, "has_chat_tokens", True):
            notes.append(
                "the tokenizer has no chat role tokens (<|user|>, <|assistant|>, <|end|>), so "
                "conversations cannot be rendered; use `picochat generate` instead."
            )
        return notes


class HFEngine:
    """A `picochat.hf.adapter.HFChatModel` (its own chat template; no streaming)."""

    def __init__(self, chat_model: Any) -> None:
        self.chat_model = chat_model
        config = chat_model.model.config
        self.context_size = getattr(config, "max_position_embeddings", None) or 2048

    def prompt_ids(self, messages: list[Message]) -> list[int]:
        return self.chat_model.prompt_ids(messages)

    def exact_prompt(self, messages: list[Message], max_new_tokens: int) -> tuple[str, int, int]:
        return self.chat_model.render_prompt(messages), len(self.prompt_ids(messages)), 0

    def stream(self, messages: list[Message], sampling: dict[str, Any]) -> Iterator[str]:
        yield self.chat_model.reply(messages, **sampling)

    def warnings(self) -> list[str]:
        return []


class ChatSession:
    """The conversation so far and how to continue it."""

    def __init__(self, engine: Any, *, system: str | None = None, **sampling: Any) -> None:
        self.engine = engine
        self.sampling = sampling
        self.max_new_tokens = sampling_config(**sampling).max_new_tokens  # validates early
        self.system = system
        self.history: list[Message] = []
        self.last_dropped = 0
        self.last_prompt: list[Message] | None = None

    def reset(self) -> None:
        self.history = []
        self.last_dropped = 0
        self.last_prompt = None

    def _fit(self, turns: list[Message]) -> tuple[list[Message], int]:
        """Messages to render (system + the latest turns that fit) and turns dropped."""
        context = self.engine.context_size
        budget = max(context - self.max_new_tokens, context // 2)
        head = [{"role": "system", "content": self.system}] if self.system else []
        dropped = 0
        while len(turns) > 1 and len(self.engine.prompt_ids(head + turns)) > budget:
            turns = turns[1:]
            dropped += 1
        while turns and turns[0]["role"] != "user" and len(turns) > 1:  # start on a user turn
            turns = turns[1:]
            dropped += 1
        return head + turns, dropped

    def show_prompt(self) -> tuple[str, int, int] | None:
        """(text, tokens, tokens cut) of the exact prompt of the last reply; None before one."""
        if self.last_prompt is None:
            return None
        return self.engine.exact_prompt(self.last_prompt, self.max_new_tokens)

    def send(self, text: str) -> Iterator[str]:
        """Stream the reply to `text`; both turns join the history when it is done."""
        user = {"role": "user", "content": text}
        messages, self.last_dropped = self._fit([*self.history, user])
        self.last_prompt = messages
        pieces: list[str] = []
        for piece in self.engine.stream(messages, self.sampling):
            pieces.append(piece)
            yield piece
        self.history += [user, {"role": "assistant", "content": "".join(pieces).strip()}]


def open_engine(source: Any) -> NativeEngine | HFEngine:
    """The engine named by a `ModelSourceConfig` (--checkpoint + --tokenizer, or --hf-model)."""
    from picochat.runtime import resolve_device

    device = resolve_device(source.device)
    if source.hf_model is not None:
        check_hf_source(source)
        from picochat.hf.adapter import load_hf_chat_model

        return HFEngine(load_hf_chat_model(source.hf_model, device=device))
    return NativeEngine(*load_native(source, device))
