"""compile_for_decoding: the same greedy tokens and logits as eager decoding."""

from __future__ import annotations

import copy

import pytest
import torch
from torch._dynamo.utils import counters

from picochat.generation import generate_ids
from picochat.model.compile import compile_for_decoding
from picochat.model.transformer import Transformer
from tiny_models import tiny_model

VOCAB = 61


@pytest.fixture(scope="module")
def models() -> tuple[Transformer, Transformer]:
    """(eager, compiled) with the same weights; grouped-query attention (4 heads, 2 kv)."""
    eager = tiny_model(VOCAB)
    return eager, compile_for_decoding(copy.deepcopy(eager))


def test_compiled_greedy_decoding_matches_eager(models) -> None:
    eager, compiled = models
    counters.clear()
    gen = torch.Generator().manual_seed(1)
    one = [torch.randint(8, VOCAB, (9,), generator=gen).tolist()]
    padded = [torch.randint(8, VOCAB, (n,), generator=gen).tolist() for n in (3, 11)]
    for prompts in (one, padded, one):  # batch 1 (single-row form), left-padded batch
        expected = generate_ids(eager, prompts, stop_ids=(), max_new_tokens=12, temperature=0)
        got = generate_ids(compiled, prompts, stop_ids=(), max_new_tokens=12, temperature=0)
        assert got == expected
    # Really compiled, in whole graphs: a graph break would fall back to eager silently.
    assert counters["stats"]["unique_graphs"] > 0
    assert not counters["graph_break"], dict(counters["graph_break"])


def test_compiled_logits_match_eager(models) -> None:
    eager, compiled = models
    idx = torch.randint(8, VOCAB, (2, 20), generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        expected, _ = eager(idx)
        got, _ = compiled(idx)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
