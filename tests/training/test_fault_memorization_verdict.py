"""The base memorisation verdict reads the loss gap and 3-gram copying too, and says
"unknown" where copying could not be checked (issue 15)."""

from __future__ import annotations

import pytest

from picochat.configs import BaseTrainConfig
from picochat.training.memorization import copy_diagnostics
from picochat.training.memorization_verdict import loss_gap, risk_verdict, short_ngram_excess
from picochat.training.pretrain import train_base

NO_COPY = {"train_copy_rate": 0.0, "heldout_overlap": 0.0, "ngram_words": 8}
WEAK_CANARY = [{"hit": False, "exposure_bits": 1.0, "candidates": 1024}]


def short(train: float, held: float, ratio: float) -> dict:
    figures = {"ngram_words": 3, "train_copy_rate": train, "heldout_overlap": held}
    return short_ngram_excess(figures, ratio)


def test_the_demo_case_reads_high_not_low():
    """train 0.65 / val 2.28 nats, no 8-gram copied, 3-grams 14% vs 0.4% held out."""
    gap = loss_gap(0.65, 2.28, 300)
    assert gap["gap"] == pytest.approx(1.63)
    assert risk_verdict(NO_COPY, [])[0] == "low"  # what the 8-gram rate alone said
    risk, why = risk_verdict(NO_COPY, [], gap=gap, short=short(0.14, 0.004, 9.0))
    assert risk == "high"
    assert "1.63 nats" in why and "14%" in why and "0.4%" in why


def test_each_signal_alone_is_medium_and_size_alone_is_no_excess():
    assert risk_verdict(NO_COPY, [], gap=loss_gap(1.0, 1.7, 5))[0] == "medium"
    assert risk_verdict(NO_COPY, [], short=short(0.14, 0.004, 9.0))[0] == "medium"
    # 30% vs 5% in 9x more text: size explains up to 45%, so this is no evidence.
    size_only = short(0.30, 0.05, 9.0)
    assert size_only["excess"] is False and size_only["size_bound"] == pytest.approx(0.45)
    risk, why = risk_verdict(NO_COPY, [], gap=loss_gap(1.0, 1.2, 5), short=size_only)
    assert risk == "low" and "loss gap 0.20 nats" in why


def test_a_null_copy_rate_is_unknown_not_low():
    copy = copy_diagnostics(["too short"], "some train text", "some val text")
    assert copy["train_copy_rate"] is None
    # Before: "low" ("few generated spans are copied") whenever a canary was probed.
    risk, why = risk_verdict(copy, WEAK_CANARY, gap=loss_gap(1.0, 1.1, 5))
    assert risk == "unknown" and "fewer than 8 words" in why
    # A clear signal still speaks when copying cannot be checked.
    assert risk_verdict(copy, WEAK_CANARY, gap=loss_gap(1.0, 2.5, 5))[0] == "medium"


def test_the_base_report_records_the_gap_and_the_short_ngram_view(make_inputs, doc_text, tmp_path):
    paths = make_inputs("".join(doc_text(i) for i in range(10)))
    config = BaseTrainConfig(
        corpus=paths["corpus"], tokenizer=paths["tokenizer"], out_dir=tmp_path / "run",
        preset="smoke", context_size=32, batch_size=4, max_steps=4, eval_every=2,
        split_mode="window", device="cpu", precision="fp32",
    )  # fmt: skip
    report = train_base(config, show_progress=False).report
    mem, final = report["memorization"], report["final"]
    assert mem["loss_gap"]["gap"] == pytest.approx(final["val_loss"] - final["train_loss"])
    assert mem["short_ngrams"]["ngram_words"] == 3
    assert mem["short_ngrams"]["size_ratio"] == pytest.approx(9.0, rel=0.05)  # val 10%
    assert mem["risk"] in ("high", "medium", "low", "unknown") and mem["risk_reason"]
    markdown = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert "Loss gap:" in markdown and "Short spans:" in markdown
