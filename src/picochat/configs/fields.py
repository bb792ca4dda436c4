"""`option()`: one dataclass field = one CLI flag, with its help text.

Stage configs are plain dataclasses; `picochat.cli.options` turns their fields into
argparse flags (`n_layer` -> `--n-layer`), so a flag is defined exactly once and `run
tiny` reuses it with a stage prefix (`--base-n-layer`). Metadata keys:

- `help`: the sentence `--help` prints.
- `choices`: allowed values.
- `path`: True for an input/output location. `run tiny` wires those itself and does
  not expose them with a prefix.
- `required`: the flag must be given on the stage's own command.
- `repeat`: a list field filled by repeating the flag (`--external-eval a=x --external-eval b=y`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any


def option(
    default: Any = None,
    help: str = "",
    *,
    choices: Sequence[Any] | None = None,
    path: bool = False,
    required: bool = False,
    repeat: bool = False,
    metavar: str | None = None,
) -> Any:
    """A dataclass field carrying what its CLI flag needs."""
    metadata = {
        "help": help,
        "choices": tuple(choices) if choices is not None else None,
        "path": path,
        "required": required,
        "repeat": repeat,
        "metavar": metavar,
    }
    if isinstance(default, (list, dict, set)):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def path_option(help: str, *, required: bool = False) -> Any:
    """A file or folder flag (`run tiny` wires these from its run folder); None until given."""
    return option(None, help, path=True, required=required)
