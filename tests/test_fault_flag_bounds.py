"""Numeric flags are checked when parsed: finite and in range, exit 2 before any work."""

from __future__ import annotations

import pytest

from picochat.cli.main import main
from picochat.configs.bounds import BOUNDS, check_value

REFUSED = [
    ("train", "base", "--learning-rate", "nan"),
    ("train", "base", "--learning-rate", "-1"),
    ("train", "sft", "--learning-rate", "inf"),
    ("train", "dpo", "--learning-rate", "0"),
    ("train", "base", "--max-minutes", "-1"),
    ("train", "base", "--max-minutes", "nan"),
    ("train", "base", "--grad-clip", "nan"),
    ("train", "base", "--warmup-steps", "-5"),
    ("train", "base", "--canary-count", "1000000"),
    ("train", "base", "--dropout", "1.5"),
    ("train", "base", "--n-layer", "1000000"),
    ("train", "base", "--batch-size", "100000"),
    ("generate", "--temperature", "nan"),
    ("train", "hf-sft", "--lora-rank", "0"),
    ("train", "hf-sft", "--lora-rank", "100000"),
    ("eval", "chat", "--min-reference-f1", "nan"),
    ("run", "tiny", "--sft-learning-rate", "nan"),
    ("run", "tiny", "--base-learning-rate", "-1"),
    ("run", "tiny", "--sft-lora-rank", "0"),
    ("run", "tiny", "--gate-min-heldout-pass-rate", "1.5"),
]


@pytest.mark.parametrize("argv", REFUSED, ids=lambda a: " ".join(a))
def test_out_of_range_or_nonfinite_flags_exit_2_at_parse_time(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert argv[-2] in err and "must be" in err and "Traceback" not in err


def test_every_bound_admits_its_default_flags():
    """The defaults of every config pass their own bounds (a bound never breaks a default)."""
    import dataclasses

    import picochat.configs as configs

    for cls in vars(configs).values():
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            continue
        for field in dataclasses.fields(cls):
            value = field.default
            if field.name in BOUNDS and isinstance(value, (int, float)) and value is not True:
                assert check_value(field.name, value) is None, (cls.__name__, field.name)
