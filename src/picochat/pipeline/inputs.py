"""What a run reads: a dataset pack, or a corpus + chat + eval file given one by one.

With neither, `run tiny` uses the bundled example pack (`examples/`, shipped in the
wheel as `picochat/examples`). The corpus stage always reads through the pack when
there is one, so a pack's recipe (labels, globs) applies exactly as in
`picochat data build --dataset-pack`.
"""

from __future__ import annotations

from pathlib import Path

from picochat.configs.run import RunConfig
from picochat.data.pack import load_dataset_pack
from picochat.errors import ConfigError, InputError
from picochat.stages.declaration import RunInputs

_PACK_NAME = "tiny_dataset_pack.json"
# picochat/examples is the repo's examples/ (a link in the source tree, real files in a
# wheel); a checkout without symlinks (some Windows set-ups) still has examples/.
BUNDLED_PACK = next(
    (
        (folder / _PACK_NAME).resolve()
        for folder in (
            Path(__file__).parents[1] / "examples",
            Path(__file__).parents[3] / "examples",
        )
        if (folder / _PACK_NAME).is_file()
    ),
    Path(__file__).parents[1] / "examples" / _PACK_NAME,
)


def _external(specs: list[str]) -> dict[str, Path]:
    evals: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ConfigError(
                f"--external-eval {spec!r} is not NAME=PATH.",
                fix="Write it as --external-eval mmlu-lite=data/mmlu_lite.jsonl.",
            )
        if name in evals or name in ("heldout", "sft_fit"):
            raise ConfigError(
                f"--external-eval name {name!r} is used twice or reserved.",
                fix="Pick another name.",
            )
        if not Path(path).is_file():
            raise InputError(
                f"external eval file {path} does not exist.", file=path, fix="Check the path."
            )
        evals[name] = Path(path).resolve()
    return evals


def resolve_inputs(config: RunConfig, *, allow_outside: bool = False) -> RunInputs:
    """The run's input files, checked before any stage starts."""
    loose = [config.corpus_input, config.chat_input, config.eval_input]
    if config.dataset_pack is not None and any(p is not None for p in loose):
        raise ConfigError(
            "--dataset-pack and --corpus-input/--chat-input/--eval-input were both given.",
            fix="Use a pack, or the three separate inputs, not both.",
        )
    external = _external(config.external_eval)
    if any(p is not None for p in loose):
        missing = [
            f
            for f, p in zip(("--corpus-input", "--chat-input", "--eval-input"), loose, strict=True)
            if p is None
        ]
        if missing:
            raise ConfigError(
                f"{', '.join(missing)} missing.", fix="Give all three, or a --dataset-pack."
            )
        for path in loose:
            if not Path(path).exists():
                raise InputError(f"{path} does not exist.", file=path, fix="Check the path.")
        return RunInputs(
            pack=None,
            corpus_input=Path(config.corpus_input).resolve(),
            chat=Path(config.chat_input).resolve(),
            eval=Path(config.eval_input).resolve(),
            preferences=_preferences(config, None),
            external_evals=external,
        )
    pack_path = Path(config.dataset_pack) if config.dataset_pack else BUNDLED_PACK
    if not pack_path.is_file():
        raise InputError(
            f"dataset pack {pack_path} not found.",
            file=pack_path,
            fix="Pass --dataset-pack PATH (the bundled pack is missing from this install).",
        )
    pack = load_dataset_pack(pack_path, allow_outside=allow_outside)
    for role in ("chat", "eval"):
        if getattr(pack, role) is None:
            raise InputError(
                f"the dataset pack names no `{role}` file.",
                file=pack.path,
                fix=f'Add "{role}": "file.jsonl".',
            )
    if pack.corpus_input is None and pack.corpus_recipe is None:
        raise InputError(
            "the dataset pack names no corpus.", file=pack.path, fix='Add "corpus": {"input": ...}.'
        )
    return RunInputs(
        pack=pack.path,
        corpus_input=None,
        chat=pack.chat,
        eval=pack.eval,
        preferences=_preferences(config, pack.preferences),
        external_evals=external,
    )


def _preferences(config: RunConfig, from_pack: Path | None) -> Path | None:
    if not config.dpo:
        return None
    if config.dpo_input is not None:
        if not Path(config.dpo_input).is_file():
            raise InputError(
                f"{config.dpo_input} does not exist.", file=config.dpo_input, fix="Check the path."
            )
        return Path(config.dpo_input).resolve()
    return from_pack
