"""`picochat export hf`: a native checkpoint as a Hugging Face `LlamaForCausalLM` folder.

Picochat's transformer is the Llama layout on purpose (pre-norm RMSNorm, SwiGLU, no
biases, GQA, rotary embeddings in the "rotate half" convention of Hugging Face Llama),
so export is a renaming plus two splits of fused matrices:

    wte                     -> model.embed_tokens
    blocks.i.attn_norm      -> model.layers.i.input_layernorm
    blocks.i.attn_qkv [q;k;v] -> self_attn.q_proj, k_proj, v_proj (rows split H*D, KV*D, KV*D)
    blocks.i.attn_proj      -> self_attn.o_proj
    blocks.i.mlp_norm       -> model.layers.i.post_attention_layernorm
    blocks.i.mlp_fc [gate;up] -> mlp.gate_proj, mlp.up_proj (rows split in halves)
    blocks.i.mlp_proj       -> mlp.down_proj
    norm_f, lm_head         -> model.norm, lm_head

No q/k row permutation is needed: both sides rotate channel pairs (i, i + D/2). The
folder holds model.safetensors, config.json, generation_config.json (stops on `<|eos|>`
and the end-of-turn `<|end|>`), and tokenizer.json + tokenizer_config.json with the
special tokens and Picochat's chat template as Jinja, so `AutoModelForCausalLM` and
`AutoTokenizer` load it offline and `apply_chat_template` renders the same prompt ids.

One known difference: transformers matches special-token strings inside text, so a
message that literally spells `<|user|>` becomes the role token there, while
Picochat's encoder keeps it plain text (a user cannot forge a role switch). Ordinary
text encodes to identical ids.

Not for: importing Hugging Face models into Picochat, or quantised formats.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.artifacts import (
    atomic_dir,
    atomic_write_json,
    atomic_write_text,
    hash_inputs,
    report_header,
)
from picochat.configs import ExportHFConfig
from picochat.errors import ConfigError
from picochat.hf.support import require
from picochat.outdir import guard_out_dir
from picochat.tokenizer.special import BOS, SPECIAL_TOKENS

END_OF_TURN = "<|end|>"
# Written only by export: its presence marks a folder this command may replace.
EXPORT_REPORT = "picochat_export.json"


@dataclass
class ExportResult:
    out_dir: Path
    num_parameters: int
    vocab_size: int
    tie_embeddings: bool


def llama_state_dict(model: Any) -> dict[str, Any]:
    """Picochat Transformer weights under Hugging Face Llama names (fused ones split)."""
    c = model.config
    q_rows, kv_rows = c.n_head * c.head_dim, c.n_kv_head * c.head_dim
    out = {"model.embed_tokens.weight": model.wte.weight, "model.norm.weight": model.norm_f.weight}
    for i, block in enumerate(model.blocks):
        prefix = f"model.layers.{i}."
        q, k, v = block.attn_qkv.weight.split([q_rows, kv_rows, kv_rows], dim=0)
        gate, up = block.mlp_fc.weight.chunk(2, dim=0)
        out.update(
            {
                prefix + "input_layernorm.weight": block.attn_norm.weight,
                prefix + "self_attn.q_proj.weight": q,
                prefix + "self_attn.k_proj.weight": k,
                prefix + "self_attn.v_proj.weight": v,
                prefix + "self_attn.o_proj.weight": block.attn_proj.weight,
                prefix + "post_attention_layernorm.weight": block.mlp_norm.weight,
                prefix + "mlp.gate_proj.weight": gate,
                prefix + "mlp.up_proj.weight": up,
                prefix + "mlp.down_proj.weight": block.mlp_proj.weight,
            }
        )
    out["lm_head.weight"] = model.lm_head.weight
    return {name: tensor.detach().float().contiguous().clone() for name, tensor in out.items()}


# The model's shape under Llama's config names (Llama name: Picochat ModelConfig field).
LLAMA_CONFIG_NAMES = {
    "vocab_size": "vocab_size",
    "hidden_size": "n_embd",
    "intermediate_size": "mlp_hidden",
    "num_hidden_layers": "n_layer",
    "num_attention_heads": "n_head",
    "num_key_value_heads": "n_kv_head",
    "head_dim": "head_dim",
    "max_position_embeddings": "context_size",
    "rms_norm_eps": "norm_eps",
    "tie_word_embeddings": "tie_embeddings",
}


def special_ids(tokenizer: Any) -> dict[str, int | None]:
    return {name: tokenizer.token_to_id(name) for name in SPECIAL_TOKENS}


def refuse_non_llama(model_config: Any) -> None:
    """ConfigError when the checkpoint was trained with a switch Llama does not have."""
    switches = model_config.non_llama_switches()
    if switches:
        flags = " and ".join(flag for flag, _ in switches)
        layers = "; ".join(f"{flag}: {what}" for flag, what in switches)
        raise ConfigError(
            f"This checkpoint was trained with {flags}; Llama has no such layer ({layers}), "
            "so a Llama model would compute different outputs.",
            fix=f"Train without {flags} to export; the native checkpoint works with every "
            "picochat command.",
        )


def llama_config(model_config: Any, ids: dict[str, int | None]) -> Any:
    """The `LlamaConfig` with Picochat's shape and special-token ids (`special_ids`)."""
    refuse_non_llama(model_config)
    transformers = require("transformers", purpose="`picochat export hf`")
    return transformers.LlamaConfig(
        **{llama: getattr(model_config, ours) for llama, ours in LLAMA_CONFIG_NAMES.items()},
        rope_parameters={"rope_type": "default", "rope_theta": model_config.rope_theta},
        hidden_act="silu",
        attention_bias=False,
        mlp_bias=False,
        bos_token_id=ids["<|bos|>"],
        eos_token_id=ids["<|eos|>"],
        pad_token_id=ids["<|pad|>"],
    )


