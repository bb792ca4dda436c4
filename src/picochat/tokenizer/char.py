"""The char tokenizer: one id per character (Unicode code point) seen in training.

The easiest tokenizer to read: ids 0..7 are the special tokens, 8 is `<unk>`, then the
training corpus's characters in code-point order. A character never seen in training
encodes as `<unk>` (it does not crash); `unknown_characters` lists them so `tok inspect`
can report the unknown rate of a corpus.

In Hugging Face terms: a WordLevel model over single characters, a Split pre-tokenizer
that isolates every code point (newlines included) and a Fuse decoder.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from picochat.tokenizer import hf_format
from picochat.tokenizer.base import Tokenizer
from picochat.tokenizer.special import SPECIAL_TOKENS, UNK

# Every code point is its own word: `[\s\S]` is "any character" in Oniguruma, the
# regex engine of Hugging Face tokenizers (its `.` skips newlines).
CHAR_SPLIT_REGEX = r"[\s\S]"


class CharTokenizer(Tokenizer):
    type = "char"

    def __init__(self, chars: list[str], metadata: dict | None = None) -> None:
        if any(len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise ValueError("a char vocabulary holds distinct single characters")
        names = [*SPECIAL_TOKENS, UNK, *chars]
        token_bytes = [name.encode("utf-8") for name in names]
        super().__init__(names, token_bytes, metadata)
        self.unk_id = len(SPECIAL_TOKENS)
        self.chars = list(chars)
        self._char_to_id = {c: i for i, c in enumerate(names) if i > self.unk_id}
        # Dense code point -> id table for the numpy fast path (a few hundred KB at most
        # for ordinary scripts; None when the alphabet reaches far into Unicode).
        top = max((ord(c) for c in chars), default=0)
        self._dense: np.ndarray | None = None
        if top < 1 << 17:
            self._dense = np.full(top + 1, self.unk_id, dtype=np.int64)
            for c, i in self._char_to_id.items():
                self._dense[ord(c)] = i

    @classmethod
    def train(cls, text: str, metadata: dict | None = None) -> CharTokenizer:
        """The alphabet of `text`, in code-point order."""
        return cls(sorted(set(text)), metadata)

    def _encode_ordinary(self, text: str) -> list[int]:
        get, unk = self._char_to_id.get, self.unk_id
        return [get(c, unk) for c in text]

    def encode_array(self, text: str) -> np.ndarray:
        if self._dense is None:
            return super().encode_array(text)
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        ids = np.full(points.shape, self.unk_id, dtype=np.int64)
        known = points < len(self._dense)
        ids[known] = self._dense[points[known]]
        return ids.astype(self.id_dtype)

    def unknown_characters(self, text: str) -> Counter:
        counts = Counter(text)
        return Counter({c: n for c, n in counts.items() if c not in self._char_to_id})

    def token_byte_lengths(self) -> np.ndarray:
        lengths = super().token_byte_lengths()
        # An unknown character's real length is lost at encoding; it is at least 1 byte.
        # Counting its loss over 1 byte makes bits per byte err high, never low.
        lengths[self.unk_id] = 1
        return lengths

    def _hf_sections(self) -> dict[str, Any]:
        return {
            "model": {"type": "WordLevel", "vocab": self._name_to_id, "unk_token": UNK},
            "pre_tokenizer": {
                "type": "Split",
                "pattern": {"Regex": CHAR_SPLIT_REGEX},
                "behavior": "Isolated",
                "invert": False,
            },
            "decoder": {"type": "Fuse"},
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> CharTokenizer:
        """Rebuild from a loaded tokenizer.json (already checked by `io.py`)."""
        vocab: dict[str, int] = doc["model"]["vocab"]
        names = sorted(vocab, key=vocab.__getitem__)
        if [vocab[n] for n in names] != list(range(len(names))):
            raise ValueError("char vocab ids are not 0..N-1")
        if names[: len(SPECIAL_TOKENS) + 1] != [*SPECIAL_TOKENS, UNK]:
            raise ValueError("char vocab does not start with the special tokens and <unk>")
        return cls(names[len(SPECIAL_TOKENS) + 1 :], hf_format.metadata(doc))
