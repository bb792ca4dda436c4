"""Folder locks: one process writes a run folder (or a stage folder) at a time.

`folder_lock(path)` holds an exclusive `fcntl.flock` on `path/.picochat.lock` for the
duration of a `with` block and writes the holder's PID and command into the file. The
kernel drops a flock when its process dies (even by SIGKILL), so a lock file left by a
dead process is simply taken over: no PID guessing, no race between two takers. A
second writer gets a `LockedError` (exit 2) naming the holder's PID and what to do.

Under torchrun only rank 0 takes the lock (every rank would otherwise block the
others). Where `fcntl` does not exist (Windows) the lock is advisory only: the holder
is recorded but not enforced. Not here: what a stage writes (`outdir.py`, `artifacts.py`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from picochat.errors import PicochatError

LOCK_FILE = ".picochat.lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class LockedError(PicochatError):
    """Another live process is writing the same folder."""


def is_main_rank() -> bool:
    """False on a non-zero torchrun rank (RANK is set by torchrun)."""
    return int(os.environ.get("RANK", "0")) == 0


HOLDER_WAIT_S = 1.0  # the holder writes its PID just after taking the lock: wait that long


def _holder(lock_path: Path) -> str:
    """The holder's "PID n: command" line; a second writer that lost a race by
    microseconds may read the file before the winner has written it, so poll briefly."""
    deadline = time.monotonic() + HOLDER_WAIT_S
    while True:
        with contextlib.suppress(OSError):
            text = lock_path.read_text(encoding="utf-8").strip()
            if text:
                return text.splitlines()[0]
        if time.monotonic() >= deadline:
            return "unknown PID"
        time.sleep(0.02)


@contextlib.contextmanager
def folder_lock(folder: str | Path, *, what: str = "run folder") -> Iterator[None]:
    """Hold the write lock of `folder` (created if missing) for the `with` block."""
    folder = Path(folder)
    if not is_main_rank():
        yield
        return
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    lock_path = folder / LOCK_FILE
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LockedError(
                    f"This {what} is being written by another process ({_holder(lock_path)}).",
                    file=folder,
                    fix="Wait for that process to finish (or stop it), or pass another "
                    "--out-dir. A lock left by a process that has exited is taken over "
                    "automatically.",
                ) from None
        # The lock is ours (a dead holder's flock died with it): record who holds it now.
        os.ftruncate(fd, 0)
        command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))
        os.write(fd, f"PID {os.getpid()}: {command}\n".encode())
        yield
    finally:
        os.close(fd)  # closing drops the flock; the file stays (harmless, reused next time)
        if created:
            _remove_if_only_the_lock(folder, lock_path)


def _remove_if_only_the_lock(folder: Path, lock_path: Path) -> None:
    """Undo the folder this lock created when nothing else was written into it.

    A run refused before it wrote anything (preflight: "cannot fit") then leaves no
    trace, so the same --out-dir works unchanged with the suggested fix.
    """
    with contextlib.suppress(OSError):
        if [p.name for p in folder.iterdir()] == [LOCK_FILE]:
            lock_path.unlink()
            folder.rmdir()
