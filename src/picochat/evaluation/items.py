"""Read eval JSONL items (SPEC §6) into `EvalItem`s, validating every field.

One JSON object per line; blank lines are skipped. Only `user` is required. A row
with a wrong type is an `InputError` naming file:line and the fix (all bad rows are
listed, up to 10). Unknown fields are warned about once per name and kept on the
item (`extra`) and in the report, never scored. Not a scorer: see `rules.py`.

Beyond SPEC §6, an item may carry `context`: the earlier turns of a conversation
(`[{"role", "content"}, ...]`) that come before `user`, so a multi-turn chat row can
be scored exactly as it was trained (the SFT-fit eval of `run tiny` does this).

Level inference (when `level` is absent; the item records `level_inferred: true`):
  1. `answerable: false`                                  -> adversarial
  2. category names a level (e.g. "smoke", "memorisation", "transfer", "adversarial",
     "refusal", "held-out"; see `_CATEGORY_LEVELS`)      -> that level
  3. `split` is "train"                                   -> memorization
  4. a `reference_answer`, required phrases or entities   -> heldout (recall)
  5. anything else (format/length-only checks)            -> smoke
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picochat.data.jsonl import check_readable_file, iter_jsonl
from picochat.errors import InputError
from picochat.evaluation.text import normalize

LEVELS = ("smoke", "heldout", "transfer", "adversarial", "memorization")

LEVEL_INFERENCE_RULE = (
    "answerable false -> adversarial; a category naming a level (smoke, held-out/recall, "
    "transfer/paraphrase, adversarial/refusal/unanswerable, memorisation) -> that level; "
    "split 'train' -> memorization; a reference answer, required phrases or entities -> "
    "heldout; otherwise smoke"
)

_CATEGORY_LEVELS = (
    (("smoke", "sanity", "format"), "smoke"),
    (("memoriz", "memoris", "canary", "copy"), "memorization"),
    (
        ("adversarial", "refus", "unanswerable", "jailbreak", "false_premise", "false-premise"),
        "adversarial",
    ),
    (("transfer", "paraphrase", "generaliz", "generalis"), "transfer"),
    (("heldout", "held-out", "held_out", "recall"), "heldout"),
)

# Fields other tools write that are known but not scored.
_KNOWN_EXTRAS = ("id", "needs_review", "source", "notes")
# The published eval format's field names (the project Picochat grew from) -> ours.
FIELD_ALIASES = {
    "expected": "reference_answer",
    "reference": "reference_answer",
    "entities": "required_entities",
    "eval_split": "split",
    "eval_level": "level",
}
# Its level names -> ours: "domain" items ask what the corpus says (held-out recall).
LEVEL_ALIASES = {"domain": "heldout"}
_MAX_LISTED_ERRORS = 10


@dataclass
class EvalItem:
    """One eval item; fields as SPEC §6, plus where it came from and what was inferred."""

    user: str
    category: str | None = None
    answerable: bool | None = None
    must_include: list[str] = field(default_factory=list)
    must_include_any: list[list[str]] = field(default_factory=list)
    must_not_include: list[str] = field(default_factory=list)
    required_entities: list[str] = field(default_factory=list)
    min_words: int | None = None
    max_words: int | None = None
    min_chars: int | None = None
    max_chars: int | None = None
    reference_answer: str | None = None
    require_corpus_support: bool = False
    level: str = "smoke"
    split: str | None = None
    level_inferred: bool = False
    line: int | None = None
    needs_review: bool = False
    context: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalSet:
    """The items of one file and what the reader noticed about them."""

    path: str
    items: list[EvalItem]
    unknown_fields: dict[str, dict[str, int]]  # name -> {"first_line", "rows"}
    warnings: list[str]


def infer_level(item: EvalItem) -> str:
    """The level of an item that does not name one (rule in the module docstring)."""
    if item.answerable is False:
        return "adversarial"
    category = (item.category or "").lower()
    for needles, level in _CATEGORY_LEVELS:
        if any(needle in category for needle in needles):
            return level
    if (item.split or "").lower() == "train":
        return "memorization"
    if item.reference_answer or item.must_include or item.must_include_any:
        return "heldout"
    if item.required_entities:
        return "heldout"
    return "smoke"


class _RowError(ValueError):
    pass


def _phrase_list(row: dict, name: str) -> list[str]:
    value = row.get(name, [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _RowError(f"`{name}` must be a list of strings, got {json.dumps(value)[:60]}")
    for phrase in value:
        if not normalize(phrase):
            raise _RowError(f"`{name}` has a phrase with no letters or digits: {phrase!r}")
    return list(value)


def _phrase_groups(row: dict) -> list[list[str]]:
    value = row.get("must_include_any", [])
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(group, list) and group and all(isinstance(p, str) for p in group)
        for group in value
    ):
        raise _RowError(
            "`must_include_any` must be a list of non-empty phrase lists, "
            'e.g. [["Paris", "the capital"], ["France"]]'
        )
    for group in value:
        for phrase in group:
            if not normalize(phrase):
                raise _RowError(f"`must_include_any` has a phrase with no letters: {phrase!r}")
    return [list(group) for group in value]


def _typed(row: dict, name: str, kind: type | tuple[type, ...], label: str) -> Any:
    value = row.get(name)
    if value is None:
        return None
    # bool is an int in Python; a count given as true/false is a mistake.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise _RowError(f"`{name}` must be {label}, got {json.dumps(value)}")
    if not isinstance(value, kind):
        raise _RowError(f"`{name}` must be {label}, got {json.dumps(value)[:60]}")
    return value


def _count(row: dict, name: str) -> int | None:
    value = _typed(row, name, int, "a whole number >= 0")
    if value is not None and value < 0:
        raise _RowError(f"`{name}` must be >= 0, got {value}")
    return value


_CONTEXT_ROLES = ("system", "user", "assistant", "tool")


def _context(row: dict) -> list[dict[str, Any]]:
    turns = row.get("context", [])
    if not isinstance(turns, list) or not all(
        isinstance(t, dict)
        and t.get("role") in _CONTEXT_ROLES
        and isinstance(t.get("content", ""), str)
        for t in turns
    ):
        raise _RowError(
            '`context` must be a list of {"role": system|user|assistant|tool, "content": text}'
        )
    return turns


def _canonical(row: dict[str, Any]) -> dict[str, Any]:
    """`row` with `FIELD_ALIASES` renamed; an alias beside a different canonical value is
    an error (which one would be scored?)."""
    out = dict(row)
    for alias, name in FIELD_ALIASES.items():
        if alias not in out:
            continue
        value = out.pop(alias)
        if name in out and out[name] != value:
            raise _RowError(f"`{alias}` and `{name}` are the same field with different values")
        if name == "required_entities" and isinstance(value, str):
            value = [value]
        out[name] = value
    return out


def parse_item(row: Any) -> EvalItem:
    """One JSON value -> EvalItem; raises `_RowError` with the reason."""
    if not isinstance(row, dict):
        raise _RowError(f"each line must be a JSON object, got {type(row).__name__}")
    row = _canonical(row)
    user = row.get("user")
    if not isinstance(user, str) or not user.strip():
        raise _RowError("`user` (the prompt) is required and must be a non-empty string")
    level = _typed(row, "level", str, f"one of {', '.join(LEVELS)}")
    level = LEVEL_ALIASES.get(level, level) if level is not None else None
    if level is not None and level not in LEVELS:
        raise _RowError(f"`level` must be one of {', '.join(LEVELS)}, got {level!r}")
    item = EvalItem(
        user=user,
        category=_typed(row, "category", str, "a string"),
        answerable=_typed(row, "answerable", bool, "true or false"),
        must_include=_phrase_list(row, "must_include"),
        must_include_any=_phrase_groups(row),
        must_not_include=_phrase_list(row, "must_not_include"),
        required_entities=_phrase_list(row, "required_entities"),
        min_words=_count(row, "min_words"),
        max_words=_count(row, "max_words"),
        min_chars=_count(row, "min_chars"),
        max_chars=_count(row, "max_chars"),
        reference_answer=_typed(row, "reference_answer", str, "a string"),
        require_corpus_support=bool(
            _typed(row, "require_corpus_support", bool, "true or false") or False
        ),
        split=_typed(row, "split", str, "a string"),
        needs_review=bool(_typed(row, "needs_review", bool, "true or false") or False),
        context=_context(row),
    )
    for low, high in (("min_words", "max_words"), ("min_chars", "max_chars")):
        lo, hi = getattr(item, low), getattr(item, high)
        if lo is not None and hi is not None and lo > hi:
            raise _RowError(f"`{low}` ({lo}) is larger than `{high}` ({hi})")
    if item.reference_answer is not None and not item.reference_answer.strip():
        raise _RowError("`reference_answer` is empty; leave it out instead")
    item.extra = {k: row[k] for k in _KNOWN_EXTRAS if k in row and k != "needs_review"}
    if level is None:
        item.level, item.level_inferred = infer_level(item), True
    else:
        item.level = level
    return item


def read_eval_items(path: str | Path) -> EvalSet:
    """Read and validate an eval JSONL file; every bad row is reported by line."""
    path = check_readable_file(path, what="eval file")
    known = {f for f in EvalItem.__dataclass_fields__} | set(_KNOWN_EXTRAS)
    known -= {"level_inferred", "line", "extra"}
    known |= set(FIELD_ALIASES)
    items: list[EvalItem] = []
    errors: list[tuple[int, str]] = []
    unknown: dict[str, dict[str, int]] = {}
    for jsonl_row in iter_jsonl(path):
        number, row = jsonl_row.line, jsonl_row.obj
        if row is None:
            errors.append((number, jsonl_row.error or "bad row"))
            continue
        try:
            item = parse_item(row)
        except _RowError as error:
            errors.append((number, str(error)))
            continue
        item.line = number
        for name in row:
            if name not in known:
                entry = unknown.setdefault(name, {"first_line": number, "rows": 0})
                entry["rows"] += 1
                item.extra[name] = row[name]
        items.append(item)
    if errors:
        listed = "; ".join(f"line {n}: {reason}" for n, reason in errors[:_MAX_LISTED_ERRORS])
        more = f" (and {len(errors) - _MAX_LISTED_ERRORS} more)" if len(errors) > 10 else ""
        raise InputError(
            f"{len(errors)} bad eval row(s): {listed}{more}.",
            file=path,
            line=errors[0][0],
            fix="Correct those rows; field types are listed in SPEC.md §6.",
        )
    if not items:
        raise InputError(
            "the eval file has no items.", file=path, fix="Add JSONL rows with `user`."
        )
    warnings = [
        f"unknown field `{name}` (first at line {info['first_line']}, {info['rows']} row(s)): "
        "kept in the report, not scored"
        for name, info in unknown.items()
    ]
    return EvalSet(str(path), items, unknown, warnings)
