"""Preference JSONL reader: the chosen/rejected pairs DPO trains on (SPEC.md §5).

Each row gives a prompt and two answers to it:

    {"user": "...", "chosen": "...", "rejected": "..."}      (or "prompt" for "user";
                                                              optional "system")
    {"messages": [...context ending in a user or tool turn...], "chosen": "...", "rejected": "..."}

Optional: `category` (a label for reports) and `group` (rows sharing a group stay on
one side of the train/validation split; default group: the normalised final user
prompt). `chosen`/`rejected` may also be written the TRL conversational way, as one
assistant message (`{"role": "assistant", "content": "..."}` or a one-item list of it).
Other keys (`synthetic`, `strategy`, `id`...) are kept in `PreferencePair.extra`.

Bad rows are listed by line with a reason (`strict=True` raises on the first).

Not here: log-probabilities or the DPO loss (`picochat.training`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picochat.data.chat import Conversation, check_text, split_group, validate_messages
from picochat.data.jsonl import RowProblem, RowsRead

_KNOWN = {"user", "prompt", "system", "messages", "chosen", "rejected", "category", "group"}
_FORM_FIX = (
    'Each row is {"user": "...", "chosen": "...", "rejected": "..."} ("prompt" works for '
    '"user"; or a "messages" context ending in a user turn instead of "user").'
)


@dataclass(frozen=True)
class PreferencePair(Conversation):
    """One usable pair: context messages (ending in a user/tool turn) and two answers."""

    chosen: str
    rejected: str
    category: str | None
    group_key: str
    extra: dict[str, Any] = field(default_factory=dict)


class PreferenceDataset(RowsRead[PreferencePair]):
    """What a preference file held: usable pairs and every skipped row with its reason;
    `split` keeps rows of one `group` (default: normalised final user prompt) together."""

    @property
    def pairs(self) -> list[PreferencePair]:
        return self.usable


def read_preferences_jsonl(path: str | Path, *, strict: bool = False) -> PreferenceDataset:
    """Read a preference JSONL file; bad rows are skipped with reasons (or raise when strict)."""
    return PreferenceDataset.read(path, _parse_pair, strict=strict, fix=_FORM_FIX)


def _parse_pair(obj: dict[str, Any], line: int) -> PreferencePair:
    messages = _context(obj)
    if not any(m["role"] == "user" for m in messages):
        raise RowProblem("no user message in the prompt context")
    if messages[-1]["role"] not in ("user", "tool"):
        raise RowProblem(
            f"the context ends with a '{messages[-1]['role']}' turn; it must end where the "
            "assistant answers (a user or tool turn)"
        )
    chosen = _answer(obj, "chosen")
    rejected = _answer(obj, "rejected")
    if chosen.strip() == rejected.strip():
        raise RowProblem("'chosen' and 'rejected' are identical: the pair teaches nothing")
    category = _optional_str(obj, "category")
    group_key = split_group(obj, messages)
    extra = {k: v for k, v in obj.items() if k not in _KNOWN}
    return PreferencePair(line, messages, chosen, rejected, category, group_key, extra)


def _context(obj: dict[str, Any]) -> list[dict[str, Any]]:
    if "messages" in obj:
        if "user" in obj or "prompt" in obj:
            raise RowProblem("row has both 'messages' and 'user'/'prompt'; use one")
        return validate_messages(obj["messages"])
    if "user" in obj and "prompt" in obj:
        raise RowProblem("row has both 'user' and 'prompt'; use one")
    if "prompt" not in obj and "user" not in obj:
        raise RowProblem(
            "missing the prompt: give 'user' (or 'prompt', or a 'messages' context)", fix=_FORM_FIX
        )
    key = "user" if "user" in obj else "prompt"
    messages = []
    if "system" in obj:
        messages.append({"role": "system", "content": check_text(obj["system"], "'system'")})
    messages.append({"role": "user", "content": check_text(obj[key], f"'{key}'")})
    return messages


def _answer(obj: dict[str, Any], name: str) -> str:
    if name not in obj:
        raise RowProblem(f"missing field '{name}'", fix=_FORM_FIX)
    value = obj[name]
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict):
        if value.get("role") != "assistant":
            raise RowProblem(f"'{name}' as a message must have role 'assistant'")
        value = value.get("content")
    return check_text(value, f"'{name}'")


def _optional_str(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is not None and not isinstance(value, str):
        raise RowProblem(f"'{name}' must be a string, got {type(value).__name__}")
    return value
