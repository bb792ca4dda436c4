"""Generation: cache vs no cache, batching, seeds, logit transforms, stopping, context policy."""

from __future__ import annotations

import pytest
import torch

from picochat.errors import ConfigError, InputError
from picochat.generation import (
    DEFAULT_STOP_IDS,
    apply_repetition_penalty,
    apply_top_k,
    apply_top_p,
    fit_prompt,
    generate_batch,
    generate_ids,
    generate_text,
    next_tokens,
    sampling_config,
    stop_ids_for,
    stream_text,
)
from picochat.model.transformer import Transformer
from tiny_models import tiny_model

VOCAB = 61
NO_STOP: tuple[int, ...] = ()


@pytest.fixture(scope="module")
def model() -> Transformer:
    return tiny_model(VOCAB)


def prompts() -> list[list[int]]:
    gen = torch.Generator().manual_seed(1)
    return [torch.randint(8, VOCAB, (n,), generator=gen).tolist() for n in (3, 11, 7)]


class CharTokenizer:
    """Just enough tokenizer for text-level tests: id = 8 + offset into an alphabet."""

    alphabet = "abcdefghijklmnopqrstuvwxyz .,!?ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"
    bos_id, eos_id, pad_id = 0, 1, 2

    def encode(self, text: str) -> list[int]:
        return [8 + self.alphabet.index(c) for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.alphabet[i - 8] if i >= 8 else f"<{i}>" for i in ids)

    def token_to_id(self, name: str) -> int | None:
        return {"<|end|>": 7, "<|eos|>": 1}.get(name)


def test_cached_and_uncached_greedy_are_identical(model):
    cached = generate_ids(model, prompts(), max_new_tokens=20, temperature=0, stop_ids=NO_STOP)
    uncached = generate_ids(
        model, prompts(), max_new_tokens=20, temperature=0, stop_ids=NO_STOP, use_cache=False
    )
    assert cached == uncached
    assert all(len(row) == 20 for row in cached)


def test_batched_equals_one_by_one(model):
    batched = generate_ids(model, prompts(), max_new_tokens=15, temperature=0, stop_ids=NO_STOP)
    alone = [
        generate_ids(model, [p], max_new_tokens=15, temperature=0, stop_ids=NO_STOP)[0]
        for p in prompts()
    ]
    assert batched == alone
    assert len({tuple(r) for r in batched}) == 3  # the rows really differ


def test_greedy_continues_the_models_argmax(model):
    prompt = prompts()[1]
    out = generate_ids(model, [prompt], max_new_tokens=5, temperature=0, stop_ids=NO_STOP)[0]
    seq = list(prompt)
    for token in out:  # the plain forward, no cache, no generation code
        logits, _ = model(torch.tensor([seq]))
        assert token == int(logits[0, -1].argmax())
        seq.append(token)


def test_same_seed_same_sample(model):
    def sample(seed):
        return generate_ids(
            model, prompts(), max_new_tokens=20, temperature=1.5, seed=seed, stop_ids=NO_STOP
        )

    assert sample(7) == sample(7)
    assert sample(7) != sample(8)


def test_top_k_one_equals_greedy(model):
    greedy = generate_ids(model, prompts(), max_new_tokens=12, temperature=0, stop_ids=NO_STOP)
    top1 = generate_ids(
        model, prompts(), max_new_tokens=12, temperature=2.0, top_k=1, seed=3, stop_ids=NO_STOP
    )
    assert top1 == greedy


def test_top_k_keeps_the_k_largest():
    logits = torch.tensor([[1.0, 4.0, 3.0, -2.0, 2.0]])
    out = apply_top_k(logits, 2)
    assert torch.equal(torch.isfinite(out), torch.tensor([[False, True, True, False, False]]))
    assert torch.equal(out[torch.isfinite(out)], torch.tensor([4.0, 3.0]))


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3]])  # sorted: 0.5, 0.3, 0.15, 0.05
    logits = probs.log()
    kept = lambda p: torch.isfinite(apply_top_p(logits, p))[0].tolist()  # noqa: E731
    assert kept(0.4) == [False, True, False, False]  # 0.5 alone reaches 0.4
    assert kept(0.7) == [False, True, False, True]  # 0.5 + 0.3
    assert kept(0.85) == [False, True, True, True]  # + 0.15
    assert kept(1.0) == [True, True, True, True]

    # Sampling renormalises over the kept set: 0.5 / 0.8 and 0.3 / 0.8.
    config = sampling_config(temperature=1.0, top_p=0.7)
    gen = torch.Generator().manual_seed(0)
    draws = next_tokens(logits.expand(20000, 4), config, generator=gen)
    freq = torch.bincount(draws, minlength=4).float() / 20000
    assert freq[0] == 0 and freq[2] == 0
    assert abs(freq[1] - 0.625) < 0.02 and abs(freq[3] - 0.375) < 0.02


