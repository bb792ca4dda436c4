"""Word hashing, MinHash accuracy against exact Jaccard, and the LSH index."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from picochat.data import dedup
from picochat.data.dedup import (
    MinHasher,
    NearDuplicateIndex,
    exact_key,
    lsh_shape,
    shingle_hashes,
    word_hashes,
)

WORDS = [f"w{i}" for i in range(3000)] + ["naïve", "日本語", "x"]


def random_text(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(WORDS) for _ in range(n)]


def test_word_hashes_follow_str_split_and_equal_words_hash_equal():
    text = "  the cat\tsat\n\non the  mat, the cat!\r\n naïve 日本語 "
    hashes, lengths = word_hashes(text.encode())
    words = text.split()
    assert len(hashes) == len(words)
    assert lengths.tolist() == [len(w.encode()) for w in words]
    by_word = {}
    for word, h in zip(words, hashes.tolist(), strict=True):
        assert by_word.setdefault(word, h) == h  # same word, same hash
    assert len(set(by_word.values())) == len(by_word)  # different words, different hashes
    assert exact_key(hashes) == exact_key(word_hashes(" ".join(words).encode())[0])
    assert exact_key(hashes) != exact_key(word_hashes(b"the cat sat")[0])


def test_word_hashes_of_a_huge_document_match_small_pieces(monkeypatch):
    monkeypatch.setattr(dedup, "_CHUNK", 64)  # force many chunks (tables are built larger)
    dedup._powers.cache_clear()
    text = " ".join(random_text(random.Random(0), 400))
    try:
        chunked, _ = word_hashes(text.encode())
    finally:
        monkeypatch.undo()
        dedup._powers.cache_clear()
    whole, _ = word_hashes(text.encode())
    assert np.array_equal(chunked, whole)


def test_hashes_are_the_same_in_another_process():
    text = "deterministic hashing across processes, unlike hash()"
    here = shingle_hashes(word_hashes(text.encode())[0]).tolist()
    src = Path(__file__).resolve().parents[2] / "src"
    code = (
        f"import sys; sys.path.insert(0, {str(src)!r});"
        "from picochat.data.dedup import shingle_hashes, word_hashes;"
        f"print(shingle_hashes(word_hashes({text!r}.encode())[0]).tolist())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(here)


def exact_jaccard(a: list[str], b: list[str], k: int = 5) -> float:
    sa = {tuple(a[i : i + k]) for i in range(len(a) - k + 1)}
    sb = {tuple(b[i : i + k]) for i in range(len(b) - k + 1)}
    return len(sa & sb) / len(sa | sb)


def test_minhash_estimates_match_exact_jaccard():
    """Reference: exact Jaccard of the 5-gram shingle sets (computed with Python sets)."""
    rng = random.Random(1)
    hasher = MinHasher()
    errors = []
    for _ in range(60):
        a = random_text(rng, rng.randint(100, 800))
        b = list(a)
        for _ in range(int(len(b) * rng.random() * 0.2)):
            b[rng.randrange(len(b))] = rng.choice(WORDS)
        sig = hasher.signatures(
            [shingle_hashes(word_hashes(" ".join(t).encode())[0]) for t in (a, b)]
        )
        errors.append(float((sig[0] == sig[1]).mean()) - exact_jaccard(a, b))
    errors = np.array(errors)
    # MinHash with 128 permutations: standard error <= 0.5 / sqrt(128) = 0.044.
    assert abs(errors.mean()) < 0.02
    assert errors.std() < 0.06
    assert np.abs(errors).max() < 0.2


def test_signatures_in_one_batch_equal_one_at_a_time():
    rng = random.Random(2)
    sets = [shingle_hashes(word_hashes(" ".join(random_text(rng, n)).encode())[0])
            for n in (3, 1, 5000, 40, 1)]  # fmt: skip
    hasher = MinHasher()
    batch = hasher.signatures(sets)
    single = np.vstack([hasher.signatures([s]) for s in sets])
    assert np.array_equal(batch, single)
    assert len(sets[1]) == 1  # a text shorter than 5 words is one shingle


@pytest.mark.parametrize("threshold", [0.5, 0.8, 0.95])
def test_lsh_shape_finds_pairs_at_threshold(threshold):
    bands, rows = lsh_shape(128, threshold)
    assert bands * rows == 128
    assert 1 - (1 - threshold**rows) ** bands >= 0.99


def test_index_reports_best_earlier_match_and_rolls_back():
    rng = random.Random(3)
    base = random_text(rng, 400)
    variant = list(base)
    variant[200] = "changed"
    other = random_text(rng, 400)
    hasher = MinHasher()
    sigs = hasher.signatures(
        [shingle_hashes(word_hashes(" ".join(t).encode())[0]) for t in (base, other, variant)]
    )
    index = NearDuplicateIndex(0.8)
    keys = index.band_keys(sigs)
    assert index.best_match(sigs[0], keys[0]) is None
    index.insert(10, sigs[0], keys[0])
    index.begin()
    assert index.best_match(sigs[1], keys[1]) is None
    index.insert(11, sigs[1], keys[1])
    index.insert(12, sigs[0], keys[0])  # shares every bucket with document 10
    match = index.best_match(sigs[2], keys[2])
    assert match is not None and match.other == 10 and match.similarity > 0.9
    index.rollback()
    assert len(index) == 1
    assert index._keys.find(keys[0][:1]) == [0]  # back to the one slot of document 10
    assert index.best_match(sigs[2], keys[2]).other == 10
    assert index.best_match(sigs[1], keys[1]) is None