def to_llama(model: Any, ids: dict[str, int | None]) -> Any:
    """A `LlamaForCausalLM` (fp32, eval mode) holding `model`'s weights."""
    transformers = require("transformers", purpose="`picochat export hf`")
    hf_model = transformers.LlamaForCausalLM(llama_config(model.config, ids))
    hf_model.load_state_dict(llama_state_dict(model), strict=True)
    if model.config.tie_embeddings:
        hf_model.tie_weights()
    return hf_model.eval()


def bos_post_processor(tokenizer: Any) -> dict[str, Any]:
    """A TemplateProcessing step that puts `<|bos|>` first, as `picochat generate` does."""
    bos = {"SpecialToken": {"id": BOS, "type_id": 0}}
    return {
        "type": "TemplateProcessing",
        "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [
            bos,
            {"Sequence": {"id": "A", "type_id": 0}},
            {"Sequence": {"id": "B", "type_id": 1}},
        ],
        "special_tokens": {BOS: {"id": BOS, "ids": [tokenizer.bos_id], "tokens": [BOS]}},
    }


def export_tokenizer_json(tokenizer: Any) -> str:
    """Picochat's tokenizer.json (metadata kept, so `import hf` reads it back exactly)
    plus the BOS post-processor: `tok(text)` gives `[<|bos|>] + ids`, like Picochat."""
    doc = json.loads(tokenizer.to_json())
    doc["post_processor"] = bos_post_processor(tokenizer)
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def hf_tokenizer(tokenizer: Any) -> Any:
    """A PreTrainedTokenizerFast over Picochat's tokenizer, with BOS and its chat template."""
    transformers = require("transformers", purpose="`picochat export hf`")
    tokenizers = require("tokenizers", purpose="`picochat export hf`")
    from picochat.chat_format import JINJA_TEMPLATE

    extra = {"unk_token": "<unk>"} if tokenizer.token_to_id("<unk>") is not None else {}
    hf = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizers.Tokenizer.from_str(export_tokenizer_json(tokenizer)),
        bos_token=BOS,
        eos_token="<|eos|>",
        pad_token="<|pad|>",
        additional_special_tokens=[
            t for t in SPECIAL_TOKENS if t not in (BOS, "<|eos|>", "<|pad|>")
        ],
        clean_up_tokenization_spaces=False,
        add_bos_token=True,
        **extra,
    )
    hf.chat_template = JINJA_TEMPLATE
    return hf


