"""Config dataclass <-> argparse flags, so each flag is defined once.

`add_config_arguments(parser, SFTConfig)` adds `--learning-rate` and friends;
with `prefix="sft-"` it adds `--sft-learning-rate` instead (how `run tiny` reuses a
stage's flags). `config_from_args` builds the dataclass back from the parsed values.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from picochat.configs.bounds import checked_type

T = TypeVar("T")

_METAVARS = {Path: "PATH", int: "N", float: "X", str: "TEXT"}


def _unwrap_optional(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _dest(prefix: str, name: str) -> str:
    return (prefix + name).replace("-", "_")


def config_fields(config_cls: type, *, include_paths: bool = True) -> list[dataclasses.Field]:
    """The fields of `config_cls` that are flags (optionally without path fields)."""
    return [
        f
        for f in dataclasses.fields(config_cls)
        if f.init and (include_paths or not f.metadata.get("path", False))
    ]


def add_config_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    config_cls: type,
    *,
    prefix: str = "",
    include_paths: bool = True,
    skip: tuple[str, ...] = (),
    enforce_required: bool = True,
    defaults: Mapping[str, Any] | None = None,
    unset: bool = False,
    notes: Mapping[str, str] | None = None,
) -> None:
    """Add one flag per field of `config_cls` to `parser`.

    `defaults` are the defaults `--help` shows instead of the fields' own; with `unset`
    a flag not given is left out of the parsed namespace (`given_values`), so the
    caller applies those defaults itself, in one place (how `run tiny` gives its
    stages their run defaults). `notes` add a sentence to some flags' help.
    """
    defaults, notes = defaults or {}, notes or {}
    hints = typing.get_type_hints(config_cls)
    for field in config_fields(config_cls, include_paths=include_paths):
        if field.name in skip:
            continue
        meta = field.metadata
        flag = "--" + prefix + field.name.replace("_", "-")
        tp = _unwrap_optional(hints[field.name])
        default = field.default if field.default is not dataclasses.MISSING else None
        if field.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = field.default_factory()  # type: ignore[misc]
        default = defaults.get(field.name, default)
        help_text = meta.get("help", "")
        note = f"; {notes[field.name]}" if field.name in notes else ""
        kwargs: dict[str, Any] = {"dest": _dest(prefix, field.name)}
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
            kwargs["default"] = default
            if default is not None:
                help_text += f" (default: {'on' if default else 'off'}{note})"
        elif meta.get("repeat"):
            kwargs["action"] = "append"
            kwargs["default"] = None
            kwargs["metavar"] = meta.get("metavar") or "VALUE"
            help_text += " (repeatable)"
        else:
            kwargs["type"] = Path if tp is Path else tp
            if tp in (int, float):  # finite and in range, refused at parse time
                kwargs["type"] = checked_type(field.name, tp)
            kwargs["default"] = default
            if meta.get("choices"):
                kwargs["choices"] = meta["choices"]
            if meta.get("metavar"):
                kwargs["metavar"] = meta["metavar"]
            elif not meta.get("choices"):
                kwargs["metavar"] = _METAVARS.get(tp, "VALUE")
            if default is not None and not meta.get("required"):
                help_text += f" (default: {default}{note})"
            elif note:
                help_text += f" ({note[2:]})"
        if meta.get("required") and enforce_required:
            kwargs["required"] = True
        if unset:
            kwargs["default"] = argparse.SUPPRESS
        parser.add_argument(flag, help=help_text, **kwargs)


def given_values(config_cls: type, args: argparse.Namespace, *, prefix: str = "") -> dict[str, Any]:
    """The fields of `config_cls` whose flag was given (flags added with `unset=True`)."""
    return {
        f.name: getattr(args, _dest(prefix, f.name))
        for f in config_fields(config_cls)
        if hasattr(args, _dest(prefix, f.name))
    }


def config_from_args(
    config_cls: type[T],
    args: argparse.Namespace,
    *,
    prefix: str = "",
    include_paths: bool = True,
    **overrides: Any,
) -> T:
    """Build `config_cls` from parsed flags; fields without a flag keep their default."""
    values: dict[str, Any] = {}
    for field in config_fields(config_cls, include_paths=include_paths):
        dest = _dest(prefix, field.name)
        if hasattr(args, dest):
            value = getattr(args, dest)
            if field.metadata.get("repeat") and value is None:
                value = []
            values[field.name] = value
    values.update(overrides)
    return config_cls(**values)
