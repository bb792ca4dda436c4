"""THE chat template: a conversation -> token ids (+ the loss mask for SFT).

Every stage that shows a conversation to a model (SFT, DPO, eval, chat, serving,
export) renders it here, so training and inference see the same format:

    <|bos|> <|system|>You are terse.<|end|> <|user|>Hi<|end|> <|assistant|>Hello.<|end|>

(no spaces between the pieces in reality). Each turn is its role token, the content
encoded as ordinary text (`allow_special=False`, so a message that spells `<|user|>`
stays plain text and cannot forge a role switch), then `<|end|>`. A prompt for
generation ends with `<|assistant|>`; the model writes the reply and its `<|end|>`.

Assistant tool calls (OpenAI style: `{"function": {"name", "arguments"}}` or
`{"name", "arguments"}`) are written as text after the assistant's content, one per
line: `<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>`.
`arguments` given as a JSON string is written as is; a dict is written with
`json.dumps(..., ensure_ascii=False)` (what transformers' `tojson` filter writes).
A tool message's content is the tool's result, under `<|tool|>`.

`JINJA_TEMPLATE` is the same template in Hugging Face chat_template form, for exports.
Not for reading chat files (`picochat.data.chat`) or for sampling (`picochat.generation`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from picochat.errors import InputError
from picochat.tokenizer.special import BOS, END_OF_TURN, ROLE_TOKENS

ROLES = tuple(ROLE_TOKENS)  # system, user, assistant, tool

Message = Mapping[str, Any]

# Same output as `render_text` (tests check it with jinja2 and with transformers). Role
# tokens are '<|' + role + '|>', as in picochat.tokenizer.special.
JINJA_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- for message in messages -%}"
    "{{- '<|' + message['role'] + '|>' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}{%- endif -%}"
    "{%- if message['role'] == 'assistant' and message['tool_calls'] is defined"
    " and message['tool_calls'] -%}"
    "{%- for tool_call in message['tool_calls'] -%}"
    "{%- if tool_call['function'] is defined -%}{%- set call = tool_call['function'] -%}"
    "{%- else -%}{%- set call = tool_call -%}{%- endif -%}"
    "{%- if message['content'] or not loop.first -%}{{- '\\n' -}}{%- endif -%}"
    "{{- '<tool_call>{\"name\": ' + (call['name'] | tojson) + ', \"arguments\": ' -}}"
    "{%- if call['arguments'] is string -%}{{- call['arguments'] -}}"
    "{%- else -%}{{- call['arguments'] | tojson -}}{%- endif -%}"
    "{{- '}</tool_call>' -}}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|end|>' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|assistant|>' -}}{%- endif -%}"
)


def validate_messages(messages: Sequence[Message]) -> None:
    """InputError naming the first message that cannot be rendered, and why."""
    if not messages:
        raise InputError("the conversation has no messages.")
    for index, message in enumerate(messages):
        where = f"message {index + 1}"
        if not isinstance(message, Mapping):
            raise InputError(f"{where} is not an object with 'role' and 'content'.")
        role = message.get("role")
        if role not in ROLE_TOKENS:
            raise InputError(f"{where} has role {role!r}.", fix=f"Use one of: {', '.join(ROLES)}.")
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise InputError(f"{where}: content must be text, got {type(content).__name__}.")
        calls = message.get("tool_calls")
        if calls and role != "assistant":
            raise InputError(f"{where}: only assistant messages can have tool_calls.")
        for call in calls or []:
            function = call.get("function", call) if isinstance(call, Mapping) else None
            if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
                raise InputError(
                    f"{where}: a tool call needs a name "
                    '({"function": {"name": ..., "arguments": ...}} or {"name": ..., "arguments": ...}).'
                )


def _tool_call_text(call: Mapping[str, Any]) -> str:
    function = call.get("function", call)
    arguments = function.get("arguments", {})
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    name = json.dumps(function["name"], ensure_ascii=False)
    return f'<tool_call>{{"name": {name}, "arguments": {arguments}}}</tool_call>'


def message_text(message: Message) -> str:
    """The text between a turn's role token and its `<|end|>`."""
    text = message.get("content") or ""
    for call in message.get("tool_calls") or []:
        text += ("\n" if text else "") + _tool_call_text(call)
    return text


def render_text(messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
    """The conversation as one string (what JINJA_TEMPLATE renders); for display/export."""
    validate_messages(messages)
    parts = [BOS]
    for message in messages:
        parts += [ROLE_TOKENS[message["role"]], message_text(message), END_OF_TURN]
    if add_generation_prompt:
        parts.append(ROLE_TOKENS["assistant"])
    return "".join(parts)


def _special_id(tokenizer: Any, token: str) -> int:
    token_id = tokenizer.token_to_id(token)
    if token_id is None:
        raise InputError(
            f"the tokenizer has no {token} token, so it cannot render chats.",
            fix="Use a tokenizer trained by `picochat tok train`.",
        )
    return token_id


def _render(tokenizer: Any, messages: Sequence[Message]) -> tuple[list[int], list[int]]:
    """Ids of all turns and, per id, 1 if it belongs to the last turn's content or end."""
    validate_messages(messages)
    end_id = _special_id(tokenizer, END_OF_TURN)
    ids = [_special_id(tokenizer, BOS)]
    mask = [0]
    last = len(messages) - 1
    for index, message in enumerate(messages):
        body = [*tokenizer.encode(message_text(message), allow_special=False), end_id]
        ids += [_special_id(tokenizer, ROLE_TOKENS[message["role"]]), *body]
        mask += [0] + [1 if index == last else 0] * len(body)
    return ids, mask


def render_training(tokenizer: Any, messages: Sequence[Message]) -> tuple[list[int], list[int]]:
    """Ids of a conversation ending with the target assistant message, and its loss mask.

    `mask[i]` is 1 when `ids[i]` is a training target: exactly the final assistant
    message's tokens and its `<|end|>`. Everything before (earlier turns, the final
    `<|assistant|>` role token) is context with mask 0. Shift the mask like the targets.
    """
    if messages and isinstance(messages[-1], Mapping) and messages[-1].get("role") != "assistant":
        raise InputError(
            f"the last message must be the assistant's answer to train on, "
            f"got role {messages[-1].get('role')!r}."
        )
    return _render(tokenizer, messages)


def render_prompt(tokenizer: Any, messages: Sequence[Message]) -> list[int]:
    """Ids of the conversation so far plus `<|assistant|>`: ready for the model to reply."""
    ids, _ = _render(tokenizer, messages)
    return ids + [_special_id(tokenizer, ROLE_TOKENS["assistant"])]


def fit_to_context(
    ids: Sequence[int], mask: Sequence[int], max_len: int
) -> tuple[list[int], list[int]] | None:
    """Shorten a rendered example to `max_len` tokens by cutting context from the left.

    Keeps the leading `<|bos|>` and the end of the sequence, so the final answer (the
    masked tokens) and the role token right before it stay whole; the first turn kept
    may start mid-message. Returns None when even `<|bos|>` + `<|assistant|>` + the
    answer + `<|end|>` do not fit (callers skip and count such rows).
    """
    ids, mask = list(ids), list(mask)
    if len(ids) != len(mask):
        raise ValueError("ids and mask differ in length")
    if len(ids) <= max_len:
        return ids, mask
    if 1 not in mask:
        raise ValueError("the mask marks no answer tokens")
    answer_start = mask.index(1) - 1  # the role token before the answer belongs with it
    keep = max_len - 1  # room after <|bos|>
    if len(ids) - answer_start > keep:
        return None
    return [ids[0], *ids[-keep:]], [mask[0], *mask[-keep:]]
