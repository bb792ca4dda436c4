"""`picochat import hf`: a Hugging Face Llama-architecture causal LM as a Picochat checkpoint.

The inverse of `export hf` (same renaming, with q/k/v and gate/up concatenated back into
the fused `attn_qkv` and `mlp_fc`), plus the vocabulary permutation of
`tokenizer_import`: each Picochat id takes the embedding and output row of the Hugging
Face id it stands for, and a token the source never had (Picochat's chat tokens for a
plain pretrained model) gets the mean of the existing rows, so it starts as an average
token and SFT teaches it.

    D/checkpoint/        model.safetensors + config.json (kind "base"): every native stage
    D/tokenizer.json     reads it like a checkpoint Picochat trained itself
    D/import_report.json the source, its config, the row map, dropped tokens

Supported: LlamaForCausalLM configs with SiLU, no biases, head_dim = hidden/heads,
grouped-query attention, tied or untied embeddings, any rope theta. Refused with an
InputError: rope scaling (the native model has plain RoPE only), other architectures,
pickled weights (`pytorch_model.bin`: loading one could run code).

Weights are read with safetensors directly (bf16/fp16 become fp32), not through
transformers, so importing needs neither the `hf` extra nor a model class.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from picochat import layout
from picochat.artifacts import atomic_write_json, hash_inputs, report_header
from picochat.errors import InputError
from picochat.hf.tokenizer_import import ImportedTokenizer, import_tokenizer
from picochat.model.config import ModelConfig

CHECKPOINT_DIR = "checkpoint"
TOKENIZER_FILE = layout.TOKENIZER
REPORT_FILE = "import_report.json"
_SUPPORTED = "Llama-architecture models (LlamaForCausalLM, model_type 'llama')"


@dataclass
class ImportResult:
    out_dir: Path
    checkpoint: Path
    tokenizer: Path
    num_parameters: int
    vocab_size: int
    new_rows: list[str]
    dropped_tokens: list[str]


def _refuse(path: Path, reason: str, fix: str) -> InputError:
    return InputError(f"cannot import this model: {reason}.", file=path, fix=fix)


def rope_settings(hf: dict[str, Any], path: Path) -> float:
    """The rope theta of a transformers 4.x (`rope_theta`, `rope_scaling`) or 5.x
    (`rope_parameters`) config; InputError for scaled RoPE, which the native model lacks."""
    params = hf.get("rope_parameters") or {}
    scaling = hf.get("rope_scaling") or {}
    kind = params.get("rope_type") or scaling.get("rope_type") or scaling.get("type") or "default"
    if kind != "default":
        raise _refuse(
            path,
            f"it uses rope scaling {kind!r}; Picochat's model has plain RoPE (theta only)",
            "Import a model without rope_scaling (or with rope_type 'default').",
        )
    return float(params.get("rope_theta") or hf.get("rope_theta") or 10000.0)


def model_config(hf: dict[str, Any], vocab_size: int, path: Path) -> ModelConfig:
    """The native ModelConfig of a Llama config.json; InputError for what does not fit."""
    if hf.get("model_type") != "llama":
        raise _refuse(
            path,
            f"model_type is {hf.get('model_type')!r}",
            f"Picochat imports {_SUPPORTED}.",
        )
    required = ("num_attention_heads", "hidden_size", "num_hidden_layers", "intermediate_size")
    missing = [key for key in required if key not in hf]
    if missing:
        raise _refuse(
            path, f"config.json lacks {', '.join(missing)}", "Re-save it with transformers."
        )
    heads, hidden = int(hf["num_attention_heads"]), int(hf["hidden_size"])
    checks = {
        "hidden_act": (hf.get("hidden_act", "silu"), "silu"),
        "attention_bias": (bool(hf.get("attention_bias")), False),
        "mlp_bias": (bool(hf.get("mlp_bias")), False),
        "head_dim": (int(hf.get("head_dim") or hidden // heads), hidden // heads),
        "pretraining_tp": (int(hf.get("pretraining_tp") or 1), 1),
    }
    for key, (value, wanted) in checks.items():
        if value != wanted:
            raise _refuse(
                path,
                f"{key} is {value!r}; the native model needs {wanted!r}",
                f"Picochat imports {_SUPPORTED} in their plain form only.",
            )
    return ModelConfig(
        vocab_size=vocab_size,
        n_layer=int(hf["num_hidden_layers"]),
        n_head=heads,
        n_kv_head=int(hf.get("num_key_value_heads") or heads),
        n_embd=hidden,
        context_size=int(hf.get("max_position_embeddings") or 2048),
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        mlp_hidden=int(hf["intermediate_size"]),
        rope_theta=rope_settings(hf, path),
        norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
    )


def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the folder's safetensors file(s), as fp32."""
    from safetensors.torch import load_file

    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    elif (folder / "model.safetensors").is_file():
        files = ["model.safetensors"]
    else:
        pickled = any(folder.glob("*.bin")) or any(folder.glob("*.pt"))
        raise _refuse(
            folder,
            "it has no model.safetensors"
            + (" (only pickled .bin weights, which Picochat never unpickles)" if pickled else ""),
            "Re-save it with transformers: model.save_pretrained(DIR) writes safetensors.",
        )
    state: dict[str, torch.Tensor] = {}
    for name in files:
        state.update({k: v.float() for k, v in load_file(str(folder / name)).items()})
    return state


def _rows(matrix: torch.Tensor, hf_ids: list[int | None]) -> torch.Tensor:
    """`matrix`'s rows in Picochat id order; a missing one is the mean of all rows."""
    mean = matrix.mean(dim=0)
    return torch.stack([mean if i is None else matrix[i] for i in hf_ids])


