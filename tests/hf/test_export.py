"""`picochat export hf`: the exported folder loads with transformers and matches Picochat."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

import torch  # noqa: E402

from picochat.chat_format import render_prompt  # noqa: E402
from picochat.generation import generate_ids  # noqa: E402
from picochat.model.checkpoint import save_checkpoint  # noqa: E402
from picochat.tokenizer import load_tokenizer  # noqa: E402
from tiny_models import tiny_model  # noqa: E402

CORPUS = (
    "The tide comes in and the tide goes out. The moon pulls the sea.\n"
    "Bees make honey; honey is sweet. Paris is the capital of France.\n"
) * 20
SAMPLES = [
    "The moon pulls the sea.",
    "  spaces,\tTabs and\nnew lines  ",
    "Unicode: café, naïve, 東京 🐝",
]
CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What do bees make?"},
    {"role": "assistant", "content": "Honey."},
    {"role": "user", "content": "And the moon?"},
]


@pytest.fixture(scope="module", params=["bpe", "char"])
def tokenizer_path(request, tmp_path_factory):
    from picochat.cli.main import main

    folder = tmp_path_factory.mktemp(f"tok_{request.param}")
    corpus = folder / "corpus.txt"
    corpus.write_text(CORPUS + "".join(SAMPLES), encoding="utf-8")
    out = folder / "tokenizer.json"
    args = ["tok", "train", "--input", str(corpus), "--out", str(out), "--type", request.param]
    assert main(args + (["--vocab-size", "320"] if request.param == "bpe" else [])) == 0
    return out


def _export(run_cli, tmp_path, tokenizer_path, *, tie: bool, n_kv_head: int):
    tok = load_tokenizer(tokenizer_path)
    model = tiny_model(tok.vocab_size, n_kv_head=n_kv_head, context_size=128, tie_embeddings=tie)
    with torch.no_grad():  # non-trivial norm gains, so a swapped norm shows up
        for p in model.parameters():
            if p.dim() == 1:
                p.uniform_(0.5, 1.5)
    checkpoint = save_checkpoint(tmp_path / "ckpt", model, tokenizer_sha256=tok.sha256)
    out = tmp_path / "hf"
    code, stdout, err = run_cli(
        "export", "hf", "--checkpoint", checkpoint, "--tokenizer", tokenizer_path, "--out-dir", out
    )
    assert code == 0, err
    return tok, model, out


@pytest.mark.parametrize("tie,n_kv_head", [(True, 4), (False, 2)])
def test_exported_model_matches_logits_and_greedy(
    run_cli, tmp_path, tokenizer_path, tie, n_kv_head
):
    from transformers import AutoModelForCausalLM

    tok, model, out = _export(run_cli, tmp_path, tokenizer_path, tie=tie, n_kv_head=n_kv_head)
    hf = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    assert type(hf).__name__ == "LlamaForCausalLM"
    assert hf.config.tie_word_embeddings is tie
    ids = torch.tensor([tok.encode(SAMPLES[0] + " " + SAMPLES[2])])
    with torch.no_grad():
        native_logits, _ = model(ids)
        hf_logits = hf(ids).logits
    assert (native_logits - hf_logits).abs().max().item() < 1e-4
    prompt = render_prompt(tok, CONVERSATION)
    native = generate_ids(model, [prompt], stop_ids=(), max_new_tokens=20, temperature=0.0)[0]
    with torch.no_grad():
        generated = hf.generate(
            input_ids=torch.tensor([prompt]), max_new_tokens=20, min_new_tokens=20,
            do_sample=False,
        )  # fmt: skip
    assert generated[0, len(prompt) :].tolist() == native


def test_exported_tokenizer_and_chat_template_match(run_cli, tmp_path, tokenizer_path):
    from transformers import AutoTokenizer

    tok, _, out = _export(run_cli, tmp_path, tokenizer_path, tie=True, n_kv_head=4)
    hf_tok = AutoTokenizer.from_pretrained(out)
    for text in SAMPLES:
        assert hf_tok(text, add_special_tokens=False)["input_ids"] == tok.encode(text)
        assert hf_tok.decode(tok.encode(text)) == tok.decode(tok.encode(text))
    # Known, documented difference: transformers matches special-token strings inside
    # text; Picochat's encoder (allow_special=False) keeps them plain text.
    literal = "a literal <|user|> here"
    assert tok.token_to_id("<|user|>") not in tok.encode(literal)
    assert tok.token_to_id("<|user|>") in hf_tok(literal, add_special_tokens=False)["input_ids"]
    assert (hf_tok.bos_token_id, hf_tok.eos_token_id, hf_tok.pad_token_id) == (
        tok.bos_id,
        tok.eos_id,
        tok.pad_id,
    )
    hf_prompt = hf_tok.apply_chat_template(
        CONVERSATION, add_generation_prompt=True, tokenize=True, return_dict=False
    )
    assert hf_prompt == render_prompt(tok, CONVERSATION)
    generation = json.loads((out / "generation_config.json").read_text())
    assert tok.token_to_id("<|end|>") in generation["eos_token_id"]
