"""What a training stage may do to its out-dir: lock it, refuse to clobber, check resume.

`guarded_stage(config, report=...)` wraps a training stage (base, SFT, DPO):

- it holds the folder's write lock (`locks.folder_lock`) for the whole stage;
- a folder holding a finished or interrupted run is not overwritten unless `--force`
  (then every artifact the stage writes is deleted first, so none survives from the
  earlier run) or `--resume` is given;
- a fresh start records its settings and input hashes in `stage_config.json`; `--resume`
  compares them with this command's and refuses settings that change the numbers
  (the list of differences is in the error) unless `--accept-changed-config`, in which
  case the report records both configs. `--max-steps` upward, `--max-minutes`,
  `--early-stop-patience`, `--device` and `--compile` cannot change the numbers of the
  steps already taken and are always allowed.

Not here: the training itself, or what resume restores (`loop.py`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.artifacts import (
    atomic_write_json,
    atomic_write_text,
    hash_inputs,
    recover_dir,
    to_jsonable,
)
from picochat.errors import ConfigError
from picochat.locks import LOCK_FILE, folder_lock, is_main_rank

STAGE_CONFIG = "stage_config.json"
# Every name a training stage writes into its out-dir (and the temporary names of its
# atomic folder swaps): --force deletes these and nothing else.
STAGE_ARTIFACTS = (
    *layout.CHECKPOINT_DIRS,
    *(f"{folder}{suffix}" for folder in layout.CHECKPOINT_DIRS for suffix in (".tmp", ".old")),
    layout.BASE_REPORT,
    layout.SFT_REPORT,
    layout.DPO_REPORT,
    layout.STAGE_MARKDOWN,
    layout.SAMPLE,
    layout.CANARY_PROBE,
    layout.LOSS_CURVE,
    layout.DPO_CURVE,
    "adapter_model.safetensors",
    "adapter_config.json",
    "reference_logps.safetensors",
    "metrics.jsonl",
    STAGE_CONFIG,
)
# Settings that cannot change the numbers of the steps a run has already taken.
FREE_ON_RESUME = frozenset(
    {
        "resume",
        "force",
        "accept_changed_config",
        "max_minutes",
        "early_stop_patience",
        "device",
        "compile",
        "out_dir",
        "tensorboard",  # a log folder that grows as the run goes
    }
)


@dataclasses.dataclass
class GuardState:
    """What the guard learned: the settings differences accepted on resume."""

    changes: list[dict[str, Any]]
    previous: dict[str, Any] | None


def _settings(config: Any) -> dict[str, Any]:
    """Number-affecting settings: plain values, and input files by content hash."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(config):
        if field.name in FREE_ON_RESUME:
            continue
        value = getattr(config, field.name)
        if field.metadata.get("path"):
            hashes = hash_inputs([value])
            values[field.name] = {Path(k).name: v for k, v in sorted(hashes.items())} or None
        else:
            values[field.name] = to_jsonable(value)
    return values


def config_differences(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Settings that differ between two `_settings` dicts (`max_steps` upward is fine)."""
    changes = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if name == "max_steps" and isinstance(old, int) and isinstance(new, int) and new > old:
            continue
        changes.append({"setting": name, "before": old, "now": new})
    return changes


def _describe(changes: list[dict[str, Any]]) -> str:
    def short(value: Any) -> str:
        text = json.dumps(value)
        return text if len(text) <= 40 else text[:37] + "..."

    return "; ".join(
        f"--{c['setting'].replace('_', '-')} {short(c['before'])} -> {short(c['now'])}"
        for c in changes
    )


def _earlier_run(out: Path, report: str) -> str | None:
    if (out / report).is_file():
        return f"a finished run ({report})"
    if (out / "checkpoint").is_dir() or (out / "checkpoint.old").is_dir():
        return "an interrupted run (checkpoint/)"
    return None


def _check_resume(config: Any, out: Path) -> GuardState:
    path = out / STAGE_CONFIG
    if not path.is_file():  # a folder from before stage_config.json existed: nothing to compare
        return GuardState([], None)
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))["settings"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            f"{STAGE_CONFIG} cannot be read ({error}), so --resume cannot check that the "
            "settings are unchanged.",
            file=path,
            fix="Restart the stage with --force instead of --resume.",
        ) from error
    changes = config_differences(previous, _settings(config))
    if changes and not getattr(config, "accept_changed_config", False):
        raise ConfigError(
            f"--resume with settings that change the numbers: {_describe(changes)}.",
            file=path,
            fix="Resume with the original settings, add --accept-changed-config to continue "
            "with the new ones (the report then records both), or --force to restart.",
        )
    return GuardState(changes, previous if changes else None)


def _record_changes(out: Path, report: str, state: GuardState) -> None:
    """Both configs in the stage report after an accepted change on resume."""
    path = out / report
    if not state.changes or not path.is_file():
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    data["resumed_with_changed_config"] = {"changes": state.changes, "before": state.previous}
    atomic_write_json(path, data)
    md = out / layout.STAGE_MARKDOWN
    if md.is_file():
        note = f"\n## Resumed with changed settings\n\n{_describe(state.changes)}\n"
        atomic_write_text(md, md.read_text(encoding="utf-8") + note)


def _clear_artifacts(out: Path) -> None:
    for name in STAGE_ARTIFACTS:
        target = out / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()


@contextlib.contextmanager
def guarded_stage(config: Any, *, report: str, stage: str) -> Iterator[GuardState]:
    """Lock `config.out_dir` and decide fresh/resume/refuse before the stage runs."""
    out = Path(config.out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(
            "--out-dir is an existing file, not a folder.",
            file=out,
            fix="Pass a folder path to --out-dir (it is created if missing).",
        )
    if not is_main_rank():  # rank 0 decides and writes; the others follow it
        yield GuardState([], None)
        return
    with folder_lock(out, what=f"`{stage}` folder"):
        for folder in layout.CHECKPOINT_DIRS:
            recover_dir(out / folder)  # a crash between the two renames of a save
        if config.resume:
            state = _check_resume(config, out)
        else:
            earlier = _earlier_run(out, report)
            if earlier and not getattr(config, "force", False):
                raise ConfigError(
                    f"--out-dir already holds {earlier}; it is left untouched.",
                    file=out,
                    fix="Add --resume to continue it (e.g. with a larger --max-steps), "
                    "--force to replace it, or pass another --out-dir.",
                )
            _clear_artifacts(out)
            atomic_write_json(out / STAGE_CONFIG, {"stage": stage, "settings": _settings(config)})
            state = GuardState([], None)
        try:
            yield state
        except BaseException:
            if not config.resume:
                _forget_unstarted_run(out)
            raise
        _record_changes(out, report, state)


def _forget_unstarted_run(out: Path) -> None:
    """A fresh stage refused before it wrote anything (preflight) leaves no settings file.

    Otherwise the folder would read as an earlier run and the rerun with the suggested
    fix would ask for --force.
    """
    with contextlib.suppress(OSError):
        if {p.name for p in out.iterdir()} <= {STAGE_CONFIG, LOCK_FILE}:
            (out / STAGE_CONFIG).unlink(missing_ok=True)
