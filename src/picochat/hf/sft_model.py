"""The model side of `train hf-sft`: load (fresh or resumed), LoRA, save, merge.

Not for: the data (`sft_data.py`), the loop wiring (`sft.py`) or the report.

Folders in `--out-dir`: full fine-tuning trains into `final_model/` (the loop's resume
checkpoint: save_pretrained weights, the tokenizer and `training_state.pt`) and
`best_model/`; with LoRA the loop's folders are `final_adapter/` and `best_adapter/`
(PEFT adapter folders, the resume state beside the adapter), and `final_model/` and
`best_model/` are written after training with the adapter merged into the base.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from picochat.artifacts import atomic_dir
from picochat.errors import CheckpointError, ConfigError
from picochat.hf.adapter import ensure_chat_template, load_hf_model, load_hf_tokenizer
from picochat.hf.support import require
from picochat.model.checkpoint import TRAINING_STATE_FILE

FINAL_MODEL, BEST_MODEL = "final_model", "best_model"
FINAL_ADAPTER, BEST_ADAPTER = "final_adapter", "best_adapter"


def loop_folders(lora: bool) -> tuple[str, str]:
    """(checkpoint, best checkpoint) folder names the loop writes."""
    return (FINAL_ADAPTER, BEST_ADAPTER) if lora else (FINAL_MODEL, BEST_MODEL)


def load_model(config: Any, device: Any) -> tuple[Any, Any, str]:
    """(model, tokenizer, chat template origin): the starting model or, with --resume,
    the run's own weights (full) or the base plus the run's adapter (LoRA)."""
    lora = config.peft == "lora"
    tokenizer = load_hf_tokenizer(config.model)
    template = "picochat" if ensure_chat_template(tokenizer) else "model"
    resume_dir = Path(config.out_dir) / loop_folders(lora)[0]
    if config.resume and not resume_dir.is_dir():
        raise CheckpointError(
            f"--resume needs the {resume_dir.name}/ folder of an earlier `train hf-sft` run.",
            file=resume_dir,
            fix="Start without --resume, or point --out-dir at the run to continue.",
        )
    start = resume_dir if config.resume and not lora else config.model
    model, _ = load_hf_model(start, device=device, trainable=True)
    if lora and config.resume:
        peft = require("peft", purpose="--peft lora")
        model = peft.PeftModel.from_pretrained(model, str(resume_dir), is_trainable=True)
    elif lora:
        model = apply_lora(model, config)
    return model.to(device), tokenizer, template


def apply_lora(model: Any, config: Any) -> Any:
    """A PEFT LoRA wrapper on the modules `--lora-targets` names (the model's own names)."""
    peft = require("peft", purpose="--peft lora")
    torch = require("torch")
    targets = [t.strip() for t in config.lora_targets.split(",") if t.strip()]
    linear = {
        n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)
    }
    unknown = [t for t in targets if t not in linear and t != "all-linear"]
    if not targets or unknown:
        raise ConfigError(
            f"--lora-targets names no linear layer of this model: {', '.join(unknown)}.",
            fix=f"Pick from: {', '.join(sorted(linear))} (or all-linear).",
        )
    lora = peft.LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        target_modules=targets if targets != ["all-linear"] else "all-linear",
        lora_dropout=0.0,
        task_type="CAUSAL_LM",
    )
    return peft.get_peft_model(model, lora)


def saver(tokenizer: Any):
    """The loop's checkpoint writer: save_pretrained folders (+ training_state.pt)."""
    torch = require("torch")

    def save(model: Any, folder: Path, state: dict[str, Any] | None) -> None:
        with atomic_dir(folder) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            if state is not None:
                torch.save(state, tmp / TRAINING_STATE_FILE)

    return save


def finish_folders(
    config: Any, model: Any, tokenizer: Any, has_best: bool, device: Any
) -> tuple[Any, dict[str, Path]]:
    """After training: best = final when nothing was validated; with LoRA the merged
    final_model/ and best_model/. Returns (the final model, merged; artifact folders)."""
    out_dir, lora = Path(config.out_dir), config.peft == "lora"
    final_name, best_name = loop_folders(lora)
    artifacts = {"final_model": out_dir / FINAL_MODEL, "best_model": out_dir / BEST_MODEL}
    if lora:
        artifacts.update(final_adapter=out_dir / FINAL_ADAPTER, best_adapter=out_dir / BEST_ADAPTER)
    if not has_best:  # no validation rows: the final weights are the best
        _copy_dir(out_dir / final_name, out_dir / best_name)
    if lora:
        model = model.merge_and_unload()
        saver(tokenizer)(model, artifacts["final_model"], None)
        _merge_best(config, out_dir / best_name, artifacts["best_model"], device)
    return model, artifacts


def _copy_dir(source: Path, target: Path) -> None:
    with atomic_dir(target) as tmp:
        ignore = shutil.ignore_patterns(TRAINING_STATE_FILE)
        shutil.copytree(source, tmp, dirs_exist_ok=True, ignore=ignore)


def _merge_best(config: Any, adapter_dir: Path, out: Path, device: Any) -> None:
    """best_model/: the base model reloaded with the best adapter merged in."""
    peft = require("peft")
    base, tokenizer = load_hf_model(config.model, device=device)
    ensure_chat_template(tokenizer)
    merged = peft.PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    saver(tokenizer)(merged, out, None)
