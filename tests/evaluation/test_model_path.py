"""`eval chat` with a real (tiny, untrained) checkpoint: the model-backed reply path."""

from __future__ import annotations

import json

from picochat.evaluation.items import EvalItem
from picochat.evaluation.stage import checkpoint_reply_fn, conversations, generate_replies
from tiny_models import save_tiny_run

TEXT = "Romeo loves Juliet. The sea is wide and deep. What is a tokenizer? It splits text."


def test_batched_replies_equal_one_at_a_time_and_keep_item_order(tmp_path):
    model, tok = save_tiny_run(tmp_path, TEXT, {}, context_size=96)
    items = [EvalItem(u) for u in ("Hi.", "What is a tokenizer, really?", "Sea?", "Romeo")]
    reply_fn = checkpoint_reply_fn(model, tok, max_new_tokens=6)
    batched = generate_replies(conversations(items), reply_fn, batch_size=4)
    single = generate_replies(conversations(items), reply_fn, batch_size=1)
    assert batched == single
    direct = [reply_fn(c)[0] for c in ([conv] for conv in conversations(items))]
    assert batched == direct  # reordering for batching is undone


def test_cli_eval_chat_with_a_checkpoint(run_cli, tmp_path):
    save_tiny_run(tmp_path, TEXT, {"ck": "sft"}, context_size=96)
    items = tmp_path / "eval.jsonl"
    items.write_text(
        json.dumps({"user": "Who loves Juliet?", "must_include": ["Romeo"]}) + "\n"
        + json.dumps({"user": "Phone of Zorblax?", "answerable": False}) + "\n"
    )  # fmt: skip
    code, out, err = run_cli("eval", "chat", "--input", items, "--checkpoint", tmp_path / "ck",
                             "--tokenizer", tmp_path / "tokenizer.json", "--out-dir",
                             tmp_path / "eval", "--max-new-tokens", 8, "--device", "cpu")  # fmt: skip
    assert code == 0, err
    report = json.loads((tmp_path / "eval" / "eval_report.json").read_text())
    assert report["device"] == "cpu" and len(report["items"]) == 2
    assert str(tmp_path / "ck" / "model.safetensors") in report["inputs"]
    assert all(isinstance(i["reply"], str) for i in report["items"])
