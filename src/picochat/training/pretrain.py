"""`train base`: next-token pretraining of a Picochat transformer on a corpus.

Not for: the loop mechanics (`loop.py`), the split (`token_data.py`), the diagnostics
(`memorization.py`) or the report text (`pretrain_report.py`); this module wires them.

    train_base(BaseTrainConfig(corpus=..., tokenizer=..., out_dir=...)) -> BaseTrainResult

Writes into `out_dir`: checkpoint/, best_checkpoint/, train_report.json, report.md,
sample.txt, loss_curve.png and canary_probe.txt (with --canary-count). Under torchrun
every rank trains; only rank 0 writes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch
from torch import nn

from picochat import layout
from picochat.artifacts import atomic_write_json
from picochat.configs.training import BaseTrainConfig
from picochat.errors import CheckpointError, ConfigError
from picochat.model.checkpoint import load_checkpoint, save_checkpoint, unwrap_model
from picochat.model.compile import compile_blocks, eager_stance
from picochat.model.config import ModelConfig, resolve_model_config
from picochat.model.depth import resolve_learning_rate
from picochat.model.size_check import check_fits
from picochat.model.transformer import Transformer
from picochat.runtime import seed_everything
from picochat.tokenizer import load_tokenizer
from picochat.training import capacity, distributed, dry_run, memorization
from picochat.training.dry_run import render as render_dry_run
from picochat.training.lm_metrics import window_loss_sums
from picochat.training.loop import CHECKPOINT_DIR, LoopResult, TrainTask
from picochat.training.pretrain_diagnostics import diagnose, diagnosed_gap, weights_to_diagnose
from picochat.training.pretrain_report import build_report, write_report_files
from picochat.training.pretrain_shards import corpus_sample, shard_token_data, wants_shards
from picochat.training.shard_windows import ShardTokenData, fixed_window_count, fixed_window_rows
from picochat.training.stage_guard import guarded_stage
from picochat.training.stage_report import RunFacts
from picochat.training.stage_run import StageRun, TrainResult, check_loop_config, run_stage
from picochat.training.token_data import (
    CorpusSplit,
    TokenData,
    build_token_data,
    read_corpus,
)
from picochat.training.whole_validation import final_and_best, stream_scorer
from picochat.training.windows import RandomWindows, spread_rows, spread_windows

# Train-loss estimate at each evaluation: up to this many full training windows.
TRAIN_EVAL_WINDOWS = 64


class BaseTrainResult(TrainResult):
    REPORT_FILE = layout.BASE_REPORT


def check_config(config: BaseTrainConfig) -> None:
    check_loop_config(config, required=("corpus", "tokenizer", "out_dir"))
    if config.canary_count < 0:
        raise ConfigError("--canary-count must be >= 0.")


def _build_model(
    config: BaseTrainConfig, model_config: ModelConfig, tokenizer: Any, device: torch.device
) -> nn.Module:
    """A fresh model of the stage's (once resolved) shape, or the checkpoint to resume."""
    check_fits(model_config, device=str(device), training=True)  # before allocating it
    if not config.resume:
        return Transformer(model_config)
    folder = Path(config.out_dir) / CHECKPOINT_DIR
    model = load_checkpoint(folder, device=device, tokenizer=tokenizer)
    if model.config.to_dict() != model_config.to_dict():
        raise CheckpointError(
            "The checkpoint's model shape differs from this command's "
            f"({model.config.to_dict()} vs {model_config.to_dict()}).",
            file=folder,
            fix="Resume with the same --preset/--n-layer/... flags as the original run.",
        )
    return model


def _compile_blocks(model: nn.Module) -> nn.Module:
    """--compile: each block compiled in place (regional compilation; the chunked loss
    stays eager), under DDP too; returns the same (possibly wrapped) model."""
    compile_blocks(unwrap_model(model))
    return model


