"""A Hugging Face folder with pickle weights is refused, and no code in the pickle runs."""

from __future__ import annotations

import pickle

import pytest

pytest.importorskip("transformers")


class _Payload:
    """Unpickling this calls os.system: the marker file proves whether it ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def _folder_with(tmp_path, tiny_hf_model, weights: bytes):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_hf_model, folder)
    for file in folder.glob("*.safetensors"):
        file.unlink()
    (folder / "pytorch_model.bin").write_bytes(weights)
    return folder


def _eval(run_cli, tmp_path, folder):
    items = tmp_path / "items.jsonl"
    items.write_text('{"user": "hi", "must_include": ["x"]}\n', encoding="utf-8")
    out = tmp_path / "eval"
    return run_cli("eval", "chat", "--hf-model", folder, "--input", items, "--out-dir", out)


def test_hostile_pickle_is_refused_without_running_it(tmp_path, tiny_hf_model, run_cli):
    marker = tmp_path / "pwned"
    folder = _folder_with(tmp_path, tiny_hf_model, pickle.dumps(_Payload(marker)))
    code, out, err = _eval(run_cli, tmp_path, folder)
    assert code == 2 and "pickle" in err and "safetensors" in err
    assert "weights_only=False" not in err and "Traceback" not in err
    assert not marker.exists()


def test_a_genuine_pickle_checkpoint_is_refused_too(tmp_path, tiny_hf_model, run_cli):
    import torch
    from safetensors.torch import load_file

    state = load_file(str(next(tiny_hf_model.glob("*.safetensors"))))
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    folder = _folder_with(tmp_path, tiny_hf_model, buffer.getvalue())
    code, _, err = _eval(run_cli, tmp_path, folder)
    assert code == 2 and "pytorch_model.bin" in err and "save_pretrained" in err
