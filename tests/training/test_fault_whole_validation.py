"""Final and best validation figures cover the whole validation set (issue 15), while the
periodic evaluations may score a sample (--eval-batches); a huge set is capped, and says so."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from picochat.configs import BaseTrainConfig
from picochat.model.checkpoint import load_checkpoint
from picochat.tokenizer import load_tokenizer
from picochat.training.pretrain import train_base
from picochat.training.whole_validation import stream_scorer


def hand_figures(model, ids: list[int], context: int, n_bytes: int) -> tuple[float, float]:
    """(loss per token, BPB) over every target of `ids`, window by window."""
    nats = 0.0
    with torch.no_grad():
        for start in range(0, len(ids) - 1, context):
            window = ids[start : start + context + 1]
            logits, _ = model(torch.tensor([window[:-1]]))
            logp = torch.log_softmax(logits[0].double(), dim=-1)
            nats -= sum(logp[i, window[i + 1]].item() for i in range(len(window) - 1))
    return nats / (len(ids) - 1), nats / (math.log(2) * n_bytes)


def test_final_and_best_figures_score_every_validation_token_although_periodic_ones_sample(
    make_inputs, doc_text, tmp_path
):
    text = "".join(doc_text(i) for i in range(12))
    paths = make_inputs(text)
    context = 16
    config = BaseTrainConfig(
        corpus=paths["corpus"],
        tokenizer=paths["tokenizer"],
        out_dir=tmp_path / "run",
        preset="smoke",
        context_size=context,
        max_steps=6,
        eval_every=3,
        eval_batches=1,  # periodic evaluations: 2 of the validation windows only
        batch_size=2,
        split_mode="window",
        val_fraction=0.3,
        device="cpu",
        precision="fp32",
    )
    report = train_base(config, show_progress=False).report
    final, best = report["final"], report["best"]

    tok = load_tokenizer(paths["tokenizer"])
    val_text = text[int(len(text) * 0.7) :]
    ids = [tok.bos_id, *tok.encode(val_text)]
    model = load_checkpoint(tmp_path / "run" / "checkpoint")
    loss, bpb = hand_figures(model, ids, context, len(val_text.encode("utf-8")))
    assert final["val_loss"] == pytest.approx(loss, rel=1e-5)
    assert final["val_bpb"] == pytest.approx(bpb, rel=1e-5)
    assert final["val_tokens"] == final["val_tokens_total"] == len(ids) - 1
    assert final["val_scope"] == "whole"
    # The periodic figure scored 2 windows (the first and the partial last) only.
    periodic = report["history"][-1]["val_targets"]
    assert periodic <= 2 * context < final["val_tokens"]
    assert final["periodic_val_loss"] != pytest.approx(final["val_loss"], rel=1e-6)
    assert final["gap"] == pytest.approx(final["val_loss"] - final["train_loss"])
    best_model = load_checkpoint(tmp_path / "run" / "best_checkpoint")
    best_loss, _ = hand_figures(best_model, ids, context, len(val_text.encode("utf-8")))
    assert best["val_loss"] == pytest.approx(best_loss, rel=1e-5)
    assert best["val_tokens"] == len(ids) - 1
    markdown = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert f"all {len(ids) - 1:,} validation tokens" in markdown
    assert f"{periodic:,} tokens each" in markdown
    assert report["validation_scope"]["final_and_best_val_tokens"] == len(ids) - 1


def test_a_huge_validation_side_is_capped_and_says_how_many_tokens_it_scored(make_inputs, doc_text):
    tokens, model, lengths = scoring_inputs(make_inputs, doc_text)
    device = torch.device("cpu")
    from picochat.training.distributed import DistInfo

    whole = stream_scorer(tokens, 16, lengths, device=device, info=DistInfo())(model)
    capped = stream_scorer(tokens, 16, lengths, device=device, info=DistInfo(), max_tokens=64)(
        model
    )
    assert whole["val_scope"] == "whole" and whole["val_tokens"] == len(tokens) - 1
    assert capped["val_scope"] == "capped"
    assert 32 < capped["val_tokens"] <= 64 and capped["val_tokens_total"] == len(tokens) - 1


def scoring_inputs(make_inputs, doc_text) -> tuple[np.ndarray, torch.nn.Module, torch.Tensor]:
    """(a 6-document token stream, a random 1-layer model, its tokens' byte lengths)."""
    paths = make_inputs("".join(doc_text(i) for i in range(6)))
    tok = load_tokenizer(paths["tokenizer"])
    tokens = np.array([tok.bos_id, *tok.encode(paths["corpus"].read_text())], dtype=np.int64)
    return (
        tokens,
        load_checkpoint_free_model(tok.vocab_size),
        torch.from_numpy(tok.token_byte_lengths()),
    )


def load_checkpoint_free_model(vocab_size: int):
    from picochat.model.config import ModelConfig
    from picochat.model.transformer import Transformer

    torch.manual_seed(0)
    return Transformer(
        ModelConfig(
            vocab_size=vocab_size, n_layer=1, n_head=2, n_kv_head=2, n_embd=16, context_size=16
        )
    ).eval()


def test_figures_of_other_weights_do_not_overwrite_a_section():
    """Interrupted between evaluations: the final weights (step 7) are not those of the
    last evaluation (step 5), so the whole figures sit beside it, not in its place."""
    from picochat.training.whole_validation import apply_to_report

    figures = {"val_loss": 2.0, "val_bpb": 3.0, "val_tokens": 10, "val_bytes": 10,
               "val_tokens_total": 10, "val_scope": "whole", "weights_step": 7}  # fmt: skip
    final = {"step": 5, "train_loss": 1.0, "val_loss": 2.5, "val_bpb": 3.5, "gap": 1.5}
    best = {"step": 7, "val_loss": 2.4, "val_bpb": 3.4}
    apply_to_report(final, best, (figures, figures))
    assert final["val_loss"] == 2.5 and final["gap"] == 1.5
    assert final["whole_validation"]["weights_step"] == 7
    assert best["val_loss"] == 2.0 and best["periodic_val_loss"] == 2.4


def test_scoring_a_large_validation_side_shows_progress(make_inputs, doc_text, capsys, monkeypatch):
    """Minutes of scoring after training on a GB corpus: without a terminal, log lines
    say how many rows are done, on rank 0 and only when progress is asked for."""
    from picochat import byte_progress
    from picochat.training.distributed import DistInfo
    from picochat.training.shard_windows import fixed_window_count

    monkeypatch.setattr(byte_progress, "PLAIN_EVERY_S", 0.0)  # a line per chunk
    monkeypatch.setattr("picochat.training.whole_validation.CHUNK_TOKENS", 64)
    tokens, model, lengths = scoring_inputs(make_inputs, doc_text)
    score = stream_scorer(tokens, 16, lengths, device=torch.device("cpu"), info=DistInfo())
    silent = score(model)
    assert capsys.readouterr().err == ""
    shown = score(model, "whole validation, final weights", True)
    lines = capsys.readouterr().err.strip().splitlines()
    rows = fixed_window_count(tokens, 16)
    assert lines[0].startswith(f"whole validation, final weights: 4 of {rows:,} rows (")
    assert lines[-1].startswith(
        f"whole validation, final weights: {rows:,} of {rows:,} rows (100%)"
    )
    assert shown == silent
    other_rank = stream_scorer(
        tokens, 16, lengths, device=torch.device("cpu"), info=DistInfo(rank=1, world_size=1)
    )
    other_rank(model, "whole validation, final weights", True)
    assert capsys.readouterr().err == ""


def test_final_val_tokens_caps_the_scoring_after_training(make_inputs, doc_text, tmp_path):
    paths = make_inputs("".join(doc_text(i) for i in range(6)))
    config = BaseTrainConfig(
        corpus=paths["corpus"], tokenizer=paths["tokenizer"], out_dir=tmp_path / "run",
        preset="smoke", context_size=16, max_steps=2, eval_every=2, batch_size=2,
        split_mode="window", val_fraction=0.3, device="cpu", precision="fp32",
        final_val_tokens=64,
    )  # fmt: skip
    final = train_base(config, show_progress=False).report["final"]
    assert final["val_scope"] == "capped" and 32 < final["val_tokens"] <= 64
    assert final["val_tokens_total"] > 64
    markdown = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert "capped by --final-val-tokens" in markdown
