"""Corpus support: how much of a reply can be found, word for word, in a corpus.

`CorpusIndex` reads a corpus once into a sorted numpy array of word n-gram keys (8
bytes per distinct n-gram; lookups are a binary search), so a 100 MB corpus fits in
a few hundred MB and each reply is checked in microseconds. Words are the phrase
matching words (`text.words`), so line breaks and punctuation do not break n-grams.

A reply's support is the share of its *content* n-grams (word bigrams with at least
one word outside `STOPWORDS`) that occur in the corpus; a reply shorter than two words
is judged on its content words. This checks grounding in the corpus's wording, not
truth: a reply that recombines corpus bigrams into a false statement still scores high.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from picochat.corpus_files import corpus_files, open_corpus_text
from picochat.data.text_input import require_utf8_text
from picochat.errors import InputError
from picochat.evaluation.text import ngrams, words

SUPPORT_N = 2
_CHUNK_CHARS = 8 << 20

_STOPWORD_TEXT = """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our
    ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we
    were what when where which while who whom why will with would you your yours yourself
    yourselves s t don doesn didn isn wasn aren weren won wouldn shall may might must o"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass
class Support:
    """Support of one reply: `share` of `total` content n-grams found (None: nothing to check)."""

    share: float | None
    found: int
    total: int
    unsupported: list[str] = field(default_factory=list)


def content_ngrams(tokens: list[str], n: int = SUPPORT_N) -> list[tuple[str, ...]]:
    """The n-grams of `tokens` with at least one non-stopword (content words if < n words)."""
    if len(tokens) < n:
        return [(t,) for t in tokens if t not in STOPWORDS]
    return [g for g in ngrams(tokens, n) if any(t not in STOPWORDS for t in g)]


class CorpusIndex:
    """The distinct word n-grams of a corpus, for fast membership tests."""

    def __init__(self, chunks: Iterator[str], *, n: int = SUPPORT_N, source: str = "<text>"):
        self.n = n
        self.source = source
        self.vocab: dict[str, int] = {}
        self._bits = 64 // n
        # Packing n word ids into one uint64 is exact for n <= 2 (32 bits per id);
        # longer n-grams use a multiplicative hash (collisions ~1e-19 per pair).
        self._exact = self._bits >= 32
        self.words = 0
        keys: list[np.ndarray] = []
        tail: list[int] = []
        for chunk in chunks:
            chunk_words = words(chunk)
            self.words += len(chunk_words)
            ids = tail + [self.vocab.setdefault(w, len(self.vocab)) for w in chunk_words]
            if len(ids) >= n:
                keys.append(np.unique(self._keys(np.asarray(ids, dtype=np.uint64))))
            tail = ids[-(n - 1) :] if n > 1 else []
        self._keys_sorted = np.unique(np.concatenate(keys)) if keys else np.zeros(0, np.uint64)
        self.distinct_ngrams = int(self._keys_sorted.size)

    @classmethod
    def from_text(cls, text: str, *, n: int = SUPPORT_N) -> CorpusIndex:
        return cls(iter([text]), n=n)

    @classmethod
    def from_file(cls, path: str | Path, *, n: int = SUPPORT_N) -> CorpusIndex:
        path = Path(path)
        if not path.exists():  # a corpus file or a shard folder
            raise InputError(
                "support corpus not found.", file=path, fix="Pass an existing corpus.txt."
            )
        for part in corpus_files(path):  # a file, or a shard folder's shards
            require_utf8_text(part, what="support corpus")  # a binary file is not evidence
        return cls(_read_chunks(path), n=n, source=str(path))

    def _keys(self, ids: np.ndarray) -> np.ndarray:
        count = ids.size - self.n + 1
        key = np.zeros(count, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for offset in range(self.n):
                part = ids[offset : offset + count]
                if self._exact:
                    key = (key << np.uint64(self._bits)) | part
                else:
                    key = key * np.uint64(0x9E3779B97F4A7C15) + part + np.uint64(1)
        return key

    def support(self, reply: str) -> Support:
        """Share of the reply's content n-grams that occur in the corpus."""
        grams = content_ngrams(words(reply), self.n)
        if not grams:
            return Support(None, 0, 0)
        found, unsupported = 0, []
        for gram in grams:
            if self._contains(gram):
                found += 1
            else:
                unsupported.append(" ".join(gram))
        return Support(found / len(grams), found, len(grams), unsupported)

    def _contains(self, gram: tuple[str, ...]) -> bool:
        ids = [self.vocab.get(w) for w in gram]
        if any(i is None for i in ids):
            return False
        if len(ids) < self.n:  # a lone content word: it is in the vocabulary
            return True
        key = self._keys(np.asarray(ids, dtype=np.uint64))[0]
        pos = int(np.searchsorted(self._keys_sorted, key))
        return pos < self._keys_sorted.size and self._keys_sorted[pos] == key


def _read_chunks(path: Path) -> Iterator[str]:
    # Line-aligned chunks keep memory flat; n-grams across chunk ends are kept via `tail`.
    with open_corpus_text(path, errors="replace") as handle:
        while True:
            chunk = handle.read(_CHUNK_CHARS)
            if not chunk:
                return
            chunk += handle.readline()
            yield chunk
