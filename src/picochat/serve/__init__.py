"""Serving: an OpenAI-compatible server with continuous batching, and the browser workbench.

    models.py     what is served: checkpoint / run / HF folder -> a native model + text<->ids
    slots.py      a KV cache with a length per row (requests join and leave between steps)
    engine.py     the batched decode loop on its own thread
    text.py       incremental decoding and stop strings
    schema.py     OpenAI request bodies and error shape
    streaming.py  engine events -> JSON bodies / server-sent events
    api.py        the FastAPI routes (/v1/models, /v1/chat/completions, /v1/completions)
    runs.py       reading a runs folder's artifacts for the workbench
    workbench.py  the workbench routes and static pages (static/)

The web stack (fastapi, uvicorn) is the `serve` extra, imported only when serving.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from picochat.errors import ConfigError


def require(module: str) -> ModuleType:
    """Import `module` of the `serve` extra, or a ConfigError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"Serving needs the `{module}` package, which is not installed.",
            fix="pip install 'picochat[serve]'",
        ) from None
