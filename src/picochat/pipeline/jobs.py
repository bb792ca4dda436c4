"""Running one job of `run tiny` at most once: skip it when done, resume it when cut short.

A job is a stage (or one eval set of the eval stage) with its wired config. Its
fingerprint (see `records.py`) covers the config, its input files and the
fingerprints of the jobs it reads from; `stages.json` records how each ended.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.artifacts import recover_dir
from picochat.errors import PicochatError
from picochat.pipeline.records import COMPLETE, FAILED, INTERRUPTED, StageRecords, fingerprint
from picochat.stages.declaration import Job


class RunInterrupted(PicochatError):
    """Ctrl-C or SIGTERM stopped a stage; its checkpoint is saved and a rerun resumes."""

    exit_code = 130


@dataclass
class JobRunner:
    """Runs jobs into the run folder `root`, recording each in `stages.json`."""

    root: Path
    records: StageRecords
    say: Callable[[str], None]
    force: bool = False
    fingerprints: dict[str, str] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def run(self, job: Job, work: Callable[[Any], Path | None], *, resumable: bool = False) -> None:
        """Run `work(job.config)` unless the job is done with the same fingerprint."""
        name, config = job.name, job.config
        upstream = {u: self.fingerprints[u] for u in job.upstream}
        fp = fingerprint(name, config, self.root, job.files, upstream)
        self.fingerprints[name] = fp
        if not self.force and self.records.is_done(name, fp):
            self.skipped.append(name)
            self.say(f"[{name}] unchanged since the last run: skipped")
            return
        resume = resumable and not self.force and self.records.can_resume(name, fp)
        if resume and has_resume_state(config.out_dir):
            config = replace(config, resume=True)
            self.say(f"[{name}] resuming from its checkpoint")
        else:
            if resume:  # e.g. killed before its first periodic checkpoint
                self.say(f"[{name}] restarting: its interrupted attempt left no checkpoint")
            else:
                self.say(f"[{name}] running")
            resume = False
            if hasattr(config, "force"):  # the run owns its stage folders: restart them clean
                config = replace(config, force=True)
        self.records.start(name, fp, resume=resume)
        started = time.perf_counter()
        try:
            report = work(config)
        except KeyboardInterrupt:
            self.records.finish(name, INTERRUPTED, time.perf_counter() - started, None)
            raise RunInterrupted(
                f"`{name}` was interrupted.", fix="Rerun the same command to resume."
            ) from None
        except BaseException:
            self.records.finish(name, FAILED, time.perf_counter() - started, None)
            raise
        self.records.finish(name, COMPLETE, time.perf_counter() - started, report)
        self.ran.append(name)


def has_resume_state(out_dir: Path | None) -> bool:
    """Whether a training stage's folder holds a checkpoint it can resume from."""
    from picochat.model.checkpoint import TRAINING_STATE_FILE  # imports torch

    if out_dir is None:
        return False
    folder = Path(out_dir) / layout.CHECKPOINT
    recover_dir(folder)  # a crash between a save's two renames
    return (folder / TRAINING_STATE_FILE).is_file()
