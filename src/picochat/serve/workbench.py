"""`picochat web`: the browser workbench over a folder of runs, with a chat playground.

One process serves the pages (static/: plain HTML, a little vanilla JS, SVG plots; no
build step, nothing fetched from the internet), a small JSON API over the runs
folder (`runs.py`), and the OpenAI-compatible API of `api.py` with one model per
finished run: the playground chats with a run's final model through
`/v1/chat/completions` (streamed), exactly as any OpenAI client would. A run's model
is loaded on first use; at most `MAX_LOADED` stay loaded (least recently used first out).

Routes: `/` (the page), `/api/runs`, `/api/runs/{name}` (the run's story; the page
polls it while the run is still training), `/api/runs/{name}/tokenize` (how text maps
to tokens), `/api/runs/{name}/prompt` (the exact prompt a conversation renders to),
`/api/compare?a=&b=` (`picochat.reports.compare`, settings that differ first).

Not here: reading artifacts (`runs.py`), the OpenAI routes (`api.py`).
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from pathlib import Path
from typing import Any

from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request as HTTPRequest

from picochat import layout
from picochat.errors import PicochatError
from picochat.serve.api import create_app
from picochat.serve.engine import Engine
from picochat.serve.runs import list_runs, run_folder, run_story
from picochat.serve.schema import ApiError

STATIC = Path(__file__).parent / "static"
MAX_LOADED = 2  # run models kept in memory at once


class RunModels:
    """The final model of every finished run in a folder, loaded on demand."""

    def __init__(self, runs_dir: Path, *, max_batch: int, max_queue: int, device: Any) -> None:
        self.runs_dir = Path(runs_dir)
        self.options = {"max_batch": max_batch, "max_queue": max_queue}
        self.device = device
        self.loaded_engines: collections.OrderedDict[str, Engine] = collections.OrderedDict()
        self.tokenizers: dict[str, Any] = {}
        self.lock = threading.Lock()

    def names(self) -> list[str]:
        return [run["name"] for run in list_runs(self.runs_dir) if run["final_model"]]

    def engine(self, name: str) -> Engine:
        from picochat.runtime import resolve_device
        from picochat.serve.models import run_model

        with self.lock:
            if name in self.loaded_engines:
                self.loaded_engines.move_to_end(name)
                return self.loaded_engines[name]
            if name not in self.names():
                raise KeyError(name)
            served = run_model(self.runs_dir / name, name=name, device=resolve_device(self.device))
            engine = Engine(served, **self.options).start()
            self.loaded_engines[name] = engine
            while len(self.loaded_engines) > MAX_LOADED:
                self.loaded_engines.popitem(last=False)[1].close()
            return engine

    def loaded(self) -> dict[str, Engine]:
        with self.lock:
            return dict(self.loaded_engines_engines)

    def tokenizer(self, name: str) -> Any:
        from picochat.tokenizer import load_tokenizer

        if name not in self.tokenizers:
            path = run_folder(self.runs_dir, name) / layout.TOKENIZER
            if not path.is_file():
                raise ApiError(404, f"run {name!r} has no tokenizer.json yet.", code="not_found")
            self.tokenizers[name] = load_tokenizer(str(path))
        return self.tokenizers[name]

    def close(self) -> None:
        with self.lock:
            for engine in self.loaded_engines.values():
                engine.close()
            self.loaded_engines.clear()


def _not_found(error: PicochatError) -> ApiError:
    return ApiError(404, error.message, code="not_found")


def _token_pieces(tokenizer: Any, ids: list[int]) -> list[dict[str, Any]]:
    return [{"id": i, "text": tokenizer.token_bytes(i).decode("utf-8", "replace")} for i in ids]


def add_routes(app: Any, models: RunModels) -> None:
    """The workbench's pages and JSON routes on `app`."""
    runs_dir = models.runs_dir
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/")
    async def index():
        return FileResponse(STATIC / "index.html")

    @app.get("/api/runs")
    async def runs():
        return {"runs_dir": str(runs_dir), "runs": list_runs(runs_dir)}

    @app.get("/api/runs/{name}")
    async def story(name: str):
        try:
            return run_story(runs_dir, name)
        except PicochatError as error:
            raise _not_found(error) from None

    @app.post("/api/runs/{name}/tokenize")
    async def tokenize(name: str, request: HTTPRequest):
        text = (await _json(request)).get("text")
        if not isinstance(text, str):
            raise ApiError(400, "send {'text': '...'}", param="text")
        tokenizer = _tokenizer(models, name)
        ids = tokenizer.encode(text)
        return {"tokens": _token_pieces(tokenizer, ids), "characters": len(text)}

    @app.post("/api/runs/{name}/prompt")
    async def prompt(name: str, request: HTTPRequest):
        from picochat.chat_format import render_prompt

        messages = (await _json(request)).get("messages")
        tokenizer = _tokenizer(models, name)
        try:
            ids = render_prompt(tokenizer, messages or [])
        except PicochatError as error:
            raise ApiError(400, error.message, param="messages") from None
        return {"text": tokenizer.decode(ids), "tokens": len(ids)}

    @app.get("/api/compare")
    async def compare(a: str, b: str):
        from picochat.reports.compare import compare_blocks

        try:
            folders = [run_folder(runs_dir, a), run_folder(runs_dir, b)]
            blocks = compare_blocks(folders)
        except PicochatError as error:
            raise _not_found(error) from None
        return {
            "runs": [a, b],
            "blocks": [{"kind": type(x).__name__, **dataclasses.asdict(x)} for x in blocks],
        }


def _tokenizer(models: RunModels, name: str) -> Any:
    try:
        return models.tokenizer(name)
    except PicochatError as error:
        raise _not_found(error) from None


async def _json(request: HTTPRequest) -> dict[str, Any]:
    import json

    try:
        body = json.loads(await request.body())
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


def workbench_app(runs_dir: Path, *, max_batch: int = 8, max_queue: int = 16, device: Any = "cpu"):
    """The FastAPI app of `picochat web`: pages, run API, and /v1 over the runs' models."""
    models = RunModels(Path(runs_dir), max_batch=max_batch, max_queue=max_queue, device=device)
    return create_app(models, workbench=lambda app: add_routes(app, models))
