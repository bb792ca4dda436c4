"""The OpenAI-compatible HTTP API (FastAPI): /v1/models, /v1/chat/completions, /v1/completions.

`create_app(models, api_key=...)` builds the app over a `ModelSet` (one served model
for `picochat serve`; the runs of a folder for `picochat web`). Requests are read as
raw bytes and validated here, not by FastAPI's own 422 handler, so every error has
OpenAI's shape and status: malformed JSON 400, missing/wrong-typed fields 400, an
unknown model 404, a prompt longer than the context 400 (saying by how many tokens),
`max_tokens` out of range 400, a missing/wrong API key 401, a full queue 429, an
unknown route 404. Anything unexpected is a 500 for that request only.

Limits that depend on the model: a prompt needs at least one free position after it
(`prompt_tokens <= context - 1`); `max_tokens` is 1..context (the engine's context: the
model's, or less where the KV cache budget caps it, see `engine.CACHE_BYTES`). A reply also stops when
the context is full (finish_reason "length"), as `picochat chat` does.

Not here: decoding (`engine.py`), SSE framing (`streaming.py`), the workbench.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import Sequence
from typing import Any, Protocol

import fastapi
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException
from starlette.requests import Request as HTTPRequest

from picochat.errors import PicochatError
from picochat.generation import sampling_config
from picochat.serve.engine import Engine
from picochat.serve.schema import ApiError, ChatRequest, CompletionRequest, parse
from picochat.serve.streaming import (
    Generation,
    chat_stream,
    collect,
    completion_stream,
    new_id,
)

log = logging.getLogger("picochat.serve")


class ModelSet(Protocol):
    """The models an app serves, by name."""

    def names(self) -> list[str]: ...

    def engine(self, name: str) -> Engine: ...  # raises KeyError for an unknown name

    def loaded(self) -> dict[str, Engine]: ...  # the engines running now

    def close(self) -> None: ...


class SingleModel:
    """One engine under one name (`picochat serve`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def names(self) -> list[str]:
        return [self._engine.served.name]

    def engine(self, name: str) -> Engine:
        if name != self._engine.served.name:
            raise KeyError(name)
        return self._engine

    def loaded(self) -> dict[str, Engine]:
        return {self._engine.served.name: self._engine}

    def close(self) -> None:
        self._engine.close()


def _engine(models: ModelSet, name: str) -> Engine:
    try:
        return models.engine(name)
    except KeyError:
        raise ApiError(
            404,
            f"The model '{name}' does not exist. Available: {', '.join(models.names()) or 'none'}.",
            param="model",
            code="model_not_found",
        ) from None


def check_lengths(prompts_ids: Sequence[list[int]], max_tokens: int | None, context: int) -> int:
    """The max_tokens to use (None -> the context's room); ApiError when out of range."""
    for ids in prompts_ids:
        over = len(ids) - (context - 1)
        if over > 0:
            raise ApiError(
                400,
                f"The prompt is {len(ids)} tokens; the context served is {context} tokens "
                f"and a reply needs at least one, so the prompt is {over} token(s) too long.",
                param="messages",
                code="context_length_exceeded",
            )
    if max_tokens is None:
        return context - min(len(ids) for ids in prompts_ids)
    if not 1 <= max_tokens <= context:
        raise ApiError(
            400,
            f"max_tokens must be between 1 and the context served ({context}), got {max_tokens}.",
            param="max_tokens",
            code="invalid_value",
        )
    return max_tokens


def _sampling(body: Any, max_tokens: int):
    try:
        return sampling_config(
            max_new_tokens=max_tokens,
            temperature=body.temperature,
            top_k=body.top_k,
            top_p=body.top_p,
            repetition_penalty=body.repetition_penalty,
            seed=body.seed,
        )
    except PicochatError as error:
        raise ApiError(400, error.message, code="invalid_value") from None


def create_app(models: ModelSet, *, api_key: str | None = None, workbench: Any = None) -> Any:
    """The FastAPI app; `workbench` (a callable taking the app) adds the browser UI."""

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        models.close()

    app = fastapi.FastAPI(
        title="Picochat", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.models = models
    _add_error_handlers(app)
    _add_model_routes(app, models)
    _add_completion_routes(app, models)
    if workbench is not None:
        workbench(app)
    if api_key is not None:
        app.add_middleware(KeyCheck, api_key=api_key)
    return app


def _error_response(error: ApiError) -> Any:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def _add_error_handlers(app: Any) -> None:
    """Every error leaves in OpenAI's shape: ours, Starlette's (404, 405) and the rest (500)."""

    @app.exception_handler(Exception)
    async def server_error(_request, error: Exception):  # that request only; logged by uvicorn
        return _error_response(ApiError(500, "Internal server error.", type="server_error"))

    @app.exception_handler(ApiError)
    async def api_error(_request, error: ApiError):
        return _error_response(error)

    @app.exception_handler(HTTPException)
    async def http_error(_request, error: HTTPException):
        code = "not_found" if error.status_code == 404 else None
        return _error_response(ApiError(error.status_code, str(error.detail), code=code))


async def _read_json(request: HTTPRequest) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ApiError(
            400, f"The request body is not valid JSON: {error}.", code="invalid_json"
        ) from None


def _add_model_routes(app: Any, models: ModelSet) -> None:
    """/health and /v1/models (the list and one model)."""

    @app.get("/health")
    async def health():
        engines = {
            name: {**engine.load(), **engine.stats} for name, engine in models.loaded().items()
        }
        return {"status": "ok", "models": models.names(), "engines": engines}

    @app.get("/v1/models")
    async def list_models():
        return {"object": "list", "data": [_model_card(name) for name in models.names()]}

    @app.get("/v1/models/{name:path}")
    async def get_model(name: str):
        _engine(models, name)
        return _model_card(name)


def _add_completion_routes(app: Any, models: ModelSet) -> None:
    """/v1/chat/completions and /v1/completions, streamed (SSE) or whole."""

    @app.post("/v1/chat/completions")
    async def chat_completions(request: HTTPRequest):
        body = parse(ChatRequest, await _read_json(request))
        engine = await asyncio.to_thread(_engine, models, body.model)  # may load a model
        messages = [m.for_template() for m in body.messages]
        try:
            ids = engine.served.chat_ids(messages)
        except PicochatError as error:
            raise ApiError(400, error.message, param="messages") from None
        max_tokens = check_lengths([ids], body.requested_tokens(), engine.context_size)
        sampling = _sampling(body, max_tokens)
        generation = Generation(engine, [ids], sampling, body.stops(), body.ignore_eos, chat=True)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        if body.stream:
            stream = chat_stream(generation, body.model, include_usage)
            return StreamingResponse(stream, media_type="text/event-stream")
        texts, reasons, counts = await collect(generation, request)
        message = {"role": "assistant", "content": texts[0]}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": reasons[0]}
        return {
            "id": new_id("chatcmpl"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.model,
            "choices": [choice],
            "usage": counts,
        }

    @app.post("/v1/completions")
    async def completions(request: HTTPRequest):
        body = parse(CompletionRequest, await _read_json(request))
        engine = await asyncio.to_thread(_engine, models, body.model)  # may load a model
        prompts_ids = [engine.served.text_ids(p) for p in body.prompts()]
        max_tokens = check_lengths(prompts_ids, body.max_tokens, engine.context_size)
        sampling = _sampling(body, max_tokens)
        generation = Generation(engine, prompts_ids, sampling, body.stops(), body.ignore_eos)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        if body.stream:
            stream = completion_stream(generation, body.model, include_usage)
            return StreamingResponse(stream, media_type="text/event-stream")
        texts, reasons, counts = await collect(generation, request)
        choices = [
            {"index": i, "text": text, "logprobs": None, "finish_reason": reason}
            for i, (text, reason) in enumerate(zip(texts, reasons, strict=True))
        ]
        return {
            "id": new_id("cmpl"),
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.model,
            "choices": choices,
            "usage": counts,
        }


class KeyCheck:
    """ASGI middleware: every HTTP route needs 'Authorization: Bearer <api_key>'.

    Plain ASGI, not `BaseHTTPMiddleware`, so streamed responses and client disconnects
    pass through untouched."""

    def __init__(self, app: Any, api_key: str) -> None:
        self.app, self.expected = app, f"Bearer {api_key}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                error = ApiError(
                    401,
                    "Incorrect or missing API key: send 'Authorization: Bearer <key>'.",
                    code="invalid_api_key",
                )
                response = JSONResponse(error.body(), status_code=401)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _model_card(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "picochat"}
