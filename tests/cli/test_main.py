"""The CLI skeleton: flags derived from configs, errors without tracebacks."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from picochat.cli.main import build_parser
from picochat.cli.options import add_config_arguments, config_from_args
from picochat.configs import BaseTrainConfig, SFTConfig


def test_every_spec_command_has_help():
    parser = build_parser()
    for argv in (
        ["data", "preview"],
        ["data", "build"],
        ["data", "eval-starter"],
        ["data", "preference-starter"],
        ["data", "hf-import"],
        ["tok", "train"],
        ["tok", "inspect"],
        ["train", "base"],
        ["train", "sft"],
        ["train", "dpo"],
        ["train", "hf-sft"],
        ["eval", "chat"],
        ["chat"],
        ["generate"],
        ["run", "tiny"],
        ["compare"],
        ["export", "hf"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([*argv, "--help"])
        assert exit_info.value.code == 0, argv


def test_flags_round_trip_into_config():
    import argparse

    parser = argparse.ArgumentParser()
    add_config_arguments(parser, SFTConfig)
    args = parser.parse_args(
        [
            "--input",
            "c.jsonl",
            "--tokenizer",
            "t.json",
            "--checkpoint",
            "ck",
            "--out-dir",
            "o",
            "--peft",
            "lora",
            "--lora-rank",
            "4",
            "--learning-rate",
            "0.01",
            "--strict",
        ]
    )
    config = config_from_args(SFTConfig, args)
    assert config.peft == "lora" and config.lora_rank == 4 and config.strict is True
    assert config.learning_rate == 0.01
    assert str(config.input) == "c.jsonl"


def test_prefixed_flags_reuse_stage_fields_without_paths():
    import argparse

    parser = argparse.ArgumentParser()
    add_config_arguments(parser, BaseTrainConfig, prefix="base-", include_paths=False)
    args = parser.parse_args(["--base-max-steps", "7", "--base-n-layer", "2"])
    config = config_from_args(
        BaseTrainConfig, args, prefix="base-", corpus="c", tokenizer="t", out_dir="o"
    )
    assert config.max_steps == 7 and config.n_layer == 2
    flags = {a.dest for a in parser._actions}
    assert "base_corpus" not in flags and "base_out_dir" not in flags
    # Every non-path field of the stage is exposed once, with its prefix.
    expected = {
        f"base_{f.name}" for f in dataclasses.fields(BaseTrainConfig) if not f.metadata["path"]
    }
    assert expected <= flags


def test_user_error_is_one_paragraph_exit_2_without_traceback(tmp_path):
    missing = tmp_path / "nope.json"
    command = [sys.executable, "-m", "picochat", "tok", "inspect", "--tokenizer", str(missing)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 2
    assert "nope.json" in result.stderr and "Traceback" not in result.stderr
    debug = subprocess.run([*command[:3], "--debug", *command[3:]], capture_output=True, text=True)
    assert "Traceback" in debug.stderr
