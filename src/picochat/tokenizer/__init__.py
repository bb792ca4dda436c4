"""Tokenizers: char, byte and byte-level BPE, saved as Hugging Face tokenizer.json.

    tok = load_tokenizer("runs/x/tokenizer.json")
    tok.encode("Hello"), tok.decode(ids), tok.vocab_size, tok.token_byte_lengths()

Modules: `special` (the fixed special tokens), `base` (shared behaviour), `char`,
`byte`, `bpe` (encoders), `bpe_train` (incremental merge learning), `hf_format` (the
file layout), `io` (load/save), `train` (`tok train`), `inspection` (`tok inspect`).
"""

from __future__ import annotations

from picochat.tokenizer.base import Tokenizer
from picochat.tokenizer.bpe import BPETokenizer
from picochat.tokenizer.byte import ByteTokenizer
from picochat.tokenizer.char import CharTokenizer
from picochat.tokenizer.io import load_tokenizer, save_tokenizer
from picochat.tokenizer.train import TokenizerTrainResult, train_tokenizer

__all__ = [
    "BPETokenizer",
    "ByteTokenizer",
    "CharTokenizer",
    "Tokenizer",
    "TokenizerTrainResult",
    "load_tokenizer",
    "save_tokenizer",
    "train_tokenizer",
]
