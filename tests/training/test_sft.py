"""Chat SFT: the loss mask at batch level, truncation, and the SPEC §4 commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from picochat.data.chat import read_chat_jsonl
from picochat.model.checkpoint import load_checkpoint
from picochat.model.chunked_loss import IGNORE_INDEX
from picochat.model.lora import load_adapter
from picochat.tokenizer import CharTokenizer, load_tokenizer
from picochat.training.sft_data import ChatBatches, collate, render_examples

REPO = Path(__file__).resolve().parents[2]
TINY_CHAT = REPO / "examples" / "tiny_chat.jsonl"
TINY_CORPUS = REPO / "examples" / "tiny_corpus.txt"

ROWS = [
    {"system": "Be brief.", "user": "What is SFT?", "assistant": "Fine-tuning on chats."},
    {
        "messages": [
            {"role": "user", "content": "Hi there"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "And LoRA?"},
            {"role": "assistant", "content": "Small adapters."},
        ]
    },
    {
        "messages": [
            {"role": "system", "content": "You can call tools."},
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"type": "function", "function": {"name": "weather", "arguments": {"c": "P"}}}
                ],
            },
            {"role": "tool", "content": "sunny, 21 C"},
            {"role": "assistant", "content": "It is sunny in Paris."},
        ]
    },
]


def char_tokenizer() -> CharTokenizer:
    text = TINY_CHAT.read_text(encoding="utf-8") + json.dumps(ROWS)
    return CharTokenizer.train(text)


def write_rows(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def scored_ids(targets: torch.Tensor, row: int) -> list[int]:
    return targets[row][targets[row] != IGNORE_INDEX].tolist()


def test_batch_labels_cover_exactly_the_final_answer_and_end(tmp_path):
    tok = char_tokenizer()
    end = tok.token_to_id("<|end|>")
    data = read_chat_jsonl(write_rows(tmp_path / "chat.jsonl", ROWS), strict=True)
    rendered = render_examples(data.examples, tok, context_size=256)
    assert not rendered.skipped and not rendered.truncated
    inputs, targets = collate(rendered.sequences, tok.pad_id)
    answers = ["Fine-tuning on chats.", "Small adapters.", "It is sunny in Paris."]
    for row, (seq, answer) in enumerate(zip(rendered.sequences, answers, strict=True)):
        n = len(seq.ids) - 1
        answer_ids = tok.encode(answer) + [end]
        # the scored labels are the answer and its end token, in order...
        assert scored_ids(targets, row) == answer_ids
        # ...at the last positions of the sequence; nothing earlier is scored
        scored = (targets[row] != IGNORE_INDEX).nonzero().flatten().tolist()
        assert scored == list(range(n - len(answer_ids), n))
        assert torch.equal(inputs[row, :n], torch.tensor(seq.ids[:-1]))
        # padding: pad id in the inputs, never a label
        assert (inputs[row, n:] == tok.pad_id).all() and (targets[row, n:] == IGNORE_INDEX).all()
    # earlier assistant turns and the tool call are context only
    assert "Hello." in tok.decode(inputs[1].tolist())
    assert "Hello." not in tok.decode(scored_ids(targets, 1))
    assert "weather" in tok.decode(inputs[2].tolist())
    assert "weather" not in tok.decode(scored_ids(targets, 2))


def test_truncation_keeps_the_answer_and_skips_what_cannot_fit(tmp_path):
    tok = char_tokenizer()
    end = tok.token_to_id("<|end|>")
    rows = [
        {"user": "x " * 100 + "last words?", "assistant": "Kept whole."},
        {"user": "short?", "assistant": "y" * 60},
    ]
    data = read_chat_jsonl(write_rows(tmp_path / "chat.jsonl", rows))
    rendered = render_examples(data.examples, tok, context_size=40)
    assert [t["line"] for t in rendered.truncated] == [1]
    assert [s["line"] for s in rendered.skipped] == [2]
    assert "context of 40" in rendered.skipped[0]["reason"]
    (seq,) = rendered.sequences
    assert len(seq.ids) == 41 and seq.ids[0] == tok.bos_id  # context + 1 ids, bos kept
    inputs, targets = collate([seq], tok.pad_id)
    assert scored_ids(targets, 0) == tok.encode("Kept whole.") + [end]
    assert "last words?" in tok.decode(seq.ids)


def test_chat_batches_are_deterministic_and_resume_exactly(tmp_path):
    tok = char_tokenizer()
    data = read_chat_jsonl(TINY_CHAT)
    seqs = render_examples(data.examples, tok, 256).sequences
    a = ChatBatches(seqs, batch_size=4, pad_id=tok.pad_id, seed=3)
    first = [a.next_batch() for _ in range(30)]  # > one epoch of 92 rows
    b = ChatBatches(seqs, batch_size=4, pad_id=tok.pad_id, seed=3)
    b.load_state_dict({"position": 29})
    assert torch.equal(b.next_batch()[0], first[29][0])
    assert first[0][2] == int((first[0][1] != IGNORE_INDEX).sum())
    other_rank = ChatBatches(seqs, batch_size=4, pad_id=tok.pad_id, seed=3, rank=1, world_size=2)
    assert not torch.equal(other_rank.next_batch()[0], first[0][0])


# ---- the real CLI on the example pack ----------------------------------------------


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    """tokenizer + a few-step base checkpoint (smoke shape, context 160), built once."""
    from picochat.cli.main import main

    root = tmp_path_factory.mktemp("sft_base")
    assert main(["tok", "train", "--input", str(TINY_CORPUS), "--out", str(root / "tok.json")]) == 0
    code = main(
        [
            "--quiet",
            "train",
            "base",
            "--corpus",
            str(TINY_CORPUS),
            "--tokenizer",
            str(root / "tok.json"),
            "--out-dir",
            str(root / "base"),
            "--preset",
            "smoke",
            "--context-size",
            "160",
            "--batch-size",
            "4",
            "--max-steps",
            "4",
            "--eval-every",
            "2",
            "--eval-batches",
            "2",
        ]
    )
    assert code == 0
    return root


def sft_args(base_run: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--quiet",
        "train",
        "sft",
        "--input",
        str(TINY_CHAT),
        "--tokenizer",
        str(base_run / "tok.json"),
        "--checkpoint",
        str(base_run / "base" / "best_checkpoint"),
        "--out-dir",
        str(out),
        "--max-steps",
        "6",
        "--early-stop-patience",
        "6",
        "--eval-every",
        "3",
        "--batch-size",
        "4",
        "--probe-rows",
        "4",
        *extra,
    ]


def test_spec_full_sft_command_writes_every_artifact(base_run, tmp_path, run_cli):
    out = tmp_path / "sft"
    code, stdout, _ = run_cli(*sft_args(base_run, out))
    assert code == 0, stdout
    for name in ("sft_report.json", "report.md", "sample.txt", "loss_curve.png"):
        assert (out / name).is_file(), name
    report = json.loads((out / "sft_report.json").read_text())
    for key in ("config", "inputs", "versions", "seed", "wall_seconds", "history", "best"):
        assert key in report
    ds = report["dataset"]
    assert ds["rows"] == 92 and ds["usable"] + ds["skipped"] == 92
    assert ds["train_rows"] + ds["val_rows"] == ds["usable"] and ds["val_rows"] > 0
    # context 160: the longest rows are cut from the left or skipped, each with a reason
    assert ds["truncated"] == len(ds["truncated_rows"]) > 0
    assert all(r["line"] >= 1 and r["reason"] for r in ds["truncated_rows"] + ds["skipped_rows"])
    assert ds["supervised_tokens"] > 0
    assert report["final"]["gap"] == pytest.approx(
        report["final"]["val_loss"] - report["final"]["train_loss"]
    )
    assert report["stop_reason"] == "max_steps" and isinstance(report["diverged"], bool)
    risk = report["memorization_risk"]
    assert {"train_exact_rate", "val_exact_rate", "verdict"} <= set(risk)
    assert report["peft"] is None
    model = load_checkpoint(out / "checkpoint")
    assert model.checkpoint_meta["kind"] == "sft"
    assert (out / "best_checkpoint" / "model.safetensors").is_file()


def test_spec_lora_command_keeps_base_and_adapter_matches_merged(base_run, tmp_path, run_cli):
    base_dir = base_run / "base" / "best_checkpoint"
    base_weights = load_file(str(base_dir / "model.safetensors"))
    out = tmp_path / "sft-lora"
    extra = ("--peft", "lora", "--lora-rank", "8", "--lora-alpha", "16")
    code, stdout, _ = run_cli(
        *sft_args(base_run, out, *extra, "--lora-targets", "attn_qkv,attn_proj")
    )
    assert code == 0, stdout
    report = json.loads((out / "sft_report.json").read_text())
    assert report["peft"] == {
        "type": "lora",
        "rank": 8,
        "alpha": 16.0,
        "targets": ["attn_qkv", "attn_proj"],
    }
    assert report["model"]["trainable_parameters"] < report["model"]["num_parameters"] / 4
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 8
    # the base file is untouched; base + adapter == the merged checkpoint
    after = load_file(str(base_dir / "model.safetensors"))
    assert all(torch.equal(base_weights[k], after[k]) for k in base_weights)
    tok = load_tokenizer(base_run / "tok.json")
    adapted = load_adapter(load_checkpoint(base_dir, tokenizer=tok), out, base_checkpoint=base_dir)
    merged = load_checkpoint(out / "checkpoint", tokenizer=tok)
    x = torch.randint(8, tok.vocab_size, (2, 50), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(adapted(x)[0], merged(x)[0], atol=1e-5)
        assert not torch.allclose(load_checkpoint(base_dir)(x)[0], merged(x)[0], atol=1e-4)
    # frozen base matrices equal the merged ones outside the adapted layers
    merged_state = load_file(str(out / "checkpoint" / "model.safetensors"))
    assert torch.equal(
        merged_state["blocks.0.mlp_fc.weight"], base_weights["blocks.0.mlp_fc.weight"]
    )


def test_unknown_lora_target_is_a_clear_error(base_run, tmp_path, run_cli):
    extra = ("--peft", "lora", "--lora-targets", "attn_qkv,q_proj")
    code, _, err = run_cli(*sft_args(base_run, tmp_path / "bad", *extra))
    assert code == 2
    assert "q_proj" in err and "mlp_proj" in err and "Traceback" not in err
    assert not (tmp_path / "bad").exists()


def test_strict_mode_names_the_bad_line(base_run, tmp_path, run_cli):
    bad = write_rows(tmp_path / "chat.jsonl", [ROWS[0], {"user": "no answer"}])
    args = sft_args(base_run, tmp_path / "strict")
    args[args.index("--input") + 1] = str(bad)
    code, _, err = run_cli(*args, "--strict")
    assert code == 2 and "chat.jsonl:2" in err


def test_lora_run_resumes_after_an_interrupt_like_an_uninterrupted_one(base_run, tmp_path):
    import os
    import signal

    from picochat.configs import SFTConfig
    from picochat.training.sft import train_sft

    def config(out: Path, resume: bool = False) -> SFTConfig:
        return SFTConfig(
            input=TINY_CHAT,
            tokenizer=base_run / "tok.json",
            checkpoint=base_run / "base" / "best_checkpoint",
            out_dir=out,
            max_steps=4,
            eval_every=2,
            batch_size=4,
            probe_rows=1,
            peft="lora",
            resume=resume,
        )

    def interrupt_at_step_3(step: int) -> None:
        if step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    straight = train_sft(config(tmp_path / "straight"), show_progress=False)
    first = train_sft(config(tmp_path / "cut"), show_progress=False, on_step=interrupt_at_step_3)
    assert first.stop_reason == "interrupted"
    resumed = train_sft(config(tmp_path / "cut", resume=True), show_progress=False)
    assert resumed.stop_reason == "max_steps"
    a = load_file(str(straight.checkpoint / "model.safetensors"))
    b = load_file(str(resumed.checkpoint / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    adapter_a = load_file(str(tmp_path / "straight" / "adapter_model.safetensors"))
    adapter_b = load_file(str(tmp_path / "cut" / "adapter_model.safetensors"))
    assert all(torch.equal(adapter_a[k], adapter_b[k]) for k in adapter_a)


def test_a_tokenizer_from_another_run_is_refused(base_run, tmp_path, run_cli):
    from picochat.tokenizer import ByteTokenizer, save_tokenizer

    other = save_tokenizer(ByteTokenizer(), tmp_path / "byte.json")
    args = sft_args(base_run, tmp_path / "mismatch")
    args[args.index("--tokenizer") + 1] = str(other)
    code, _, err = run_cli(*args)
    assert code == 2 and "tokenizer" in err and "Traceback" not in err


def test_final_and_best_validation_losses_cover_every_validation_row(base_run, tmp_path, run_cli):
    """Periodic evaluations score --eval-batches x --batch-size rows (here 4 of ~9);
    the final and best figures score them all (issue 15)."""
    from picochat.data.chat import split_chat_examples
    from picochat.training.lm_metrics import window_loss_sums

    out = tmp_path / "sft"
    code, stdout, _ = run_cli(*sft_args(base_run, out, "--eval-batches", "1"))
    assert code == 0, stdout
    report = json.loads((out / "sft_report.json").read_text())
    tok = load_tokenizer(base_run / "tok.json")
    model = load_checkpoint(out / "checkpoint")
    dataset = read_chat_jsonl(TINY_CHAT)
    rendered = render_examples(dataset.examples, tok, model.config.context_size)
    by_line = {s.line: s for s in rendered.sequences}
    usable = [e for e in dataset.examples if e.line in by_line]
    _, val = split_chat_examples(usable, val_fraction=0.1, seed=1337)
    assert len(val) == report["dataset"]["val_rows"] > 4
    x, y = collate([by_line[e.line] for e in val], tok.pad_id)
    sums = window_loss_sums(
        model, x, y, torch.from_numpy(tok.token_byte_lengths()), device=torch.device("cpu")
    )
    final = report["final"]
    assert final["val_loss"] == pytest.approx(sums.mean_loss, rel=1e-5)
    assert final["val_tokens"] == sums.targets and final["val_scope"] == "whole"
    assert final["periodic_val_loss"] != pytest.approx(final["val_loss"], rel=1e-6)
    assert report["validation_scope"]["periodic_val_rows"] == 4
    assert "periodic evaluations score 4 of" in (out / "report.md").read_text()
