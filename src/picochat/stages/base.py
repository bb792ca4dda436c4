"""The base stage: next-token pretraining on the run's corpus (`train base`).

Its work is `picochat.training.pretrain.train_base`; this module declares it and
estimates it for preflight: a short throughput probe (three timed optimizer steps at
the base model's shape after one warm-up step) that the later stages scale from.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

from picochat import layout
from picochat.configs import BaseTrainConfig
from picochat.markdown import fmt
from picochat.stages.declaration import Command, Plan, RunSpec, Stage, final_line, runner

PROBE_STEPS = 3
MANY_PASSES = 20  # past this many epochs a small model mostly memorises its data
# What summary.json keeps of the stage's report.
SUMMARY_KEYS = (
    "model",
    "dataset",
    "final",
    "best",
    "recommended_checkpoint",
    "stop_reason",
    "tokens_seen",
    "dataset_passes",
    "memorization",
    "sample",
    "throughput",
)


def _describe(result: Any) -> list[str]:
    if result.stop_reason == "dry_run":  # --dry-run N: the measured figures only
        return [result.stop_message]
    final, rec = result.report["final"], result.report["recommended_checkpoint"]
    return [
        f"stopped: {result.stop_reason} ({result.stop_message})",
        final_line(result.report, f"val BPB {fmt(final['val_bpb'])}"),
        f"recommended checkpoint: step {rec['step']} ({rec['folder']}/): {rec['reason']}",
        f"report: {result.out_dir / layout.STAGE_MARKDOWN}",
    ]


def _wire(config: BaseTrainConfig, run: RunSpec) -> BaseTrainConfig:
    return replace(
        config,
        corpus=run.root / layout.CORPUS,
        tokenizer=run.root / layout.TOKENIZER,
        corpus_manifest=run.root / layout.CORPUS_MANIFEST,
        out_dir=run.stage_dir(layout.BASE_DIR),
    )


def _validate(config: BaseTrainConfig, run: RunSpec) -> None:
    from picochat.training.pretrain import check_config

    check_config(config)


def probe_seconds_per_step(
    model: Any, batch: int, context: int, precision: str, device: Any
) -> float:
    """Mean time of PROBE_STEPS fwd+bwd+AdamW steps after a warm-up step."""
    import torch

    from picochat.runtime import autocast

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randint(0, model.config.vocab_size, (batch, context + 1), device=device)
    for step in range(PROBE_STEPS + 1):
        if step == 1:
            started = time.perf_counter()
        with autocast(device, precision):
            _, loss = model(x[:, :-1], x[:, 1:])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / PROBE_STEPS


def _estimate(config: BaseTrainConfig, plan: Plan) -> None:
    """Parameters, tokens, passes over the corpus and the probe every later ETA scales from."""
    import torch

    from picochat.model.config import resolve_model_config
    from picochat.model.presets import token_budget_note
    from picochat.model.transformer import Transformer
    from picochat.runtime import resolve_device, resolve_precision
    from picochat.tokenizer import load_tokenizer
    from picochat.training.memory_estimate import estimate_memory, run_settings
    from picochat.training.pretrain_shards import shard_corpus_tokens

    plan.tokenizer = load_tokenizer(plan.root / layout.TOKENIZER)
    tok_report = json.loads((plan.root / layout.TOKENIZER_REPORT).read_text())
    # A corpus that trains through token shards is counted from their index (exact; tok
    # train may have estimated from a sample); others as tok train counted them.
    sharded = shard_corpus_tokens(
        config.token_shards,
        plan.root / layout.CORPUS,
        plan.root / layout.TOKENIZER,
        plan.root / layout.CORPUS_MANIFEST,
        cache_root=config.token_cache,
        quiet=not plan.show_progress,
    )
    corpus_tokens = int(tok_report["corpus_tokens"]) if sharded is None else sharded
    train_tokens = int(corpus_tokens * (1 - config.val_fraction))
    model_config = resolve_model_config(config, plan.tokenizer.vocab_size)
    plan.context = model_config.context_size  # resolved once; SFT and DPO reuse it
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    torch.manual_seed(0)
    model = Transformer(model_config).to(device)
    tokens_per_step = config.batch_size * config.grad_accum_steps * plan.context
    base_tokens = config.max_steps * tokens_per_step
    sec_per_step = probe_seconds_per_step(model, config.batch_size, plan.context, precision, device)
    plan.seconds_per_token = sec_per_step / tokens_per_step
    memory = estimate_memory(model_config, **run_settings(config, precision, device.type))
    plan.facts.update(
        parameters=model.num_parameters(),
        memory=memory,
        token_budget=token_budget_note(base_tokens, model.num_parameters()),
        model=model_config.to_dict(),
        device=str(device),
        precision=precision,
        corpus_tokens=corpus_tokens,
        corpus_tokens_source=layout.TOKENIZER_REPORT if sharded is None else "token shard index",
        tokens_per_pass=train_tokens,
        base_tokens_planned=base_tokens,
    )
    plan.probe = {"seconds_per_base_step": round(sec_per_step, 4), "steps": PROBE_STEPS}
    plan.eta["base"] = sec_per_step * config.max_steps * config.grad_accum_steps
    passes = plan.passes["corpus"] = round(base_tokens / max(train_tokens, 1), 2)
    if passes > MANY_PASSES:
        plan.warnings.append(
            f"Base training plans {passes} passes over a {corpus_tokens:,}-token corpus: "
            "a model this size will mostly memorise it. Expect a wide train/validation gap."
        )


def _presets_table() -> str:
    from picochat.model.presets import presets_help

    return presets_help()


STAGE = Stage(
    name="base",
    config=BaseTrainConfig,
    command=Command(
        "train",
        "base",
        "Pretrain a decoder-only transformer to predict the next token.",
        epilog=_presets_table,
    ),
    run=runner("picochat.training.pretrain", "train_base", progress=True),
    describe=_describe,
    folder=layout.BASE_DIR,
    report=layout.BASE_REPORT,
    # ~0.86M parameters on ~30K training characters: validation loss bottoms out after
    # ~200-300 steps (measured), so early stopping ends the stage and SFT starts from
    # best_checkpoint; 1200 steps drove validation loss from 1.88 back up to 4.2.
    run_defaults={
        "preset": "tiny",
        "context_size": 256,
        "max_steps": 600,
        "learning_rate": 3e-3,
        "eval_batches": 10,
        "early_stop_patience": 3,
    },
    run_defaults_reason=(
        "the tiny preset with early stopping: on the example pack validation loss bottoms "
        "out after ~200-300 steps, so the run stops there and SFT starts from best_checkpoint; "
        "the learning rate is fixed at 3e-3 (what `train base` picks for a named preset)"
    ),
    needs=("tokenizer",),
    trains=True,
    wire=_wire,
    validate=_validate,
    estimate=_estimate,
    summary_keys=SUMMARY_KEYS,
)
