"""A Picochat LoRA adapter as a PEFT adapter for the exported `LlamaForCausalLM` base.

Picochat adapts the fused `attn_qkv` and `mlp_fc` matrices; Llama has separate
q/k/v and gate/up projections. A LoRA update B @ A of a fused matrix splits exactly
into per-projection adapters by slicing B's rows (A is shared):

    [q; k; v] = W x + s B A x   ->   q_proj: (A, B[:q]), k_proj: (A, B[q:q+kv]), v_proj: ...
    [gate; up]                  ->   gate_proj: (A, B[:h]), up_proj: (A, B[h:])

so the adapted Llama computes what the merged Picochat checkpoint computes. Names follow
PEFT's saved layout (`base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight`),
and adapter_config.json is written by `peft.LoraConfig` itself (no extra keys, so PEFT
loads it without a warning).

    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(OUT), OUT / "adapter")

Not here: the base model export (`export.py`), LoRA training (`picochat.model.lora`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from picochat.errors import CheckpointError

ADAPTER_DIR = "adapter"
_PREFIX = "base_model.model."
# Picochat target -> (Llama module under the layer, its projections, how B's rows split)
_LLAMA = {
    "attn_qkv": ("self_attn", ("q_proj", "k_proj", "v_proj")),
    "attn_proj": ("self_attn", ("o_proj",)),
    "mlp_fc": ("mlp", ("gate_proj", "up_proj")),
    "mlp_proj": ("mlp", ("down_proj",)),
}


def _row_splits(target: str, model_config: Any) -> list[int] | None:
    c = model_config
    if target == "attn_qkv":
        return [c.n_head * c.head_dim, c.n_kv_head * c.head_dim, c.n_kv_head * c.head_dim]
    if target == "mlp_fc":
        return [c.mlp_hidden, c.mlp_hidden]
    return None


def llama_adapter_state(
    state: dict[str, torch.Tensor], model_config: Any, source: Path
) -> dict[str, torch.Tensor]:
    """Picochat adapter tensors (`base_model.model.blocks.N.attn_qkv.lora_A.weight`)
    under PEFT's Llama names, fused adapters split into one per projection."""
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        parts = key[len(_PREFIX) :].split(".") if key.startswith(_PREFIX) else []
        if len(parts) != 5 or parts[0] != "blocks" or parts[2] not in _LLAMA:
            raise CheckpointError(
                f"unexpected adapter tensor {key!r}.",
                file=source,
                fix="Pass the folder `picochat train sft/dpo --peft lora` wrote.",
            )
        layer, target, which = parts[1], parts[2], parts[3]
        module, projections = _LLAMA[target]
        splits = _row_splits(target, model_config)
        if which == "lora_B" and splits is not None:
            pieces = tensor.split(splits, dim=0)
        else:  # lora_A is shared by every projection of a fused matrix
            pieces = [tensor] * len(projections)
        for projection, piece in zip(projections, pieces, strict=True):
            name = f"{_PREFIX}model.layers.{layer}.{module}.{projection}.{which}.weight"
            out[name] = piece.float().contiguous().clone()
    return out


def peft_config(settings: dict[str, Any], base_name: str | None) -> Any:
    """The `peft.LoraConfig` of a Picochat adapter_config.json, for Llama module names."""
    from picochat.hf.support import require

    peft = require("peft", purpose="exporting a LoRA adapter")
    targets = [p for t in settings["target_modules"] for p in _LLAMA[t][1]]
    return peft.LoraConfig(
        r=int(settings["r"]),
        lora_alpha=float(settings["lora_alpha"]),
        lora_dropout=float(settings.get("lora_dropout", 0.0)),
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
        base_model_name_or_path=base_name,
        inference_mode=True,
    )


def export_adapter(
    adapter_dir: str | Path, checkpoint: str | Path, model_config: Any, out: str | Path
) -> Path:
    """Write `out` (adapter_model.safetensors + adapter_config.json) for the Llama export
    of `checkpoint`, which must be the base the adapter was trained on."""
    from safetensors.torch import load_file, save_file

    from picochat.artifacts import atomic_dir, sha256_file
    from picochat.model.checkpoint import WEIGHTS_FILE
    from picochat.model.lora import ADAPTER_WEIGHTS, read_adapter_config

    adapter_dir, out = Path(adapter_dir), Path(out)
    settings = read_adapter_config(adapter_dir)
    recorded = settings.get("base_checkpoint_sha256")
    if recorded and recorded != sha256_file(Path(checkpoint) / WEIGHTS_FILE):
        raise CheckpointError(
            f"this adapter was trained on another base ({settings.get('base_model_name_or_path')}).",
            file=adapter_dir,
            fix="Export the base checkpoint the adapter was trained on (--checkpoint BASE "
            "--adapter RUN/sft), not the merged sft checkpoint.",
        )
    state = llama_adapter_state(
        load_file(str(adapter_dir / ADAPTER_WEIGHTS)), model_config, adapter_dir
    )
    with atomic_dir(out) as tmp:
        save_file(state, str(tmp / ADAPTER_WEIGHTS), metadata={"format": "pt"})
        peft_config(settings, "..").save_pretrained(str(tmp))
    return out
