"""`picochat import hf`: a tiny Llama built here becomes a native checkpoint that every
native stage accepts; export then import gives the same weights back."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("transformers")

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from picochat.model.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from picochat.model.config import ModelConfig  # noqa: E402
from picochat.model.transformer import Transformer  # noqa: E402
from picochat.tokenizer import load_tokenizer  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "examples"
TEXT = "the tide comes in and the tide goes out. what is the capital of france? hello there. "
EXAMPLES = [TEXT, "Hello wörld 東京 🐝  \n\n x", "what is 12345 plus 7? don't  stop"]


def save_llama(folder, *, tie: bool, theta: float = 500000.0, scaling=None):
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = HF_TOKENIZER[0]()
    torch.manual_seed(1)
    rope = {"rope_type": "default", "rope_theta": theta} if scaling is None else scaling
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=80, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
        tie_word_embeddings=tie, rope_parameters=rope, rms_norm_eps=1e-6,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )  # fmt: skip
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # non-trivial norm gains, so a swapped norm shows up
        for p in model.parameters():
            if p.dim() == 1:
                p.uniform_(0.5, 1.5)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer


HF_TOKENIZER: list = []  # conftest's build_tokenizer, set by the fixture below


@pytest.fixture(autouse=True, scope="module")
def _tokenizer_builder():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "hf_conftest", Path(__file__).parent / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    HF_TOKENIZER[:] = [module.build_tokenizer]


@pytest.fixture(scope="module")
def imported(_tokenizer_builder, tmp_path_factory):
    """(HF model, HF tokenizer, import folder) for an untied GQA Llama."""
    from picochat.cli.main import main

    root = tmp_path_factory.mktemp("import")
    model, tokenizer = save_llama(root / "llama", tie=False)
    assert (
        main(["import", "hf", "--model", str(root / "llama"), "--out-dir", str(root / "pc")]) == 0
    )
    return model, tokenizer, root / "pc"


def max_logit_difference(hf_model, out_dir) -> float:
    tok = load_tokenizer(out_dir / "tokenizer.json")
    native = load_checkpoint(out_dir / "checkpoint", tokenizer=tok)
    report = json.loads((out_dir / "import_report.json").read_text())
    hf_ids = report["hf_ids"]
    kept = [i for i, h in enumerate(hf_ids) if h is not None]
    worst = 0.0
    for text in EXAMPLES:
        ids = tok.encode(text)[:100]
        with torch.no_grad():
            ours = native(torch.tensor([ids]))[0][0]
            theirs = hf_model(torch.tensor([[hf_ids[i] for i in ids]])).logits[0]
        diff = ours[:, kept] - theirs[:, [hf_ids[i] for i in kept]]
        worst = max(worst, diff.abs().max().item())
    return worst


def test_imported_llama_gives_the_same_ids_and_logits(imported):
    hf_model, hf_tok, out_dir = imported
    tok = load_tokenizer(out_dir / "tokenizer.json")
    hf_ids = json.loads((out_dir / "import_report.json").read_text())["hf_ids"]
    for text in EXAMPLES:
        ours = tok.encode(text)
        assert [hf_ids[i] for i in ours] == hf_tok(text, add_special_tokens=False)["input_ids"]
        assert tok.decode(ours) == text
    assert hf_ids[tok.bos_id] == hf_tok.bos_token_id
    assert hf_ids[tok.eos_id] == hf_tok.eos_token_id
    info = load_checkpoint(out_dir / "checkpoint").checkpoint_meta
    assert info["model"]["rope_theta"] == 500000.0
    assert info["model"]["n_kv_head"] == 2 and info["model"]["tie_embeddings"] is False
    assert "<|user|>" in info["metadata"]["new_rows"]
    assert max_logit_difference(hf_model, out_dir) < 1e-4


def test_tied_llama_imports(tmp_path, run_cli):
    model, _ = save_llama(tmp_path / "llama", tie=True, theta=10000.0)
    code, out, err = run_cli(
        "import", "hf", "--model", tmp_path / "llama", "--out-dir", tmp_path / "pc"
    )
    assert code == 0, err
    assert load_checkpoint(tmp_path / "pc" / "checkpoint").config.tie_embeddings is True
    assert max_logit_difference(model, tmp_path / "pc") < 1e-4


def test_what_the_native_model_lacks_is_refused_clearly(tmp_path, run_cli):
    scaled = {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}
    save_llama(tmp_path / "scaled", tie=False, scaling=scaled)
    code, out, err = run_cli(
        "import", "hf", "--model", tmp_path / "scaled", "--out-dir", tmp_path / "x"
    )
    assert code == 2 and "rope scaling 'linear'" in err and "Traceback" not in err
    assert not (tmp_path / "x" / "checkpoint").exists()
    pickled = tmp_path / "pickled"
    save_llama(pickled, tie=False)
    (pickled / "model.safetensors").unlink()
    (pickled / "pytorch_model.bin").write_bytes(b"")
    code, out, err = run_cli("import", "hf", "--model", pickled, "--out-dir", tmp_path / "y")
    assert code == 2 and "never unpickles" in err


def test_every_native_stage_accepts_the_import(imported, tmp_path, run_cli, monkeypatch):
    out_dir = imported[2]
    ckpt, tok = out_dir / "checkpoint", out_dir / "tokenizer.json"
    common = ["--tokenizer", tok, "--device", "cpu"]
    steps = ["--max-steps", "2", "--eval-every", "1", "--precision", "fp32"]
    code, out, err = run_cli(
        "train", "sft", "--input", PACK / "tiny_chat.jsonl", "--checkpoint", ckpt,
        "--out-dir", tmp_path / "sft", *common, *steps,
    )  # fmt: skip
    assert code == 0, err
    sft = tmp_path / "sft" / "checkpoint"
    code, out, err = run_cli(
        "train", "dpo", "--input", PACK / "preferences.jsonl", "--checkpoint", sft,
        "--out-dir", tmp_path / "dpo", *common, *steps,
    )  # fmt: skip
    assert code == 0, err
    code, out, err = run_cli(
        "eval", "chat", "--input", PACK / "tiny_eval.jsonl", "--checkpoint", sft,
        "--out-dir", tmp_path / "eval", "--max-new-tokens", "4", *common,
    )  # fmt: skip
    assert code == 0, err
    assert (tmp_path / "eval" / "eval_report.json").is_file()
    monkeypatch.setattr(sys, "stdin", io.StringIO("hello\n"))
    code, out, err = run_cli("chat", "--checkpoint", sft, *common, "--max-new-tokens", "4")
    assert code == 0 and "assistant>" in out, err
    code, out, err = run_cli(
        "generate", "--checkpoint", ckpt, *common, "--prompt", "the tide", "--max-new-tokens", "4"
    )
    assert code == 0 and out.startswith("the tide"), err


def _native(tmp_path, tokenizer_path):
    tok = load_tokenizer(tokenizer_path)
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=tok.vocab_size, n_layer=2, n_head=4, n_kv_head=2,
                         n_embd=32, context_size=64, tie_embeddings=False, rope_theta=50000.0)  # fmt: skip
    return save_checkpoint(tmp_path / "ckpt", Transformer(config), tokenizer_sha256=tok.sha256)


def test_export_then_import_round_trips(tmp_path, run_cli):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT * 20, encoding="utf-8")
    tok_path = tmp_path / "tokenizer.json"
    code, _, err = run_cli(
        "tok", "train", "--input", corpus, "--out", tok_path, "--type", "bpe", "--vocab-size", "300"
    )
    assert code == 0, err
    ckpt = _native(tmp_path, tok_path)
    code, _, err = run_cli(
        "export", "hf", "--checkpoint", ckpt, "--tokenizer", tok_path, "--out-dir", tmp_path / "hf"
    )
    assert code == 0, err
    # Re-saved by transformers (drops Picochat's tokenizer metadata): still imports.
    resaved = tmp_path / "resaved"
    AutoModelForCausalLM.from_pretrained(tmp_path / "hf").save_pretrained(resaved)
    AutoTokenizer.from_pretrained(tmp_path / "hf").save_pretrained(resaved)
    original = load_file(str(ckpt / "model.safetensors"))
    for source in ("hf", "resaved"):
        out = tmp_path / f"back_{source}"
        code, _, err = run_cli("import", "hf", "--model", tmp_path / source, "--out-dir", out)
        assert code == 0, err
        back = load_file(str(out / "checkpoint" / "model.safetensors"))
        assert back.keys() == original.keys()
        assert all(torch.equal(back[k], original[k]) for k in original), source
        tok, orig_tok = load_tokenizer(out / "tokenizer.json"), load_tokenizer(tok_path)
        assert all(tok.encode(t) == orig_tok.encode(t) for t in EXAMPLES)
        assert load_checkpoint(out / "checkpoint").config == load_checkpoint(ckpt).config
