"""`picochat serve` / `picochat web` flags: errors before anything listens."""

from __future__ import annotations

from picochat.cli.serve import _is_loopback


def test_serve_needs_exactly_one_model(run_cli, tiny_model, tmp_path):
    code, _, err = run_cli("serve")
    assert code == 2 and "Serve one model" in err
    code, _, err = run_cli(
        "serve", "--checkpoint", tiny_model["checkpoint"], "--hf-model", tmp_path, "--port", "1"
    )
    assert code == 2 and "--checkpoint, --hf-model" in err
    code, _, err = run_cli("serve", "--run", tmp_path)
    assert code == 2 and "summary.json" in err
    code, _, err = run_cli("serve", "--run", tmp_path, "--max-batch", "0")
    assert code == 2 and "--max-batch" in err


def test_only_loopback_addresses_count_as_private():
    assert _is_loopback("127.0.0.1") and _is_loopback("::1") and _is_loopback("localhost")
    assert not _is_loopback("0.0.0.0") and not _is_loopback("192.168.1.4")
    assert not _is_loopback("example.org")
