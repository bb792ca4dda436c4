"""The BPE tokenizer: byte-level, GPT-style pre-tokenisation, learned merges.

Encoding has two steps, exactly as in Hugging Face `tokenizers` (so both give the
same ids for the same tokenizer.json):

1. Pre-tokenise: the GPT-4 regex cuts text into chunks ("words": ' the', ',', '\\n\\n',
   '123'); merges never cross a chunk boundary.
2. Merge: each chunk starts as its UTF-8 bytes (ids 8 + b) and the applicable merge of
   lowest rank (learned earliest) is applied first, leftmost on ties, until none applies.

Chunks repeat a lot in real text, so their ids are cached (chunk -> ids): encoding a
corpus costs one regex pass plus a dict lookup per chunk.

Training lives in `bpe_train.py`; this module only encodes and describes the file.
"""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np
import regex

from picochat.tokenizer import hf_format
from picochat.tokenizer.base import Tokenizer
from picochat.tokenizer.byte import BYTE_OFFSET, NUM_BASE_TOKENS, ByteTokenizer, base_vocabulary
from picochat.tokenizer.onig_compat import OnigurumaSplit

# GPT-4's (cl100k) split: contractions, letters with one leading non-letter, numbers in
# groups of up to 3 digits, punctuation runs, newlines, other whitespace. Both the `regex`
# package and Oniguruma (Hugging Face) read this syntax the same way (possessive `?+`,
# `++`); onig_compat.py makes them agree on which characters are letters and digits.
GPT4_SPLIT_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}"""
    r"""| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
)

# Cutting a text just after a newline that is followed by a non-space character never
# splits a chunk of the pattern above (no alternative matches a newline followed by a
# non-space), so long texts are pre-tokenised piece by piece with identical results.
_SAFE_CUT = regex.compile(r"\n(?=\S)")
_PIECE_CHARS = 1 << 20

# Distinct chunks kept in the encoding cache before it is cleared (~100 MB at most).
_CACHE_LIMIT = 1 << 19


def text_pieces(
    text: str, size: int = _PIECE_CHARS, pattern: str = GPT4_SPLIT_PATTERN
) -> list[str]:
    """`text` cut into pieces of about `size` characters that pre-tokenise like the whole.

    Only proven for GPT4_SPLIT_PATTERN; with another pattern the text stays whole.
    """
    if pattern != GPT4_SPLIT_PATTERN:
        return [text]
    pieces, start = [], 0
    while len(text) - start > size:
        cut = _SAFE_CUT.search(text, start + size)
        if cut is None:
            break
        pieces.append(text[start : cut.end()])
        start = cut.end()
    pieces.append(text[start:])
    return pieces


