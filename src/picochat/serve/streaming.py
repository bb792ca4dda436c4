"""From engine events to OpenAI responses: whole JSON bodies or server-sent events.

`Generation` submits one engine request per prompt and turns the engine thread's
events into an async stream (the thread hands them over with
`loop.call_soon_threadsafe`). Leaving the stream early (the client disconnected, the
handler was cancelled) cancels every request still running, which frees its slot
before the engine's next decode step.

Streaming follows OpenAI's format: `data: {chunk}` lines, a first chat chunk carrying
`delta.role`, `delta.content` pieces, a chunk with `finish_reason`, an optional usage
chunk (`stream_options.include_usage`), then `data: [DONE]`.

Not here: validation (`schema.py`), routes (`api.py`), decoding (`engine.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from picochat.configs import SamplingConfig
from picochat.serve.engine import Engine, Event, QueueFull, Request
from picochat.serve.schema import ApiError

HANG_UP_POLL = 0.2  # seconds between checks that a non-streaming client is still there


class Generation:
    """The engine requests behind one HTTP request (one per prompt)."""

    def __init__(
        self,
        engine: Engine,
        prompts_ids: list[list[int]],
        sampling: SamplingConfig,
        stops: tuple[str, ...],
        ignore_eos: bool = False,
        *,
        chat: bool = False,
    ) -> None:
        self.engine = engine
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[int, Event]] = asyncio.Queue()
        self.requests: list[Request] = []
        try:
            for index, ids in enumerate(prompts_ids):
                request = Request(ids, sampling, self._sink(index), stops, ignore_eos, chat)
                engine.submit(request)
                self.requests.append(request)
        except QueueFull as full:
            self.cancel()
            raise ApiError(
                429,
                f"The server is busy ({full}); retry shortly.",
                type="rate_limit_error",
                code="queue_full",
                headers={"Retry-After": "1"},
            ) from None

    def _sink(self, index: int):
        def sink(event: Event) -> None:
            # RuntimeError: the event loop is gone (shutdown), so nobody is listening.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.queue.put_nowait, (index, event))

        return sink

    def cancel(self) -> None:
        for request in self.requests:
            self.engine.cancel(request)

    async def events(self) -> AsyncIterator[tuple[int, Event]]:
        """(prompt index, event) until every prompt's final event; cancels on early exit."""
        open_rows = len(self.requests)
        try:
            while open_rows:
                index, event = await self.queue.get()
                if event.final:
                    open_rows -= 1
                yield index, event
        finally:
            self.cancel()


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def sse(payload: Any) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _error_payload(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "server_error", "param": None, "code": None}}


async def _collect(generation: Generation) -> tuple[list[str], list[str], dict[str, int]]:
    count = len(generation.requests)
    texts, reasons = [""] * count, ["stop"] * count
    prompt_tokens = completion_tokens = 0
    async for index, event in generation.events():
        if event.error:
            raise ApiError(500, event.error, type="server_error")
        texts[index] += event.text
        if event.finish_reason:
            reasons[index] = event.finish_reason
            prompt_tokens += event.prompt_tokens
            completion_tokens += event.completion_tokens
    return texts, reasons, usage(prompt_tokens, completion_tokens)


async def collect(
    generation: Generation, http_request: Any
) -> tuple[list[str], list[str], dict[str, int]]:
    """Whole replies: (texts, finish reasons, usage summed over prompts). A client that
    hangs up while waiting cancels its rows too (checked every `HANG_UP_POLL` s)."""
    task = asyncio.ensure_future(_collect(generation))
    while True:
        done, _ = await asyncio.wait({task}, timeout=HANG_UP_POLL)
        if done:
            return task.result()
        if await http_request.is_disconnected():
            task.cancel()  # its `events()` exits and cancels the engine requests
            generation.cancel()
            raise ApiError(499, "The client closed the request.", code="client_closed")


async def chat_stream(
    generation: Generation, model: str, include_usage: bool
) -> AsyncIterator[str]:
    """`chat.completion.chunk` events for one chat reply."""
    head = {"id": new_id("chatcmpl"), "object": "chat.completion.chunk"}
    head.update(created=int(time.time()), model=model)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return sse({**head, "choices": [choice]})

    yield chunk({"role": "assistant", "content": ""})
    async for _, event in generation.events():
        if event.error:
            yield sse(_error_payload(event.error))
            return
        if event.text:
            yield chunk({"content": event.text})
        if event.finish_reason:
            yield chunk({}, event.finish_reason)
            if include_usage:
                counts = usage(event.prompt_tokens, event.completion_tokens)
                yield sse({**head, "choices": [], "usage": counts})
    yield "data: [DONE]\n\n"


async def completion_stream(
    generation: Generation, model: str, include_usage: bool
) -> AsyncIterator[str]:
    """`text_completion` events, one choice index per prompt."""
    head = {"id": new_id("cmpl"), "object": "text_completion"}
    head.update(created=int(time.time()), model=model)
    prompt_tokens = completion_tokens = 0
    async for index, event in generation.events():
        if event.error:
            yield sse(_error_payload(event.error))
            return
        if event.text or event.finish_reason:
            choice = {"index": index, "text": event.text, "logprobs": None}
            choice["finish_reason"] = event.finish_reason
            yield sse({**head, "choices": [choice]})
        if event.finish_reason:
            prompt_tokens += event.prompt_tokens
            completion_tokens += event.completion_tokens
    if include_usage:
        yield sse({**head, "choices": [], "usage": usage(prompt_tokens, completion_tokens)})
    yield "data: [DONE]\n\n"
