"""`picochat export gguf`: a native checkpoint as one GGUF file for llama.cpp / Ollama.

Written with the `gguf` package (llama.cpp's own writer) under the `llama` architecture:

    wte -> token_embd          blocks.i.attn_qkv -> blk.i.attn_q / attn_k / attn_v
    norm_f -> output_norm      blocks.i.attn_proj -> blk.i.attn_output
    lm_head -> output          blocks.i.mlp_fc -> blk.i.ffn_gate / ffn_up
    (absent when tied)         blocks.i.mlp_proj -> blk.i.ffn_down, norms -> attn_norm / ffn_norm

llama.cpp's `llama` rope rotates adjacent channel pairs (2i, 2i+1); Picochat (and
Hugging Face) rotate (i, i + D/2). So q and k rows are permuted per head exactly as
llama.cpp's convert_hf_to_gguf.py does; the attention scores are unchanged.

The tokenizer goes in as llama.cpp's byte-level BPE (`tokenizer.ggml.model = gpt2`):
byte-level symbol strings, merges in rank order, special tokens as CONTROL, `<|bos|>`
added first (as `picochat generate` does), `<|end|>` as end-of-turn, and Picochat's chat
template. The pre-tokenizer name tells llama.cpp which split regex to run: `dbrx`
(Llama 3's regex, equivalent to Picochat's GPT-4 split, with plain merges), `gpt-2`
(GPT-2's; also for byte tokenizers, which have no merges). A char tokenizer (or another
split) is refused.

dtypes: f32, f16, bf16 (2-D weights; norms stay f32, as llama.cpp's converter does), and
q8_0 (blocks of 32 with one scale; a matrix whose rows are not a multiple of 32 stays f16).
bench/check_gguf_llamacpp.py measures each against Picochat in a real llama.cpp.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from picochat.errors import ConfigError

# llama.cpp pre-tokenizer names (src/llama-vocab.cpp). "dbrx" runs Llama 3's regex
# (equivalent to Picochat's GPT-4 split) with plain merges; "llama-bpe" would add
# ignore_merges (whole-word vocab lookups), which Picochat's encoder does not do.
_PRE_TOKENIZERS = {
    "gpt4": "dbrx",
    "gpt2": "gpt-2",
}
_Q8_BLOCK = 32


@dataclass
class GGUFResult:
    path: Path
    dtype: str
    num_parameters: int
    tensors: int


def llamacpp_rope_permute(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Rows of q or k reordered from rotate-half pairs (i, i+D/2) to adjacent (2i, 2i+1)."""
    rows, cols = weight.shape
    head_dim = rows // n_heads
    return weight.reshape(n_heads, 2, head_dim // 2, cols).swapaxes(1, 2).reshape(rows, cols)


def gguf_tensors(model: Any) -> dict[str, torch.Tensor]:
    """Every weight under llama.cpp's `llama` names (fp32, q/k permuted for its rope)."""
    c = model.config
    q_rows, kv_rows = c.n_head * c.head_dim, c.n_kv_head * c.head_dim
    out = {"token_embd.weight": model.wte.weight, "output_norm.weight": model.norm_f.weight}
    if not c.tie_embeddings:
        out["output.weight"] = model.lm_head.weight
    for i, block in enumerate(model.blocks):
        q, k, v = block.attn_qkv.weight.split([q_rows, kv_rows, kv_rows], dim=0)
        gate, up = block.mlp_fc.weight.chunk(2, dim=0)
        out.update(
            {
                f"blk.{i}.attn_norm.weight": block.attn_norm.weight,
                f"blk.{i}.attn_q.weight": llamacpp_rope_permute(q, c.n_head),
                f"blk.{i}.attn_k.weight": llamacpp_rope_permute(k, c.n_kv_head),
                f"blk.{i}.attn_v.weight": v,
                f"blk.{i}.attn_output.weight": block.attn_proj.weight,
                f"blk.{i}.ffn_norm.weight": block.mlp_norm.weight,
                f"blk.{i}.ffn_gate.weight": gate,
                f"blk.{i}.ffn_up.weight": up,
                f"blk.{i}.ffn_down.weight": block.mlp_proj.weight,
            }
        )
    return {name: t.detach().float().cpu().contiguous() for name, t in out.items()}


def _encoded(gguf: Any, array: np.ndarray, dtype: str) -> tuple[np.ndarray, Any, Any]:
    """(data, raw shape, raw dtype) for `GGUFWriter.add_tensor` (None: from the array)."""
    Q = gguf.GGMLQuantizationType
    if array.ndim == 1 or dtype == "f32":
        return array.astype(np.float32), None, None
    if dtype == "q8_0" and array.shape[-1] % _Q8_BLOCK == 0:
        return gguf.quants.quantize(array, Q.Q8_0), None, Q.Q8_0  # the writer reads the
    if dtype == "bf16":  # element shape back from the quantised bytes and the type
        return gguf.quants.quantize(array, Q.BF16), None, Q.BF16
    return array.astype(np.float16), None, None


def tokenizer_pre(tokenizer: Any) -> str:
    """llama.cpp's pre-tokenizer name for `tokenizer`; ConfigError if it has none."""
    from picochat.hf.tokenizer_import import GPT2_SPLIT_PATTERN
    from picochat.tokenizer.bpe import GPT4_SPLIT_PATTERN

    if tokenizer.type == "byte":
        return _PRE_TOKENIZERS["gpt2"]  # no merges: any split gives the same bytes
    pattern = getattr(tokenizer, "pattern", None)
    patterns = {GPT4_SPLIT_PATTERN: "gpt4", GPT2_SPLIT_PATTERN: "gpt2"}
    if tokenizer.type != "bpe" or pattern not in patterns:
        raise ConfigError(
            f"a {tokenizer.type} tokenizer"
            + (" with this split pattern" if tokenizer.type == "bpe" else "")
            + " has no llama.cpp equivalent.",
            file=tokenizer.path,
            fix="Train a byte or bpe tokenizer (`picochat tok train --type bpe`), or use "
            "`picochat export hf` for this model.",
        )
    return _PRE_TOKENIZERS[patterns[pattern]]


def add_tokenizer(writer: Any, gguf: Any, tokenizer: Any) -> None:
    from picochat.chat_format import JINJA_TEMPLATE
    from picochat.tokenizer.special import END_OF_TURN

    types = [
        gguf.TokenType.CONTROL if tokenizer.is_special(i) else gguf.TokenType.NORMAL
        for i in range(tokenizer.vocab_size)
    ]
    names = [tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)]
    merges = [f"{names[a]} {names[b]}" for a, b in getattr(tokenizer, "merges", [])]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(tokenizer_pre(tokenizer))
    writer.add_token_list(names)
    writer.add_token_types(types)
    # llama.cpp's gpt2 vocab needs the merges key and GGUF has no empty arrays: a byte
    # tokenizer (no merges) gets one that can never apply (its parts are special-token
    # names, never a symbol of text, which starts as single byte characters).
    writer.add_token_merges(merges or [f"{names[0]} {names[1]}"])
    writer.add_bos_token_id(tokenizer.bos_id)
    writer.add_eos_token_id(tokenizer.eos_id)
    writer.add_pad_token_id(tokenizer.pad_id)
    writer.add_eot_token_id(tokenizer.token_to_id(END_OF_TURN))
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_chat_template(JINJA_TEMPLATE)


