"""The stage registry: each stage declared once, and everything else walks the declarations."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from picochat import layout
from picochat.cli import commands
from picochat.cli.main import build_parser, main
from picochat.configs import option
from picochat.stages.declaration import Command, Stage
from picochat.stages.registry import BY_NAME, PIPELINE, STAGES


def test_pipeline_order_and_needs_point_backwards():
    assert [s.name for s in PIPELINE] == ["corpus", "tokenizer", "base", "sft", "dpo", "eval"]
    assert {"hf-import", "hf-sft"} <= set(BY_NAME)
    seen: set[str] = set()
    for stage in PIPELINE:
        assert set(stage.needs) <= seen, stage.name
        seen.add(stage.name)
    prefixes = [s.prefix for s in STAGES]
    assert len(set(prefixes)) == len(prefixes)
    commands_ = [(s.command.group, s.command.name) for s in STAGES]
    assert len(set(commands_)) == len(commands_)


def test_reports_and_folders_are_layout_names():
    names = {v for k, v in vars(layout).items() if k.isupper() and isinstance(v, str)}
    for stage in STAGES:
        assert stage.folder is None or stage.folder in names, stage.name
        assert stage.report is None or stage.report in names, stage.name


def test_run_defaults_are_fields_and_each_differs_from_the_stage_default():
    """One default per setting: run tiny restates a default only where it differs on purpose."""
    for stage in STAGES:
        fields = {f.name: f for f in dataclasses.fields(stage.config)}
        assert set(stage.run_defaults) <= set(fields), stage.name
        assert stage.differing_defaults().keys() == stage.run_defaults.keys(), stage.name
        assert bool(stage.run_defaults) == bool(stage.run_defaults_reason), stage.name


def test_every_stage_config_has_a_default_for_every_setting():
    """LoopConfig leaves steps, batch, learning rate, warmup and eval cadence to each stage
    config: a training stage config that forgets one cannot be built without it."""
    for stage in STAGES:
        missing = [
            f.name
            for f in dataclasses.fields(stage.config)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        assert missing == [], (stage.name, missing)
        stage.config()


def _help(*argv: str, capsys) -> str:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_both_help_outputs_show_both_defaults(capsys):
    stage_help = _help("train", "sft", capsys=capsys)
    assert "Peak learning rate (AdamW). (default: 0.001; `run tiny` uses 0.005)" in stage_help
    run_help = _help("run", "tiny", capsys=capsys)
    assert "(default: 0.005; `picochat train sft` alone: 0.001)" in run_help
    assert BY_NAME["sft"].run_defaults_reason in run_help
    # A setting run tiny does not change shows one default only.
    assert (
        "--sft-warmup-steps N Linear warmup steps before the decay (--lr-schedule). (default: 10)"
        in run_help
    )


def test_run_tiny_flag_not_given_takes_the_declared_default_once():
    from picochat.cli.options import given_values

    args = build_parser().parse_args(["run", "tiny", "--sft-batch-size", "4"])
    sft = BY_NAME["sft"]
    given = given_values(sft.config, args, prefix=sft.prefix)
    assert given == {"batch_size": 4}
    config = sft.run_config(**given)
    assert (config.batch_size, config.learning_rate, config.seed) == (4, 5e-3, None)


def test_bad_stage_setting_fails_before_anything_is_written(tmp_path, run_cli):
    """Every stage's inputs are checked before the corpus stage starts."""
    out = tmp_path / "run"
    code, _, err = run_cli("run", "tiny", "--out-dir", out, "--dpo-peft", "lora",
                           "--dpo-lora-targets", "nonsense")  # fmt: skip
    assert code == 2 and "nonsense" in err
    assert not (out / layout.CORPUS).exists()


def test_preference_file_without_a_usable_pair_fails_before_training(tmp_path, run_cli):
    bad = tmp_path / "prefs.jsonl"
    bad.write_text('{"prompt": "hi", "chosen": "a"}\n{not json\n')
    out = tmp_path / "run"
    code, _, err = run_cli("run", "tiny", "--out-dir", out, "--dpo-input", bad)
    assert code == 2 and "No usable preference pairs for DPO (2 skipped: line 1:" in err
    assert not (out / layout.CORPUS).exists()


@dataclass
class _EchoConfig:
    input: Path | None = option(None, "A text file.", path=True, required=True)
    times: int = option(2, "How many copies.")


def _echo(config: _EchoConfig, show_progress: bool = True) -> str:
    return Path(config.input).read_text().strip() * config.times


def test_a_new_stage_is_one_declaration(monkeypatch, tmp_path, run_cli):
    """Declared once, a stage gets its command, flags, handler and console lines."""
    toy = Stage(
        name="echo",
        config=_EchoConfig,
        prefix="echo-",
        command=Command("train", "echo", "Repeat a file (a test stage)."),
        run=_echo,
        describe=lambda result: [f"echoed: {result}"],
        in_run=False,
    )
    monkeypatch.setattr(commands, "STAGES", (*STAGES, toy))
    source = tmp_path / "a.txt"
    source.write_text("ab\n")
    code, out, _ = run_cli("train", "echo", "--input", source, "--times", "3")
    assert code == 0 and out.strip() == "echoed: ababab"


def test_summary_takes_what_each_declaration_names(tmp_path):
    """The base stage's summary part is exactly its declared keys of its report."""
    from picochat.stages.base import SUMMARY_KEYS
    from picochat.stages.declaration import RunInputs, RunSpec

    report = {k: i for i, k in enumerate(SUMMARY_KEYS)} | {"history": [1, 2]}
    (tmp_path / layout.BASE_DIR).mkdir()
    (tmp_path / layout.BASE_DIR / layout.BASE_REPORT).write_text(json.dumps(report))
    run = RunSpec(tmp_path, RunInputs(None, None, tmp_path, tmp_path, None, {}), seed=0)
    base = BY_NAME["base"]
    assert base.summary_part(base.read_report(run), run) == {k: report[k] for k in SUMMARY_KEYS}
