"""`picochat chat` and `picochat generate` on a real (tiny, untrained) checkpoint."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from picochat.chat_session import ChatSession, NativeEngine
from picochat.model.checkpoint import load_checkpoint
from picochat.model.transformer import Transformer
from picochat.tokenizer import CharTokenizer, save_tokenizer
from tiny_models import save_tiny_run

REPO = Path(__file__).resolve().parents[2]
TEXT = "hello there, how are you? I am fine. What is the weather like today?\n"


@pytest.fixture
def run(tmp_path) -> Path:
    """A run folder with tokenizer.json, an sft checkpoint and a base checkpoint."""
    save_tiny_run(tmp_path, TEXT, {"sft": "sft", "base": "base"}, context_size=64)
    return tmp_path


def chat_args(run: Path, kind: str = "sft") -> list[str]:
    return ["chat", "--checkpoint", run / kind, "--tokenizer", run / "tokenizer.json",
            "--max-new-tokens", "8", "--temperature", "0"]  # fmt: skip


def test_piped_chat_from_a_script(run):
    """printf 'hello\\n/quit\\n' | picochat chat ... (the real CLI in a subprocess)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "picochat", *map(str, chat_args(run))],
        input="hello\n/quit\nnever read\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("assistant>") == 1  # one turn, then /quit
    assert "warning" not in proc.stderr


def test_show_prompt_reset_and_base_warning(run, run_cli, monkeypatch):
    lines = "hello\n/show-prompt\n/reset\n/show-prompt\n/bogus\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(lines))
    code, out, err = run_cli(*chat_args(run, "base"))
    assert code == 0
    tok_count = 1 + 1 + len("hello") + 1 + 1  # bos, user, text, end, assistant
    assert f"exact prompt of the last reply ({tok_count} tokens)" in out
    assert "<|bos|><|user|>hello<|end|><|assistant|>" in out
    assert "(history cleared)" in out and "no prompt yet" in out
    assert "unknown command /bogus" in out
    assert "not chat-tuned" in err  # a base checkpoint


def test_history_is_cut_to_fit_the_context(run):
    tok = CharTokenizer.train(TEXT)
    model = load_checkpoint(run / "sft", tokenizer=tok)
    session = ChatSession(NativeEngine(model, tok), max_new_tokens=16, temperature=0)
    question = "how are you? how are you?"  # 29 tokens as a turn, with or without a reply
    for _ in range(4):  # a turn pair is >= 29 tokens: the 48-token budget keeps no earlier one
        "".join(session.send(question))
    assert len(session.history) == 8
    assert session.last_dropped >= 4
    text, tokens, cut = session.show_prompt()
    assert tokens <= 64 - 16 and cut == 0
    assert text.startswith(f"<|bos|><|user|>{question}")
    session.reset()
    assert session.history == [] and session.show_prompt() is None


def test_generate_prints_prompt_and_continuation(run, run_cli):
    code, out, err = run_cli(
        "generate", "--checkpoint", run / "base", "--tokenizer", run / "tokenizer.json",
        "--prompt", "hello", "--max-new-tokens", "5", "--temperature", "0",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("hello") and len(out.rstrip("\n")) >= len("hello")


def test_wrong_tokenizer_is_a_clear_error(run, run_cli, tmp_path):
    other = CharTokenizer.train("completely different text")
    save_tokenizer(other, tmp_path / "other.json")
    code, _, err = run_cli(
        "generate", "--checkpoint", run / "base", "--tokenizer", tmp_path / "other.json",
        "--prompt", "x",
    )  # fmt: skip
    assert code == 2 and "same run" in err


def test_compile_flag_compiles_native_checkpoints_only(run, run_cli, monkeypatch):
    """--compile reaches compile_for_decoding (its numerics: tests/model/
    test_compiled_decoding.py); with --hf-model it is a clear error."""
    import picochat.model.compile as model_compile

    compiled = []
    monkeypatch.setattr(model_compile, "compile_for_decoding", compiled.append)
    code, out, err = run_cli(
        "generate", "--checkpoint", run / "base", "--tokenizer", run / "tokenizer.json",
        "--prompt", "hello", "--max-new-tokens", "3", "--temperature", "0", "--compile",
    )  # fmt: skip
    assert code == 0, err
    assert len(compiled) == 1 and isinstance(compiled[0], Transformer)
    code, _, err = run_cli("chat", "--hf-model", run, "--compile")
    assert code == 2 and "--compile applies to native checkpoints" in err


def test_compile_without_a_cpp_compiler_is_a_clear_error(run, run_cli, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    code, _, err = run_cli(
        "generate", "--checkpoint", run / "base", "--tokenizer", run / "tokenizer.json",
        "--prompt", "hello", "--device", "cpu", "--compile",
    )  # fmt: skip
    assert code == 2 and "C++ compiler" in err
