"""`picochat train hf-sft`: fine-tune an existing Hugging Face causal LM on chat rows.

The same chat JSONL as native SFT (`picochat.data.chat`), the same grouped train /
validation split, the same answer-only loss (`picochat.hf.sft_data`), and the same report
diagnostics (loss history, gap, divergence, memorisation risk). The loop is a plain
PyTorch one on purpose: AdamW, linear warmup + cosine decay, gradient accumulation,
clipping, evaluation every N steps, early stopping and best-model tracking, readable
top to bottom. Full fine-tuning or LoRA (`peft`).

Outputs in `--out-dir`: `final_model/` and `best_model/` (save_pretrained folders with
the tokenizer and its chat template; merged weights with LoRA, so anything that loads
a Hugging Face model can use them), with LoRA also `final_adapter/` and `best_adapter/`
(PEFT adapter folders), `hf_sft_report.json` and `report.md`.

Not for: native checkpoints (`picochat train sft`), nor DPO.
"""

from __future__ import annotations

import math
import random
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picochat.artifacts import (
    atomic_dir,
    atomic_write_json,
    atomic_write_text,
    hash_inputs,
    report_header,
)
from picochat.configs import HFSFTConfig
from picochat.data.chat import ChatExample, read_chat_jsonl
from picochat.errors import ConfigError, InputError
from picochat.hf.adapter import HFChatModel, ensure_chat_template, load_hf_model
from picochat.hf.sft_data import EncodedExample, collate, encode_examples
from picochat.hf.sft_report import build_report, memorization_risk, render_markdown
from picochat.hf.support import require
from picochat.runtime import autocast, resolve_device, resolve_precision, seed_everything
from picochat.training.schedule import learning_rate_at, set_learning_rate


@dataclass
class HFSFTResult:
    out_dir: Path
    report: Path
    final_model: Path
    best_model: Path
    stop_reason: str
    steps: int
    best_step: int | None
    best_val_loss: float | None
    final_train_loss: float | None


