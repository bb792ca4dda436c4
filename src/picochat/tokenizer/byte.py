"""The byte tokenizer: UTF-8 bytes as ids, nothing learned, nothing ever unknown.

Ids 0..7 are the special tokens, then byte b has id 8 + b (264 tokens in all). It is
also the base of the BPE tokenizer (`bpe.py`), which adds learned merges on top.

In Hugging Face terms: a BPE model whose vocab is the 256 ByteLevel symbols and which has
no merges, behind a ByteLevel pre-tokenizer that does not split (`use_regex=False`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from picochat.tokenizer import hf_format
from picochat.tokenizer.base import Tokenizer
from picochat.tokenizer.special import SPECIAL_TOKENS

BYTE_OFFSET = len(SPECIAL_TOKENS)  # id of byte 0
NUM_BASE_TOKENS = BYTE_OFFSET + 256


def base_vocabulary() -> tuple[list[str], list[bytes]]:
    """Names and bytes of ids 0..263: the special tokens, then the 256 bytes."""
    names = list(SPECIAL_TOKENS)
    token_bytes = [name.encode("utf-8") for name in SPECIAL_TOKENS]
    for b in range(256):
        names.append(hf_format.byte_to_unicode()[b])
        token_bytes.append(bytes([b]))
    return names, token_bytes


class ByteTokenizer(Tokenizer):
    type = "byte"

    def __init__(self, metadata: dict | None = None) -> None:
        names, token_bytes = base_vocabulary()
        super().__init__(names, token_bytes, metadata)

    def _encode_ordinary(self, text: str) -> list[int]:
        return [b + BYTE_OFFSET for b in text.encode("utf-8")]

    def encode_array(self, text: str) -> np.ndarray:
        data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        return data.astype(self.id_dtype) + BYTE_OFFSET

    def _hf_sections(self) -> dict[str, Any]:
        return {
            "model": hf_format.bpe_model(self._name_to_id, []),
            "pre_tokenizer": hf_format.byte_level_pre_tokenizer(),
            "decoder": hf_format.byte_level_decoder(),
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> ByteTokenizer:
        tokenizer = cls(hf_format.metadata(doc))
        expected = tokenizer._hf_sections()["model"]["vocab"]
        if doc["model"].get("vocab") != expected or doc["model"].get("merges"):
            raise ValueError("a byte tokenizer has exactly the 256 byte symbols and no merges")
        return tokenizer