class BPETokenizer(ByteTokenizer):
    type = "bpe"

    def __init__(
        self,
        merged_tokens: list[bytes],
        merges: list[tuple[int, int]],
        pattern: str = GPT4_SPLIT_PATTERN,
        metadata: dict | None = None,
    ) -> None:
        """`merged_tokens`: bytes of ids 264, 265, ...; `merges`: id pairs in rank order."""
        names, token_bytes = base_vocabulary()
        names += [hf_format.bytes_to_symbols(b) for b in merged_tokens]
        token_bytes += list(merged_tokens)
        Tokenizer.__init__(self, names, token_bytes, metadata)
        self.pattern = pattern
        self._split = OnigurumaSplit(pattern)
        bytes_to_id = {b: i for i, b in enumerate(token_bytes) if i >= BYTE_OFFSET}
        if len(bytes_to_id) != len(token_bytes) - BYTE_OFFSET:
            raise ValueError("two BPE tokens stand for the same bytes")
        self.merges = list(merges)
        # (left, right) -> (rank, merged id). A pair listed twice keeps its last rank,
        # as in Hugging Face.
        self._merge_map: dict[tuple[int, int], tuple[int, int]] = {}
        for rank, (left, right) in enumerate(self.merges):
            merged = bytes_to_id.get(token_bytes[left] + token_bytes[right])
            if merged is None:
                raise ValueError(f"merge {names[left]!r} + {names[right]!r} has no token")
            self._merge_map[(left, right)] = (rank, merged)
        self._cache: dict[str, tuple[int, ...]] = {}

    def _encode_ordinary(self, text: str) -> list[int]:
        ids: list[int] = []
        cache = self._cache
        for chunk in self._split.findall(text):
            chunk_ids = cache.get(chunk)
            if chunk_ids is None:
                chunk_ids = self._encode_chunk(chunk)
            ids.extend(chunk_ids)
        return ids

    def encode_array(self, text: str) -> np.ndarray:
        # Piece by piece keeps the temporary lists of chunks and ids small on big corpora.
        pieces = text_pieces(text, pattern=self.pattern)
        arrays = [np.asarray(self._encode_ordinary(p), self.id_dtype) for p in pieces]
        return np.concatenate(arrays)

    def _encode_chunk(self, chunk: str) -> tuple[int, ...]:
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        ids = self._cache[chunk] = self._merge([b + BYTE_OFFSET for b in chunk.encode("utf-8")])
        return ids

    def _merge(self, symbols: list[int]) -> tuple[int, ...]:
        """Apply merges to one chunk: lowest rank first, then leftmost (as HF's BPE model).

        A heap holds candidate merges (rank, position, merged id); symbols form a linked
        list (`after`/`before`), so a merge is O(log n) and stale candidates are skipped.
        """
        merge_map = self._merge_map
        n = len(symbols)
        after = [*range(1, n), -1]
        before = list(range(-1, n - 1))
        alive = [True] * n
        heap = []
        for pos in range(n - 1):
            found = merge_map.get((symbols[pos], symbols[pos + 1]))
            if found is not None:
                heap.append((found[0], pos, found[1]))
        heapq.heapify(heap)
        while heap:
            _, pos, merged = heapq.heappop(heap)
            right = after[pos] if alive[pos] else -1
            if right == -1:
                continue
            current = merge_map.get((symbols[pos], symbols[right]))
            if current is None or current[1] != merged:  # neighbours changed since pushed
                continue
            symbols[pos] = merged
            alive[right] = False
            after[pos] = after[right]
            if after[pos] != -1:
                before[after[pos]] = pos
            if before[pos] != -1:
                found = merge_map.get((symbols[before[pos]], merged))
                if found is not None:
                    heapq.heappush(heap, (found[0], before[pos], found[1]))
            if after[pos] != -1:
                found = merge_map.get((merged, symbols[after[pos]]))
                if found is not None:
                    heapq.heappush(heap, (found[0], pos, found[1]))
        return tuple(s for s, keep in zip(symbols, alive, strict=True) if keep)

    def _hf_sections(self) -> dict[str, Any]:
        names = self._names
        return {
            "model": hf_format.bpe_model(
                self._name_to_id, [[names[a], names[b]] for a, b in self.merges]
            ),
            "pre_tokenizer": {
                "type": "Sequence",
                "pretokenizers": [
                    {
                        "type": "Split",
                        "pattern": {"Regex": self.pattern},
                        "behavior": "Isolated",
                        "invert": False,
                    },
                    hf_format.byte_level_pre_tokenizer(),
                ],
            },
            "decoder": hf_format.byte_level_decoder(),
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> BPETokenizer:
        model = doc["model"]
        vocab: dict[str, int] = model["vocab"]
        names = sorted(vocab, key=vocab.__getitem__)
        if [vocab[n] for n in names] != list(range(len(names))):
            raise ValueError("BPE vocab ids are not 0..N-1")
        if names[:NUM_BASE_TOKENS] != base_vocabulary()[0]:
            raise ValueError("BPE vocab does not start with the special tokens and 256 bytes")
        merged_tokens = [hf_format.symbols_to_bytes(n) for n in names[NUM_BASE_TOKENS:]]
        merges = []
        for merge in model["merges"]:
            left, right = merge.split(" ") if isinstance(merge, str) else merge
            merges.append((vocab[left], vocab[right]))
        pattern = doc["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"]
        return cls(merged_tokens, merges, pattern, hf_format.metadata(doc))