def _validate(config: HFSFTConfig) -> None:
    checks = [
        (config.max_steps >= 1, "--max-steps must be >= 1"),
        (config.batch_size >= 1, "--batch-size must be >= 1"),
        (config.grad_accum_steps >= 1, "--grad-accum-steps must be >= 1"),
        (config.max_length >= 2, "--max-length must be >= 2"),
        (config.eval_every >= 1, "--eval-every must be >= 1"),
        (0.0 <= config.val_fraction < 1.0, "--val-fraction must be in [0, 1)"),
        (config.learning_rate > 0, "--learning-rate must be > 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message + ".")


def _apply_lora(model: Any, config: HFSFTConfig) -> Any:
    peft = require("peft", purpose="--peft lora")
    torch = require("torch")
    targets = [t.strip() for t in config.lora_target_modules.split(",") if t.strip()]
    linear = {
        n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)
    }
    unknown = [t for t in targets if t not in linear and t != "all-linear"]
    if not targets or unknown:
        raise ConfigError(
            f"--lora-target-modules names no linear layer of this model: {', '.join(unknown)}.",
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


def _batches(examples: list[EncodedExample], size: int, seed: int) -> Iterator[list]:
    """Endless micro-batches: a fresh seeded shuffle every pass over the data."""
    rng = random.Random(seed)
    order = list(range(len(examples)))
    while True:
        rng.shuffle(order)
        for start in range(0, len(order), size):
            yield [examples[i] for i in order[start : start + size]]


def _to(batch: dict[str, Any], device: Any) -> dict[str, Any]:
    return {k: v.to(device) for k, v in batch.items()}


def _evaluate(
    model: Any, examples: list[EncodedExample], config: HFSFTConfig, ctx: Any
) -> float | None:
    """Validation loss averaged over every supervised token (None without rows)."""
    torch = require("torch")
    if not examples:
        return None
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(examples), config.batch_size):
            batch = _to(
                collate(examples[start : start + config.batch_size], ctx["pad"]), ctx["device"]
            )
            with autocast(ctx["device"], ctx["precision"]):
                loss = model(**batch).loss.float().item()
            n = int((batch["labels"][:, 1:] != -100).sum())
            total, count = total + loss * n, count + n
    model.train(was_training)
    return total / count if count else None


def _save(model: Any, tokenizer: Any, path: Path) -> Path:
    with atomic_dir(path) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return path


@dataclass
class _LoopOutcome:
    history: list[dict[str, Any]]
    best: dict[str, Any]
    stop_reason: str
    step: int


def _train_loop(
    model: Any,
    tokenizer: Any,
    trainable: list,
    train: list[EncodedExample],
    val: list[EncodedExample],
    config: HFSFTConfig,
    ctx: dict[str, Any],
    best_dir: Path,
) -> _LoopOutcome:
    """AdamW steps with warmup+cosine, accumulation, clipping, eval, early stop, best save."""
    torch = require("torch")
    device, precision = ctx["device"], ctx["precision"]
    optimizer = torch.optim.AdamW(
        trainable, lr=config.learning_rate, weight_decay=config.weight_decay
    )
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"step": None, "val_loss": None}
    stop_reason, bad_evals, step = "max_steps", 0, 0
    window_losses: list[float] = []
    window_tokens, window_start = 0, time.perf_counter()
    batches = _batches(train, config.batch_size, config.seed)
    model.train()
    try:
        for step in range(1, config.max_steps + 1):
            lr = learning_rate_at(
                step - 1,
                peak=config.learning_rate,
                warmup_steps=config.warmup_steps,
                max_steps=config.max_steps,
                min_lr_ratio=config.min_lr_ratio,
            )
            set_learning_rate(optimizer, lr)
            step_loss = 0.0
            for _ in range(config.grad_accum_steps):
                batch = _to(collate(next(batches), ctx["pad"]), device)
                with autocast(device, precision):
                    loss = model(**batch).loss
                (loss / config.grad_accum_steps).backward()
                step_loss += loss.item() / config.grad_accum_steps
                window_tokens += int(batch["attention_mask"].sum())
            if not math.isfinite(step_loss):
                stop_reason = "diverged"
                break
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(trainable, config.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            window_losses.append(step_loss)
            if step % config.eval_every and step != config.max_steps:
                continue
            val_loss = _evaluate(model, val, config, ctx)
            elapsed = time.perf_counter() - window_start
            history.append(
                {
                    "step": step,
                    "train_loss": sum(window_losses) / len(window_losses),
                    "val_loss": val_loss,
                    "lr": lr,
                    "tokens_per_sec": window_tokens / elapsed if elapsed > 0 else None,
                }
            )
            window_losses, window_tokens, window_start = [], 0, time.perf_counter()
            if val_loss is not None and (best["val_loss"] is None or val_loss < best["val_loss"]):
                best, bad_evals = {"step": step, "val_loss": val_loss}, 0
                _save(model, tokenizer, best_dir)
            elif val_loss is not None:
                bad_evals += 1
                if config.early_stop_patience and bad_evals >= config.early_stop_patience:
                    stop_reason = "early_stop"
                    break
    except KeyboardInterrupt:
        stop_reason = "interrupted"
    return _LoopOutcome(history, best, stop_reason, step)


def train_hf_sft(config: HFSFTConfig) -> HFSFTResult:
    """Fine-tune `config.model` on `config.input`; write model folders and reports."""
    _validate(config)
    start_time = time.perf_counter()
    out_dir = Path(config.out_dir)
    seed_everything(config.seed)
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    data = read_chat_jsonl(config.input, strict=config.strict)
    if not data.examples:
        raise InputError(
            f"No usable chat rows ({len(data.skipped)} skipped).",
            file=config.input,
            fix="See the skipped rows' reasons; each row needs a user turn and a final answer.",
        )
    train_rows, val_rows = data.split(config.val_fraction, config.seed)
    model, tokenizer = load_hf_model(config.model, device=device, trainable=True)
    template = "picochat" if ensure_chat_template(tokenizer) else "model"
    train_set = encode_examples(tokenizer, train_rows, config.max_length)
    val_set = encode_examples(tokenizer, val_rows, config.max_length)
    if not train_set.examples:
        reasons = "; ".join(f"line {ln}: {why}" for ln, why in train_set.skipped[:3])
        raise InputError(f"No training row fits: {reasons}", file=config.input)
    lora = config.peft == "lora"
    if lora:
        model = _apply_lora(model, config)
    trainable = [p for p in model.parameters() if p.requires_grad]
    ctx = {"device": device, "precision": precision, "pad": tokenizer.pad_token_id}
    artifacts = {"final_model": out_dir / "final_model", "best_model": out_dir / "best_model"}
    if lora:
        artifacts.update(
            final_adapter=out_dir / "final_adapter", best_adapter=out_dir / "best_adapter"
        )
    best_dir = artifacts["best_adapter" if lora else "best_model"]
    outcome = _train_loop(
        model, tokenizer, trainable, train_set.examples, val_set.examples, config, ctx, best_dir
    )
    final_dir = artifacts["final_adapter" if lora else "final_model"]
    _save(model, tokenizer, final_dir)
    if outcome.best["step"] is None:  # no validation rows: the final weights are the best
        _copy_dir(final_dir, best_dir)
    if lora:
        model = model.merge_and_unload()
        _save(model, tokenizer, artifacts["final_model"])
        _merge_best(config, best_dir, artifacts["best_model"], device)
    chat_model = HFChatModel(model=model, tokenizer=tokenizer, name=str(artifacts["final_model"]))
    report = report_header(
        config,
        inputs=hash_inputs([config.input, config.model if Path(config.model).exists() else None]),
        seed=config.seed,
        device=str(device),
    )
    report.update(
        build_report(
            config=config,
            model={
                "source": str(config.model),
                "architecture": type(model).__name__,
                "num_parameters": sum(p.numel() for p in model.parameters()),
                "chat_template": template,
                "precision": precision,
            },
            data=data,
            train_set=train_set,
            val_set=val_set,
            outcome=outcome,
            risk=memorization_risk(chat_model, train_rows, val_rows, config),
            sample=_sample(chat_model, val_rows or train_rows, config),
            trainable_parameters=sum(p.numel() for p in trainable),
            artifacts=artifacts,
        )
    )
    report["wall_seconds"] = round(time.perf_counter() - start_time, 3)
    report_path = atomic_write_json(out_dir / "hf_sft_report.json", report)
    atomic_write_text(out_dir / "report.md", render_markdown(report))
    return HFSFTResult(
        out_dir=out_dir,
        report=report_path,
        final_model=artifacts["final_model"],
        best_model=artifacts["best_model"],
        stop_reason=outcome.stop_reason,
        steps=outcome.step,
        best_step=outcome.best["step"],
        best_val_loss=outcome.best["val_loss"],
        final_train_loss=report["final"]["train_loss"],
    )


def _copy_dir(source: Path, target: Path) -> None:
    with atomic_dir(target) as tmp:
        shutil.copytree(source, tmp, dirs_exist_ok=True)


def _merge_best(config: HFSFTConfig, adapter_dir: Path, out: Path, device: Any) -> None:
    """best_model/: the base model reloaded with the best adapter merged in."""
    peft = require("peft")
    base, tokenizer = load_hf_model(config.model, device=device)
    ensure_chat_template(tokenizer)
    merged = peft.PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    _save(merged, tokenizer, out)


def _sample(chat_model: HFChatModel, rows: list[ChatExample], config: HFSFTConfig) -> dict | None:
    if not rows:
        return None
    row = rows[0]
    reply = chat_model.replies([row.messages[:-1]], config.max_new_tokens)[0]
    return {"prompt": row.prompt, "reply": reply, "reference": row.answer, "line": row.line}
