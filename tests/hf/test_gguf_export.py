"""`picochat export gguf`: the file read back with the `gguf` package's own reader.

llama.cpp itself runs in bench/check_gguf_llamacpp.py (greedy agreement over 64 tokens
on 5 prompts, per dtype); here: architecture, shapes, values, tokenizer, chat template.
"""

from __future__ import annotations

import pytest

gguf = pytest.importorskip("gguf")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from picochat.chat_format import JINJA_TEMPLATE  # noqa: E402
from picochat.hf.gguf_export import llamacpp_rope_permute  # noqa: E402
from picochat.model.checkpoint import save_checkpoint  # noqa: E402
from picochat.model.config import ModelConfig  # noqa: E402
from picochat.model.transformer import Transformer  # noqa: E402
from picochat.tokenizer import load_tokenizer  # noqa: E402

CORPUS = "The tide comes in and the tide goes out. The moon pulls the sea.\n" * 30


@pytest.fixture(scope="module")
def native(tmp_path_factory):
    from picochat.cli.main import main

    root = tmp_path_factory.mktemp("gguf")
    (root / "corpus.txt").write_text(CORPUS, encoding="utf-8")
    for kind in ("bpe", "char"):
        args = ["tok", "train", "--input", str(root / "corpus.txt"), "--type", kind]
        assert main([*args, "--out", str(root / f"{kind}.json")]) == 0
    tok = load_tokenizer(root / "bpe.json")
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=tok.vocab_size, n_layer=2, n_head=4, n_kv_head=2, n_embd=64,
                         context_size=128, tie_embeddings=False, rope_theta=20000.0)  # fmt: skip
    model = Transformer(config).eval()
    checkpoint = save_checkpoint(root / "ckpt", model, tokenizer_sha256=tok.sha256)
    return root, tok, model, checkpoint


def _values(tensor) -> np.ndarray:
    return gguf.quants.dequantize(tensor.data, tensor.tensor_type).reshape(
        [int(d) for d in reversed(tensor.shape)]
    )


@pytest.mark.parametrize("dtype,tolerance", [("f32", 0.0), ("f16", 1e-3), ("q8_0", 1e-2)])
def test_gguf_file_holds_the_llama_model_and_tokenizer(native, run_cli, dtype, tolerance):
    root, tok, model, checkpoint = native
    out = root / f"m-{dtype}.gguf"
    code, stdout, err = run_cli(
        "export", "gguf", "--checkpoint", checkpoint, "--tokenizer", root / "bpe.json",
        "--out", out, "--dtype", dtype,
    )  # fmt: skip
    assert code == 0, err
    reader = gguf.GGUFReader(str(out))
    field = {name: f.contents() for name, f in reader.fields.items()}
    assert field["general.architecture"] == "llama"
    assert field["llama.block_count"] == 2 and field["llama.attention.head_count_kv"] == 2
    assert field["llama.rope.freq_base"] == 20000.0 and field["llama.context_length"] == 128
    assert field["tokenizer.ggml.model"] == "gpt2" and field["tokenizer.ggml.pre"] == "dbrx"
    assert field["tokenizer.ggml.tokens"] == [tok.id_to_token(i) for i in range(tok.vocab_size)]
    names = [tok.id_to_token(i) for i in range(tok.vocab_size)]
    assert field["tokenizer.ggml.merges"] == [f"{names[a]} {names[b]}" for a, b in tok.merges]
    assert field["tokenizer.ggml.bos_token_id"] == tok.bos_id
    assert field["tokenizer.ggml.add_bos_token"] is True
    assert field["tokenizer.ggml.eot_token_id"] == tok.token_to_id("<|end|>")
    assert field["tokenizer.chat_template"] == JINJA_TEMPLATE
    tensors = {t.name: t for t in reader.tensors}
    assert len(tensors) == 3 + 9 * 2  # embeddings, final norm, output + 9 per block
    q, k, v = model.blocks[1].attn_qkv.weight.detach().split([64, 32, 32])
    expected = {
        "token_embd.weight": model.wte.weight,
        "output.weight": model.lm_head.weight,
        "blk.1.attn_q.weight": llamacpp_rope_permute(q, 4),
        "blk.1.attn_k.weight": llamacpp_rope_permute(k, 2),
        "blk.1.attn_v.weight": v,
        "blk.1.ffn_down.weight": model.blocks[1].mlp_proj.weight,
        "blk.1.ffn_norm.weight": model.blocks[1].mlp_norm.weight,
    }
    for name, weight in expected.items():
        weight = weight.detach().numpy()
        assert _values(tensors[name]).shape == weight.shape, name
        assert np.abs(_values(tensors[name]) - weight).max() <= tolerance, name
    assert tensors["blk.1.ffn_norm.weight"].tensor_type == gguf.GGMLQuantizationType.F32


def test_rope_permutation_maps_rotate_half_pairs_to_adjacent_pairs():
    """Row (h, i) of a head goes to slot 2i and row (h, i + D/2) to slot 2i + 1."""
    heads, head_dim = 2, 6
    rows = torch.arange(heads * head_dim, dtype=torch.float32)[:, None]
    permuted = llamacpp_rope_permute(rows, heads)[:, 0].tolist()
    assert permuted == [0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11]


def test_a_char_tokenizer_is_refused_before_any_work(native, run_cli, tmp_path):
    root, _, _, _ = native
    tok = load_tokenizer(root / "char.json")
    config = ModelConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_kv_head=2, n_embd=16,
                         context_size=32)  # fmt: skip
    checkpoint = save_checkpoint(tmp_path / "c", Transformer(config), tokenizer_sha256=tok.sha256)
    out = tmp_path / "c.gguf"
    code, _, err = run_cli(
        "export",
        "gguf",
        "--checkpoint",
        checkpoint,
        "--tokenizer",
        root / "char.json",
        "--out",
        out,
    )
    assert code == 2 and "no llama.cpp equivalent" in err and "export hf" in err
    assert not out.exists()
