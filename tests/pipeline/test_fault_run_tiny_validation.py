"""`run tiny` refuses bad SFT/DPO/eval inputs and flags before base pretraining starts."""

from __future__ import annotations

import json
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _pack(folder: Path, chat: str, preferences: str | None = None) -> Path:
    folder.mkdir()
    (folder / "chat.jsonl").write_text(chat, encoding="utf-8")
    (folder / "eval.jsonl").write_text('{"user": "Hi?", "max_words": 9}\n', encoding="utf-8")
    (folder / "corpus.txt").write_text((EXAMPLES / "tiny_corpus.txt").read_text()[:2000])
    pack = {"corpus": {"input": "corpus.txt"}, "chat": "chat.jsonl", "eval": "eval.jsonl"}
    if preferences is not None:
        (folder / "prefs.jsonl").write_text(preferences, encoding="utf-8")
        pack["preferences"] = "prefs.jsonl"
    (folder / "pack.json").write_text(json.dumps(pack), encoding="utf-8")
    return folder / "pack.json"


GOOD_CHAT = '{"user": "What is a token?", "assistant": "A piece of text."}\n'


def _run(run_cli, tmp_path, pack, *extra):
    out = tmp_path / "run"
    code, _, err = run_cli("--quiet", "run", "tiny", "--out-dir", out, "--dataset-pack", pack,
                           *extra)  # fmt: skip
    return code, err, out


def test_all_bad_chat_file_fails_before_base_trains(tmp_path, run_cli):
    pack = _pack(tmp_path / "p", '{"user": "a"}\n{"user": "b", "assistant": ""}\n')
    code, err, out = _run(run_cli, tmp_path, pack)
    assert code == 2 and "No usable chat rows" in err and "line 1:" in err
    assert "Traceback" not in err and not (out / "base").exists()


def test_empty_preferences_and_bad_lora_targets_fail_before_base_trains(tmp_path, run_cli):
    pack = _pack(tmp_path / "p", GOOD_CHAT, preferences='{"user": "x"}\n')
    code, err, out = _run(run_cli, tmp_path, pack)
    assert code == 2 and "No usable preference pairs" in err and not (out / "base").exists()
    pack2 = _pack(tmp_path / "q", GOOD_CHAT)
    code, err, out = _run(run_cli, tmp_path, pack2, "--sft-peft", "lora",
                          "--sft-lora-targets", "nonsense")  # fmt: skip
    assert code == 2 and "nonsense" in err and not (out / "base").exists()
