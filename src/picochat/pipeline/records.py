"""What ran in a run folder: one record per stage in `stages.json`.

A stage's fingerprint is the sha256 of its config (paths written relative to the
run folder) plus the sha256 of each input file and the fingerprints of the stages
it reads from. Rerunning the same command skips a stage whose record is `complete`
with the same fingerprint; a changed flag changes that stage's fingerprint and,
through it, every later stage's. A stage left `running` or `interrupted` with the
same fingerprint resumes from its checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.artifacts import atomic_write_json, sha256_file, to_jsonable
from picochat.errors import InputError

COMPLETE, RUNNING, INTERRUPTED, FAILED, SKIPPED = (
    "complete",
    "running",
    "interrupted",
    "failed",
    "skipped",
)


def _relative(value: Any, root: Path) -> Any:
    if isinstance(value, dict):
        return {k: _relative(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_relative(v, root) for v in value]
    if isinstance(value, str) and value.startswith(str(root)):
        return str(Path(value).relative_to(root))
    return value


def fingerprint(
    stage: str,
    config: Any,
    root: Path,
    files: dict[str, Path | None] | None = None,
    upstream: dict[str, str] | None = None,
) -> str:
    """sha256 over the stage's config, its input files' contents and upstream fingerprints."""
    root = root.resolve()
    payload = {
        "stage": stage,
        "config": _relative(to_jsonable(config), root),
        "files": {
            name: sha256_file(path) if path is not None and Path(path).is_file() else None
            for name, path in sorted((files or {}).items())
        },
        "upstream": dict(sorted((upstream or {}).items())),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass
class StageRecords:
    """`stages.json` of a run folder, rewritten atomically at every change."""

    root: Path
    records: dict[str, dict[str, Any]]

    @classmethod
    def load(cls, root: Path) -> StageRecords:
        path = root / layout.STAGE_RECORDS
        if not path.is_file():
            return cls(root, {})
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InputError(
                f"{layout.STAGE_RECORDS} is not valid JSON ({error}), so it cannot say which stages "
                "are finished.",
                file=path,
                line=getattr(error, "lineno", None),
                fix=f"Delete {path} (every stage then reruns) or rerun with --force.",
            ) from None
        if not isinstance(records, dict) or not all(
            isinstance(r, dict) and {"status", "fingerprint"} <= set(r) for r in records.values()
        ):
            raise InputError(
                f"{layout.STAGE_RECORDS} does not hold stage records.",
                file=path,
                fix=f"Delete {path} (every stage then reruns) or rerun with --force.",
            )
        return cls(root, records)

    def get(self, stage: str) -> dict[str, Any] | None:
        return self.records.get(stage)

    def is_done(self, stage: str, fp: str) -> bool:
        record = self.records.get(stage)
        return bool(record) and record["status"] == COMPLETE and record["fingerprint"] == fp

    def can_resume(self, stage: str, fp: str) -> bool:
        record = self.records.get(stage)
        return (
            bool(record)
            and record["status"] in (RUNNING, INTERRUPTED)
            and record["fingerprint"] == fp
        )

    def start(self, stage: str, fp: str, *, resume: bool = False) -> None:
        # A resumed stage keeps the wall time its earlier attempt already spent.
        spent = (self.records.get(stage) or {}).get("wall_seconds") if resume else None
        self.records[stage] = {
            "status": RUNNING,
            "fingerprint": fp,
            "started_at": time.time(),
            "wall_seconds": spent,
            "report": None,
        }
        self._save()

    def finish(self, stage: str, status: str, wall_seconds: float, report: Path | None) -> None:
        record = self.records[stage]
        record.update(
            status=status,
            wall_seconds=round((record.get("wall_seconds") or 0.0) + wall_seconds, 3),
            report=str(report.relative_to(self.root)) if report else None,
        )
        self._save()

    def drop(self, stage: str) -> None:
        if self.records.pop(stage, None) is not None:
            self._save()

    def _save(self) -> None:
        atomic_write_json(self.root / layout.STAGE_RECORDS, self.records)
