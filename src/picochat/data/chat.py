"""Chat JSONL reader: the SFT rows of SPEC.md §4, checked row by row.

Two row forms, mixed freely in one file:

    {"user": "...", "assistant": "..."}                     (optional "system")
    {"messages": [{"role": "system|user|assistant|tool", "content": "..."}, ...]}

A `messages` row may be multi-turn and may call tools: an assistant turn can carry
`tool_calls` (a list of `{"type": "function", "function": {"name", "arguments"}}` or
`{"name", "arguments"}`; its content may then be empty), and `tool` turns carry the
results. Extra message keys (`tool_calls`, `name`, `tool_call_id`) are kept as given;
the chat template (`picochat.chat_format`) decides how they render. Every row ends in
the target assistant message, the only part SFT trains on.

A bad row (invalid JSON, missing fields, unknown role, last turn not the assistant's,
empty or non-string content...) is listed in `ChatDataset.skipped` with its line and
reason; `strict=True` raises `InputError(file, line, fix)` on the first one instead.

Not here: tokenisation, truncation, the loss mask (all `chat_format` / SFT).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picochat.data.jsonl import RowProblem, RowsRead
from picochat.data.splits import grouped_split, normalize_prompt

ROLES = ("system", "user", "assistant", "tool")
_FORM_FIX = (
    'Each row is {"user": "...", "assistant": "..."} (optional "system") or '
    '{"messages": [{"role": "user", "content": "..."}, ..., {"role": "assistant", "content": "..."}]}.'
)


@dataclass(frozen=True)
class Conversation:
    """A usable row's file line and messages (chat examples and preference pairs)."""

    line: int
    messages: list[dict[str, Any]]

    @property
    def prompt(self) -> str:
        """The final user message (what the answer replies to)."""
        return last_user_content(self.messages)


@dataclass(frozen=True)
class ChatExample(Conversation):
    """One usable conversation, ending in the assistant answer, and its split group key."""

    group_key: str

    @property
    def answer(self) -> str:
        """The target: content of the final assistant message."""
        return self.messages[-1].get("content", "")


class ChatDataset(RowsRead[ChatExample]):
    """What a chat file held: usable examples, and every skipped row with its reason;
    `split` keeps rows of one `group` (default: normalised final user prompt) together."""

    @property
    def examples(self) -> list[ChatExample]:
        return self.usable


def read_chat_jsonl(path: str | Path, *, strict: bool = False) -> ChatDataset:
    """Read a chat JSONL file; bad rows are skipped with reasons (or raise when strict)."""
    return ChatDataset.read(path, _parse_chat_row, strict=strict, fix=_FORM_FIX)


def split_chat_examples(
    examples: list[ChatExample], *, val_fraction: float, seed: int
) -> tuple[list[ChatExample], list[ChatExample]]:
    """(train, validation); rows with the same normalised prompt stay on one side."""
    return grouped_split(examples, lambda e: e.group_key, val_fraction=val_fraction, seed=seed)


def last_user_content(messages: list[dict[str, Any]]) -> str:
    """Content of the last user message ('' when there is none)."""
    for message in reversed(messages):
        if message["role"] == "user":
            return message["content"]
    return ""


def _parse_chat_row(obj: dict[str, Any], line: int) -> ChatExample:
    messages = row_messages(obj)
    final = messages[-1]
    if final["role"] != "assistant":
        raise RowProblem(
            f"last turn is '{final['role']}', not the target assistant message",
            fix="End every row with the assistant message to train on.",
        )
    if not final["content"].strip():
        raise RowProblem(
            "the final assistant message is empty (a tool call alone is no text answer to train on)",
            fix="Follow the call with its tool turn and end the row with the assistant's text answer.",
        )
    if not any(m["role"] == "user" for m in messages):
        raise RowProblem("no user message before the answer")
    return ChatExample(line, messages, split_group(obj, messages))


def split_group(obj: dict[str, Any], messages: list[dict[str, Any]]) -> str:
    """A row's `group_key`: its `group` (a string or integer) when given, else its
    normalised final user prompt. Rows of one group stay on one side of the
    train/validation split, chat rows and preference pairs alike."""
    group = obj.get("group")
    if group is None:
        return normalize_prompt(last_user_content(messages))
    if not isinstance(group, (str, int)):
        raise RowProblem(f"'group' must be a string or integer, got {type(group).__name__}")
    return f"group:{group}"


def row_messages(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The validated message list of a row in either form (RowProblem when malformed).

    Does not check that the row ends with the assistant's answer (`read_chat_jsonl` does),
    so other readers of chat rows (the dataset stage renders them as documents) can use it.
    """
    has_messages = "messages" in obj
    has_pair = "user" in obj or "assistant" in obj
    if has_messages and has_pair:
        raise RowProblem("row has both 'messages' and 'user'/'assistant'; use one form")
    if has_messages:
        return validate_messages(obj["messages"])
    messages = []
    for role in ("system", "user", "assistant"):
        if role not in obj:
            if role == "system":
                continue
            raise RowProblem(f"missing field '{role}'", fix=_FORM_FIX)
        messages.append({"role": role, "content": check_text(obj[role], f"'{role}'")})
    return messages


def validate_messages(value: Any) -> list[dict[str, Any]]:
    """Check a `messages` list; returns shallow copies of its message dicts."""
    if not isinstance(value, list) or not value:
        raise RowProblem(
            "'messages' must be a non-empty list of {role, content} objects", fix=_FORM_FIX
        )
    return [_checked_message(message, index) for index, message in enumerate(value)]


def _checked_message(message: Any, index: int) -> dict[str, Any]:
    """A shallow copy of `messages[index]` (null content beside tool calls becomes ""), or
    RowProblem saying what is wrong with it."""
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        raise RowProblem(f"{where} is not an object")
    role = message.get("role")
    if role not in ROLES:
        raise RowProblem(f"{where} has role {role!r}; expected one of {', '.join(ROLES)}")
    if role == "system" and index != 0:
        raise RowProblem(f"{where} is a system message; only the first message may be one")
    message = dict(message)
    tool_calls = message.get("tool_calls")
    if tool_calls is not None:
        if role != "assistant":
            raise RowProblem(f"{where}: only assistant messages may carry 'tool_calls'")
        _check_tool_calls(tool_calls, where)
        if message.get("content") is None:  # OpenAI style: content null beside tool calls
            message["content"] = ""
    if "content" not in message:
        raise RowProblem(f"{where} has no 'content'")
    if tool_calls is None:
        message["content"] = check_text(message["content"], f"{where}.content")
    elif not isinstance(message["content"], str):
        raise RowProblem(
            f"{where}.content must be a string, got {type(message['content']).__name__}"
        )
    return message


def check_text(value: Any, where: str) -> str:
    """`value` if it is a non-blank string, else RowProblem naming `where`."""
    if not isinstance(value, str):
        raise RowProblem(f"{where} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise RowProblem(f"{where} is empty")
    return value


def _check_tool_calls(tool_calls: Any, where: str) -> None:
    if not isinstance(tool_calls, list) or not tool_calls:
        raise RowProblem(f"{where}.tool_calls must be a non-empty list")
    for call in tool_calls:
        function = call.get("function", call) if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise RowProblem(
                f"{where}.tool_calls: each call needs a name",
                fix='Write calls as {"type": "function", "function": {"name": "...", "arguments": {...}}}.',
            )
