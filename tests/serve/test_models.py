"""What `picochat serve` loads: a run's final model, and an exported HF folder."""

from __future__ import annotations

import json
import shutil

import pytest

import picochat
from picochat.errors import PicochatError
from picochat.serve.models import final_checkpoint, hf_model


def test_a_run_serves_the_model_its_summary_scored(tiny_model, tmp_path):
    run = tmp_path / "run"
    for stage in ("sft", "dpo"):
        shutil.copytree(tiny_model["checkpoint"], run / stage / "checkpoint")
    with pytest.raises(PicochatError, match="summary.json"):
        final_checkpoint(run)
    (run / "summary.json").write_text(json.dumps({"run": {"final_model": "dpo/checkpoint"}}))
    assert final_checkpoint(run) == run / "dpo" / "checkpoint"
    shutil.rmtree(run / "dpo")
    with pytest.raises(PicochatError, match="missing"):
        final_checkpoint(run)


def test_an_exported_hf_folder_decodes_like_the_native_checkpoint(tiny_model, served, tmp_path):
    pytest.importorskip("transformers")
    from picochat.configs import ExportHFConfig
    from picochat.generation import generate_ids
    from picochat.hf.export import export_hf

    out = tmp_path / "hf"
    export_hf(
        ExportHFConfig(
            checkpoint=tiny_model["checkpoint"], tokenizer=tiny_model["tokenizer"], out_dir=out
        )
    )
    from_hf = hf_model(out, name="hf")
    messages = [{"role": "user", "content": "What is SFT?"}]
    ids = served.chat_ids(messages)
    assert from_hf.chat_ids(messages) == ids
    assert set(from_hf.stop_ids) >= set(served.stop_ids)
    got = generate_ids(from_hf.model, [ids], temperature=0.0, max_new_tokens=30)
    tok = served.info["tokenizer"]
    assert tok.decode(got[0]) == picochat.chat(
        served.model, tok, messages, temperature=0.0, max_new_tokens=30
    )