def make_evaluate(
    data: TokenData | ShardTokenData,
    tokenizer: Any,
    *,
    context_size: int,
    eval_rows: int,
    device: torch.device,
    info: distributed.DistInfo,
):
    """The loop's evaluation: val loss + BPB over fixed validation windows, and the train
    loss over as many fixed training windows (same weights, so the gap is fair)."""
    # Only the evaluated rows of the fixed validation windows are read (a sharded
    # validation side can hold hundreds of millions of tokens).
    rows = spread_rows(fixed_window_count(data.val, context_size), eval_rows)
    val_x, val_y = fixed_window_rows(data.val, context_size, rows)
    train_x, train_y = spread_windows(
        data.train, context_size, min(val_x.shape[0], TRAIN_EVAL_WINDOWS)
    )
    byte_lengths = torch.from_numpy(tokenizer.token_byte_lengths())

    def evaluate(model: nn.Module) -> dict[str, float | None]:
        val = window_loss_sums(model, val_x, val_y, byte_lengths, device=device, dist_info=info)
        train = window_loss_sums(
            model, train_x, train_y, byte_lengths, device=device, dist_info=info
        )
        return {
            "train_loss": train.mean_loss,
            "val_loss": val.mean_loss,
            "val_bpb": val.bits_per_byte,
            "val_targets": val.targets,
            "val_bytes": val.text_bytes,
        }

    return evaluate


def train_base(
    config: BaseTrainConfig, *, show_progress: bool = True, on_step: Any = None
) -> BaseTrainResult:
    """Pretrain on `config.corpus`; see the module docstring for what is written."""
    check_config(config)
    # The model's shape (preset, --depth, explicit flags), resolved once, before any data
    # is read: the learning rate, preflight, training windows and the model all read it.
    shape = resolve_model_config(config, load_tokenizer(config.tokenizer).vocab_size)
    config = _with_learning_rate(config, shape)
    with guarded_stage(config, report=layout.BASE_REPORT, stage="train base"):
        return run_stage(
            config,
            lambda run: _preflight_then_train(run, shape),
            show_progress=show_progress,
            on_step=on_step,
        )


def _with_learning_rate(config: BaseTrainConfig, shape: ModelConfig) -> BaseTrainConfig:
    """`config` with its peak learning rate resolved (`depth.resolve_learning_rate`)."""
    rate = resolve_learning_rate(
        config.learning_rate, depth=config.depth, preset=config.preset, n_embd=shape.n_embd
    )
    return dataclasses.replace(config, learning_rate=rate)


def _preflight_then_train(run: StageRun, model_config: ModelConfig) -> BaseTrainResult:
    """Memory, time and token budget before anything is read (a run that cannot fit is
    refused: `capacity.WillNotFitError`, exit 2); then the run, or its --dry-run."""
    config, info = run.config, run.info
    plan = capacity.preflight_base(config, model_config, run.device, run.precision, info.world_size)
    if run.show_progress and info.is_main:
        print(capacity.render(plan), flush=True)
    if config.dry_run:
        return _dry_run(run, plan, model_config)
    result = _train(run, model_config)
    if info.is_main:
        result.report["preflight"] = plan
        atomic_write_json(result.report_path, result.report)
    return result


def _dry_run(run: StageRun, plan: dict[str, Any], model_config: ModelConfig) -> BaseTrainResult:
    """--dry-run N: N real steps of this run in a scratch folder, measured (dry_run.py)."""
    figures = dry_run.dry_run(
        run.config,
        device=run.device,
        world_size=run.info.world_size,
        is_main=run.info.is_main,
        context=model_config.context_size,
        train=lambda short, scratch, step: _train(
            dataclasses.replace(run, config=short, show_progress=False, on_step=step),
            model_config,
        ),
    )
    report: dict[str, Any] = {}
    if run.info.is_main:
        estimate = plan["memory"]["bytes"]["peak"]
        figures["estimate_over_measured"] = estimate / max(figures["peak_memory_bytes"], 1)
        report = {"preflight": plan, "dry_run": figures}
        atomic_write_json(run.out_dir / dry_run.REPORT, report)
    return BaseTrainResult(
        out_dir=run.out_dir,
        report=report,
        stop_reason="dry_run",
        stop_message=render_dry_run(figures),
        checkpoint=run.out_dir / CHECKPOINT_DIR,  # not written by a dry run
        best_checkpoint=None,
    )


