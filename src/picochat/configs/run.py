"""Settings of `picochat run tiny` and its release gates.

`run tiny` reuses every stage's own flags with a stage prefix (`--base-max-steps`,
`--sft-learning-rate`, `--dpo-beta`, `--tokenizer-type`...): those come from the
stage configs themselves (see `picochat.cli.run`), and the run's own defaults for
them from the stage declarations (`picochat.stages`). Only what belongs to the run as
a whole is declared here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from picochat.configs.fields import option, path_option
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
    dataset_pack: Path | None = path_option(
        "Dataset pack JSON (default: the bundled example pack)."
    )
    corpus_input: Path | None = path_option(
        "Corpus file or folder (instead of a pack; with --chat-input and --eval-input)."
    )
    chat_input: Path | None = path_option("Chat JSONL for SFT (instead of a pack).")
    eval_input: Path | None = path_option("Held-out eval JSONL (instead of a pack).")
    dpo_input: Path | None = path_option(
        "Preference JSONL: enables the DPO stage (default: the pack's, if any)."
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