def test_repetition_penalty_as_defined():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    seen = torch.tensor([[True, True, False, False]])
    out = apply_repetition_penalty(logits, seen, 2.0)
    assert torch.equal(out, torch.tensor([[1.0, -2.0, 0.5, 3.0]]))
    assert torch.equal(apply_repetition_penalty(logits, seen, 1.0), logits)
    # In the sampler: token 3 is the argmax until it has been seen.
    config = sampling_config(temperature=0, repetition_penalty=4.0)
    assert next_tokens(logits, config).item() == 3
    seen_3 = torch.tensor([[False, False, False, True]])
    assert next_tokens(logits, config, seen_3).item() == 0


def test_repetition_penalty_changes_generation(model):
    plain = generate_ids(model, prompts(), max_new_tokens=20, temperature=0, stop_ids=NO_STOP)
    penalised = generate_ids(
        model,
        prompts(),
        max_new_tokens=20,
        temperature=0,
        repetition_penalty=50.0,
        stop_ids=NO_STOP,
    )
    assert plain != penalised
    repeats = lambda rows: sum(len(r) - len(set(r)) for r in rows)  # noqa: E731
    assert repeats(penalised) < repeats(plain)


def test_stops_at_a_stop_token_and_does_not_return_it(model):
    free = generate_ids(model, prompts(), max_new_tokens=20, temperature=0, stop_ids=NO_STOP)
    stop = free[1][4]
    stopped = generate_ids(model, prompts(), max_new_tokens=20, temperature=0, stop_ids=[stop])
    for full, cut in zip(free, stopped, strict=True):
        expected = full[: full.index(stop)] if stop in full else full
        assert cut == expected
    assert len(stopped[1]) <= 4


def test_default_stop_ids_are_end_of_turn_and_eos():
    assert DEFAULT_STOP_IDS == (7, 1)
    assert stop_ids_for(CharTokenizer()) == (7, 1)
    assert stop_ids_for(object()) == (7, 1)


def test_long_prompt_policy():
    assert fit_prompt(list(range(50)), 32, 8) == (list(range(26, 50)), 26)
    assert fit_prompt(list(range(20)), 32, 8) == (list(range(20)), 0)
    # A huge max_new_tokens still leaves the prompt half the context.
    assert fit_prompt(list(range(50)), 32, 100) == (list(range(34, 50)), 34)

    model = tiny_model(VOCAB, context_size=32)
    long_prompt = torch.randint(
        8, VOCAB, (50,), generator=torch.Generator().manual_seed(5)
    ).tolist()
    out = generate_ids(model, [long_prompt], max_new_tokens=8, temperature=0, stop_ids=NO_STOP)[0]
    same = generate_ids(
        model, [long_prompt[-24:]], max_new_tokens=8, temperature=0, stop_ids=NO_STOP
    )
    assert out == same[0] and len(out) == 8
    # Generation stops when the context is full: 16 prompt tokens + 16 new = 32.
    full = generate_ids(model, [long_prompt], max_new_tokens=100, temperature=0, stop_ids=NO_STOP)
    assert len(full[0]) == 16


def test_generate_batch_both_call_forms(model):
    direct = generate_batch(model, prompts(), 6, stop_ids=NO_STOP)
    assert direct == generate_ids(
        model, prompts(), max_new_tokens=6, temperature=0, stop_ids=NO_STOP
    )
    with_tok = generate_batch(model, CharTokenizer(), prompts(), 6)
    assert with_tok == generate_ids(model, prompts(), max_new_tokens=6, temperature=0)


def test_streamed_text_equals_the_whole_reply(model):
    tok = CharTokenizer()
    ids = [0, *tok.encode("hello there")]
    pieces = list(stream_text(model, tok, ids, max_new_tokens=12, temperature=0, stop_ids=NO_STOP))
    whole = generate_ids(model, [ids], max_new_tokens=12, temperature=0, stop_ids=NO_STOP)[0]
    assert len(pieces) == 12 and "".join(pieces) == tok.decode(whole)
    text = generate_text(model, tok, "hello there", max_new_tokens=12, temperature=0)
    until_stop = next((i for i, t in enumerate(whole) if t in (1, 7)), len(whole))
    assert text == tok.decode(whole[:until_stop])  # <|bos|> + prompt, stop at eos/end


def test_bad_sampling_settings_are_config_errors(model):
    with pytest.raises(ConfigError, match="temperature"):
        sampling_config(temperature=-1)
    with pytest.raises(ConfigError, match="top_p"):
        sampling_config(top_p=1.5)
    with pytest.raises(ConfigError, match="Unknown sampling option"):
        sampling_config(temprature=0.5)
    with pytest.raises(InputError, match="at least one token"):
        generate_ids(model, [[]], max_new_tokens=3)


def test_training_mode_is_restored():
    model = tiny_model(VOCAB).train()
    generate_ids(model, prompts(), max_new_tokens=2, temperature=0)
    assert model.training
