"""The train/validation split, canary placement, batches and bad corpora."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from picochat.errors import ConfigError, InputError
from picochat.model.chunked_loss import IGNORE_INDEX
from picochat.tokenizer import load_tokenizer
from picochat.training.token_data import CACHE_MIN_CHARS, CorpusSplit, build_token_data
from picochat.training.windows import RandomWindows, fixed_windows


def as_str(ids) -> str:
    """Token ids as a string of code points, so `in` finds an id subsequence."""
    return "".join(chr(int(i)) for i in ids)


def build(paths, *, cache_dir=None, cache_min_chars=CACHE_MIN_CHARS, **overrides):
    settings = dict(
        corpus=paths["corpus"],
        manifest=paths.get("manifest"),
        split_mode="auto",
        val_fraction=0.2,
        seed=3,
        context_size=16,
    )
    settings.update(overrides)
    tokenizer = load_tokenizer(paths["tokenizer"])
    return build_token_data(
        CorpusSplit(**settings), tokenizer, cache_dir=cache_dir, cache_min_chars=cache_min_chars
    )


def test_document_holdout_never_leaks_a_heldout_document_into_training(make_inputs, doc_text):
    documents = [doc_text(i) for i in range(12)]
    paths = make_inputs(documents=documents)
    tok = load_tokenizer(paths["tokenizer"])
    data = build(paths)
    assert data.split_mode == "document" and "12 documents" in data.split_reason
    train_ids, val_ids = as_str(data.train), as_str(data.val)
    held = [d for d in documents if as_str(tok.encode(d)) in val_ids]
    kept = [d for d in documents if as_str(tok.encode(d)) in train_ids]
    assert held and kept
    assert data.val_documents == len(held)
    # Checked on ids: no held-out document's token sequence occurs in the training stream,
    # and every document is on exactly one side.
    assert not set(held) & set(kept)
    assert len(held) + len(kept) == len(documents)
    assert len(data.train) + len(data.val) == sum(len(tok.encode(d)) + 1 for d in documents)


def test_window_split_holds_out_the_tail_and_auto_says_why(make_inputs, doc_text):
    text = "".join(doc_text(i) for i in range(6))
    paths = make_inputs(text)
    data = build(paths)
    assert data.split_mode == "window" and "no manifest" in data.split_reason
    cut = int(len(text) * 0.8)
    assert data.train_text == text[:cut] and data.val_text == text[cut:]
    tok = load_tokenizer(paths["tokenizer"])
    # Each side is <|bos|> + its text: no token is shared or lost.
    assert data.train.tolist() == [tok.bos_id, *tok.encode(text[:cut])]
    assert data.val.tolist() == [tok.bos_id, *tok.encode(text[cut:])]
    assert data.train.dtype == np.uint16


def test_document_mode_without_documents_is_a_config_error(make_inputs, doc_text):
    paths = make_inputs("".join(doc_text(i) for i in range(4)))
    with pytest.raises(ConfigError, match="manifest with >= 2 documents"):
        build(paths, split_mode="document")


@pytest.mark.parametrize("with_manifest", [True, False])
def test_canaries_are_in_the_training_text_only(make_inputs, with_manifest, doc_text):
    documents = [doc_text(i) for i in range(10)]
    paths = make_inputs(documents=documents) if with_manifest else make_inputs("".join(documents))
    tok = load_tokenizer(paths["tokenizer"])
    canaries = ["qzkvwpjx mnbvcxzlkj", "plmokijn uhbygvtfcr"]
    data = build(paths, canaries=canaries)
    for canary in canaries:
        assert data.train_text.count(canary) == 1
        assert canary not in data.val_text
        ids = as_str(tok.encode(canary))
        assert ids in as_str(data.train) and ids not in as_str(data.val)


def test_random_windows_resume_at_the_same_position(make_inputs, doc_text):
    paths = make_inputs("".join(doc_text(i) for i in range(6)))
    data = build(paths)
    source = RandomWindows(data.train, context_size=16, batch_size=4, seed=1)
    for _ in range(3):
        source.next_batch()
    saved = source.state_dict()
    expected = source.next_batch()
    again = RandomWindows(data.train, context_size=16, batch_size=4, seed=1)
    again.load_state_dict(saved)
    x, y = again.next_batch()
    assert torch.equal(x, expected[0]) and torch.equal(y, expected[1])
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one
    other_rank = RandomWindows(
        data.train, context_size=16, batch_size=4, seed=1, rank=1, world_size=2
    )
    other_rank.load_state_dict(saved)
    assert not torch.equal(other_rank.next_batch()[0], x)


def test_ranks_slice_one_global_batch(make_inputs, doc_text):
    """2 ranks at batch 4 draw, together, the 8 windows one process draws at batch 8; and
    one process draws what it drew before ranks sliced a global batch (rng [seed, 0, k])."""
    data = build(make_inputs("".join(doc_text(i) for i in range(6))))
    whole = RandomWindows(data.train, context_size=16, batch_size=8, seed=1)
    ranks = [
        RandomWindows(data.train, context_size=16, batch_size=4, seed=1, rank=r, world_size=2)
        for r in (0, 1)
    ]
    for _ in range(3):
        together = torch.cat([source.next_batch()[0] for source in ranks])
        assert torch.equal(together, whole.next_batch()[0])
    rng = np.random.default_rng([1, 0, 0])
    starts = rng.integers(0, len(data.train) - 16, size=8)
    first = RandomWindows(data.train, context_size=16, batch_size=8, seed=1).next_batch()[0]
    assert first[:, 0].tolist() == [int(data.train[s]) for s in starts]
    with pytest.raises(ValueError, match="rank 2 is not one of 2"):
        RandomWindows(data.train, context_size=16, batch_size=4, seed=1, rank=2, world_size=2)


def test_fixed_windows_score_every_token_after_the_first_exactly_once():
    tokens = np.arange(1, 24, dtype=np.uint16)  # 23 tokens -> 22 targets
    inputs, targets = fixed_windows(tokens, 5)
    scored = targets[targets != IGNORE_INDEX].tolist()
    assert scored == list(range(2, 24))
    assert inputs.shape == (5, 5)


def test_context_larger_than_the_corpus_is_a_clear_error(make_inputs, doc_text):
    paths = make_inputs("".join(doc_text(i, words=20) for i in range(2)))
    with pytest.raises(InputError, match="--context-size") as error:
        build(paths, context_size=4096)
    assert error.value.fix and "--context-size" in error.value.fix


def test_a_corpus_too_small_for_validation_is_a_clear_error(make_inputs):
    paths = make_inputs("a tiny corpus of a few words only. " * 3)
    with pytest.raises(InputError, match="too small to hold out validation"):
        build(paths, context_size=8)


def test_a_tokenizer_built_for_other_text_is_rejected(make_inputs, doc_text):
    paths = make_inputs(
        "".join(doc_text(i) for i in range(6)), tokenizer_text="0123456789 +-*/=()\n"
    )
    with pytest.raises(InputError, match="<unk>") as error:
        build(paths)
    assert "tok train" in error.value.fix


def test_large_corpora_are_cached_as_memory_mapped_npy(make_inputs, doc_text, tmp_path):
    paths = make_inputs("".join(doc_text(i) for i in range(6)))
    first = build(paths, cache_dir=tmp_path / "cache", cache_min_chars=0)
    assert len(list((tmp_path / "cache").glob("tokens-*/train.npy"))) == 1
    again = build(paths, cache_dir=tmp_path / "cache", cache_min_chars=0)
    assert isinstance(again.train, np.memmap) and isinstance(again.val, np.memmap)
    assert np.array_equal(again.train, first.train) and np.array_equal(again.val, first.val)
