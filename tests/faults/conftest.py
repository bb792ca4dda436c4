"""Fixtures for the fault tests: a tiny char tokenizer and a checkpoint trained on nothing."""

from __future__ import annotations

import pytest

CORPUS = "the quick brown fox jumps over the lazy dog. " * 20


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    """(tokenizer.json, checkpoint folder) of a 2-layer model, built in a few ms."""
    import torch

    from picochat.cli.main import main
    from picochat.model.checkpoint import save_checkpoint
    from picochat.model.config import ModelConfig
    from picochat.model.transformer import Transformer
    from picochat.tokenizer import load_tokenizer

    folder = tmp_path_factory.mktemp("tiny")
    corpus = folder / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    tok_path = folder / "tokenizer.json"
    assert main(["--quiet", "tok", "train", "--input", str(corpus), "--out", str(tok_path)]) == 0
    tok = load_tokenizer(tok_path)
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_kv_head=2, n_embd=16, context_size=32
    )
    checkpoint = save_checkpoint(folder / "ckpt", Transformer(config), tokenizer_sha256=tok.sha256)
    return tok_path, checkpoint
