"""`picochat train hf-sft`: answer-only labels, full and LoRA runs on a tiny local Llama,
exact resume after an interruption, and two torchrun processes training one model."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")
pytest.importorskip("peft")

from picochat.data.chat import ChatExample  # noqa: E402
from picochat.hf.sft_data import IGNORE_INDEX, encode_example  # noqa: E402


def _example(messages):
    return ChatExample(line=1, messages=messages, group_key="k")


MULTI_TURN = [
    {"role": "system", "content": "be brief."},
    {"role": "user", "content": "hello there"},
    {"role": "assistant", "content": "hello."},
    {"role": "user", "content": "tell me about bees"},
    {"role": "assistant", "content": "bees make honey."},
]


def test_labels_cover_only_the_final_answer(tiny_hf_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_hf_model)
    encoded = encode_example(tokenizer, _example(MULTI_TURN), max_length=256)
    supervised = [t for t in encoded.labels if t != IGNORE_INDEX]
    assert tokenizer.decode(supervised) == "bees make honey.<|im_end|>\n"
    # Everything before the answer is context: the earlier assistant turn carries no label.
    first = encoded.labels.index(supervised[0])
    assert all(label == IGNORE_INDEX for label in encoded.labels[:first])
    assert encoded.labels[first:] == encoded.input_ids[first:]
    prompt = tokenizer.apply_chat_template(
        MULTI_TURN[:-1], add_generation_prompt=True, tokenize=False
    )
    assert tokenizer.decode(encoded.input_ids[:first]) == prompt
    assert not encoded.truncated


def test_truncation_keeps_the_answer(tiny_hf_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_hf_model)
    full = encode_example(tokenizer, _example(MULTI_TURN), max_length=512)
    answer_len = sum(t != IGNORE_INDEX for t in full.labels)
    cut = encode_example(tokenizer, _example(MULTI_TURN), max_length=answer_len + 3)
    assert cut.truncated and len(cut.input_ids) == answer_len + 3
    assert cut.input_ids == full.input_ids[-(answer_len + 3) :]
    assert [t for t in cut.labels if t != IGNORE_INDEX] == full.input_ids[-answer_len:]
    with pytest.raises(ValueError, match="does not fit"):
        encode_example(tokenizer, _example(MULTI_TURN), max_length=answer_len)


def _run(run_cli, model, chat_file, out, *extra):
    return run_cli(
        "train", "hf-sft", "--model", model, "--input", chat_file, "--out-dir", out,
        "--max-steps", "6", "--eval-every", "3", "--batch-size", "4", "--device", "cpu",
        "--learning-rate", "0.01", "--val-fraction", "0.2", "--probe-rows", "4",
        "--max-new-tokens", "8", *extra,
    )  # fmt: skip


def test_full_sft_writes_loadable_models_and_report(run_cli, tiny_hf_model, chat_file, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "sft"
    code, stdout, err = _run(run_cli, tiny_hf_model, chat_file, out)
    assert code == 0, err
    report = json.loads((out / "hf_sft_report.json").read_text())
    assert report["dataset"]["rows"] == 16 and report["dataset"]["skipped"] == 1
    assert report["dataset"]["train_rows"] + report["dataset"]["val_rows"] == 15
    assert report["dataset"]["supervised_tokens"] > 0
    # The default --max-length 512 is past the model's 256 positions: cut to them, said.
    assert report["dataset"]["max_length"] == 256
    assert report["dataset"]["max_length_requested"] == 512
    assert "--max-length 512 is longer than the model's 256-token context" in err
    # The shared loop: step 0 is the untrained baseline, then every --eval-every steps.
    assert [h["step"] for h in report["history"]] == [0, 3, 6]
    assert report["history"][0]["train_loss"] is None
    first, last = report["history"][1]["train_loss"], report["history"][-1]["train_loss"]
    assert last < first  # lr 0.01 on a tiny model: the loss must move down
    assert report["history"][-1]["val_loss"] < report["history"][0]["val_loss"]
    assert report["memorization_risk"]["verdict"]
    assert report["peft"] is None and report["stop_reason"] == "max_steps"
    for key in ("config", "inputs", "versions", "seed", "wall_seconds"):
        assert key in report
    assert (out / "report.md").read_text().startswith("# Hugging Face SFT report")
    model = AutoModelForCausalLM.from_pretrained(out / "final_model")
    base = AutoModelForCausalLM.from_pretrained(tiny_hf_model)
    moved = (model.model.embed_tokens.weight - base.model.embed_tokens.weight).abs().max()
    assert moved > 0
    tokenizer = AutoTokenizer.from_pretrained(out / "best_model")
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template


def test_lora_trains_adapters_only_and_merges(run_cli, tiny_hf_model, chat_file, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "lora"
    code, _, err = _run(
        run_cli, tiny_hf_model, chat_file, out, "--peft", "lora", "--lora-rank", "4",
        "--lora-targets", "q_proj,v_proj",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads((out / "hf_sft_report.json").read_text())
    assert report["peft"]["type"] == "lora" and report["peft"]["rank"] == 4
    assert (out / "final_adapter" / "adapter_config.json").exists()
    base = AutoModelForCausalLM.from_pretrained(tiny_hf_model)
    merged = AutoModelForCausalLM.from_pretrained(out / "final_model")
    q_base = base.model.layers[0].self_attn.q_proj.weight
    q_merged = merged.model.layers[0].self_attn.q_proj.weight
    k_base = base.model.layers[0].self_attn.k_proj.weight
    assert not torch.equal(q_base, q_merged)  # the adapter was merged in
    assert torch.equal(k_base, merged.model.layers[0].self_attn.k_proj.weight)  # untouched
    adapted = PeftModel.from_pretrained(base, out / "final_adapter")
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    torch.testing.assert_close(adapted(ids).logits, merged(ids).logits, atol=1e-5, rtol=0)


def test_unknown_lora_target_lists_valid_ones(run_cli, tiny_hf_model, chat_file, tmp_path):
    code, _, err = _run(
        run_cli, tiny_hf_model, chat_file, tmp_path / "x", "--peft", "lora",
        "--lora-targets", "attn_qkv",
    )  # fmt: skip
    assert code == 2 and "attn_qkv" in err and "q_proj" in err


def test_tokenizer_without_template_gets_picochats(make_tokenizer):
    from picochat.chat_format import JINJA_TEMPLATE
    from picochat.hf.adapter import ensure_chat_template

    tokenizer = make_tokenizer(chat_template=None)
    assert ensure_chat_template(tokenizer) is True
    assert tokenizer.chat_template == JINJA_TEMPLATE
    encoded = encode_example(tokenizer, _example(MULTI_TURN), max_length=256)
    supervised = [t for t in encoded.labels if t != IGNORE_INDEX]
    assert tokenizer.decode(supervised) == "bees make honey.<|end|>"
    prompt = tokenizer.decode(encoded.input_ids[: len(encoded.labels) - len(supervised)])
    assert prompt.endswith("<|user|>tell me about bees<|end|><|assistant|>")
    assert ensure_chat_template(tokenizer) is False  # an existing template is kept


def _config(model, chat_file, out, **overrides):
    from picochat.configs import HFSFTConfig

    settings = dict(
        model=str(model), input=chat_file, out_dir=out, max_steps=6, eval_every=3,
        batch_size=4, device="cpu", precision="fp32", learning_rate=0.01, val_fraction=0.2,
        probe_rows=2, max_new_tokens=4,
    )  # fmt: skip
    return HFSFTConfig(**{**settings, **overrides})


@pytest.mark.parametrize("peft", ["none", "lora"])
def test_resume_after_an_interrupt_matches_an_uninterrupted_run(
    tiny_hf_model, chat_file, tmp_path, peft
):
    import os
    import signal

    import torch
    from safetensors.torch import load_file

    from picochat.hf.sft import train_hf_sft

    def interrupt_at_step_4(step: int) -> None:
        if step == 4:  # the loop finishes the step it is in (5), saves and stops
            os.kill(os.getpid(), signal.SIGINT)

    extra = {"peft": peft, "lora_rank": 4} if peft == "lora" else {}
    straight = train_hf_sft(
        _config(tiny_hf_model, chat_file, tmp_path / "straight", **extra), show_progress=False
    )
    cut = train_hf_sft(
        _config(tiny_hf_model, chat_file, tmp_path / "cut", **extra),
        show_progress=False,
        on_step=interrupt_at_step_4,
    )
    assert cut.stop_reason == "interrupted" and cut.steps == 5
    resumed = train_hf_sft(
        _config(tiny_hf_model, chat_file, tmp_path / "cut", resume=True, **extra),
        show_progress=False,
    )
    assert resumed.stop_reason == "max_steps" and resumed.steps == 6
    a = load_file(str(straight.final_model / "model.safetensors"))
    b = load_file(str(resumed.final_model / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    straight_report = json.loads(straight.report.read_text())
    resumed_report = json.loads(resumed.report.read_text())
    losses = [(h["step"], h["train_loss"], h["val_loss"]) for h in straight_report["history"]]
    assert losses == [
        (h["step"], h["train_loss"], h["val_loss"]) for h in resumed_report["history"]
    ]
    assert straight_report["best"] == resumed_report["best"]


def test_resume_without_an_earlier_run_says_so(run_cli, tiny_hf_model, chat_file, tmp_path):
    code, _, err = _run(run_cli, tiny_hf_model, chat_file, tmp_path / "none", "--resume")
    assert code == 2 and "final_model" in err and "Traceback" not in err


def test_max_minutes_stops_with_a_final_evaluation(tiny_hf_model, chat_file, tmp_path):
    from picochat.hf.sft import train_hf_sft

    config = _config(tiny_hf_model, chat_file, tmp_path / "t", max_steps=1000, max_minutes=1e-6)
    result = train_hf_sft(config, show_progress=False)
    report = json.loads(result.report.read_text())
    assert result.stop_reason == "max_minutes" and result.steps < 1000
    assert report["history"][-1]["step"] == result.steps  # the budget's last evaluation


def test_torchrun_two_processes_train_one_model_and_rank0_writes(
    tiny_hf_model, chat_file, tmp_path
):
    import os
    import subprocess
    import sys
    from pathlib import Path

    import torch

    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
        "-m", "picochat", "--quiet", "train", "hf-sft", "--model", str(tiny_hf_model),
        "--input", str(chat_file), "--out-dir", str(out), "--max-steps", "4",
        "--eval-every", "2", "--batch-size", "2", "--device", "cpu", "--precision", "fp32",
        "--learning-rate", "0.01", "--val-fraction", "0.2", "--probe-rows", "2",
        "--max-new-tokens", "4",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(repo / "src"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "hf_sft_report.json").read_text())
    assert "2 process(es)" in report["device"]
    assert [h["step"] for h in report["history"]] == [0, 2, 4]
    # One model trained on both ranks' halves of each batch: the same as one process
    # accumulating the two halves (up to the all-reduce's rounding). Two independent
    # copies would each have seen only their own half.
    from safetensors.torch import load_file

    from picochat.hf.sft import train_hf_sft

    config = _config(
        tiny_hf_model, chat_file, tmp_path / "one", max_steps=4, eval_every=2, batch_size=2,
        grad_accum_steps=2,
    )  # fmt: skip
    single = train_hf_sft(config, show_progress=False)
    single_report = json.loads(single.report.read_text())
    for ddp_entry, one_entry in zip(report["history"], single_report["history"], strict=True):
        assert ddp_entry["val_loss"] == pytest.approx(one_entry["val_loss"], abs=1e-4)
    ddp_weights = load_file(str(out / "final_model" / "model.safetensors"))
    one_weights = load_file(str(single.final_model / "model.safetensors"))
    for name, tensor in ddp_weights.items():
        torch.testing.assert_close(tensor, one_weights[name], atol=1e-4, rtol=0)
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "best_model",
        "final_model",
        "hf_sft_report.json",
        "metrics.jsonl",
        "report.md",
    ]


def test_final_validation_loss_covers_every_row_when_periodic_evaluations_sample(
    run_cli, tiny_hf_model, chat_file, tmp_path
):
    """--eval-batches 1 x --batch-size 2 scores 2 of the 3 validation rows periodically;
    the final figure is still over all 3: it equals the final figure of a run that
    scores every row (same seed, same weights)."""
    common = ("--batch-size", "2", "--max-steps", "2", "--eval-every", "2")
    sampled, whole = tmp_path / "sampled", tmp_path / "whole"
    assert _run(run_cli, tiny_hf_model, chat_file, sampled, *common, "--eval-batches", "1")[0] == 0
    assert _run(run_cli, tiny_hf_model, chat_file, whole, *common, "--eval-batches", "0")[0] == 0
    a = json.loads((sampled / "hf_sft_report.json").read_text())
    b = json.loads((whole / "hf_sft_report.json").read_text())
    assert a["dataset"]["val_rows"] == 3 and a["final"]["val_rows"] == 3
    assert a["final"]["val_loss"] == pytest.approx(b["final"]["val_loss"], rel=1e-6)
    assert a["final"]["periodic_val_loss"] != pytest.approx(a["final"]["val_loss"], rel=1e-6)
    assert a["best"]["val_scope"] == "periodic, 2 of 3 rows" and b["best"]["val_scope"] == "whole"
