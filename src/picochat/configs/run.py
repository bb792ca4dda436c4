"""Settings of `picochat run tiny` and its release gates.

`run tiny` reuses every stage's own flags with a stage prefix (`--base-max-steps`,
`--sft-learning-rate`, `--dpo-beta`, `--tokenizer-type`...): those come from the
stage configs themselves (see `picochat.cli.run`). Only what belongs to the run as a
whole is declared here, plus the run's own defaults for the stage flags, chosen so
the bundled example pack finishes in about three minutes on two CPU cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from picochat.configs.fields import option
from picochat.configs.training import DEVICES

GATE_PRESETS = ("research", "release")


@dataclass
class GateConfig:
    """Release-gate thresholds. A preset fills them; a flag overrides one."""

    preset: str = option(
        "research",
        "research: warn on weak figures, block only on leaked evals; release: block unless "
        "the model meets release thresholds.",
        choices=GATE_PRESETS,
    )
    min_heldout_pass_rate: float | None = option(None, "Held-out eval pass rate at least this.")
    min_refusal_pass_rate: float | None = option(
        None, "Pass rate on unanswerable items (the model should refuse) at least this."
    )
    max_prompt_echo_rate: float | None = option(None, "Prompt-echo rate at most this.")
    max_unsupported_claim_rate: float | None = option(None, "Unsupported-claim rate at most this.")
    min_sft_fit_pass_rate: float | None = option(
        None, "Pass rate on the SFT rows themselves (did SFT take?) at least this."
    )


@dataclass
class RunConfig:
    """`run tiny`: every stage end to end on one dataset."""

    out_dir: Path = option(
        Path("runs/tiny"), "Run folder; each stage writes a sub-folder.", path=True
    )
    dataset_pack: Path | None = option(
        None, "Dataset pack JSON (default: the bundled example pack).", path=True
    )
    corpus_input: Path | None = option(
        None,
        "Corpus file or folder (instead of a pack; with --chat-input and --eval-input).",
        path=True,
    )
    chat_input: Path | None = option(None, "Chat JSONL for SFT (instead of a pack).", path=True)
    eval_input: Path | None = option(None, "Held-out eval JSONL (instead of a pack).", path=True)
    dpo_input: Path | None = option(
        None, "Preference JSONL: enables the DPO stage (default: the pack's, if any).", path=True
    )
    dpo_steps: int | None = option(None, "Shorthand for --dpo-max-steps.")
    external_eval: list[str] = option(
        [],
        "An extra eval set scored on the final model, as NAME=PATH.",
        repeat=True,
        metavar="NAME=PATH",
    )
    dpo: bool = option(True, "Run DPO when preference pairs are given (--dpo-input or the pack's).")
    allow_leaky_eval: bool = option(
        False, "Do not block the run when eval prompts are found in the training data."
    )
    preflight_only: bool = option(False, "Print the preflight plan, write preflight.json, stop.")
    force: bool = option(False, "Rerun every stage even when its inputs and config are unchanged.")
    seed: int = option(1337, "Seed for every stage (a stage flag such as --base-seed overrides).")
    device: str = option(
        "auto",
        "Where every stage runs (a stage flag such as --base-device overrides).",
        choices=DEVICES,
    )


# `run tiny`'s own defaults for the stage flags (`--base-max-steps` etc. override them),
# sized so the bundled example pack runs end to end in about three minutes on two CPU
# cores. Stage commands run alone keep their configs' defaults. A seed of None means
# "the run's --seed", a device of None "the run's --device".
RUN_TINY_DEFAULTS: dict[str, dict[str, object]] = {
    "corpus": {},
    "tokenizer": {"type": "char"},
    # ~0.86M parameters on ~30K training characters: validation loss bottoms out after
    # ~200-300 steps (measured), so early stopping ends the stage and SFT starts from
    # best_checkpoint; 1200 steps drove validation loss from 1.88 back up to 4.2.
    "base": {
        "preset": "tiny",
        "context_size": 256,
        "max_steps": 600,
        "batch_size": 16,
        "learning_rate": 3e-3,
        "eval_every": 50,
        "eval_batches": 10,
        "early_stop_patience": 3,
        "seed": None,
        "device": None,
    },
    # 300 steps at 5e-3 memorise the 92 example rows (greedy replies reproduce 100% of
    # training answers, 0% of validation answers): the report shows exactly that.
    "sft": {
        "max_steps": 300,
        "batch_size": 8,
        "learning_rate": 5e-3,
        "eval_every": 50,
        "seed": None,
        "device": None,
    },
    "dpo": {
        "max_steps": 40,
        "batch_size": 8,
        "learning_rate": 5e-5,
        "eval_every": 10,
        "seed": None,
        "device": None,
    },
    "eval": {"max_new_tokens": 64, "batch_size": 32, "seed": None, "device": None},
}
