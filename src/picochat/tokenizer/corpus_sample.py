"""What `tok train` reads of a corpus: one streamed pass, and a bounded training sample.

    scan = scan_corpus(path, max_train_chars, alphabet=True)

The pass reads the corpus (a file or a shard folder, `picochat.corpus_files`) in `READ_BYTES` blocks: sha256 of the bytes, the byte and
character counts, and (for a char tokenizer, whose vocabulary is the set of characters
and must cover the whole corpus) the alphabet. Memory: one block.

The training text is the whole corpus when it has at most `max_train_chars` bytes
(so small corpora train exactly as before), else `max_train_chars` characters in
`SLICE_BYTES` slices at evenly spaced offsets, each from a line start to a line end
(nanochat trains its tokenizer on a 2 B-character sample for the same reason: merges
settle long before the corpus ends). `sample` says which, for the report.

Not for learning the merges (`bpe_train.py`) or writing the file (`train.py`).
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picochat.byte_progress import ByteProgress
from picochat.corpus_files import corpus_size, open_corpus_bytes, open_corpus_text
from picochat.errors import InputError

READ_BYTES = 16 << 20
SLICE_BYTES = 1 << 20  # one evenly spaced slice of the sample


@dataclass
class CorpusScan:
    sha256: str
    bytes: int
    chars: int
    text: str  # what the tokenizer learns from
    alphabet: set[str] = field(default_factory=set)
    sample: dict[str, Any] = field(default_factory=dict)

    @property
    def whole(self) -> bool:
        return self.sample["whole_corpus"]


def _not_utf8(path: Path, error: UnicodeDecodeError, offset: int) -> InputError:
    return InputError(
        f"the corpus is not UTF-8 text (byte {offset + error.start} cannot be decoded).",
        file=path,
        fix="Convert it to UTF-8, or build it with `picochat data build`, which skips such files.",
    )


def _stream(path: Path, alphabet: bool) -> tuple[str, int, int, set[str]]:
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    chars, offset, letters = 0, 0, set()
    progress = ByteProgress("tok train: reading", corpus_size(path))
    # verify: a shard's sha256 is checked against the manifest's as it is hashed anyway
    with open_corpus_bytes(path, verify=True) as handle, contextlib.closing(progress):
        while block := handle.read(READ_BYTES):
            progress.advance(len(block))
            digest.update(block)
            try:
                text = decoder.decode(block)
            except UnicodeDecodeError as error:
                raise _not_utf8(path, error, offset) from None
            offset += len(block)
            chars += len(text)
            if alphabet:
                letters.update(text)
        try:
            chars += len(decoder.decode(b"", final=True))
        except UnicodeDecodeError as error:
            raise _not_utf8(path, error, offset) from None
    return digest.hexdigest(), offset, chars, letters


def _slices(path: Path, size: int, max_chars: int) -> tuple[str, int]:
    """About `max_chars` characters in whole lines from evenly spaced offsets."""
    count = max(1, max_chars // SLICE_BYTES)
    parts, total = [], 0
    with open_corpus_bytes(path) as handle:
        for i in range(count):
            handle.seek(size * i // count)
            if i:
                handle.readline()  # start at a line start
            raw = handle.read(SLICE_BYTES)
            cut = raw.rfind(b"\n")
            raw = raw[: cut + 1] if cut >= 0 else raw
            text = raw.decode("utf-8", errors="replace")
            parts.append(text[: max_chars - total])
            total += len(parts[-1])
            if total >= max_chars:
                break
    return "".join(parts), len(parts)


def scan_corpus(path: Path, max_train_chars: int, *, alphabet: bool = False) -> CorpusScan:
    """One pass over `path` and the training text (see the module docstring)."""
    path = Path(path)
    digest, size, chars, letters = _stream(path, alphabet)
    if size <= max_train_chars:
        with open_corpus_text(path) as handle:
            text = handle.read()
        sample = {"whole_corpus": True, "trained_on_chars": len(text)}
    else:
        text, slices = _slices(path, size, max_train_chars)
        sample = {
            "whole_corpus": False,
            "trained_on_chars": len(text),
            "max_train_chars": max_train_chars,
            "method": f"{slices} slices of up to {SLICE_BYTES:,} bytes in whole lines at "
            "evenly spaced offsets",
        }
    return CorpusScan(digest, size, chars, text, letters, sample)