def write_gguf(model: Any, tokenizer: Any, path: Path, dtype: str, name: str) -> int:
    """Write `path` (through a temporary file); returns the number of tensors."""
    from picochat.hf.support import require

    gguf = require("gguf", purpose="`picochat export gguf`")
    c = model.config
    tmp = path.with_name(path.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), arch="llama")
    writer.add_name(name)
    writer.add_context_length(c.context_size)
    writer.add_embedding_length(c.n_embd)
    writer.add_block_count(c.n_layer)
    writer.add_feed_forward_length(c.mlp_hidden)
    writer.add_head_count(c.n_head)
    writer.add_head_count_kv(c.n_kv_head)
    writer.add_rope_dimension_count(c.head_dim)
    writer.add_rope_freq_base(float(c.rope_theta))
    writer.add_layer_norm_rms_eps(float(c.norm_eps))
    writer.add_vocab_size(c.vocab_size)
    file_types = {
        "f32": "ALL_F32",
        "f16": "MOSTLY_F16",
        "bf16": "MOSTLY_BF16",
        "q8_0": "MOSTLY_Q8_0",
    }
    writer.add_file_type(getattr(gguf.LlamaFileType, file_types[dtype]))
    add_tokenizer(writer, gguf, tokenizer)
    tensors = gguf_tensors(model)
    for tensor_name, tensor in tensors.items():
        data, shape, raw = _encoded(gguf, tensor.numpy(), dtype)
        writer.add_tensor(tensor_name, data, raw_shape=shape, raw_dtype=raw)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    os.replace(tmp, path)
    return len(tensors)


def export_gguf(config: Any) -> GGUFResult:
    """Write `config.out` (default: model-DTYPE.gguf beside the checkpoint)."""
    from picochat.hf.export import refuse_non_llama
    from picochat.model.checkpoint import load_checkpoint
    from picochat.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(config.tokenizer)
    tokenizer_pre(tokenizer)  # refuse before loading the weights
    model = load_checkpoint(config.checkpoint, device="cpu", tokenizer=tokenizer)
    refuse_non_llama(model.config)  # GGUF's `llama` has none of those switches either
    checkpoint = Path(config.checkpoint)
    path = Path(config.out or checkpoint.parent / f"model-{config.dtype}.gguf")
    name = f"picochat-{checkpoint.resolve().parent.name}"
    count = write_gguf(model, tokenizer, path, config.dtype, name)
    return GGUFResult(path, config.dtype, model.num_parameters(), count)
