"""Settings of `picochat serve` (the OpenAI-compatible server) and `picochat web` (the workbench)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from picochat.configs.fields import option, path_option
from picochat.configs.inference import ModelSourceConfig


@dataclass
class ListenConfig:
    """Where the server listens and how much it takes on at once."""

    host: str = option(
        "127.0.0.1",
        "Address to bind. Anything but loopback exposes the server (a warning says so).",
    )
    port: int = option(8000, "TCP port.")
    max_batch: int = option(16, "Requests decoded together (one batched forward per step).")
    max_queue: int = option(64, "Requests that may wait for a free row; beyond that: HTTP 429.")


@dataclass
class ServeConfig(ListenConfig, ModelSourceConfig):
    """`serve`: an OpenAI-compatible server for one model."""

    run: Path | None = path_option(
        "A run folder: serve its final model (the one its gates scored)."
    )
    model_name: str | None = option(
        None, "The model id clients send (default: the run or checkpoint folder's name)."
    )
    api_key: str | None = option(
        None, "Require 'Authorization: Bearer KEY' on every route (default: no key)."
    )


@dataclass
class WebConfig(ListenConfig):
    """`web`: the browser workbench over a folder of runs, with a chat playground."""

    runs_dir: Path | None = option(Path("runs"), "The folder holding run folders.", path=True)
    device: str = option(
        "auto", "Where the playground's models run.", choices=("auto", "cpu", "cuda", "mps")
    )
