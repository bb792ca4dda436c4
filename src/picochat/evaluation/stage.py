"""The `eval chat` stage: read items, get one reply per item, score, write the report.

Replies come from a `ReplyFn` (a batch of conversations -> a batch of reply strings):
`model_reply_fn` generates them greedily with a checkpoint (imports torch and the
model lazily), `read_replies` takes them from a JSONL file, and tests pass their own.
Scoring itself is the pure `report.score_items`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.artifacts import atomic_write_json, atomic_write_text, hash_inputs, report_header
from picochat.configs import EvalConfig
from picochat.data.jsonl import check_readable_file, iter_jsonl
from picochat.errors import ConfigError, InputError
from picochat.evaluation.items import EvalItem, read_eval_items
from picochat.evaluation.markdown import render_markdown
from picochat.evaluation.report import score_items
from picochat.evaluation.rules import ScoringRules
from picochat.evaluation.support import CorpusIndex

Message = dict[str, str]
ReplyFn = Callable[[list[list[Message]]], list[str]]


@dataclass
class EvalResult:
    report_path: Path
    markdown_path: Path
    summary: dict[str, Any]
    warnings: list[str]
    device: str | None


def conversations(items: Sequence[EvalItem]) -> list[list[Message]]:
    """The conversation each item asks the model to answer: its context, then `user`."""
    return [[*item.context, {"role": "user", "content": item.user}] for item in items]


def generate_replies(
    convs: list[list[Message]],
    reply_fn: ReplyFn,
    batch_size: int,
    on_batch: Callable[[int], None] | None = None,
) -> list[str]:
    """Replies to `convs` (in their order), asking `reply_fn` for `batch_size` at a time.

    Conversations of similar length are batched together (sorted by characters), so a
    batch pads its prompts little; greedy replies do not depend on the batch.
    """
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}.", fix="Use 1 or more.")
    order = sorted(range(len(convs)), key=lambda i: sum(len(m["content"]) for m in convs[i]))
    replies: list[str] = [""] * len(convs)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        out = list(reply_fn([convs[i] for i in chunk]))
        if len(out) != len(chunk):
            raise RuntimeError(f"reply_fn returned {len(out)} replies for {len(chunk)} prompts")
        for i, reply in zip(chunk, out, strict=True):
            replies[i] = reply
        if on_batch:
            on_batch(min(start + batch_size, len(order)))
    return replies


def read_replies(path: Path, expected: int) -> list[str]:
    """Replies from JSONL: one `{"reply": "..."}` object per eval item, in order."""
    check_readable_file(path, what="replies file")
    replies = []
    for row in iter_jsonl(path):
        reply = row.obj.get("reply") if row.obj is not None else None
        if not isinstance(reply, str):
            raise InputError(
                row.error or 'each row must be an object with a string "reply".',
                file=path,
                line=row.line,
                fix='Write one {"reply": "<text>"} row per eval item, in the eval file\'s order.',
            )
        replies.append(reply)
    if len(replies) != expected:
        raise InputError(
            f"{len(replies)} replies for {expected} eval items.",
            file=path,
            fix="Write exactly one reply row per eval item, in the same order.",
        )
    return replies


def checkpoint_reply_fn(model: Any, tok: Any, max_new_tokens: int) -> ReplyFn:
    """Greedy batched replies of a loaded native model through the one chat template."""
    from picochat.chat_format import render_prompt
    from picochat.generation import generate_batch

    def reply_fn(batch: list[list[Message]]) -> list[str]:
        prompts = [render_prompt(tok, messages) for messages in batch]
        outputs = generate_batch(model, tok, prompts, max_new_tokens)
        return [tok.decode(ids).strip() for ids in outputs]

    return reply_fn


def model_reply_fn(config: EvalConfig) -> tuple[ReplyFn, str]:
    """Load `--checkpoint` and `--tokenizer` (compiled with --compile); returns
    (reply_fn, device name)."""
    from picochat.model.loading import load_native
    from picochat.runtime import resolve_device

    device = resolve_device(config.device)
    model, tok = load_native(config, device)
    return checkpoint_reply_fn(model, tok, config.max_new_tokens), str(device)


def hf_reply_fn(config: EvalConfig) -> tuple[ReplyFn, str]:
    """Greedy batched replies from a Hugging Face model folder (`--hf-model`)."""
    from picochat.hf.adapter import load_hf_chat_model
    from picochat.runtime import resolve_device

    device = resolve_device(config.device)
    chat_model = load_hf_chat_model(config.hf_model, device=device)

    def reply_fn(batch: list[list[Message]]) -> list[str]:
        return chat_model.replies(batch, config.max_new_tokens, batch_size=len(batch))

    return reply_fn, str(device)


def _check_sources(config: EvalConfig, reply_fn: ReplyFn | None) -> None:
    if config.replies is not None or reply_fn is not None:
        return
    if config.hf_model is not None:
        from picochat.model.loading import check_hf_source

        check_hf_source(config)
        return
    if config.checkpoint is None or config.tokenizer is None:
        raise ConfigError(
            "eval chat needs a model: --checkpoint and --tokenizer (or --replies FILE).",
            fix="Add --checkpoint runs/x/sft/checkpoint --tokenizer runs/x/tokenizer.json.",
        )


def evaluate_chat(config: EvalConfig, reply_fn: ReplyFn | None = None) -> EvalResult:
    """Run the eval stage and write `eval_report.json` and `report.md` into `out_dir`."""
    started = time.perf_counter()
    eval_set = read_eval_items(config.input)  # validate before loading any model
    if config.out_dir is None:
        raise ConfigError("--out-dir is required.", fix="Add --out-dir runs/x/eval.")
    _check_sources(config, reply_fn)
    support = None
    if config.support_corpus is not None:
        support = CorpusIndex.from_file(config.support_corpus)
    device = None
    if config.replies is not None:
        replies = read_replies(config.replies, len(eval_set.items))
    else:
        if reply_fn is None:
            make = hf_reply_fn if config.hf_model is not None else model_reply_fn
            reply_fn, device = make(config)
        replies = generate_replies(conversations(eval_set.items), reply_fn, config.batch_size)
    rules = ScoringRules(config.min_reference_f1, config.min_corpus_support)
    scored = score_items(eval_set, replies, support, seed=config.seed, rules=rules)
    inputs = hash_inputs(
        [
            config.input,
            config.support_corpus,
            config.replies,
            config.checkpoint,
            config.tokenizer,
            config.hf_model,
        ]
    )
    header = report_header(
        config,
        inputs=inputs,
        seed=config.seed,
        wall_seconds=time.perf_counter() - started,
        device=device,
    )
    report = {**header, **scored}
    out_dir = Path(config.out_dir)
    report_path = atomic_write_json(out_dir / layout.EVAL_REPORT, report)
    markdown_path = atomic_write_text(out_dir / layout.STAGE_MARKDOWN, render_markdown(report))
    return EvalResult(report_path, markdown_path, report["summary"], report["warnings"], device)
