"""Progress of long data steps without a terminal: plain lines with MB/s and ETA."""

from __future__ import annotations

from picochat import byte_progress
from picochat.byte_progress import ByteProgress


def test_without_a_terminal_plain_lines_say_mb_per_s_and_eta(capsys, monkeypatch):
    monkeypatch.setattr(byte_progress, "PLAIN_EVERY_S", 0.0)  # a line on every advance
    progress = ByteProgress("tokenize", 4_000_000)
    progress.advance(1_000_000)
    progress.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("tokenize: 1.0 of 4.0 MB (25%)") and "MB/s, ETA" in lines[0]
    quiet = ByteProgress("tokenize", 10, quiet=True)
    quiet.advance(5)
    quiet.close()
    assert capsys.readouterr().err == ""


def test_a_short_step_prints_no_closing_line(capsys):
    progress = ByteProgress("data build", 30_000)  # 30 KB: done long before a log line is due
    progress.advance(30_000)
    progress.close()
    assert capsys.readouterr().err == ""
