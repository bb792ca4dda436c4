"""A training stage's out-dir: locked, never clobbered silently, resumed only as it was.

The issue: rerunning `train base` over a finished run overwrote it and left the old
`canary_probe.txt`; `--resume` accepted a changed batch size or seed silently; two
writers could share one folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from picochat.locks import LOCK_FILE


def _flags(paths: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "train", "base", "--corpus", paths["corpus"], "--tokenizer", paths["tokenizer"],
        "--out-dir", out, "--preset", "smoke", "--context-size", "32", "--batch-size", "4",
        "--device", "cpu", "--max-steps", "2", "--eval-every", "2", "--eval-batches", "1", *extra,
    ]  # fmt: skip


def test_rerun_over_a_finished_run_needs_force_and_force_leaves_nothing_stale(
    make_inputs, doc_text, tmp_path, run_cli
):
    paths = make_inputs("".join(doc_text(i) for i in range(6)))
    out = tmp_path / "run"
    assert run_cli(*_flags(paths, out, "--canary-count", "1"))[0] == 0
    assert (out / "canary_probe.txt").is_file()
    before = (out / "train_report.json").read_bytes()

    code, _, err = run_cli(*_flags(paths, out))
    assert code == 2 and "finished run" in err and "--force" in err and "--resume" in err
    assert "Traceback" not in err
    assert (out / "train_report.json").read_bytes() == before

    assert run_cli(*_flags(paths, out, "--force"))[0] == 0
    assert not (out / "canary_probe.txt").exists()  # the earlier run's artifact is gone
    assert json.loads((out / "train_report.json").read_text())["config"]["canary_count"] == 0


def test_resume_with_changed_settings_is_refused_listing_them(
    make_inputs, doc_text, tmp_path, run_cli
):
    paths = make_inputs("".join(doc_text(i) for i in range(6)))
    out = tmp_path / "run"
    assert run_cli(*_flags(paths, out))[0] == 0
    changed = ("--batch-size", "2", "--seed", "7", "--learning-rate", "0.01")
    code, _, err = run_cli(*_flags(paths, out, "--max-steps", "4", "--resume"), *changed)
    assert code == 2 and "Traceback" not in err
    for name in ("--batch-size 4 -> 2", "--seed 1337 -> 7", "--learning-rate"):
        assert name in err
    assert "--accept-changed-config" in err

    # --max-steps upward and --max-minutes cannot change the numbers already taken.
    assert (
        run_cli(*_flags(paths, out, "--max-steps", "4", "--max-minutes", "5", "--resume"))[0] == 0
    )

    flags = _flags(paths, out, "--max-steps", "6", "--resume", "--accept-changed-config")
    assert run_cli(*flags, "--seed", "7")[0] == 0
    report = json.loads((out / "train_report.json").read_text())
    recorded = report["resumed_with_changed_config"]
    assert recorded["changes"] == [{"setting": "seed", "before": 1337, "now": 7}]
    assert recorded["before"]["seed"] == 1337 and report["config"]["seed"] == 7


def test_resume_with_a_changed_corpus_is_refused(make_inputs, doc_text, tmp_path, run_cli):
    paths = make_inputs("".join(doc_text(i) for i in range(6)))
    out = tmp_path / "run"
    assert run_cli(*_flags(paths, out))[0] == 0
    paths["corpus"].write_text(paths["corpus"].read_text() + "more text\n", encoding="utf-8")
    code, _, err = run_cli(*_flags(paths, out, "--max-steps", "4", "--resume"))
    assert code == 2 and "--corpus" in err


HOLD = textwrap.dedent(
    """
    import sys, time
    from picochat.locks import folder_lock
    with folder_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(60)
    """
)


def test_a_second_writer_is_refused_naming_the_holder_and_a_dead_holder_is_taken_over(
    make_inputs, doc_text, tmp_path, run_cli
):
    paths = make_inputs("".join(doc_text(i) for i in range(6)))
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = run_cli(*_flags(paths, out))
        assert code == 2 and f"PID {holder.pid}" in err and "another --out-dir" in err
        assert "Traceback" not in err
    finally:
        holder.kill()  # SIGKILL: the lock file stays behind, naming a dead process
        holder.wait()
    assert f"PID {holder.pid}" in (out / LOCK_FILE).read_text()
    assert run_cli(*_flags(paths, out))[0] == 0
    assert (out / "train_report.json").is_file()


def test_a_writer_that_loses_by_microseconds_still_names_the_holder(tmp_path):
    """The winner writes its PID just after taking the lock; the loser may look first."""
    import threading

    from picochat.locks import _holder

    lock = tmp_path / LOCK_FILE
    lock.write_text("")  # taken, not yet written
    writer = threading.Timer(0.2, lambda: lock.write_text("PID 4242: picochat run tiny\n"))
    writer.start()
    assert _holder(lock) == "PID 4242: picochat run tiny"
    writer.join()
