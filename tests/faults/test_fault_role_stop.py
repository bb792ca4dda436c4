"""A chat reply stops at any token that opens a turn; a text continuation does not.

The model here is rigged so that every position prefers `<|system|>`: a base model knows
no turns and can write one mid-reply (issue 15 saw `picochat.chat` return one).
"""

from __future__ import annotations

import pytest
import torch

import picochat
from picochat.generation import generate_batch, generate_ids, stop_ids_for
from picochat.model.checkpoint import load_checkpoint, save_checkpoint
from picochat.tokenizer import load_tokenizer
from picochat.tokenizer.special import BOS, ROLE_TOKENS, SYSTEM
from tiny_models import tiny_model

MESSAGES = [{"role": "user", "content": "the quick brown fox"}]


@pytest.fixture(scope="module")
def system_lover(tiny_files, tmp_path_factory):
    """(tokenizer path, checkpoint folder) of a model whose greedy choice is always <|system|>."""
    tok_path, _ = tiny_files
    tok = load_tokenizer(tok_path)
    model = tiny_model(tok.vocab_size, tie_embeddings=False, context_size=32)
    with torch.no_grad():
        # The last block adds nothing, so the final norm sees the (all-positive) embedding;
        # a head whose only non-zero row is <|system|>'s, all ones, then ranks it first.
        model.wte.weight.abs_()
        model.norm_f.weight.fill_(1.0)
        for block in model.blocks:
            block.mlp_proj.weight.zero_()
            block.attn_proj.weight.zero_()
        model.lm_head.weight.zero_()
        model.lm_head.weight[tok.token_to_id(SYSTEM)] = 1.0
    folder = save_checkpoint(
        tmp_path_factory.mktemp("rigged") / "ckpt", model, tokenizer_sha256=tok.sha256
    )
    return tok_path, folder


def test_reply_stops_include_every_turn_opener_and_text_stops_do_not(tiny_files):
    tok = load_tokenizer(tiny_files[0])
    reply, text = set(stop_ids_for(tok, reply=True)), set(stop_ids_for(tok))
    for token in (BOS, *ROLE_TOKENS.values()):
        assert tok.token_to_id(token) in reply
        assert tok.token_to_id(token) not in text
    assert text < reply


def test_a_chat_reply_ends_where_the_model_opens_a_turn(system_lover):
    tok_path, folder = system_lover
    tok = load_tokenizer(tok_path)
    model = load_checkpoint(folder, tokenizer=tok)
    system = tok.token_to_id(SYSTEM)
    prompt = tok.encode("the quick")
    # The rig works: plain continuation writes <|system|> again and again.
    continued = generate_ids(
        model, [prompt], stop_ids=stop_ids_for(tok), max_new_tokens=4, temperature=0.0
    )
    assert continued == [[system] * 4]
    # Every chat path stops there with nothing written.
    assert picochat.chat(model, tok, MESSAGES, max_new_tokens=4) == ""
    assert generate_batch(model, tok, [prompt], 4) == [[]]  # eval replies and SFT probes


def test_the_server_stops_chat_replies_but_not_text_completions(system_lover):
    pytest.importorskip("fastapi", reason="the `serve` extra is not installed")
    from fastapi.testclient import TestClient

    from picochat.serve.api import SingleModel, create_app
    from picochat.serve.engine import Engine
    from picochat.serve.models import native_model

    tok_path, folder = system_lover
    engine = Engine(native_model(folder, tok_path, name="rigged"), max_batch=2).start()
    try:
        with TestClient(create_app(SingleModel(engine))) as http:
            body = {"model": "rigged", "max_tokens": 4, "temperature": 0}
            chat = http.post("/v1/chat/completions", json={**body, "messages": MESSAGES}).json()
            text = http.post("/v1/completions", json={**body, "prompt": "the quick"}).json()
    finally:
        engine.close()
    assert chat["choices"][0]["message"]["content"] == ""
    assert chat["choices"][0]["finish_reason"] == "stop"
    assert text["choices"][0]["text"] == SYSTEM * 4
    assert text["choices"][0]["finish_reason"] == "length"
