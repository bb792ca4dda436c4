"""`picochat serve` (OpenAI-compatible API) and `picochat web` (the browser workbench).

Thin: flags -> a served model / a runs folder -> `picochat.serve` -> uvicorn. Both bind
127.0.0.1 unless --host says otherwise, with a warning when it does.
"""

from __future__ import annotations

import argparse
import ipaddress

from picochat.cli.commands import add_command
from picochat.cli.console import console, err_console
from picochat.cli.options import config_from_args
from picochat.configs.serve import ServeConfig, WebConfig
from picochat.errors import ConfigError


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _listen(app, config) -> int:
    from picochat.serve import require

    uvicorn = require("uvicorn")
    if not _is_loopback(config.host):
        err_console.print(
            f"[yellow]warning:[/] listening on {config.host}: other machines can reach this "
            "server" + ("" if getattr(config, "api_key", None) else " and no --api-key is set"),
            soft_wrap=True,
        )
    console.print(f"listening on http://{config.host}:{config.port}", highlight=False)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning")
    return 0


def load_served(config: ServeConfig):
    """The ServedModel named by --run, --checkpoint + --tokenizer, or --hf-model."""
    from picochat.runtime import resolve_device
    from picochat.serve import models

    given = [
        name
        for name, value in (
            ("--run", config.run),
            ("--checkpoint", config.checkpoint),
            ("--hf-model", config.hf_model),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise ConfigError(
            f"Serve one model: got {', '.join(given) or 'none'}.",
            fix="Pass --run runs/x, or --checkpoint DIR --tokenizer FILE, or --hf-model DIR.",
        )
    device = resolve_device(config.device)
    if config.run is not None:
        return models.run_model(config.run, name=config.model_name, device=device)
    if config.hf_model is not None:
        return models.hf_model(config.hf_model, name=config.model_name, device=device)
    if config.tokenizer is None:
        raise ConfigError("--checkpoint needs its --tokenizer.", fix="Add --tokenizer FILE.")
    return models.native_model(
        config.checkpoint, config.tokenizer, name=config.model_name, device=device
    )


def _check_limits(config) -> None:
    if config.max_batch < 1 or config.max_queue < 0:
        raise ConfigError(
            f"--max-batch must be >= 1 and --max-queue >= 0, got {config.max_batch} and "
            f"{config.max_queue}.",
            fix="e.g. --max-batch 16 --max-queue 64",
        )


def _serve(args: argparse.Namespace) -> int:
    from picochat.serve import require

    config = config_from_args(ServeConfig, args)
    _check_limits(config)
    require("fastapi")
    from picochat.serve.api import SingleModel, create_app
    from picochat.serve.engine import Engine

    served = load_served(config)
    engine = Engine(served, max_batch=config.max_batch, max_queue=config.max_queue).start()
    console.print(f"serving model '{served.name}' ({served.source})", highlight=False)
    return _listen(create_app(SingleModel(engine), api_key=config.api_key), config)


def _web(args: argparse.Namespace) -> int:
    from picochat.serve import require

    config = config_from_args(WebConfig, args)
    _check_limits(config)
    require("fastapi")
    from picochat.serve.workbench import workbench_app

    app = workbench_app(
        config.runs_dir,
        max_batch=config.max_batch,
        max_queue=config.max_queue,
        device=config.device,
    )
    console.print(f"workbench over {config.runs_dir}", highlight=False)
    return _listen(app, config)


def register(commands: argparse._SubParsersAction) -> None:
    add_command(
        commands,
        "serve",
        config=ServeConfig,
        skip=("compile",),
        handler=_serve,
        help="OpenAI-compatible server (/v1/chat/completions, /v1/completions, /v1/models) "
        "with batched decoding.",
    )
    add_command(
        commands,
        "web",
        config=WebConfig,
        handler=_web,
        help="Browser workbench: runs, their story, comparisons and a chat playground.",
    )
