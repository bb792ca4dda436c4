"""`picochat train hf-sft`: fine-tune an existing Hugging Face causal LM on chat rows.

The same chat JSONL as native SFT (`picochat.data.chat`), the same grouped train /
validation split, the same answer-only loss (`picochat.hf.sft_data`), the same report
diagnostics (loss history, gap, divergence, memorisation risk) and the same training
loop (`picochat.training.loop`): progress bar, evaluation every `--eval-every` steps,
early stopping, `--max-minutes`, Ctrl-C checkpoint and exact `--resume`, DDP under
torchrun (one copy of the weights per rank, only rank 0 writes). Full fine-tuning or
LoRA (`peft`).

    train_hf_sft(HFSFTConfig(model=..., input=..., out_dir=...)) -> HFSFTResult

Outputs in `--out-dir`: `final_model/` and `best_model/` (save_pretrained folders with
the tokenizer and its chat template; merged weights with LoRA, so anything that loads
a Hugging Face model can use them), with LoRA also `final_adapter/` and `best_adapter/`
(PEFT adapter folders), `hf_sft_report.json` and `report.md` (see `sft_model.py` for
which folder holds the resume state).

Not for: native checkpoints (`picochat train sft`), nor DPO.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picochat.configs import HFSFTConfig
from picochat.data.chat import ChatDataset, ChatExample, read_chat_jsonl
from picochat.errors import ConfigError, InputError
from picochat.hf.adapter import HFChatModel
from picochat.hf.sft_data import (
    IGNORE_INDEX,
    EncodedExample,
    EncodedSet,
    HFChatBatches,
    collate,
    encode_examples,
)
from picochat.hf.sft_model import (
    BEST_MODEL,
    FINAL_MODEL,
    finish_folders,
    load_model,
    loop_folders,
    saver,
)
from picochat.hf.sft_report import (
    HFSFTFacts,
    build_report,
    describe_model,
    memorization_risk,
    render_markdown,
    sample_reply,
)
from picochat.hf.support import require
from picochat.locks import is_main_rank
from picochat.runtime import autocast, seed_everything
from picochat.training import distributed
from picochat.training.loop import LoopResult, TrainTask
from picochat.training.stage_report import RunFacts, write_stage_files
from picochat.training.stage_run import StageRun, check_loop_config, run_stage
from picochat.training.windows import spread_rows

REPORT_FILE = "hf_sft_report.json"


@dataclass
class HFSFTResult:
    """What `train_hf_sft` returns (`report` is None on torchrun ranks other than 0)."""

    out_dir: Path
    report: Path | None
    final_model: Path
    best_model: Path
    stop_reason: str
    stop_message: str
    steps: int
    best_step: int | None
    best_val_loss: float | None
    final_train_loss: float | None


def _validate(config: HFSFTConfig) -> None:
    check_loop_config(config, required=("model", "input", "out_dir"))
    checks = [
        (config.max_length >= 2, "--max-length must be >= 2"),
        (0.0 <= config.val_fraction < 1.0, "--val-fraction must be in [0, 1)"),
        (config.learning_rate > 0, "--learning-rate must be > 0"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message + ".")


def train_hf_sft(
    config: HFSFTConfig, *, show_progress: bool = True, on_step: Any = None
) -> HFSFTResult:
    """Fine-tune `config.model` on `config.input`; write model folders and reports."""
    _validate(config)
    require("transformers")
    return run_stage(config, _train, show_progress=show_progress, on_step=on_step)


@dataclass
class _Rows:
    """The chat file: read, split by prompt group, encoded with the model's template."""

    data: ChatDataset
    train_rows: list[ChatExample]
    val_rows: list[ChatExample]
    train_set: EncodedSet
    val_set: EncodedSet


def fitted_max_length(config: HFSFTConfig, model: Any) -> int:
    """--max-length, cut to the model's context: positions past it have no trained
    embedding (transformers only warns, then trains on garbage or fails in attention)."""
    context = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not isinstance(context, int) or config.max_length <= context:
        return config.max_length
    if is_main_rank():
        print(
            f"note: --max-length {config.max_length} is longer than the model's "
            f"{context}-token context; conversations are cut to {context} tokens.",
            file=sys.stderr,
        )
    return context


def _load_rows(config: HFSFTConfig, tokenizer: Any, max_length: int) -> _Rows:
    data = read_chat_jsonl(config.input, strict=config.strict)
    if not data.examples:
        raise InputError(
            f"No usable chat rows ({len(data.skipped)} skipped).",
            file=config.input,
            fix="See the skipped rows' reasons; each row needs a user turn and a final answer.",
        )
    train_rows, val_rows = data.split(config.val_fraction, config.seed)
    train_set = encode_examples(tokenizer, train_rows, max_length)
    val_set = encode_examples(tokenizer, val_rows, max_length)
    if not train_set.examples:
        reasons = "; ".join(f"line {ln}: {why}" for ln, why in train_set.skipped[:3])
        raise InputError(f"No training row fits: {reasons}", file=config.input)
    return _Rows(data, train_rows, val_rows, train_set, val_set)


