"""`picochat tok train` and `tok inspect`: bad input gives a clear error (exit 2, nothing
written); the CLI prints real figures."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models as hf_models

from picochat.errors import InputError
from picochat.tokenizer import load_tokenizer


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("hello world, hello tokenizer.\nCafé 😀\n" * 50, encoding="utf-8")
    return path


def test_train_and_inspect_end_to_end(tmp_path, corpus, run_cli):
    out = tmp_path / "tok" / "tokenizer.json"
    code, stdout, err = run_cli("tok", "train", "--input", corpus, "--out", out)
    assert code == 0, err
    assert "char tokenizer" in stdout and out.is_file()
    tok = load_tokenizer(out)
    assert tok.type == "char" and tok.vocab_size == 8 + 1 + len(set(corpus.read_text()))

    other = tmp_path / "other.txt"
    other.write_text("hello Zürich\n", encoding="utf-8")
    code, stdout, err = run_cli(
        "tok", "inspect", "--tokenizer", out, "--text", "hello <|user|>", "--input", other
    )
    assert code == 0, err
    assert "vocab size" in stdout and "<|bos|>=0" in stdout
    assert "14 tokens" in stdout  # 'hello ' + 8 characters of '<|user|>' (plain text)
    # 'Z', 'ü' and 'c' never occur in the corpus: 3 of the 13 characters
    assert "unknown characters: 3 (23.0769%), 3 distinct" in stdout
    assert "U+005A" in stdout and "U+00FC" in stdout and "U+0063" in stdout


def test_bpe_train_via_cli(tmp_path, corpus, run_cli):
    out = tmp_path / "bpe.json"
    code, stdout, err = run_cli(
        "tok",
        "train",
        "--input",
        corpus,
        "--out",
        out,
        "--type",
        "bpe",
        "--vocab-size",
        "280",
        "--min-freq",
        "2",
    )
    assert code == 0, err
    meta = json.loads(out.read_text())["model"]["picochat"]["training"]
    assert meta["merges"] == 280 - 264 and "merges: 16" in stdout


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ("empty", [], "the corpus is empty"),
        ("blank", [], "the corpus is empty"),
        ("missing", [], "corpus file not found"),
        ("folder", [], "is a folder"),
        ("latin1", [], "not UTF-8"),
        ("ok", ["--type", "bpe", "--vocab-size", "200"], "smaller than the base alphabet"),
        ("ok", ["--type", "bpe", "--min-freq", "0"], "--min-freq must be at least 1"),
    ],
)
def test_bad_training_input_is_a_clear_error(tmp_path, run_cli, setup, args, message):
    corpus = tmp_path / "corpus.txt"
    if setup == "empty":
        corpus.write_text("")
    elif setup == "blank":
        corpus.write_text("  \n\n\t\n")
    elif setup == "folder":
        corpus.mkdir()
    elif setup == "latin1":
        corpus.write_bytes("line one\ncaf\xe9\n".encode("latin-1"))
    elif setup == "ok":
        corpus.write_text("some text\n")
    out = tmp_path / "tokenizer.json"
    code, _, err = run_cli("tok", "train", "--input", corpus, "--out", out, *args)
    assert code == 2
    assert message in err and "Fix:" in err and "Traceback" not in err
    assert not out.exists()
    if setup == "latin1":
        assert "corpus.txt:2:" in err


def test_existing_tokenizer_survives_a_failed_training(tmp_path, corpus, run_cli):
    out = tmp_path / "tokenizer.json"
    assert run_cli("tok", "train", "--input", corpus, "--out", out)[0] == 0
    before = out.read_bytes()
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert run_cli("tok", "train", "--input", empty, "--out", out)[0] == 2
    assert out.read_bytes() == before


def test_unknown_tokenizer_formats_are_refused(tmp_path, corpus, run_cli):
    foreign = tmp_path / "foreign.json"
    HFTokenizer(hf_models.BPE()).save(str(foreign))  # a valid HF file, but not ours
    with pytest.raises(InputError, match="not a Picochat tokenizer.json"):
        load_tokenizer(foreign)

    ours = tmp_path / "ours.json"
    assert run_cli("tok", "train", "--input", corpus, "--out", ours)[0] == 0
    doc = json.loads(ours.read_text())
    for mutate, message in [
        (lambda d: d["model"]["picochat"].update(type="wordpiece"), "unknown tokenizer type"),
        (lambda d: d["model"]["picochat"].update(format_version=99), "format version 99"),
        (lambda d: d.update(normalizer={"type": "Lowercase"}), "normalizer or pre-tokenizer"),
        (lambda d: d["added_tokens"].pop(), "special tokens"),
    ]:
        changed = json.loads(json.dumps(doc))
        mutate(changed)
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(changed))
        with pytest.raises(InputError, match=message):
            load_tokenizer(bad)

    broken = tmp_path / "broken.json"
    broken.write_text('{"version": "1.0",\n  "model": ')
    code, _, err = run_cli("tok", "inspect", "--tokenizer", broken)
    assert code == 2 and "broken.json:2: tokenizer file is not valid JSON" in err
    code, _, err = run_cli("tok", "inspect", "--tokenizer", tmp_path / "nope.json")
    assert code == 2 and "tokenizer file not found" in err
