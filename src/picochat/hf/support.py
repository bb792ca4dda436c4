"""Lazy imports of the optional Hugging Face libraries (the `hf` extra).

The native pipeline never imports `datasets`, `transformers` or `peft`; the Hugging
Face paths (hf-import, hf-sft, export hf, --hf-model) call `require()` inside their
functions so that a missing extra gives one clear message instead of an ImportError.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from picochat.errors import PicochatError

INSTALL_HINT = "pip install 'picochat[hf]'"


def require(module: str, *, purpose: str = "the Hugging Face paths") -> ModuleType:
    """Import `module` or raise a PicochatError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise PicochatError(
            f"{purpose} need the Python package `{module.split('.')[0]}`, which is not "
            f"installed ({error}).",
            fix=f"Install the Hugging Face extra: {INSTALL_HINT}",
        ) from error
