"""Bits per byte keeps the loss of `<unk>` targets (1 byte each): it can only err high."""

from __future__ import annotations

import math

import pytest
import torch

from picochat.configs import TokenizerTrainConfig
from picochat.model.config import ModelConfig
from picochat.model.transformer import Transformer
from picochat.tokenizer import train_tokenizer
from picochat.training.lm_metrics import window_loss_sums


def test_unknown_characters_count_their_loss_over_one_byte(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("abc abc cab\n", encoding="utf-8")
    tok = train_tokenizer(TokenizerTrainConfig(input=corpus, out=tmp_path / "t.json")).tokenizer
    ids = tok.encode("ab€ca")  # € (3 UTF-8 bytes) is unknown to this tokenizer
    assert tok.unk_id in ids
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2,
                                    n_kv_head=2, n_embd=16, context_size=8)).eval()  # fmt: skip
    x, y = torch.tensor([ids[:-1]]), torch.tensor([ids[1:]])
    sums = window_loss_sums(model, x, y, torch.from_numpy(tok.token_byte_lengths()),
                            device=torch.device("cpu"))  # fmt: skip
    with torch.no_grad():
        logp = torch.log_softmax(model(x)[0][0].double(), dim=-1)
    nats = -sum(logp[i, t].item() for i, t in enumerate(ids[1:]))
    # Every target is text here: all 4 losses in, 4 bytes (the unknown counted as 1, not 3).
    assert sums.text_bytes == 4
    assert sums.bits_per_byte == pytest.approx(nats / (math.log(2) * 4), rel=1e-6)
