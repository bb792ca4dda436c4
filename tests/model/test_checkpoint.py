"""Checkpoint folders: round trip, tied weights, tokenizer hash, corrupted files."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

import picochat
from picochat.errors import CheckpointError
from picochat.model.checkpoint import load_checkpoint, load_training_state, save_checkpoint
from tiny_models import tiny_model

SHA = "a" * 64


@pytest.mark.parametrize("tie", [True, False])
def test_save_load_gives_identical_logits(tmp_path, tie):
    model = tiny_model(tie_embeddings=tie)
    save_checkpoint(tmp_path / "ck", model, tokenizer_sha256=SHA, kind="sft", metadata={"step": 7})
    loaded = load_checkpoint(tmp_path / "ck")
    idx = torch.randint(0, 40, (2, 16))
    assert torch.equal(model(idx)[0], loaded(idx)[0])
    assert not loaded.training and loaded.config == model.config
    assert loaded.checkpoint_meta["kind"] == "sft"
    assert loaded.checkpoint_meta["metadata"] == {"step": 7}
    assert loaded.checkpoint_meta["tokenizer_sha256"] == SHA
    assert loaded.checkpoint_meta["picochat_version"] == picochat.__version__
    stored = load_file(str(tmp_path / "ck" / "model.safetensors"))
    assert ("lm_head.weight" in stored) is (not tie)
    if tie:  # still one shared tensor after loading
        assert loaded.lm_head.weight is loaded.wte.weight


def test_public_api_and_overwrite(tmp_path):
    first, second = tiny_model(), tiny_model()
    with torch.no_grad():
        second.wte.weight.add_(1.0)
    save_checkpoint(tmp_path / "ck", first, tokenizer_sha256=SHA)
    save_checkpoint(tmp_path / "ck", second, tokenizer_sha256=SHA)
    loaded = picochat.load_checkpoint(str(tmp_path / "ck"))
    assert torch.equal(loaded.wte.weight, second.wte.weight)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]  # no tmp/old folders left


def test_tokenizer_hash_mismatch_is_explained(tmp_path):
    save_checkpoint(tmp_path / "ck", tiny_model(), tokenizer_sha256=SHA)
    load_checkpoint(tmp_path / "ck", tokenizer=SimpleNamespace(sha256=SHA))
    with pytest.raises(CheckpointError, match="trained with tokenizer sha256 aaaaaaaaaaaa") as info:
        load_checkpoint(tmp_path / "ck", tokenizer=SimpleNamespace(sha256="b" * 64))
    assert "same run" in info.value.fix
    other = tmp_path / "tokenizer.json"
    other.write_text("{}")
    with pytest.raises(CheckpointError, match="you gave one with sha256"):
        load_checkpoint(tmp_path / "ck", tokenizer=other)


def test_missing_and_corrupted_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nowhere")
    folder = save_checkpoint(tmp_path / "ck", tiny_model(), tokenizer_sha256=SHA)
    weights = folder / "model.safetensors"
    good = weights.read_bytes()

    weights.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(CheckpointError, match="cannot be read") as info:
        load_checkpoint(folder)
    assert info.value.file == str(weights)
    weights.write_bytes(b"\xff" * 64)  # garbage header
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(folder)
    weights.write_bytes(good)

    config_path = folder / "config.json"
    info_json = json.loads(config_path.read_text())
    info_json["model"]["n_embd"] = 64  # weights no longer fit the config
    config_path.write_text(json.dumps(info_json))
    with pytest.raises(CheckpointError, match="does not match config.json"):
        load_checkpoint(folder)
    config_path.write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(folder)
    config_path.unlink()
    with pytest.raises(CheckpointError, match="config.json is missing"):
        load_checkpoint(folder)


def test_training_state_round_trip_with_weights_only(tmp_path):
    model = tiny_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    _, loss = model.train()(torch.randint(0, 40, (2, 8)), torch.randint(0, 40, (2, 8)))
    loss.backward()
    optimizer.step()
    state = {
        "optimizer": optimizer.state_dict(),
        "step": 1,
        "rng": {"torch": torch.get_rng_state()},
        "data_position": 123,
    }
    folder = save_checkpoint(tmp_path / "ck", model, tokenizer_sha256=SHA, training_state=state)
    restored = load_training_state(folder)
    assert restored["step"] == 1 and restored["data_position"] == 123
    assert torch.equal(restored["rng"]["torch"], state["rng"]["torch"])
    fresh = torch.optim.AdamW(model.parameters(), lr=1e-3)
    fresh.load_state_dict(restored["optimizer"])
    exp_avg = next(iter(fresh.state.values()))["exp_avg"]
    assert torch.equal(exp_avg, next(iter(optimizer.state.values()))["exp_avg"])

    (folder / "training_state.pt").write_bytes(b"corrupt")
    with pytest.raises(CheckpointError, match="cannot be loaded"):
        load_training_state(folder)
    save_checkpoint(tmp_path / "best", model, tokenizer_sha256=SHA)
    with pytest.raises(CheckpointError, match="training_state.pt is missing"):
        load_training_state(tmp_path / "best")
