"""`train sft`: supervised chat fine-tuning of a base checkpoint, full or LoRA.

Not for: the loop mechanics (`loop.py`), rendering and batching (`sft_data.py`), the
diagnostic rules (`sft_diagnostics.py`) or the report text (`sft_report.py`); this
module wires them.

    train_sft(SFTConfig(input=..., tokenizer=..., checkpoint=..., out_dir=...)) -> SFTResult

The loss covers only the final assistant message of each row and its `<|end|>`. With
`--peft lora` every base weight stays frozen and only the adapters train; each saved
checkpoint folder still holds MERGED weights (W + alpha/r * B A), so later stages load
it like any other, and `adapter_model.safetensors` + `adapter_config.json` (the final
adapter, the same weights as `checkpoint/`) go beside them. The adapter also travels in
`checkpoint/training_state.pt`, so a LoRA run resumes on the frozen base.

Writes into `out_dir`: checkpoint/, best_checkpoint/, sft_report.json, report.md,
sample.txt, loss_curve.png (+ the adapter files with LoRA). Only rank 0 writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from picochat import layout
from picochat.chat_format import fit_to_context, render_prompt, render_training
from picochat.configs.training import SFTConfig
from picochat.data.chat import ChatExample, read_chat_jsonl, split_chat_examples
from picochat.data.jsonl import SkippedRow, skipped_summary
from picochat.errors import ConfigError, InputError
from picochat.generation import generate_batch
from picochat.model.lora import (
    parse_targets,
    save_adapter,
)
from picochat.runtime import seed_everything
from picochat.training import distributed
from picochat.training.finetune import (
    finetune_saver,
    load_chat_tokenizer,
    load_finetune_model,
    peft_summary,
)
from picochat.training.lm_metrics import window_loss_sums
from picochat.training.loop import TrainTask
from picochat.training.sft_data import ChatBatches, SFTSequence, collate, render_examples
from picochat.training.sft_diagnostics import is_exact, verdict
from picochat.training.sft_report import build_report, write_report_files
from picochat.training.stage_guard import guarded_stage
from picochat.training.stage_report import RunFacts
from picochat.training.stage_run import StageRun, TrainResult, check_loop_config, run_stage
from picochat.training.whole_validation import final_and_best, sequence_scorer
from picochat.training.windows import spread_rows

# Greedy replies are generated in batches of this many prompts.
PROBE_BATCH = 64


@dataclass
class SFTResult(TrainResult):
    REPORT_FILE = layout.SFT_REPORT

    adapter_dir: Path | None = None


def check_config(config: SFTConfig) -> None:
    check_loop_config(config, required=("input", "tokenizer", "checkpoint", "out_dir"))
    if not 0.0 <= config.val_fraction < 1.0:
        raise ConfigError("--val-fraction must be in [0, 1).", fix="Try 0.1.")
    if config.peft == "lora":
        parse_targets(config.lora_targets)  # unknown names fail before anything loads


def train_sft(config: SFTConfig, *, show_progress: bool = True, on_step: Any = None) -> SFTResult:
    """Fine-tune `config.checkpoint` on the chat rows; see the module docstring."""
    check_config(config)
    with guarded_stage(config, report=layout.SFT_REPORT, stage="train sft"):
        return run_stage(config, _train, show_progress=show_progress, on_step=on_step)


def skipped_reasons(dataset: Any, rendered_skipped: list[dict[str, Any]], shown: int = 3) -> str:
    """'N skipped: line 3: reason; line 7: reason; ...': the rows the reader skipped and
    those rendering skipped (too long...), in line order, for an error message."""
    rows = [*dataset.skipped, *(SkippedRow(r["line"], r["reason"]) for r in rendered_skipped)]
    return skipped_summary(sorted(rows, key=lambda r: (r.line, r.reason)), shown)


def _strict_check(config: SFTConfig, skipped: list[dict[str, Any]]) -> None:
    if config.strict and skipped:
        first = skipped[0]
        raise InputError(
            first["reason"],
            file=config.input,
            line=first["line"],
            fix="Shorten the row, use a model with a longer context, or drop --strict to "
            "skip such rows.",
        )


def make_evaluate(
    train: list[SFTSequence],
    val: list[SFTSequence],
    tokenizer: Any,
    *,
    eval_rows: int,
    device: torch.device,
    info: distributed.DistInfo,
):
    """Loss per supervised answer token (and answer BPB) on validation conversations, and
    the same on as many fixed training conversations (same weights: a fair gap)."""
    byte_lengths = torch.from_numpy(tokenizer.token_byte_lengths())
    val = [val[i] for i in spread_rows(len(val), eval_rows)]
    train = [train[i] for i in spread_rows(len(train), max(len(val), 1))]
    val_x, val_y = collate(val, tokenizer.pad_id) if val else (None, None)
    train_x, train_y = collate(train, tokenizer.pad_id)

    def evaluate(model: nn.Module) -> dict[str, float | None]:
        t = window_loss_sums(model, train_x, train_y, byte_lengths, device=device, dist_info=info)
        metrics = {"train_loss": t.mean_loss, "val_loss": None, "val_bpb": None}
        if val_x is not None:
            v = window_loss_sums(model, val_x, val_y, byte_lengths, device=device, dist_info=info)
            metrics.update(val_loss=v.mean_loss, val_bpb=v.bits_per_byte)
        return metrics

    return evaluate


@dataclass
class _SFTData:
    """The chat file after reading, rendering and splitting."""

    dataset: Any
    rendered: Any
    train_ex: list[ChatExample]
    val_ex: list[ChatExample]
    train_seq: list[SFTSequence]
    val_seq: list[SFTSequence]


def _split_rows(config: SFTConfig, dataset: Any, tokenizer: Any, context: int) -> _SFTData:
    """Render the rows, then split the usable ones by prompt group."""
    rendered = render_examples(dataset.examples, tokenizer, context)
    _strict_check(config, rendered.skipped)
    by_line = {s.line: s for s in rendered.sequences}
    usable = [e for e in dataset.examples if e.line in by_line]
    train_ex, val_ex = split_chat_examples(
        usable, val_fraction=config.val_fraction, seed=config.seed
    )
    if not train_ex:
        raise InputError(
            f"No usable chat rows to train on ({skipped_reasons(dataset, rendered.skipped)}).",
            file=config.input,
            fix="Fix the rows listed, or check that the file is a chat JSONL.",
        )
    train_seq = [by_line[e.line] for e in train_ex]
    val_seq = [by_line[e.line] for e in val_ex]
    return _SFTData(dataset, rendered, train_ex, val_ex, train_seq, val_seq)


def _train(run: StageRun) -> SFTResult:
    config, out_dir = run.config, run.out_dir
    tokenizer = load_chat_tokenizer(config.tokenizer)
    dataset = read_chat_jsonl(config.input, strict=config.strict)
    seed_everything(config.seed)  # the LoRA init draws from torch's RNG
    model = load_finetune_model(config, tokenizer, run.device, command="SFT")
    data = _split_rows(config, dataset, tokenizer, model.config.context_size)
    model.train()
    loop = run.loop(_task(run, model, tokenizer, data), label="train sft")
    whole = (None, None)
    if data.val_seq:  # every rank scores its share of all validation rows
        scorer = sequence_scorer(
            data.val_seq,
            lambda rows: collate(rows, tokenizer.pad_id),
            torch.from_numpy(tokenizer.token_byte_lengths()),
            device=run.device,
            info=run.info,
            max_tokens=config.final_val_tokens,
        )
        whole = final_and_best(
            model, loop, scorer, device=run.device, precision=run.precision,
            tokenizer=tokenizer, show_progress=run.show_progress,
        )  # fmt: skip
    report: dict[str, Any] = {}
    adapter_dir = None
    if run.info.is_main:
        if config.peft == "lora":
            save_adapter(model, out_dir, base_checkpoint=config.checkpoint)
            adapter_dir = out_dir
        probes = probe_memorization(model, tokenizer, data.train_ex, data.val_ex, config.probe_rows)
        report = build_report(
            RunFacts.of(run, loop, [config.input, config.tokenizer, config.checkpoint]),
            model=model,
            data=data,
            probes=probes,
            peft=peft_summary(config),
            whole=whole,
        )
        write_report_files(out_dir, report, probes)
    return SFTResult.from_loop(out_dir, report, loop, adapter_dir=adapter_dir)


def _task(run: StageRun, model: nn.Module, tokenizer: Any, data: _SFTData) -> TrainTask:
    """Answer-only loss on shuffled conversations; merged checkpoints of kind "sft"."""
    config, info = run.config, run.info
    metadata = {
        "stage": "train sft",
        "seed": config.seed,
        "base_checkpoint": str(config.checkpoint),
        "peft": peft_summary(config),
    }
    return TrainTask(
        model=model,
        loss_fn=lambda train_model, batch: train_model(batch[0], batch[1])[1],
        train_batches=ChatBatches(data.train_seq, pad_id=tokenizer.pad_id, **run.batching()),
        evaluate=make_evaluate(
            data.train_seq,
            data.val_seq,
            tokenizer,
            eval_rows=config.eval_batches * config.batch_size,
            device=run.device,
            info=info,
        ),
        save_checkpoint=finetune_saver(config, tokenizer, kind="sft", metadata=metadata),
        count_tokens=lambda batch: batch[2],
    )


def greedy_replies(model: nn.Module, tokenizer: Any, examples: list[ChatExample]) -> list[str]:
    """Greedy reply to each example's conversation without its final answer."""
    if not examples:
        return []
    context = model.config.context_size
    longest = max(len(tokenizer.encode(e.answer)) for e in examples)
    prompts = [training_prompt(tokenizer, e, context) for e in examples]
    replies: list[str] = []
    for start in range(0, len(prompts), PROBE_BATCH):
        batch = prompts[start : start + PROBE_BATCH]
        # Room for the whole answer, not a ramble; never so much that generation would cut
        # the prompt further than training did.
        max_new = max(1, min(longest + 2, context - max(len(p) for p in batch)))
        for ids in generate_batch(model, tokenizer, batch, max_new):
            replies.append(tokenizer.decode(ids))
    return replies