def save_tokenizer_files(tokenizer: Any, folder: Path) -> None:
    """tokenizer.json, tokenizer_config.json and the chat template, in fields that
    transformers 4.57+ and 5.x both read: `PreTrainedTokenizerFast` rather than 5.x's
    `TokenizersBackend` (unknown to 4.x), and our own tokenizer.json text (5.x would
    drop the metadata and 4.x ignores `add_bos_token` without the post-processor)."""
    hf_tokenizer(tokenizer).save_pretrained(folder)
    atomic_write_text(folder / layout.TOKENIZER, export_tokenizer_json(tokenizer))
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config.pop("backend", None)
    extra = config.pop("extra_special_tokens", [])  # 4.x wants a dict there; both read this:
    config["additional_special_tokens"] = list(extra)
    config.update({"tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": True})
    atomic_write_json(config_path, config)


def add_rope_theta(folder: Path, theta: float) -> None:
    """config.json's `rope_theta` for transformers 4.x, which ignores 5.x's
    `rope_parameters` and would silently use 10000 (5.x reads either)."""
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["rope_theta"] = theta
    atomic_write_json(path, config)


def card(config: ExportHFConfig, model_config: Any) -> str:
    """The export's README.md: the run's figures (`picochat.hf.model_card`) and usage."""
    from picochat.hf.model_card import model_card

    usage = [
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        'tok = AutoTokenizer.from_pretrained("THIS_FOLDER")   # adds <|bos|> like Picochat',
        'model = AutoModelForCausalLM.from_pretrained("THIS_FOLDER")',
    ]
    if config.adapter is not None:
        usage += [
            "from peft import PeftModel",
            'model = PeftModel.from_pretrained(model, "THIS_FOLDER/adapter")  # the LoRA run',
        ]
    return model_card(Path(config.checkpoint), model_config, fmt="hf", usage=usage)


def export_hf(config: ExportHFConfig) -> ExportResult:
    """Write `config.out_dir` as a LlamaForCausalLM folder (complete or absent)."""
    transformers = require("transformers", purpose="`picochat export hf`")
    from picochat.model.checkpoint import load_checkpoint
    from picochat.tokenizer import load_tokenizer

    start = time.perf_counter()
    guard_out_dir(
        config.out_dir,
        marker=EXPORT_REPORT,
        force=config.force,
        inputs=(config.checkpoint, config.tokenizer),
    )
    tokenizer = load_tokenizer(config.tokenizer)
    model = load_checkpoint(config.checkpoint, device="cpu", tokenizer=tokenizer)
    ids = special_ids(tokenizer)
    hf_model = to_llama(model, ids)
    stops = [i for i in (ids["<|eos|>"], ids[END_OF_TURN]) if i is not None]
    hf_model.generation_config = transformers.GenerationConfig(
        bos_token_id=ids["<|bos|>"], eos_token_id=stops, pad_token_id=ids["<|pad|>"]
    )
    out_dir = Path(config.out_dir)
    with atomic_dir(out_dir) as tmp:
        hf_model.save_pretrained(tmp)
        add_rope_theta(tmp, model.config.rope_theta)
        save_tokenizer_files(tokenizer, tmp)
        report = report_header(
            config,
            inputs=hash_inputs([config.checkpoint, config.tokenizer]),
            wall_seconds=time.perf_counter() - start,
            device="cpu",
        )
        report.update(
            {
                "architecture": "LlamaForCausalLM",
                "num_parameters": model.num_parameters(),
                "tie_embeddings": model.config.tie_embeddings,
                "rope": "rotate_half (no q/k permutation)",
            }
        )
        atomic_write_json(tmp / EXPORT_REPORT, report)
        if config.adapter is not None:
            from picochat.hf.peft_export import ADAPTER_DIR, export_adapter

            export_adapter(config.adapter, config.checkpoint, model.config, tmp / ADAPTER_DIR)
        atomic_write_text(tmp / "README.md", card(config, model.config))
    return ExportResult(
        out_dir=out_dir,
        num_parameters=model.num_parameters(),
        vocab_size=model.config.vocab_size,
        tie_embeddings=model.config.tie_embeddings,
    )
