"""The preflight plan: what a run is about to spend, and what to know before spending it.

Computed after the corpus and tokenizer stages (cheap) and before any training:
parameters, tokens per pass over the corpus, planned passes over the corpus and the
chat rows, an ETA from a short throughput probe (three timed optimizer steps at the
base model's shape after one warm-up step; evaluation and generation are not in it),
and warnings. Kept in `preflight.json`; `--preflight-only` stops after it.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import torch

from picochat import layout
from picochat.artifacts import atomic_write_json
from picochat.chat_format import render_training
from picochat.data.chat import read_chat_jsonl
from picochat.data.contamination import ContaminationReport
from picochat.evaluation.items import read_eval_items
from picochat.model.config import resolve_model_config
from picochat.model.presets import token_budget_note
from picochat.model.transformer import Transformer
from picochat.runtime import autocast, resolve_device, resolve_precision
from picochat.tokenizer import load_tokenizer
from picochat.training.memory_estimate import describe as describe_memory
from picochat.training.memory_estimate import estimate_memory
from picochat.training.pretrain_shards import shard_corpus_tokens

PROBE_STEPS = 3
MANY_PASSES = 20  # past this many epochs a small model mostly memorises its data
MIN_EVAL_ITEMS = 30  # below this a pass rate's 95% interval is wider than about +-0.18


def _probe_seconds_per_step(
    model: Transformer, batch: int, context: int, precision: str, device: torch.device
) -> float:
    """Median-free, honest: mean time of PROBE_STEPS fwd+bwd+AdamW steps after a warm-up."""
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


def _ci_half_width(n: int) -> float | None:
    """Normal-approximation 95% half-width of a pass rate near 0.5 over n items."""
    return None if n == 0 else round(1.96 * math.sqrt(0.25 / n), 3)


def plan(ctx: Any, leaks: ContaminationReport) -> dict[str, Any]:
    """Build, write and return the preflight plan of the run in `ctx`."""
    s = ctx.settings
    tok = load_tokenizer(ctx.root / layout.TOKENIZER)
    tok_report = json.loads((ctx.root / layout.TOKENIZER_REPORT).read_text())
    # A corpus that trains through token shards is counted from their index (exact; tok
    # train may have estimated from a sample); others as tok train counted them.
    sharded = shard_corpus_tokens(
        s.base.token_shards,
        ctx.root / layout.CORPUS,
        ctx.root / layout.TOKENIZER,
        ctx.root / layout.CORPUS_MANIFEST,
        quiet=not ctx.show_progress,
    )
    corpus_tokens = int(tok_report["corpus_tokens"]) if sharded is None else sharded
    train_tokens = int(corpus_tokens * (1 - s.base.val_fraction))
    model_config = resolve_model_config(s.base, tok.vocab_size)
    device = resolve_device(s.base.device)
    precision = resolve_precision(s.base.precision, device)
    torch.manual_seed(0)
    model = Transformer(model_config).to(device)
    context = model_config.context_size
    base_tokens = s.base.max_steps * s.base.batch_size * s.base.grad_accum_steps * context
    sec_per_step = _probe_seconds_per_step(model, s.base.batch_size, context, precision, device)

    chat = read_chat_jsonl(ctx.inputs.chat)
    lengths = [min(len(render_training(tok, ex.messages)[0]), context) for ex in chat.examples]
    rows = len(lengths)
    sft_train_rows = max(1, round(rows * (1 - s.sft.val_fraction)))
    sft_sequences = s.sft.max_steps * s.sft.batch_size * s.sft.grad_accum_steps
    mean_len = sum(lengths) / max(rows, 1)
    # An SFT step costs about what a base step costs per token it processes.
    sft_sec = (
        sec_per_step
        * s.sft.max_steps
        * (s.sft.batch_size * s.sft.grad_accum_steps * mean_len)
        / (s.base.batch_size * s.base.grad_accum_steps * context)
    )
    eta = {"base": sec_per_step * s.base.max_steps * s.base.grad_accum_steps, "sft": sft_sec}
    if ctx.inputs.preferences is not None:
        dpo_steps = ctx.run.dpo_steps or s.dpo.max_steps
        # chosen + rejected: twice the sequences of an SFT step at the same batch.
        eta["dpo"] = (
            sft_sec / max(s.sft.max_steps, 1) * dpo_steps * 2 * s.dpo.batch_size / s.sft.batch_size
        )

    eval_counts = {"heldout": len(read_eval_items(ctx.inputs.eval).items)}
    for name, path in ctx.inputs.external_evals.items():
        eval_counts[name] = len(read_eval_items(path).items)

    passes = {
        "corpus": round(base_tokens / max(train_tokens, 1), 2),
        "chat_rows": round(sft_sequences / sft_train_rows, 2),
    }
    warnings = []
    if passes["corpus"] > MANY_PASSES:
        warnings.append(
            f"Base training plans {passes['corpus']} passes over a {corpus_tokens:,}-token corpus: "
            "a model this size will mostly memorise it. Expect a wide train/validation gap."
        )
    if passes["chat_rows"] > MANY_PASSES:
        warnings.append(
            f"SFT plans {passes['chat_rows']} passes over {sft_train_rows} chat rows: it will "
            "memorise the answers; the SFT-fit eval will look good and say little about new prompts."
        )
    for name, n in eval_counts.items():
        if n < MIN_EVAL_ITEMS:
            warnings.append(
                f"Eval `{name}` has {n} items: a pass rate over so few has a 95% interval of about "
                f"+-{_ci_half_width(n)}; differences smaller than that are noise."
            )
    if leaks.leaked_items:
        warnings.append(
            f"{len(leaks.leaked_items)} eval item(s) appear in the training data (contamination.json)."
        )
    memory = estimate_memory(
        model_config,
        batch_size=s.base.batch_size,
        precision=precision,
        device_type=device.type,
        optimizer=s.base.optimizer,
        activation_checkpointing=s.base.activation_checkpointing,
    )
    result = {
        "parameters": model.num_parameters(),
        "memory": memory,
        "token_budget": token_budget_note(base_tokens, model.num_parameters()),
        "model": model_config.to_dict(),
        "device": str(device),
        "precision": precision,
        "corpus_tokens": corpus_tokens,
        "corpus_tokens_source": layout.TOKENIZER_REPORT if sharded is None else "token shard index",
        "tokens_per_pass": train_tokens,
        "base_tokens_planned": base_tokens,
        "chat_rows": rows,
        "chat_tokens_mean": round(mean_len, 1),
        "planned_passes": passes,
        "eval_items": eval_counts,
        "probe": {"seconds_per_base_step": round(sec_per_step, 4), "steps": PROBE_STEPS},
        "eta_seconds": {k: round(v, 1) for k, v in eta.items()}
        | {"total_training": round(sum(eta.values()), 1)},
        "eta_note": "training steps only; evaluation, sampling and the evals are not included",
        "warnings": warnings,
    }
    atomic_write_json(ctx.root / layout.PREFLIGHT, result)
    return result


def render(plan: dict[str, Any]) -> str:
    """The plan as a few lines for the terminal."""
    passes = plan["planned_passes"]
    lines = [
        "Preflight plan",
        f"  model: {plan['parameters']:,} parameters on {plan['device']} ({plan['precision']})",
        f"  corpus: {plan['corpus_tokens']:,} tokens ({plan['tokens_per_pass']:,} per training pass); "
        f"base plans {plan['base_tokens_planned']:,} tokens = {passes['corpus']} passes",
        f"  chat: {plan['chat_rows']} rows (mean {plan['chat_tokens_mean']} tokens); "
        f"SFT plans {passes['chat_rows']} passes",
        f"  base memory: {describe_memory(plan['memory'])}",
        f"  base tokens: {plan['token_budget']}",
        "  eval items: " + ", ".join(f"{k} {v}" for k, v in plan["eval_items"].items()),
        "  ETA: "
        + ", ".join(f"{k} {v:.0f}s" for k, v in plan["eta_seconds"].items())
        + f" ({plan['eta_note']})",
    ]
    lines += [f"  warning: {w}" for w in plan["warnings"]]
    return "\n".join(lines)