def training_prompt(tokenizer: Any, example: ChatExample, context: int) -> list[int]:
    """The ids training put before the answer: `<|bos|>` kept, earlier turns cut from the
    left exactly as `fit_to_context` cut them (so a memorised row can be recognised)."""
    ids, mask = render_training(tokenizer, example.messages)
    fitted = fit_to_context(ids, mask, context + 1)
    if fitted is None:  # not trained on (skipped); the plain prompt is the best question
        return render_prompt(tokenizer, example.messages[:-1])
    ids, mask = fitted
    return ids[: mask.index(1)]


def probe_memorization(
    model: nn.Module,
    tokenizer: Any,
    train: list[ChatExample],
    val: list[ChatExample],
    probe_rows: int,
) -> dict[str, Any]:
    """Exact-answer rates of greedy replies on training vs validation prompts (final
    weights, fp32, eval mode), with every probed reply for sample.txt."""
    model.eval()
    result: dict[str, Any] = {"probes": []}
    rates = {}
    for split, examples in (("train", train), ("val", val)):
        chosen = [examples[i] for i in spread_rows(len(examples), probe_rows)] if examples else []
        replies = greedy_replies(model, tokenizer, chosen)
        hits = 0
        for example, reply in zip(chosen, replies, strict=True):
            exact = is_exact(reply, example.answer)
            hits += exact
            result["probes"].append(
                {
                    "split": split,
                    "line": example.line,
                    "user": example.prompt,
                    "reference": example.answer,
                    "reply": reply,
                    "exact": exact,
                }
            )
        rates[split] = hits / len(chosen) if chosen else None
        result[f"{split}_probes"] = len(chosen)
    result["train_exact_rate"], result["val_exact_rate"] = rates["train"], rates["val"]
    result["verdict"] = verdict(rates["train"], rates["val"])
    return result


__all__ = ["SFTResult", "train_sft"]
