"""`export hf --adapter`: a Picochat LoRA adapter as a PEFT adapter for the exported base;
the exported tokenizer adds `<|bos|>` like Picochat; the export carries a model card."""

from __future__ import annotations

import json
import warnings

import pytest

pytest.importorskip("peft")

import torch  # noqa: E402

from picochat.generation import generate_ids, text_prompt_ids  # noqa: E402
from picochat.model.checkpoint import save_checkpoint  # noqa: E402
from picochat.model.config import ModelConfig  # noqa: E402
from picochat.model.lora import apply_lora, merge_lora, save_adapter  # noqa: E402
from picochat.model.transformer import Transformer  # noqa: E402
from picochat.tokenizer import load_tokenizer  # noqa: E402

CORPUS = "ROMEO: But soft, what light through yonder window breaks? It is the east.\n" * 30
PROMPTS = ["ROMEO:", "It is the", "what light"]


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    """RUN/tokenizer.json, RUN/base/checkpoint, RUN/sft/{adapter files, checkpoint (merged)}."""
    from picochat.cli.main import main

    root = tmp_path_factory.mktemp("lora_run")
    (root / "corpus.txt").write_text(CORPUS, encoding="utf-8")
    args = [
        "tok",
        "train",
        "--input",
        str(root / "corpus.txt"),
        "--out",
        str(root / "tokenizer.json"),
    ]
    assert main([*args, "--type", "bpe", "--vocab-size", "300"]) == 0
    tok = load_tokenizer(root / "tokenizer.json")
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=tok.vocab_size, n_layer=2, n_head=4, n_kv_head=2, n_embd=32,
                         context_size=96, tie_embeddings=False, rope_theta=500000.0)  # fmt: skip
    model = Transformer(config).eval()
    base = save_checkpoint(root / "base" / "checkpoint", model, tokenizer_sha256=tok.sha256)
    apply_lora(model, "all", rank=4, alpha=8)
    with torch.no_grad():  # a trained-looking adapter: B != 0 everywhere
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.2)
    save_adapter(model, root / "sft", base_checkpoint=base)
    merged = merge_lora(model).eval()
    save_checkpoint(root / "sft" / "checkpoint", merged, tokenizer_sha256=tok.sha256, kind="sft")
    return root, tok, merged


def test_peft_loads_the_adapter_without_warnings_and_matches_the_merged_model(
    lora_run, tmp_path, run_cli
):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    root, tok, merged = lora_run
    out = tmp_path / "hf"
    code, _, err = run_cli(
        "export", "hf", "--checkpoint", root / "base" / "checkpoint", "--tokenizer",
        root / "tokenizer.json", "--out-dir", out, "--adapter", root / "sft",
    )  # fmt: skip
    assert code == 0, err
    config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert set(config["target_modules"]) == {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"
    }  # fmt: skip
    base = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        peft_model = PeftModel.from_pretrained(base, out / "adapter").eval()
    # PEFT 0.21 itself reads transformers 5's deprecated `is_gradient_checkpointing` in
    # PeftModel.__init__ (a FutureWarning for any adapter); nothing else may warn.
    unrelated = "is_gradient_checkpointing"
    assert [str(w.message) for w in caught if unrelated not in str(w.message)] == []
    ids = torch.tensor([tok.encode(CORPUS[:200])])
    with torch.no_grad():
        difference = (peft_model(ids).logits - merged(ids)[0]).abs().max().item()
    print(f"PEFT adapter vs merged checkpoint: max logit difference {difference:.2e}")
    assert difference < 1e-4
    card = (out / "README.md").read_text()
    assert "PeftModel.from_pretrained" in card and "not measured" in card


def test_a_mismatched_base_is_refused(lora_run, tmp_path, run_cli):
    root, _, _ = lora_run
    code, _, err = run_cli(
        "export", "hf", "--checkpoint", root / "sft" / "checkpoint", "--tokenizer",
        root / "tokenizer.json", "--out-dir", tmp_path / "x", "--adapter", root / "sft",
    )  # fmt: skip
    assert code == 2 and "trained on another base" in err
    assert not (tmp_path / "x").exists()


def test_raw_text_generation_matches_picochat(lora_run, tmp_path, run_cli):
    """The exported tokenizer puts <|bos|> first, so generate(**tok(text)) continues
    exactly as `picochat generate` (greedy)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root, tok, merged = lora_run
    out = tmp_path / "hf"
    code, _, err = run_cli(
        "export", "hf", "--checkpoint", root / "sft" / "checkpoint", "--tokenizer",
        root / "tokenizer.json", "--out-dir", out,
    )  # fmt: skip
    assert code == 0, err
    hf_tok = AutoTokenizer.from_pretrained(out)
    hf = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    for prompt in PROMPTS:
        encoded = hf_tok(prompt, return_tensors="pt")
        assert encoded["input_ids"][0].tolist() == text_prompt_ids(tok, prompt)
        with torch.no_grad():
            generated = hf.generate(
                **encoded, max_new_tokens=16, min_new_tokens=16, do_sample=False
            )[0, encoded["input_ids"].shape[1] :].tolist()
        native = generate_ids(
            merged, [text_prompt_ids(tok, prompt)], stop_ids=(), max_new_tokens=16, temperature=0.0
        )[0]
        assert generated == native, prompt
    card = (out / "README.md").read_text()
    assert "## Evaluation" in card and "not measured" in card


def test_generate_hf_model_continues_like_the_native_checkpoint(lora_run, tmp_path, run_cli):
    root, _, _ = lora_run
    checkpoint, tokenizer = root / "sft" / "checkpoint", root / "tokenizer.json"
    code, _, err = run_cli("export", "hf", "--checkpoint", checkpoint, "--tokenizer", tokenizer,
                           "--out-dir", tmp_path / "hf")  # fmt: skip
    assert code == 0, err
    sampling = ["--prompt", "It is the", "--temperature", "0", "--max-new-tokens", "12"]
    code, native, err = run_cli("generate", "--checkpoint", checkpoint, "--tokenizer", tokenizer,
                                *sampling)  # fmt: skip
    assert code == 0, err
    code, exported, err = run_cli("generate", "--hf-model", tmp_path / "hf", *sampling)
    assert code == 0, err
    assert exported.strip() == native.strip() and len(native.strip()) > len("It is the")


def test_a_native_checkpoint_passed_as_hf_model_says_what_it_is(lora_run, run_cli):
    root, _, _ = lora_run
    for command in (["generate", "--prompt", "x"], ["chat"]):
        code, _, err = run_cli(*command, "--hf-model", root / "sft" / "checkpoint")
        assert code == 2, err
        assert "is a Picochat checkpoint" in err and "--checkpoint" in err
        assert "sentencepiece" not in err and "Traceback" not in err
