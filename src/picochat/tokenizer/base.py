"""What every Picochat tokenizer does the same way: special tokens, decode, byte lengths.

A tokenizer is a list of tokens (id -> bytes it stands for) plus a way to cut ordinary
text into those ids (`_encode_ordinary`, one per type). This class adds the rest:

- special tokens `<|bos|>` ... `<|end|>` with fixed ids 0..7 (`special.py`). Ordinary
  text that spells one is encoded as plain text; only `encode(text, allow_special=True)`
  turns the spelling into the token (like tiktoken's `allowed_special`). That keeps a
  chat message from forging a role switch.
- `decode`, `token_byte_lengths` (for bits per byte), `sha256` of the tokenizer.json.

Not for training (`train.py`, `bpe_train.py`) nor for reading files (`io.py`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import regex

from picochat.artifacts import sha256_bytes
from picochat.tokenizer import hf_format
from picochat.tokenizer.special import (
    BOS,
    END_OF_TURN,
    EOS,
    PAD,
    ROLE_TOKENS,
    SPECIAL_TOKENS,
)

_SPECIAL_PATTERN = regex.compile("|".join(regex.escape(token) for token in SPECIAL_TOKENS))


class Tokenizer:
    """Base class of CharTokenizer, ByteTokenizer and BPETokenizer."""

    type: ClassVar[str] = ""

    def __init__(self, names: list[str], token_bytes: list[bytes], metadata: dict | None) -> None:
        # names[i]: token i as written in tokenizer.json (what `token_to_id` takes);
        # token_bytes[i]: the UTF-8 bytes token i decodes to (a special token: its name).
        assert len(names) == len(token_bytes)
        assert names[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
        self._names = names
        self._token_bytes = token_bytes
        self._name_to_id = {name: i for i, name in enumerate(names)}
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.path: Path | None = None
        self._sha256: str | None = None

    # -- what each type provides -------------------------------------------------------

    def _encode_ordinary(self, text: str) -> list[int]:
        """Ids of `text` with no special-token parsing."""
        raise NotImplementedError

    def _hf_sections(self) -> dict[str, Any]:
        """The `model`, `pre_tokenizer` and `decoder` sections of tokenizer.json."""
        raise NotImplementedError

    # -- encoding ----------------------------------------------------------------------

    def encode(self, text: str, allow_special: bool = False) -> list[int]:
        """Token ids of `text`. Special-token spellings are plain text unless allowed."""
        if not allow_special:
            return self._encode_ordinary(text)
        ids: list[int] = []
        start = 0
        for match in _SPECIAL_PATTERN.finditer(text):
            ids.extend(self._encode_ordinary(text[start : match.start()]))
            ids.append(self._name_to_id[match.group()])
            start = match.end()
        ids.extend(self._encode_ordinary(text[start:]))
        return ids

    def encode_batch(self, texts: list[str], allow_special: bool = False) -> list[list[int]]:
        """`encode` for many texts (sharing the per-word cache of BPE)."""
        return [self.encode(text, allow_special) for text in texts]

    def encode_array(self, text: str) -> np.ndarray:
        """Ordinary text as a numpy id array (uint16 when the vocab fits): the corpus path."""
        return np.asarray(self._encode_ordinary(text), dtype=self.id_dtype)

    @property
    def id_dtype(self) -> type:
        return np.uint16 if self.vocab_size <= 1 << 16 else np.uint32

    def unknown_characters(self, text: str) -> Counter:
        """Characters of `text` the tokenizer cannot represent (only `char` has any)."""
        return Counter()

    # -- decoding and the vocabulary --------------------------------------------------

    def decode(self, ids: Any) -> str:
        """Text of `ids`; bytes that are not valid UTF-8 (a cut character) become U+FFFD."""
        table = self._token_bytes
        return b"".join(table[int(i)] for i in ids).decode("utf-8", errors="replace")

    @property
    def vocab_size(self) -> int:
        return len(self._names)

    def token_to_id(self, name: str) -> int | None:
        """Id of a token as written in tokenizer.json (e.g. '<|bos|>', 'a', 'Ġthe')."""
        return self._name_to_id.get(name)

    def id_to_token(self, token_id: int) -> str:
        """The token's name in tokenizer.json."""
        return self._names[token_id]

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes a token decodes to."""
        return self._token_bytes[token_id]

    def is_special(self, token_id: int) -> bool:
        return 0 <= token_id < len(SPECIAL_TOKENS)

    def token_byte_lengths(self) -> np.ndarray:
        """UTF-8 bytes of text each id stands for; 0 for specials.

        Bits per byte divides a loss by these: special tokens are markup, not text, so
        they count 0 bytes and their loss is left out. The char tokenizer's `<unk>` counts
        1 byte (the fewest a character has), so its loss stays in and bits per byte can
        only err high, never low.
        """
        lengths = np.array([len(b) for b in self._token_bytes], dtype=np.int64)
        lengths[: len(SPECIAL_TOKENS)] = 0
        return lengths

    @property
    def bos_id(self) -> int:
        return self._name_to_id[BOS]

    @property
    def eos_id(self) -> int:
        return self._name_to_id[EOS]

    @property
    def pad_id(self) -> int:
        return self._name_to_id[PAD]

    @property
    def has_chat_tokens(self) -> bool:
        needed = [*ROLE_TOKENS.values(), END_OF_TURN]
        return all(token in self._name_to_id for token in needed)

    # -- the file ---------------------------------------------------------------------

    def to_json(self) -> str:
        """The tokenizer.json text (Hugging Face layout + Picochat metadata)."""
        picochat = {
            "type": self.type,
            "format_version": hf_format.FORMAT_VERSION,
            "special_tokens": list(SPECIAL_TOKENS),
            **{k: v for k, v in self.metadata.items() if k not in ("type", "format_version")},
        }
        return hf_format.dumps(hf_format.document(**self._hf_sections(), picochat=picochat))

    @property
    def sha256(self) -> str:
        """sha256 of the tokenizer.json this tokenizer was loaded from (or would write)."""
        if self._sha256 is None:
            self._sha256 = sha256_bytes(self.to_json().encode("utf-8"))
        return self._sha256

    def __repr__(self) -> str:
        where = f", path={str(self.path)!r}" if self.path else ""
        return f"{type(self).__name__}(vocab_size={self.vocab_size}{where})"
