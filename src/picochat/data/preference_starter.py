"""`picochat data preference-starter`: chosen/rejected pairs from SFT rows, rejected synthetic.

The chosen answer of each pair is the chat row's own final assistant message; the
rejected answer is made by one of four strategies, each a failure a small chat model
really shows:

- `echo`: the final user prompt repeated back.
- `evasive`: a stock non-answer ("It depends on many things.").
- `off_topic`: the answer of another row with a different prompt.
- `truncated`: the right answer cut to its first half of words.

Strategies are dealt out evenly in a seeded order; when one cannot apply to a row (no
other row to borrow from, an answer too short to cut, a result equal to the chosen
answer) the next one is tried. Every row is labelled `"synthetic": true` with its
`"strategy"` and the chat line it came from. Same input + same seed = same file.

What these pairs are for: checking that DPO runs end to end (loss falls from ln 2,
rewards separate, accuracies rise). They say nothing about alignment: the rejected
answers are trivially bad, so a model that learns to avoid them has learned little.

Not here: the preference reader (`picochat.data.preferences`) or DPO itself.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picochat.artifacts import atomic_open
from picochat.configs import PreferenceStarterConfig
from picochat.data.chat import ChatExample, read_chat_jsonl
from picochat.data.jsonl import SkippedRow
from picochat.data.splits import normalize_prompt
from picochat.errors import InputError

STRATEGIES = ("echo", "evasive", "off_topic", "truncated")
EVASIVE_ANSWERS = (
    "That is a complicated question.",
    "It depends on many things.",
    "I would rather not say.",
    "There are many opinions about that.",
)
MIN_WORDS_TO_TRUNCATE = 4
NOTICE = (
    "These pairs have SYNTHETIC rejected answers (echo, evasive, off-topic, truncated). "
    "They test DPO mechanics (loss, rewards, margins, accuracies), not alignment: "
    "do not report a model tuned on them as safer or better aligned."
)


@dataclass
class PreferenceStarterResult:
    """What `build_preference_starter` wrote and why rows were left out."""

    out: Path
    chat_rows: int
    pairs: int
    strategy_counts: dict[str, int]
    skipped: list[SkippedRow] = field(default_factory=list)
    notice: str = NOTICE


def build_preference_starter(config: PreferenceStarterConfig) -> PreferenceStarterResult:
    """Read the chat file, synthesise rejected answers, write the preference JSONL atomically."""
    dataset = read_chat_jsonl(config.input)
    if not dataset.examples:
        raise InputError(
            "no usable chat rows to build preference pairs from",
            file=config.input,
            fix="Give a chat JSONL file with at least one valid row (see `picochat train sft --help`).",
        )
    rows, unusable = make_preference_rows(dataset.examples, seed=config.seed)
    with atomic_open(config.out) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return PreferenceStarterResult(
        out=Path(config.out),
        chat_rows=dataset.rows,
        pairs=len(rows),
        strategy_counts=dict(Counter(row["strategy"] for row in rows)),
        skipped=sorted(dataset.skipped + unusable, key=lambda s: s.line),
    )


def make_preference_rows(
    examples: list[ChatExample], *, seed: int
) -> tuple[list[dict[str, Any]], list[SkippedRow]]:
    """One synthetic preference row per usable chat example, plus the examples left out."""
    rng = random.Random(seed)
    planned = [STRATEGIES[i % len(STRATEGIES)] for i in range(len(examples))]
    rng.shuffle(planned)
    makers: dict[str, Callable[[ChatExample], str | None]] = {
        "echo": lambda ex: ex.prompt,
        "evasive": lambda ex: rng.choice(EVASIVE_ANSWERS),
        "off_topic": lambda ex: _off_topic(ex, examples, rng),
        "truncated": _truncated,
    }
    rows, unusable = [], []
    for example, first in zip(examples, planned, strict=True):
        if example.messages[-1].get("tool_calls"):
            unusable.append(
                SkippedRow(example.line, "the target is a tool call, not a text answer")
            )
            continue
        start = STRATEGIES.index(first)
        for strategy in STRATEGIES[start:] + STRATEGIES[:start]:
            rejected = makers[strategy](example)
            if rejected and normalize_prompt(rejected) != normalize_prompt(example.answer):
                rows.append(_row(example, rejected, strategy))
                break
        else:
            unusable.append(
                SkippedRow(example.line, "no strategy gave a rejected answer unlike the chosen one")
            )
    return rows, unusable


def _off_topic(example: ChatExample, examples: list[ChatExample], rng: random.Random) -> str | None:
    answer_key = normalize_prompt(example.answer)
    others = [
        other.answer
        for other in examples
        if other.group_key != example.group_key
        and not other.messages[-1].get("tool_calls")
        and normalize_prompt(other.answer) != answer_key
    ]
    return rng.choice(others) if others else None


def _truncated(example: ChatExample) -> str | None:
    words = example.answer.split()
    if len(words) < MIN_WORDS_TO_TRUNCATE:
        return None
    return " ".join(words[: len(words) // 2])


def _row(example: ChatExample, rejected: str, strategy: str) -> dict[str, Any]:
    context = example.messages[:-1]
    roles = [m["role"] for m in context]
    if roles in (["user"], ["system", "user"]):
        row: dict[str, Any] = {m["role"]: m["content"] for m in context}
    else:
        row = {"messages": context}
    row.update(
        chosen=example.answer,
        rejected=rejected,
        synthetic=True,
        strategy=strategy,
        source_line=example.line,
    )
    return row
