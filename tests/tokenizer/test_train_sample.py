"""`tok train --max-train-chars`: a large corpus is learned from a bounded sample."""

from __future__ import annotations

import hashlib

from picochat.configs import TokenizerTrainConfig
from picochat.tokenizer import corpus_sample, load_tokenizer, train_tokenizer


def write_corpus(path, lines: int) -> str:
    text = "".join(
        f"line {i} holds words like river stone {i % 13} and café\n" for i in range(lines)
    )
    path.write_text(text, encoding="utf-8")
    return text


def test_a_corpus_above_the_limit_is_sampled_and_the_report_says_how_much(
    tmp_path, monkeypatch, run_cli
):
    monkeypatch.setattr(corpus_sample, "SLICE_BYTES", 2000)
    corpus = tmp_path / "corpus.txt"
    text = write_corpus(corpus, 3000)
    out = tmp_path / "tok.json"
    result = train_tokenizer(TokenizerTrainConfig(input=corpus, out=out, type="bpe",
                                                  vocab_size=300, max_train_chars=10_000))  # fmt: skip
    sample = result.training["sample"]
    assert not sample["whole_corpus"] and 9_000 <= sample["trained_on_chars"] <= 10_000
    assert "evenly spaced" in sample["method"]
    # The whole corpus is still measured: hash, bytes, characters.
    assert result.training["corpus_sha256"] == hashlib.sha256(corpus.read_bytes()).hexdigest()
    assert result.corpus_chars == len(text) and result.corpus_bytes == len(text.encode())
    # The token count is the sample's rate scaled to the corpus: close to the true count.
    true_tokens = len(load_tokenizer(out).encode(text))
    assert abs(result.corpus_tokens - true_tokens) / true_tokens < 0.05
    code, stdout, _ = run_cli("tok", "train", "--input", corpus, "--out", out, "--type", "bpe",
                              "--vocab-size", "300", "--max-train-chars", "10000")  # fmt: skip
    assert code == 0 and "learned from a sample" in stdout


def test_a_sampled_char_tokenizer_still_covers_the_whole_alphabet(tmp_path):
    corpus = tmp_path / "corpus.txt"
    text = write_corpus(corpus, 2000) + "a rare line at the very end: Ω\n"
    corpus.write_text(text, encoding="utf-8")
    result = train_tokenizer(TokenizerTrainConfig(input=corpus, out=tmp_path / "t.json",
                                                  max_train_chars=5_000))  # fmt: skip
    whole = train_tokenizer(TokenizerTrainConfig(input=corpus, out=tmp_path / "w.json"))
    assert "sample" in result.training and "sample" not in whole.training
    assert result.tokenizer.unknown_characters(text) == {}
    assert result.vocab_size == whole.vocab_size
