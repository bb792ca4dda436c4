"""Tokenizer input faults: a malformed `added_tokens`, a UTF-8 byte-order mark."""

from __future__ import annotations

import json


def test_added_tokens_of_numbers_is_a_clear_error(tmp_path, run_cli):
    (tmp_path / "c.txt").write_text("hello world\n", encoding="utf-8")
    tok = tmp_path / "tok.json"
    assert run_cli("--quiet", "tok", "train", "--input", tmp_path / "c.txt", "--out", tok)[0] == 0
    doc = json.loads(tok.read_text(encoding="utf-8"))
    doc["added_tokens"] = [1, 2, 3]
    tok.write_text(json.dumps(doc), encoding="utf-8")
    from picochat.errors import InputError
    from picochat.tokenizer import load_tokenizer

    try:
        load_tokenizer(tok)
    except InputError as error:
        assert "special tokens" in str(error) and str(tok) in str(error)
    else:
        raise AssertionError("a tokenizer.json with added_tokens [1, 2, 3] was accepted")


def test_a_byte_order_mark_is_not_learned_as_a_token(tmp_path, run_cli):
    corpus = tmp_path / "bom.txt"
    corpus.write_bytes("\ufeffhello world\n".encode())
    tok = tmp_path / "tok.json"
    assert run_cli("--quiet", "tok", "train", "--input", corpus, "--out", tok)[0] == 0
    vocab = json.loads(tok.read_text(encoding="utf-8"))["model"]["vocab"]
    assert "\ufeff" not in vocab and "h" in vocab
