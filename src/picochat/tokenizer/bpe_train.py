"""Learning BPE merges from a corpus: Picochat's own incremental trainer.

The algorithm (the one Hugging Face `tokenizers` and SentencePiece use, in plain Python):

1. Pre-tokenise the corpus into chunks ("words") with the split regex and count each
   distinct word once: 10 MB of English is ~2.6 M chunks but only ~15-60 K distinct
   words, and every later step works on the distinct words weighted by their count.
2. Count adjacent token pairs over those words, and remember which words hold each pair.
3. Repeat until the vocabulary is full: take the most frequent pair, give it a new id
   and rewrite only the words that hold it, adjusting the pair counts of just those
   words. The best pair comes from a heap with lazy invalidation: an entry whose count
   no longer matches the live count is stale and skipped (or re-pushed if the pair
   still occurs), so no step recounts the corpus.

Stops when the vocabulary reaches `vocab_size`, when the best pair occurs fewer than
`min_freq` times, or when no pair is left (every word is a single token).

Ties: between pairs of equal count, the pair that comes first in Hugging Face's id
order wins (its byte alphabet is ordered by the printable stand-in characters, e.g.
'!' < 'a' < 'Ġ', then merged tokens by creation). So on the same words Picochat and
`tokenizers`' BpeTrainer normally pick the same merges; equality of training is not
promised, equality of encoding for the same tokenizer.json is (see bpe.py).

A merge whose bytes already exist as a token reuses that token's id (as Hugging Face
does), since a tokenizer.json vocab maps each string to one id.

Not for encoding (bpe.py) or for reading the corpus file (train.py).
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise

from picochat.tokenizer import hf_format
from picochat.tokenizer.bpe import GPT4_SPLIT_PATTERN, text_pieces
from picochat.tokenizer.byte import BYTE_OFFSET, NUM_BASE_TOKENS
from picochat.tokenizer.onig_compat import OnigurumaSplit

Pair = tuple[int, int]


@dataclass
class BPETrainingResult:
    merged_tokens: list[bytes]  # bytes of ids 264, 265, ... in id order
    merges: list[Pair]  # (left id, right id) in the order learned (= rank)
    stop_reason: str  # "vocab_size" | "min_freq" | "no_pairs"
    distinct_words: int
    last_merge_count: int | None  # occurrences of the last pair merged


def count_words(texts: Iterable[str], pattern: str = GPT4_SPLIT_PATTERN) -> Counter:
    """Distinct pre-tokenised chunks of `texts` with their counts."""
    split = OnigurumaSplit(pattern)
    counts: Counter = Counter()
    for text in texts:
        for piece in text_pieces(text, pattern=pattern):
            counts.update(split.findall(piece))
    return counts


def _hf_tie_order() -> list[int]:
    """Rank of each base id in Hugging Face's vocab order (specials, then sorted symbols)."""
    symbols = hf_format.byte_to_unicode()
    by_symbol = sorted(range(256), key=lambda b: ord(symbols[b]))
    order = list(range(NUM_BASE_TOKENS))
    for rank, b in enumerate(by_symbol):
        order[BYTE_OFFSET + b] = BYTE_OFFSET + rank
    return order


def _merge_word(word: list[int], pair: Pair, new_id: int) -> list[int] | None:
    """`word` with every occurrence of `pair` (left to right) replaced; None if absent."""
    left, right = pair
    out: list[int] = []
    i, n, found = 0, len(word), False
    while i < n:
        if i + 1 < n and word[i] == left and word[i + 1] == right:
            out.append(new_id)
            i += 2
            found = True
        else:
            out.append(word[i])
            i += 1
    return out if found else None


def _apply_merge(
    words: list[list[int]],
    freqs: list[int],
    where: dict[Pair, set[int]],
    pair_counts: dict[Pair, int],
    pair: Pair,
    new_id: int,
) -> set[Pair]:
    """Merge `pair` into `new_id` in every word that holds it, updating the pair counts
    and `where` in place; returns the pairs that contain the new token."""
    grown: set[Pair] = set()
    for index in where.pop(pair):
        old = words[index]
        new = _merge_word(old, pair, new_id)
        if new is None:  # the word lost this pair to an earlier merge
            continue
        freq = freqs[index]
        for old_pair in pairwise(old):
            pair_counts[old_pair] -= freq
        for new_pair in pairwise(new):
            pair_counts[new_pair] += freq
            if new_id in new_pair:
                where[new_pair].add(index)
                grown.add(new_pair)
        words[index] = new
    del pair_counts[pair]
    return grown


def _count_pairs(
    words: list[list[int]], freqs: list[int]
) -> tuple[dict[Pair, int], dict[Pair, set[int]]]:
    """(pair -> count weighted by word frequency, pair -> indices of words that hold it)."""
    pair_counts: dict[Pair, int] = defaultdict(int)
    where: dict[Pair, set[int]] = defaultdict(set)  # pair -> words that (may) hold it
    for index, word in enumerate(words):
        for pair in pairwise(word):
            pair_counts[pair] += freqs[index]
            where[pair].add(index)
    return pair_counts, where


def train_bpe(
    word_counts: Mapping[str, int], vocab_size: int, min_freq: int = 2
) -> BPETrainingResult:
    """Learn merges until `vocab_size` tokens (special tokens and 256 bytes included)."""
    if vocab_size < NUM_BASE_TOKENS:
        raise ValueError(f"vocab_size must be at least {NUM_BASE_TOKENS}")
    order = _hf_tie_order()
    token_bytes = [b""] * BYTE_OFFSET + [bytes([b]) for b in range(256)]
    bytes_to_id = {token_bytes[i]: i for i in range(BYTE_OFFSET, NUM_BASE_TOKENS)}

    words = [[b + BYTE_OFFSET for b in word.encode("utf-8")] for word in word_counts]
    freqs = list(word_counts.values())
    pair_counts, where = _count_pairs(words, freqs)

    def entry(pair: Pair) -> tuple:
        # heapq is a min-heap: highest count first, then HF's id order.
        return (-pair_counts[pair], order[pair[0]], order[pair[1]], pair)

    heap = [entry(pair) for pair in pair_counts]
    heapq.heapify(heap)
    merges: list[Pair] = []
    last_count: int | None = None
    below_min_freq = False
    while heap and len(token_bytes) < vocab_size:
        negative_count, _, _, pair = heapq.heappop(heap)
        count = pair_counts.get(pair, 0)
        if count != -negative_count:
            # Stale entry. Counts of existing pairs only fall (a rise pushes a fresh
            # entry), so a pair that still occurs goes back with its live count.
            if 0 < count < -negative_count:
                heapq.heappush(heap, entry(pair))
            continue
        if count < min_freq:
            below_min_freq = True
            break

        merged = token_bytes[pair[0]] + token_bytes[pair[1]]
        new_id = bytes_to_id.get(merged)
        if new_id is None:
            new_id = bytes_to_id[merged] = len(token_bytes)
            token_bytes.append(merged)
            order.append(new_id)
        merges.append(pair)
        last_count = count

        for new_pair in _apply_merge(words, freqs, where, pair_counts, pair, new_id):
            heapq.heappush(heap, entry(new_pair))

    stop_reason = "min_freq" if below_min_freq else "no_pairs"
    if not below_min_freq and len(token_bytes) >= vocab_size:
        stop_reason = "vocab_size"
    return BPETrainingResult(
        merged_tokens=token_bytes[NUM_BASE_TOKENS:],
        merges=merges,
        stop_reason=stop_reason,
        distinct_words=len(words),
        last_merge_count=last_count,
    )
