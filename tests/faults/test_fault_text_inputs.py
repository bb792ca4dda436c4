"""Inputs in the wrong encoding or of the wrong kind: named, exit 2, before any work."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_latin1_corpus_for_eval_starter_is_called_not_utf8(tmp_path, run_cli):
    corpus = tmp_path / "latin1.txt"
    corpus.write_bytes(
        "Le café est un lieu où les gens parlent pendant des heures.\n".encode("latin-1")
    )
    code, _, err = run_cli("data", "eval-starter", "--input", corpus, "--out", tmp_path / "e.jsonl")
    assert code == 2 and "not UTF-8" in err and "latin1.txt:1" in err
    assert "no sentence" not in err


def test_binary_support_corpus_is_refused_before_generating(tiny_files, tmp_path, run_cli):
    tok, ckpt = tiny_files
    items = tmp_path / "items.jsonl"
    items.write_text('{"user": "hi", "require_corpus_support": true}\n', encoding="utf-8")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"ELF\0\1\2\3" * 10)
    code, _, err = run_cli(
        "eval", "chat", "--checkpoint", ckpt, "--tokenizer", tok, "--input", items,
        "--out-dir", tmp_path / "ev", "--support-corpus", binary,
    )  # fmt: skip
    assert code == 2 and "binary file" in err and "Traceback" not in err
    assert not (tmp_path / "ev" / "eval_report.json").exists()


def test_missing_dpo_reference_checkpoint_is_named(tiny_files, tmp_path, run_cli):
    tok, ckpt = tiny_files
    code, _, err = run_cli(
        "train", "dpo", "--input", EXAMPLES / "preferences.jsonl", "--tokenizer", tok,
        "--checkpoint", ckpt, "--reference-checkpoint", tmp_path / "nope",
        "--out-dir", tmp_path / "dpo",
    )  # fmt: skip
    assert code == 2 and "nope" in err and "not found" in err and "Traceback" not in err
