"""Chat rows -> (input ids, labels) for a Hugging Face tokenizer, answer-only loss.

The conversation is rendered twice with the tokenizer's chat template: without the
final assistant message (with the generation prompt, exactly what the model sees at
inference) and with it. The full text must start with the prompt text; the rest is
the answer span (the reply plus whatever the template closes the turn with, e.g.
`<|im_end|>`). The ids are `tokenize(prompt) + tokenize(answer)`: the prompt is
tokenized alone, as at generation time, so the answer's first token is the one the
model must produce after the prompt. Labels are -100 on the prompt, the ids on the
answer. Too-long rows lose earlier context from the left; a row whose answer alone
does not fit is skipped.

Not for: native Picochat tokenizers (`picochat.chat_format` does that job there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from picochat.data.chat import ChatExample
from picochat.training.sft_data import ChatBatches

IGNORE_INDEX = -100  # labels the loss skips (PyTorch cross_entropy's ignore_index)


@dataclass
class EncodedExample:
    """One conversation ready for the model: ids, labels, and where it came from."""

    line: int
    input_ids: list[int]
    labels: list[int]
    truncated: bool

    @property
    def supervised_tokens(self) -> int:
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


@dataclass
class EncodedSet:
    examples: list[EncodedExample] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)

    @property
    def truncated(self) -> int:
        return sum(e.truncated for e in self.examples)

    @property
    def supervised_tokens(self) -> int:
        return sum(e.supervised_tokens for e in self.examples)


def render_split(tokenizer: Any, messages: list[dict[str, Any]]) -> tuple[str, str]:
    """(prompt text, answer text) of a conversation under the tokenizer's template."""
    prompt = tokenizer.apply_chat_template(
        messages[:-1], tokenize=False, add_generation_prompt=True
    )
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise ValueError(
            "the chat template renders the conversation differently once the answer is "
            "added, so the answer span cannot be found"
        )
    return prompt, full[len(prompt) :]


def encode_example(tokenizer: Any, example: ChatExample, max_length: int) -> EncodedExample:
    """Ids and answer-only labels, left-truncated to `max_length` (ValueError if impossible)."""
    prompt_text, answer_text = render_split(tokenizer, example.messages)
    prompt = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    answer = tokenizer(answer_text, add_special_tokens=False)["input_ids"]
    if not answer:
        raise ValueError("the answer renders to no tokens")
    if len(answer) >= max_length:
        raise ValueError(
            f"the answer alone is {len(answer)} tokens; with at least one token of context "
            f"it does not fit --max-length {max_length}"
        )
    truncated = len(prompt) + len(answer) > max_length
    if truncated:
        prompt = prompt[len(prompt) + len(answer) - max_length :]
    return EncodedExample(
        line=example.line,
        input_ids=prompt + answer,
        labels=[IGNORE_INDEX] * len(prompt) + answer,
        truncated=truncated,
    )


def encode_examples(tokenizer: Any, examples: list[ChatExample], max_length: int) -> EncodedSet:
    """Encode every example; rows that cannot be encoded are listed with their reason."""
    encoded = EncodedSet()
    for example in examples:
        try:
            encoded.examples.append(encode_example(tokenizer, example, max_length))
        except ValueError as error:
            encoded.skipped.append((example.line, str(error)))
    return encoded


def collate(batch: list[EncodedExample], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors: input_ids, attention_mask, labels (-100 on padding)."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = [e.input_ids + [pad_id] * (width - len(e.input_ids)) for e in batch]
    labels = [e.labels + [IGNORE_INDEX] * (width - len(e.labels)) for e in batch]
    mask = [[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in batch]
    return {
        "input_ids": torch.tensor(ids),
        "attention_mask": torch.tensor(mask),
        "labels": torch.tensor(labels),
    }


class HFChatBatches(ChatBatches):
    """Native SFT's batch order (seeded epochs, rank slices, exact resume) over encoded
    rows; each batch is the model's keyword arguments on `device`."""

    def next_batch(self) -> dict[str, Any]:
        return {k: v.to(self.device) for k, v in collate(self.next_rows(), self.pad_id).items()}