def native_state(
    state: dict[str, torch.Tensor], config: ModelConfig, hf_ids: list[int | None]
) -> dict[str, torch.Tensor]:
    """Llama tensor names -> Picochat's (fused q/k/v and gate/up), rows permuted."""
    take = dict(state)

    def pop(name: str) -> torch.Tensor:
        if name not in take:
            raise KeyError(name)
        return take.pop(name)

    out = {"wte.weight": _rows(pop("model.embed_tokens.weight"), hf_ids)}
    out["norm_f.weight"] = pop("model.norm.weight")
    for i in range(config.n_layer):
        p = f"model.layers.{i}."
        out[f"blocks.{i}.attn_norm.weight"] = pop(p + "input_layernorm.weight")
        qkv = [pop(p + f"self_attn.{n}_proj.weight") for n in "qkv"]
        out[f"blocks.{i}.attn_qkv.weight"] = torch.cat(qkv, dim=0)
        out[f"blocks.{i}.attn_proj.weight"] = pop(p + "self_attn.o_proj.weight")
        out[f"blocks.{i}.mlp_norm.weight"] = pop(p + "post_attention_layernorm.weight")
        gate_up = [pop(p + f"mlp.{n}_proj.weight") for n in ("gate", "up")]
        out[f"blocks.{i}.mlp_fc.weight"] = torch.cat(gate_up, dim=0)
        out[f"blocks.{i}.mlp_proj.weight"] = pop(p + "mlp.down_proj.weight")
    head = take.pop("lm_head.weight", None)
    if not config.tie_embeddings:
        if head is None:
            raise KeyError("lm_head.weight")
        out["lm_head.weight"] = _rows(head, hf_ids)
    take = {k: v for k, v in take.items() if not k.endswith("rotary_emb.inv_freq")}
    if take:
        raise ValueError(f"unexpected tensors {sorted(take)[:5]}")
    return out


def load_llama(folder: str | Path) -> tuple[Any, ImportedTokenizer, dict[str, Any]]:
    """(Picochat Transformer in eval mode, its imported tokenizer, the HF config dict)."""
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise _refuse(folder, "it has no config.json", "Pass a Hugging Face model folder.")
    hf = json.loads(config_path.read_text(encoding="utf-8"))
    if hf.get("format") == "picochat-checkpoint":
        raise _refuse(
            folder, "it is a Picochat checkpoint already", "Use it with --checkpoint directly."
        )
    imported = import_tokenizer(folder)
    model = native_model(hf, read_weights(folder), imported.hf_ids, folder)
    return model, imported, hf


def native_model(
    hf: dict[str, Any], state: dict[str, torch.Tensor], hf_ids: list[int | None], folder: Path
) -> Any:
    """A Picochat Transformer (eval mode) from a Llama config dict and its fp32 weights,
    row `i` taken from Hugging Face id `hf_ids[i]`; InputError for what does not fit.
    `picochat import hf` and `serve --hf-model` both convert through here."""
    from picochat.model.transformer import Transformer

    config = model_config(hf, len(hf_ids), folder / "config.json")
    try:
        state = native_state(state, config, hf_ids)
    except KeyError as error:
        raise _refuse(
            folder, f"tensor {error} is missing", f"Picochat imports {_SUPPORTED}."
        ) from None
    except (ValueError, IndexError) as error:
        raise _refuse(folder, str(error), f"Picochat imports {_SUPPORTED}.") from None
    model = Transformer(config)
    try:
        model.load_state_dict(state, strict=not config.tie_embeddings)
    except RuntimeError as error:  # shapes that contradict config.json
        raise _refuse(folder, f"weights do not fit config.json ({error})", "Re-save it.") from None
    return model.eval()


def import_hf(config: Any) -> ImportResult:
    """Write `config.out_dir` (checkpoint/, tokenizer.json, import_report.json)."""
    from picochat.model.checkpoint import save_checkpoint
    from picochat.tokenizer.io import save_tokenizer

    start = time.perf_counter()
    source, out_dir = Path(config.model), Path(config.out_dir)
    model, imported, hf = load_llama(source)
    tokenizer_path = save_tokenizer(imported.tokenizer, out_dir / TOKENIZER_FILE)
    new_rows = [
        imported.tokenizer.id_to_token(i) for i, h in enumerate(imported.hf_ids) if h is None
    ]
    metadata = {"imported_from": str(source), "new_rows": new_rows}
    checkpoint = save_checkpoint(
        out_dir / CHECKPOINT_DIR,
        model,
        tokenizer_sha256=imported.tokenizer.sha256,
        kind="base",
        metadata=metadata,
    )
    report = report_header(
        config,
        inputs=hash_inputs([source]),
        wall_seconds=time.perf_counter() - start,
        device="cpu",
    )
    report.update(
        {
            "source_config": hf,
            "model": model.config.to_dict(),
            "num_parameters": model.num_parameters(),
            "hf_ids": imported.hf_ids,
            "new_rows": new_rows,
            "dropped_tokens": imported.dropped,
            "notes": imported.notes,
        }
    )
    atomic_write_json(out_dir / REPORT_FILE, report)
    return ImportResult(
        out_dir=out_dir,
        checkpoint=checkpoint,
        tokenizer=tokenizer_path,
        num_parameters=model.num_parameters(),
        vocab_size=model.config.vocab_size,
        new_rows=new_rows,
        dropped_tokens=imported.dropped,
    )
