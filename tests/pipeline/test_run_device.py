"""`run tiny --device`: one flag for every stage; a stage's own flag still wins."""

from __future__ import annotations

from picochat.cli.main import build_parser
from picochat.cli.options import config_from_args
from picochat.configs.run import RunConfig
from picochat.pipeline.settings import STAGE_FLAGS, StageSettings


def _settings(*argv: str) -> StageSettings:
    args = build_parser().parse_args(["run", "tiny", *argv])
    settings = StageSettings(
        **{
            stage: config_from_args(cls, args, prefix=prefix, include_paths=False)
            for stage, (cls, prefix) in STAGE_FLAGS.items()
        }
    )
    return settings.on_device(config_from_args(RunConfig, args).device)


def test_run_device_reaches_every_stage_unless_a_stage_flag_overrides():
    settings = _settings("--device", "cpu", "--sft-device", "mps")
    devices = {name: settings.as_dict()[name].device for name in ("base", "sft", "dpo", "eval")}
    assert devices == {"base": "cpu", "sft": "mps", "dpo": "cpu", "eval": "cpu"}


def test_without_flags_every_stage_is_auto():
    settings = _settings()
    assert {c.device for c in settings.as_dict().values() if hasattr(c, "device")} == {"auto"}
    assert StageSettings().on_device("auto").base.device == "auto"  # the Python API too
