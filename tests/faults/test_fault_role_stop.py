"""A reply stops at any token that opens a turn, not only at <|end|>/<|eos|>."""

from __future__ import annotations

import torch

from picochat.generation import DEFAULT_STOP_IDS, generate_ids, stop_ids_for
from picochat.model.config import ModelConfig
from picochat.model.transformer import Transformer
from picochat.tokenizer.special import ROLE_TOKENS, SPECIAL_TOKENS


def test_every_role_token_stops_a_reply(tiny_files):
    from picochat.tokenizer import load_tokenizer

    tok = load_tokenizer(tiny_files[0])
    stops = set(stop_ids_for(tok))
    for token in ROLE_TOKENS.values():
        assert tok.token_to_id(token) in stops
    assert set(DEFAULT_STOP_IDS) == {
        SPECIAL_TOKENS.index(t) for t in SPECIAL_TOKENS if t != "<|pad|>"
    }


def test_greedy_decoding_that_reaches_system_stops_there():
    torch.manual_seed(0)
    system = SPECIAL_TOKENS.index("<|system|>")
    model = Transformer(ModelConfig(vocab_size=16, n_layer=1, n_head=2, n_kv_head=2, n_embd=8,
                                    context_size=16, tie_embeddings=False)).eval()  # fmt: skip
    with torch.no_grad():  # every position now prefers <|system|>: the head row of all ones
        model.norm_f.weight.fill_(1.0)
        model.lm_head.weight.zero_()
        model.lm_head.weight[system] = 1e-3
        model.blocks[0].mlp_proj.weight.zero_()
        model.blocks[0].attn_proj.weight.zero_()
        model.wte.weight.abs_()  # positive hidden states: the all-ones row scores highest
    out = generate_ids(model, [[10, 11]], stop_ids=DEFAULT_STOP_IDS, pad_id=2,
                       max_new_tokens=5, temperature=0.0)  # fmt: skip
    assert out == [[]]
