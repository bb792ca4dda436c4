"""The export's model card takes its figures from the run's reports, and says what is
not measured instead of inventing it."""

from __future__ import annotations

import json

from picochat.hf.model_card import NOT_MEASURED, model_card
from picochat.model.config import ModelConfig

CONFIG = ModelConfig(vocab_size=300, n_layer=2, n_head=4, n_kv_head=2, n_embd=32, context_size=64)


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_card_quotes_the_run_reports(tmp_path):
    run = tmp_path / "run"
    _write(run / "base" / "train_report.json", {
        "config": {"max_steps": 300, "learning_rate": 0.003, "batch_size": 16},
        "inputs": {"/data/corpus.txt": "ab", "/data/tokenizer.json": "cd"},
        "dataset": {"train_tokens": 29655}, "steps": 250, "stop_reason": "early_stop",
        "best": {"step": 200, "val_loss": 1.8765, "val_bpb": 2.15},
        "final": {"train_loss": 1.5}, "memorization": {"risk": "low"},
    })  # fmt: skip
    _write(run / "sft" / "sft_report.json", {"steps": 40, "dataset": {"train_rows": 83}})
    _write(run / "eval" / "heldout" / "eval_report.json",
           {"ladder": {"heldout": {"items": 16, "passed": 5}, "smoke": {"items": 0}}})  # fmt: skip
    _write(run / "summary.json", {"gates": {"status": "warn"}})
    card = model_card(run / "base" / "checkpoint", CONFIG, fmt="hf", usage=["x"])
    assert "29655 training tokens from corpus.txt, tokenizer.json" in card
    assert "settings: max_steps 300, batch_size 16, learning_rate 0.003" in card
    assert "steps: 250 (stopped: early_stop)" in card
    assert "best validation loss: 1.877 at step 200, 2.15 bits per byte" in card
    assert "heldout: heldout 5/16 items passed" in card
    assert "memorisation risk (base): low" in card and "release gates: warn" in card
    assert "### sft" not in card  # a base export says nothing of the later SFT stage
    sft_card = model_card(run / "sft" / "checkpoint", CONFIG, fmt="hf", usage=["x"])
    assert "### sft" in sft_card and "83 training conversations" in sft_card
    assert f"best validation loss: {NOT_MEASURED}" in sft_card


def test_a_checkpoint_outside_a_run_says_not_measured(tmp_path):
    card = model_card(tmp_path / "ckpt", CONFIG, fmt="gguf", usage=["x"])
    assert "2 layers, 4 heads (2 key/value)" in card
    assert f"{NOT_MEASURED} (no stage reports found)" in card
    assert "eval_report.json" in card and "release gates: not measured" in card