def _train(run: StageRun, model_config: ModelConfig) -> BaseTrainResult:
    config, out_dir, info = run.config, run.out_dir, run.info
    tokenizer = load_tokenizer(config.tokenizer)
    context = model_config.context_size
    data, canaries = _token_data(config, tokenizer, context, info, run.show_progress)
    seed_everything(config.seed)  # same init on every rank (DDP also broadcasts rank 0)
    model = _build_model(config, model_config, tokenizer, run.device).to(run.device)
    model.set_dropout(config.dropout)
    model.train()
    loop = run.loop(_task(run, model, tokenizer, data, context), label="train base")
    # Every rank scores its share of the whole validation side (final and best weights).
    whole = final_and_best(
        model,
        loop,
        stream_scorer(
            data.val,
            context,
            torch.from_numpy(tokenizer.token_byte_lengths()),
            device=run.device,
            info=info,
            max_tokens=config.final_val_tokens,
        ),
        device=run.device,
        precision=run.precision,
        tokenizer=tokenizer,
        show_progress=run.show_progress,
    )
    report: dict[str, Any] = {}
    if info.is_main:
        diagnosed = weights_to_diagnose(model, loop, run.device)
        gap = diagnosed_gap(loop, whole, diagnosed[1])
        with eager_stance():  # --compile compiled the blocks for training, not for sampling
            diagnostics = diagnose(diagnosed, tokenizer, data, canaries, config.seed, gap)
        report = build_report(
            RunFacts.of(run, loop, [config.corpus, config.tokenizer, config.corpus_manifest]),
            num_parameters=model.num_parameters(),
            data=data,
            diagnostics=diagnostics,
            whole=whole,
        )
        write_report_files(out_dir, report, diagnostics)
    return BaseTrainResult.from_loop(out_dir, report, loop)


def _task(
    run: StageRun, model: nn.Module, tokenizer: Any, data: TokenData | ShardTokenData, context: int
) -> TrainTask:
    """Next-token loss on random training windows; checkpoints of kind "base"."""
    config = run.config

    def save(model_to_save: nn.Module, folder: Path, state: dict | None) -> None:
        save_checkpoint(
            folder,
            model_to_save,
            tokenizer_sha256=tokenizer.sha256,
            kind="base",
            metadata={"stage": "train base", "seed": config.seed},
            training_state=state,
        )

    return TrainTask(
        model=model,
        loss_fn=lambda train_model, batch: train_model(batch[0], batch[1])[1],
        train_batches=RandomWindows(data.train, context_size=context, **run.batching()),
        evaluate=make_evaluate(
            data,
            tokenizer,
            context_size=context,
            eval_rows=config.eval_batches * config.batch_size,
            device=run.device,
            info=run.info,
        ),
        save_checkpoint=save,
        count_tokens=lambda batch: batch[0].numel(),
        compile_model=_compile_blocks,
    )


def _token_data(
    config: BaseTrainConfig,
    tokenizer: Any,
    context: int,
    info: distributed.DistInfo,
    show_progress: bool,
) -> tuple[TokenData | ShardTokenData, list[memorization.Canary]]:
    """The split token streams (token shards for a large corpus) and the canaries."""
    out_dir = Path(config.out_dir)
    sharded = wants_shards(config.token_shards, config.corpus)
    canaries = []
    if config.canary_count:
        corpus_text = corpus_sample(config.corpus) if sharded else read_corpus(config.corpus)
        canaries = memorization.make_canaries(
            config.canary_count, corpus_text, tokenizer, config.seed
        )
    split = CorpusSplit(
        corpus=config.corpus,
        manifest=config.corpus_manifest,
        split_mode=config.split_mode,
        val_fraction=config.val_fraction,
        seed=config.seed,
        context_size=context,
        canaries=[c.text for c in canaries],
    )
    if sharded:  # large corpora: tokenized once into shards, read lazily
        data = shard_token_data(
            split,
            tokenizer,
            tokenizer_path=config.tokenizer,
            cache_root=config.token_cache,
            is_main=info.is_main,
            barrier=lambda: distributed.barrier(info),
            quiet=not show_progress,
        )
    else:  # Only rank 0 writes the cache (ranks would race on the same files).
        cache_dir = out_dir / layout.TOKEN_CACHE if info.is_main else None
        data = build_token_data(split, tokenizer, cache_dir=cache_dir)
    return data, canaries


__all__ = ["BaseTrainResult", "LoopResult", "train_base"]
