"""The corpus n-gram index: chunked reading, exact lookups, content n-grams only."""

from __future__ import annotations

import pytest

from picochat.evaluation import support
from picochat.evaluation.support import CorpusIndex, content_ngrams

TEXT = "The cat sat on the mat.\nA dog ran\nacross the yard, and the cat watched.\n" * 3


@pytest.mark.parametrize("n", [2, 3])
def test_chunked_file_index_equals_whole_text_index(tmp_path, monkeypatch, n):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT)
    monkeypatch.setattr(support, "_CHUNK_CHARS", 7)  # n-grams cross every chunk end
    chunked = CorpusIndex.from_file(path, n=n)
    whole = CorpusIndex.from_text(TEXT, n=n)
    assert chunked.distinct_ngrams == whole.distinct_ngrams
    assert chunked.words == whole.words == len(TEXT.split())
    reply = "A dog ran across the yard and the cat watched the moon."
    assert chunked.support(reply) == whole.support(reply)


def test_support_share_counts_content_ngrams_found():
    index = CorpusIndex.from_text(TEXT)
    assert index.support("A dog ran across the yard.").share == 1.0  # "ran across": line break
    result = index.support("The dog ran to the moon.")
    # content bigrams: the dog, dog ran, ran to, the moon ("to the" is all stopwords)
    assert (result.found, result.total) == (1, 4)
    assert result.unsupported == ["the dog", "ran to", "the moon"]
    assert index.support("the and of").share is None  # nothing checkable
    assert content_ngrams(["moon"]) == [("moon",)]
    assert index.support("cat").share == 1.0 and index.support("moon").share == 0.0