def _train(run: StageRun) -> HFSFTResult:
    config = run.config
    seed_everything(config.seed)  # the LoRA init draws from torch's RNG
    model, tokenizer, template = load_model(config, run.device)
    max_length = fitted_max_length(config, model)
    rows = _load_rows(config, tokenizer, max_length)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    loop = run.loop(_task(run, model, tokenizer, rows), label="train hf-sft")
    whole = _whole_validation(run, model, rows.val_set.examples, tokenizer.pad_token_id, loop)
    report_path = None
    if run.info.is_main:
        has_best = loop.best is not None
        model, artifacts = finish_folders(config, model, tokenizer, has_best, run.device)
        chat_model = HFChatModel(model, tokenizer, name=str(artifacts["final_model"]))
        own = HFSFTFacts(
            model=describe_model(config, model, template, run.precision),
            rows=rows,
            max_length=max_length,
            trainable_parameters=trainable,
            validation=whole,
            artifacts=artifacts,
            risk=memorization_risk(chat_model, rows.train_rows, rows.val_rows, config),
            sample=sample_reply(
                chat_model, rows.val_rows or rows.train_rows, config.max_new_tokens
            ),
        )
        local_model = config.model if Path(config.model).exists() else None
        report = build_report(RunFacts.of(run, loop, [config.input, local_model]), own)
        report_path = write_stage_files(run.out_dir, REPORT_FILE, report, render_markdown(report))
    return _result(run.out_dir, report_path, loop)


def _result(out_dir: Path, report_path: Path | None, loop: LoopResult) -> HFSFTResult:
    best = loop.best or {"step": None, "val_loss": None}
    return HFSFTResult(
        out_dir=out_dir,
        report=report_path,
        final_model=out_dir / FINAL_MODEL,
        best_model=out_dir / BEST_MODEL,
        stop_reason=loop.stop_reason,
        stop_message=loop.stop_message,
        steps=loop.steps,
        best_step=best["step"],
        best_val_loss=best["val_loss"],
        final_train_loss=loop.history[-1]["train_loss"] if loop.history else None,
    )


def _task(run: StageRun, model: Any, tokenizer: Any, rows: _Rows) -> TrainTask:
    """The model's own loss on answer-only labels; save_pretrained checkpoints."""
    config = run.config
    checkpoint_name, best_name = loop_folders(config.peft == "lora")
    batches = HFChatBatches(
        rows.train_set.examples,
        pad_id=tokenizer.pad_token_id,
        **run.batching(),
    )
    return TrainTask(
        model=model,
        loss_fn=lambda train_model, batch: train_model(**batch).loss,
        train_batches=batches,
        evaluate=_make_evaluate(run, rows.val_set.examples, tokenizer.pad_token_id),
        save_checkpoint=saver(tokenizer),
        count_tokens=lambda batch: int(batch["attention_mask"].sum()),
        checkpoint_name=checkpoint_name,
        best_checkpoint_name=best_name,
    )


def _scored_rows(config: HFSFTConfig, total: int) -> int:
    """Validation rows a periodic evaluation scores (`--eval-batches`; 0 = all)."""
    return len(spread_rows(total, config.eval_batches * config.batch_size))


def _whole_validation(
    run: StageRun, model: Any, examples: list[EncodedExample], pad_id: int, loop: LoopResult
) -> dict[str, Any]:
    """The final weights' loss over EVERY validation row, and what the periodic figures
    covered. Scored again only where the last periodic figure is not that already (a
    sampled --eval-batches, or a stop between evaluations); every rank takes part."""
    torch = require("torch")
    scored = _scored_rows(run.config, len(examples))
    last = loop.history[-1] if loop.history else {}
    scope = {"val_rows": len(examples), "periodic_val_rows": scored}
    if scored == len(examples) and last.get("step") == loop.steps:
        return {**scope, "step": loop.steps, "val_loss": last.get("val_loss")}
    evaluate = _make_evaluate(run, examples, pad_id, every_row=True)
    was_training = model.training
    model.eval()
    with torch.no_grad(), autocast(run.device, run.precision):  # as the loop evaluates
        figures = evaluate(model)
    model.train(was_training)
    return {**scope, "step": loop.steps, "val_loss": figures["val_loss"]}


def _make_evaluate(
    run: StageRun, examples: list[EncodedExample], pad_id: int, *, every_row: bool = False
):
    """Validation loss over every supervised token of the chosen rows (`--eval-batches`;
    0 = all); under torchrun each rank scores its share and the sums are all-reduced."""
    torch = require("torch")
    config, info = run.config, run.info
    count = len(examples) if every_row else _scored_rows(config, len(examples))
    chosen = [examples[i] for i in spread_rows(len(examples), count)]
    mine = chosen[info.rank :: info.world_size]

    def evaluate(model: Any) -> dict[str, float | None]:
        if not chosen:
            return {"val_loss": None}
        sums = torch.zeros(2, dtype=torch.float64)
        for start in range(0, len(mine), config.batch_size):
            batch = collate(mine[start : start + config.batch_size], pad_id)
            batch = {k: v.to(run.device) for k, v in batch.items()}
            loss = model(**batch).loss.float().item()
            count = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
            sums += torch.tensor([loss * count, count], dtype=torch.float64)
        total, count = distributed.all_reduce_sum(sums, info).tolist()
        return {"val_loss": total / count if count else None}

    return evaluate
