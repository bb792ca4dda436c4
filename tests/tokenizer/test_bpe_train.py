"""The incremental BPE trainer learns exactly the merges a full recount would."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from picochat.tokenizer import BPETokenizer
from picochat.tokenizer.bpe import GPT4_SPLIT_PATTERN, text_pieces
from picochat.tokenizer.bpe_train import _hf_tie_order, count_words, train_bpe

# Words (GPT-4 split): "abab" x1, " abab" x1, " ab" x1.
#  pairs: (a,b)=5, (b,a)=2, (' ',a)=2          -> merge 1: a+b = "ab"
#  then:  (ab,ab)=2, (' ',ab)=2: tie; ' ' (Ġ) comes before the new token "ab" in
#         Hugging Face's id order               -> merge 2: ' '+ab = " ab"
#  then:  (ab,ab)=1, (' ab',ab)=1: both below min_freq 2 -> stop.
#  With min_freq 1: (ab,ab) (ids 264,264 < 265,264) -> "abab", then " ab"+"ab" -> " abab".
HAND_CORPUS = "abab abab ab"


def names(result):
    tok = BPETokenizer(result.merged_tokens, result.merges)
    return [(tok.id_to_token(a), tok.id_to_token(b)) for a, b in tok.merges]


def test_hand_checked_merges():
    words = count_words([HAND_CORPUS])
    assert words == Counter({"abab": 1, " abab": 1, " ab": 1})
    result = train_bpe(words, vocab_size=1000, min_freq=2)
    assert names(result) == [("a", "b"), ("Ġ", "ab")]
    assert result.merged_tokens == [b"ab", b" ab"]
    assert result.stop_reason == "min_freq" and result.last_merge_count == 2


def test_min_freq_one_merges_until_no_pair_is_left():
    result = train_bpe(count_words([HAND_CORPUS]), vocab_size=1000, min_freq=1)
    assert names(result) == [("a", "b"), ("Ġ", "ab"), ("ab", "ab"), ("Ġab", "ab")]
    assert result.stop_reason == "no_pairs"


def test_vocab_size_caps_the_merges():
    result = train_bpe(count_words([HAND_CORPUS]), vocab_size=265, min_freq=1)
    assert names(result) == [("a", "b")]
    assert result.stop_reason == "vocab_size"


def test_min_freq_stops_when_no_pair_reaches_it(shakespeare):
    words = count_words([shakespeare[:50_000]])
    result = train_bpe(words, vocab_size=100_000, min_freq=40)
    assert result.stop_reason == "min_freq"
    assert result.last_merge_count >= 40
    # the next pair, counted from scratch on the final segmentation, is below 40
    tok = BPETokenizer(result.merged_tokens, result.merges)
    pairs = Counter()
    for word, count in words.items():
        ids = tok.encode(word)
        for pair in zip(ids, ids[1:], strict=False):
            pairs[pair] += count
    assert max(pairs.values()) < 40


def naive_train(words: Counter, vocab_size: int, min_freq: int) -> list[bytes]:
    """Reference: recount every pair of every word before each merge (slow, obvious)."""
    order = _hf_tie_order()
    vocab = [b""] * 8 + [bytes([b]) for b in range(256)]
    seqs = {w: [b + 8 for b in w.encode()] for w in words}
    learned = []
    while len(vocab) < vocab_size:
        counts = Counter()
        for word, seq in seqs.items():
            for pair in zip(seq, seq[1:], strict=False):
                counts[pair] += words[word]
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], order[p[0]], order[p[1]]))
        if counts[best] < min_freq:
            break
        merged = vocab[best[0]] + vocab[best[1]]
        new_id = vocab.index(merged) if merged in vocab else len(vocab)
        if new_id == len(vocab):
            vocab.append(merged)
            order.append(new_id)
        learned.append(merged)
        for word, seq in seqs.items():
            out, i = [], 0
            while i < len(seq):
                if i + 1 < len(seq) and (seq[i], seq[i + 1]) == best:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            seqs[word] = out
    return learned


def test_incremental_counts_equal_a_full_recount(shakespeare):
    words = count_words([shakespeare[:60_000]])
    result = train_bpe(words, vocab_size=420, min_freq=2)
    tok = BPETokenizer(result.merged_tokens, result.merges)
    ours = [tok.token_bytes(a) + tok.token_bytes(b) for a, b in result.merges]
    assert len(ours) == 420 - 264
    assert ours == naive_train(words, 420, 2)


def test_training_is_deterministic_and_the_file_records_it(tmp_path, shakespeare, run_cli):
    corpus = tmp_path / "c.txt"
    corpus.write_text(shakespeare[:100_000], encoding="utf-8")
    outputs = []
    for name in ("a.json", "b.json"):
        code, _, err = run_cli(
            "tok",
            "train",
            "--input",
            corpus,
            "--out",
            tmp_path / name,
            "--type",
            "bpe",
            "--vocab-size",
            "300",
            "--min-freq",
            "2",
        )
        assert code == 0, err
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]
    meta = json.loads(outputs[0])["model"]["picochat"]
    assert meta["type"] == "bpe" and meta["training"]["merges"] == 300 - 264
    assert meta["training"]["stop_reason"] == "vocab_size"


@pytest.mark.parametrize("vocab_size", [263, 0])
def test_vocab_below_the_base_alphabet_is_refused(vocab_size):
    with pytest.raises(ValueError):
        train_bpe(Counter({"ab": 2}), vocab_size=vocab_size)


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="ab1 .'\n\r\t\u00a0é😀", max_size=120))
def test_text_pieces_pre_tokenise_like_the_whole_text(text):
    split = regex.compile(GPT4_SPLIT_PATTERN)
    pieces = text_pieces(text, size=3)
    assert "".join(pieces) == text
    assert [chunk for piece in pieces for chunk in split.findall(piece)] == split.findall(text)
