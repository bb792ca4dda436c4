"""The special tokens every Picochat tokenizer carries, with fixed ids 0..7.

They are atomic in every tokenizer type: ordinary text that spells one is encoded
as plain text unless the caller passes `allow_special=True`, so a chat message cannot
forge a role switch. The chat template (`picochat.chat_format`) is their only user
besides document boundaries (`<|bos|>` / `<|eos|>`) and padding (`<|pad|>`).
"""

from __future__ import annotations

BOS = "<|bos|>"
EOS = "<|eos|>"
PAD = "<|pad|>"
SYSTEM = "<|system|>"
USER = "<|user|>"
ASSISTANT = "<|assistant|>"
TOOL = "<|tool|>"
END_OF_TURN = "<|end|>"

# Order fixes the ids: BOS=0, EOS=1, ... END_OF_TURN=7, in every tokenizer type.
SPECIAL_TOKENS: tuple[str, ...] = (BOS, EOS, PAD, SYSTEM, USER, ASSISTANT, TOOL, END_OF_TURN)
ROLE_TOKENS = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT, "tool": TOOL}

# The char tokenizer's id for a character it never saw in training (not a special token
# in the sense above: ordinary text can produce it).
UNK = "<unk>"
