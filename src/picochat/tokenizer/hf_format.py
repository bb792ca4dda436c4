"""The Hugging Face `tokenizer.json` layout that every Picochat tokenizer is saved in.

One file format for all three types, readable by `tokenizers.Tokenizer.from_file` and
`transformers.PreTrainedTokenizerFast`, with Picochat's own metadata under the key
`"picochat"` of the `model` section (type, format version, training statistics). It sits
there because `tokenizers` rejects unknown top-level keys but ignores unknown keys of a
model. Picochat refuses a file without it (it cannot know how such a file was meant).

The pieces per type (each type's module fills in its `model` and `pre_tokenizer`):
- char: WordLevel model + a Split pre-tokenizer isolating every code point.
- byte: BPE model with the 256 byte symbols and no merges + ByteLevel pre-tokenizer.
- bpe:  BPE model with learned merges + Split(GPT-4 regex) then ByteLevel.

Not for encoding or decoding: see `base.py` and the per-type modules.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from picochat.tokenizer.special import SPECIAL_TOKENS

FORMAT_KEY = "picochat"
FORMAT_VERSION = 1


@lru_cache(maxsize=1)
def byte_to_unicode() -> dict[int, str]:
    """GPT-2's map from each byte to a printable character (the ByteLevel alphabet).

    Printable Latin-1 bytes stand for themselves; the other 68 (control characters,
    space, ...) are shifted to U+0100 and up, so a space shows as 'Ġ' and '\\n' as 'Ċ'.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    mapping = {b: chr(b) for b in printable}
    shift = 0
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + shift)
            shift += 1
    return mapping


@lru_cache(maxsize=1)
def unicode_to_byte() -> dict[str, int]:
    return {char: b for b, char in byte_to_unicode().items()}


def bytes_to_symbols(data: bytes) -> str:
    """Raw bytes as the ByteLevel string Hugging Face stores in the vocab ('Ġthe')."""
    table = byte_to_unicode()
    return "".join(table[b] for b in data)


def symbols_to_bytes(symbols: str) -> bytes:
    """Inverse of `bytes_to_symbols`; KeyError on a character outside the alphabet."""
    table = unicode_to_byte()
    return bytes(table[c] for c in symbols)


def added_tokens() -> list[dict[str, Any]]:
    """The special tokens as HF added tokens: matched whole, never normalised or split."""
    return [
        {
            "id": token_id,
            "content": content,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        for token_id, content in enumerate(SPECIAL_TOKENS)
    ]


def byte_level_pre_tokenizer() -> dict[str, Any]:
    """Maps bytes to the ByteLevel alphabet without splitting (`use_regex=False`)."""
    return {
        "type": "ByteLevel",
        "add_prefix_space": False,
        "trim_offsets": True,
        "use_regex": False,
    }


def byte_level_decoder() -> dict[str, Any]:
    """Maps the ByteLevel alphabet back to bytes; Hugging Face's ByteLevel decoder takes
    the same four settings as the pre-tokenizer, so the section is the same."""
    return byte_level_pre_tokenizer()


def bpe_model(vocab: dict[str, int], merges: list[list[str]]) -> dict[str, Any]:
    """A BPE model section; `merges` in rank order as [left, right] symbol strings."""
    return {
        "type": "BPE",
        "dropout": None,
        "unk_token": None,
        "continuing_subword_prefix": None,
        "end_of_word_suffix": None,
        "fuse_unk": False,
        "byte_fallback": False,
        "ignore_merges": False,
        "vocab": vocab,
        "merges": merges,
    }


def document(
    *,
    model: dict[str, Any],
    pre_tokenizer: dict[str, Any],
    decoder: dict[str, Any],
    picochat: dict[str, Any],
) -> dict[str, Any]:
    """The whole tokenizer.json as a dict (key order as Hugging Face writes it)."""
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added_tokens(),
        "normalizer": None,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": None,
        "decoder": decoder,
        "model": {**model, FORMAT_KEY: picochat},
    }


def metadata(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The Picochat metadata of a loaded tokenizer.json, or None."""
    model = doc.get("model")
    return model.get(FORMAT_KEY) if isinstance(model, dict) else None


def dumps(doc: dict[str, Any]) -> str:
    """Canonical text of a tokenizer.json: same tokenizer, same bytes, same sha256."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
