"""Fixtures for the server tests: a real tiny model saved to disk, and a live server on
loopback (a free port, uvicorn in a thread, stopped when the tests are done)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the `serve` extra (fastapi, uvicorn) is not installed")
pytest.importorskip("uvicorn", reason="the `serve` extra (fastapi, uvicorn) is not installed")

TEXT = (
    "Picochat trains small language models. A tokenizer maps text to ids. "
    "Base pretraining predicts the next token; SFT teaches the chat format; "
    "DPO prefers chosen answers over rejected ones. Eval scores replies with rules.\n"
)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> dict[str, Path]:
    """A random 2-layer model (init std 0.3: varied greedy replies) and its char tokenizer.

    Its head never favours <|bos|> or a role token, which end a chat reply at once."""
    import torch

    from picochat.configs import TokenizerTrainConfig
    from picochat.model.checkpoint import save_checkpoint
    from picochat.tokenizer import load_tokenizer, train_tokenizer
    from picochat.tokenizer.special import BOS, ROLE_TOKENS
    from tiny_models import tiny_model

    folder = tmp_path_factory.mktemp("served")
    (folder / "corpus.txt").write_text(TEXT * 3, encoding="utf-8")
    tokenizer_path = folder / "tokenizer.json"
    train_tokenizer(TokenizerTrainConfig(input=folder / "corpus.txt", out=tokenizer_path))
    tokenizer = load_tokenizer(str(tokenizer_path))
    model = tiny_model(
        tokenizer.vocab_size, n_head=2, n_kv_head=1, context_size=160, init_std=0.3,
        tie_embeddings=False,
    )  # fmt: skip
    with torch.no_grad():  # like a trained chat model, it never opens a turn mid-reply
        for token in (BOS, *ROLE_TOKENS.values()):
            model.lm_head.weight[tokenizer.token_to_id(token)] = 0.0
    checkpoint = save_checkpoint(
        folder / "sft" / "checkpoint",
        model,
        tokenizer_sha256=tokenizer.sha256,
        kind="sft",
    )
    return {"checkpoint": checkpoint, "tokenizer": tokenizer_path}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def live_server(app):
    """Run `app` with uvicorn on a free loopback port; yields the base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def start_server():
    """`live_server` as a fixture: `with start_server(app) as url: ...`."""
    return live_server


@pytest.fixture(scope="session")
def served(tiny_model):
    from picochat.serve.models import native_model

    return native_model(tiny_model["checkpoint"], tiny_model["tokenizer"], name="tiny")


@pytest.fixture(scope="session")
def server(served):
    """A live server on the tiny model (max 4 rows, 2 waiting), shared by the tests."""
    from picochat.serve.api import SingleModel, create_app
    from picochat.serve.engine import Engine

    engine = Engine(served, max_batch=4, max_queue=2).start()
    with live_server(create_app(SingleModel(engine))) as url:
        yield {"url": url, "engine": engine, "served": served}


@pytest.fixture
def client(server):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=server["url"] + "/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory, bundled_run) -> Path:
    """A runs folder holding the session's finished `run tiny` on the bundled pack
    ("first", tests/conftest.py) and a copy whose summary records another seed
    ("second"), for the comparison."""
    import json
    import shutil

    runs = tmp_path_factory.mktemp("runs")
    shutil.copytree(bundled_run, runs / "first")
    shutil.copytree(runs / "first", runs / "second")
    summary = json.loads((runs / "second" / "summary.json").read_text())
    summary["settings"]["run"]["seed"] = 7
    (runs / "second" / "summary.json").write_text(json.dumps(summary))
    return runs
