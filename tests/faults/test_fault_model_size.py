"""An absurd model shape is refused with its memory estimate before anything is allocated."""

from __future__ import annotations

import json

import pytest

from picochat.model.config import ModelConfig
from picochat.model.size_check import device_memory_bytes, parameter_count
from picochat.model.transformer import Transformer


@pytest.mark.parametrize("tie", [True, False])
def test_parameter_count_matches_the_built_model(tie):
    config = ModelConfig(vocab_size=97, n_layer=3, n_head=4, n_kv_head=2, n_embd=32,
                         tie_embeddings=tie)  # fmt: skip
    assert parameter_count(config) == Transformer(config).num_parameters()


def _edited_copy(ckpt, tmp_path, **changes):
    import shutil

    bad = tmp_path / "ckpt"
    shutil.copytree(ckpt, bad)
    info = json.loads((bad / "config.json").read_text())
    for key, value in changes.items():
        if key == "tokenizer_sha256":
            info[key] = value
        else:
            info["model"][key] = value
    (bad / "config.json").write_text(json.dumps(info))
    return bad


@pytest.fixture
def memory_known():
    if device_memory_bytes("cpu") is None:
        pytest.skip("this platform does not report its memory")


def test_checkpoint_with_a_million_layers_is_refused_with_the_estimate(
    tiny_files, tmp_path, run_cli, memory_known
):
    tok, ckpt = tiny_files
    bad = _edited_copy(ckpt, tmp_path, n_layer=10**6)
    code, out, err = run_cli("generate", "--checkpoint", bad, "--tokenizer", tok, "--prompt", "a")
    assert code == 2 and "GiB to load" in err and "n_layer 1000000" in err
    assert "config.json" in err and "Traceback" not in err and out == ""


def test_checkpoint_with_a_billion_token_vocab_is_refused_before_allocating(
    tiny_files, tmp_path, memory_known
):
    from picochat.errors import ConfigError
    from picochat.model.checkpoint import load_checkpoint

    bad = _edited_copy(tiny_files[1], tmp_path, vocab_size=10**9)
    with pytest.raises(ConfigError, match="GiB to load"):
        load_checkpoint(bad)


def test_no_recorded_tokenizer_hash_still_catches_another_vocabulary(tiny_files, tmp_path, run_cli):
    tok, ckpt = tiny_files
    bad = _edited_copy(ckpt, tmp_path, tokenizer_sha256=None)
    other = tmp_path / "other.json"
    (tmp_path / "o.txt").write_text("0123456789 +-=", encoding="utf-8")
    assert run_cli("--quiet", "tok", "train", "--input", tmp_path / "o.txt", "--out", other)[0] == 0
    code, _, err = run_cli("generate", "--checkpoint", bad, "--tokenizer", other, "--prompt", "1")
    assert code == 2 and "not trained together" in err and "Traceback" not in err
