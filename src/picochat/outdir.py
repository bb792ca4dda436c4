"""Output-folder guards: a command replaces only a folder it wrote itself.

A command that writes a whole folder (`export hf`, a training stage) first asks
`guard_out_dir`: the target must not be a file, must not hold the command's own inputs
(replacing it would delete them), and if it already holds files, they must be this
command's earlier output (recognised by its `marker` file) unless the user passed
`--force`. Not here: the atomic swap itself (`artifacts.atomic_dir`) or locking
(`locks.py`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from picochat.errors import ConfigError


def _inside(child: Path, parent: Path) -> bool:
    child, parent = child.resolve(), parent.resolve()
    return child == parent or parent in child.parents


def guard_out_dir(
    out_dir: str | Path,
    *,
    marker: str,
    force: bool,
    inputs: Iterable[str | Path | None] = (),
    flag: str = "--out-dir",
) -> Path:
    """Refuse to replace `out_dir` unless it is empty, absent, or this command's output.

    `marker` is a file only this command writes into the folder; `inputs` are paths the
    command reads, which must lie outside the folder even with `--force`.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(
            f"{flag} is an existing file, not a folder; it is left as it is.",
            file=out,
            fix=f"Pass a new folder path to {flag}, or move the file away first.",
        )
    for source in inputs:
        if source is not None and _inside(Path(source), out):
            raise ConfigError(
                f"{flag} contains this command's input {source}: replacing the folder "
                "would delete it.",
                file=out,
                fix=f"Write to a folder outside the input's folder (e.g. {out}_export).",
            )
    if not out.is_dir() or force or (out / marker).is_file():
        return out
    found = sorted(p.name for p in out.iterdir())
    if found:
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        raise ConfigError(
            f"{flag} already holds files this command did not write ({shown}); they "
            "would be deleted.",
            file=out,
            fix=f"Pass an empty or new folder, or add --force to replace {out} and "
            "everything in it.",
        )
    return out
