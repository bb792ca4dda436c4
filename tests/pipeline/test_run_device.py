"""`run tiny --device`: one flag for every stage; a stage's own flag still wins."""

from __future__ import annotations

from picochat.cli.main import build_parser
from picochat.cli.options import config_from_args, given_values
from picochat.configs.run import RunConfig
from picochat.pipeline.run import stage_settings
from picochat.stages.registry import PIPELINE


def _settings(*argv: str) -> dict[str, object]:
    args = build_parser().parse_args(["run", "tiny", *argv])
    given = {
        stage.name: stage.run_config(**given_values(stage.config, args, prefix=stage.prefix))
        for stage in PIPELINE
    }
    return stage_settings(given, device=config_from_args(RunConfig, args).device)


def test_run_device_reaches_every_stage_unless_a_stage_flag_overrides():
    settings = _settings("--device", "cpu", "--sft-device", "mps")
    devices = {name: settings[name].device for name in ("base", "sft", "dpo", "eval")}
    assert devices == {"base": "cpu", "sft": "mps", "dpo": "cpu", "eval": "cpu"}


def test_without_flags_every_stage_is_auto():
    settings = _settings()
    assert {c.device for c in settings.values() if hasattr(c, "device")} == {"auto"}
    assert stage_settings()["base"].device == "auto"  # the Python API too
