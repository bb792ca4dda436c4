"""`picochat eval chat --hf-model`: a Hugging Face folder scored by the same rules."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")


def test_eval_chat_with_hf_model(run_cli, tiny_hf_model, tmp_path):
    from picochat.hf.adapter import load_hf_chat_model

    items = [
        {"user": "hello there", "min_chars": 1},
        {"user": "tell me about bees", "must_include": ["honey"]},
        {"user": "what is 2 plus 2?", "max_words": 500},
    ]
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    out = tmp_path / "eval"
    code, _, err = run_cli(
        "eval", "chat", "--input", eval_file, "--hf-model", tiny_hf_model, "--out-dir", out,
        "--max-new-tokens", "6", "--batch-size", "2", "--device", "cpu",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads((out / "eval_report.json").read_text())
    assert report["summary"]["items"] == 3
    # The replies in the report are the model's own greedy replies, unbatched or batched.
    chat_model = load_hf_chat_model(tiny_hf_model)
    alone = [chat_model.replies([[{"role": "user", "content": i["user"]}]], 6)[0] for i in items]
    assert [item["reply"] for item in report["items"]] == alone
    assert any(str(tiny_hf_model) in path for path in report["inputs"])


def test_hf_model_and_checkpoint_together_is_an_error(run_cli, tiny_hf_model, tmp_path):
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text('{"user": "hi"}\n', encoding="utf-8")
    code, _, err = run_cli(
        "eval", "chat", "--input", eval_file, "--hf-model", tiny_hf_model,
        "--checkpoint", tmp_path, "--out-dir", tmp_path / "e",
    )  # fmt: skip
    assert code == 2 and "only one" in err


def test_chat_cli_with_hf_model(run_cli, tiny_hf_model, monkeypatch):
    import io

    from picochat.hf.adapter import load_hf_chat_model

    monkeypatch.setattr("sys.stdin", io.StringIO("hello there\n"))
    code, out, err = run_cli(
        "chat", "--hf-model", tiny_hf_model, "--temperature", "0", "--max-new-tokens", "6",
        "--device", "cpu",
    )  # fmt: skip
    assert code == 0, err
    expected = load_hf_chat_model(tiny_hf_model).replies(
        [[{"role": "user", "content": "hello there"}]], 6
    )
    assert expected[0] and expected[0] in out
