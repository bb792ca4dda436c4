"""`train dpo`: direct preference optimisation of a chat checkpoint (SPEC.md §5).

Not for: the loss formulas (`dpo_loss.py`), pair batching (`dpo_data.py`), the report
text (`dpo_report.py`) or the loop mechanics (`loop.py`); this module wires them.

    train_dpo(DPOConfig(input=..., tokenizer=..., checkpoint=..., out_dir=...)) -> DPOResult

The frozen reference's answer log-probabilities are computed ONCE, before the first
step, for every train and validation pair: from the policy's own starting weights
(default) or from `--reference-checkpoint`, which is loaded, used and freed. They are
kept in `reference_logps.safetensors` (a resumed run reads them back), so no second
model is in memory while training. Validation pairs are held out by group.

Writes into `out_dir`: checkpoint/, best_checkpoint/ (lowest validation DPO loss),
reference_logps.safetensors, dpo_report.json, report.md, dpo_curve.png; with `--peft
lora` also adapter_model.safetensors + adapter_config.json (checkpoints hold merged
weights, as in `train sft`, so later stages need nothing special).
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save as save_tensors
from torch import nn

from picochat import layout
from picochat.artifacts import atomic_write_bytes, sha256_file
from picochat.configs.training import DPOConfig
from picochat.data.preferences import PreferenceDataset, read_preferences_jsonl
from picochat.errors import CheckpointError, ConfigError, InputError
from picochat.model.checkpoint import (
    WEIGHTS_FILE,
    load_checkpoint,
    read_checkpoint_info,
)
from picochat.model.checkpoint_files import read_checkpoint_tensors, require_file
from picochat.model.lora import (
    parse_targets,
    save_adapter,
)
from picochat.runtime import seed_everything
from picochat.training.dpo_data import (
    EncodedPair,
    PairBatch,
    PairBatches,
    answer_logps,
    encode_pairs,
    sequence_logps,
)
from picochat.training.dpo_loss import dpo_terms
from picochat.training.dpo_report import build_report, write_report_files
from picochat.training.dpo_ties import TIE_RTOL_FLOOR, measure_tie_rtol
from picochat.training.finetune import (
    finetune_saver,
    load_chat_tokenizer,
    load_finetune_model,
    peft_summary,
)
from picochat.training.loop import CHECKPOINT_DIR, TrainTask
from picochat.training.stage_guard import guarded_stage
from picochat.training.stage_report import RunFacts
from picochat.training.stage_run import StageRun, TrainResult, check_loop_config, run_stage

REFERENCE_FILE = "reference_logps.safetensors"


@dataclass
class DPOResult(TrainResult):
    REPORT_FILE = layout.DPO_REPORT

    adapter_dir: Path | None = None


@dataclass
class DPOData:
    """What the preference file became: the split, encoded pairs and what was left out."""

    dataset: PreferenceDataset
    train: list[EncodedPair]
    val: list[EncodedPair]
    skipped: list[Any]

    @property
    def all_pairs(self) -> list[EncodedPair]:
        return self.train + self.val  # index order: reference table rows


def check_config(config: DPOConfig) -> None:
    check_loop_config(config, required=("input", "tokenizer", "checkpoint", "out_dir"))
    if not config.beta > 0:
        raise ConfigError("--beta must be > 0.", fix="TRL's default is 0.1.")
    if config.eval_batches:
        raise ConfigError(
            "--eval-batches does nothing in DPO: every validation pair is scored at each "
            "evaluation (the pairs are few, and a sample would make val metrics noisy).",
            fix="Leave --eval-batches out (or 0); use --val-fraction to size validation.",
        )
    if config.reference_checkpoint is not None:
        read_checkpoint_info(config.reference_checkpoint)  # missing or not a checkpoint
    if not 0.0 <= config.val_fraction < 1.0:
        raise ConfigError("--val-fraction must be in [0, 1).")
    if config.peft == "lora":
        parse_targets(config.lora_targets)  # unknown names fail before anything loads


def load_pairs(config: DPOConfig, tokenizer: Any, context_size: int) -> DPOData:
    """Read, split by group (before tokenizing, so the split ignores the context size), encode."""
    dataset = read_preferences_jsonl(config.input)
    if not dataset.pairs:
        raise InputError(
            f"no usable preference pairs ({len(dataset.skipped)} rows skipped).",
            file=config.input,
            fix='Each row needs "user" (or "prompt"/"messages"), "chosen" and "rejected"; '
            "`picochat data preference-starter` makes a starter file from chat rows.",
        )
    train_pairs, val_pairs = dataset.split(config.val_fraction, config.seed)
    train, train_skipped = encode_pairs(train_pairs, tokenizer, context_size)
    val, val_skipped = encode_pairs(val_pairs, tokenizer, context_size, first_index=len(train))
    skipped = sorted(dataset.skipped + train_skipped + val_skipped, key=lambda s: s.line)
    if not train:
        raise InputError(
            f"no training pairs fit the model ({len(skipped)} skipped, {len(val)} validation).",
            file=config.input,
            fix="Add pairs with other prompts/groups, or shorten answers that exceed the context.",
        )
    return DPOData(dataset, train, val, skipped)


def reference_logps(
    run: StageRun, policy: nn.Module, data: DPOData, tokenizer: Any
) -> tuple[torch.Tensor, dict[str, Any]]:
    """[pairs, 2] reference log-prob sums (chosen, rejected) and how they were obtained."""
    config = run.config
    out_file = run.out_dir / REFERENCE_FILE
    lines = torch.tensor([p.pair.line for p in data.all_pairs], dtype=torch.long)
    about = _reference_about(config, len(lines))
    if config.resume:
        # The policy in memory is the trained one now: the reference can only be read back.
        about["computed"] = "read back from the first run of this folder (--resume)"
        logps, rtol = _read_reference(out_file, lines)
        about["tie_tolerance"] = {"rtol": rtol, "method": "read back with the reference"}
        return logps, about
    if config.reference_checkpoint is None:
        logps = _score(run, policy, data, tokenizer)
        about["tie_tolerance"] = _ties(run, policy, data, tokenizer, logps)
    else:
        reference = _load_reference(config, policy, tokenizer, run.device)
        logps = _score(run, reference, data, tokenizer)
        about["tie_tolerance"] = _ties(run, reference, data, tokenizer, logps)
        del reference  # freed before training: one model in memory from here on
        gc.collect()
        if run.device.type == "cuda":
            torch.cuda.empty_cache()
    kept = (
        "the reference model was then freed"
        if config.reference_checkpoint
        else "no copy of the model was kept"
    )
    about["computed"] = (
        f"once, before step 1, in eval mode ({run.precision}) for all {len(lines)} train and "
        f"validation pairs; {kept}"
    )
    if run.info.is_main:
        rtol = torch.tensor([about["tie_tolerance"]["rtol"]], dtype=torch.float64)
        tensors = {"logps": logps, "lines": lines, "tie_rtol": rtol}
        atomic_write_bytes(out_file, save_tensors(tensors))
    return logps, about


def _ties(
    run: StageRun, model: nn.Module, data: DPOData, tokenizer: Any, logps: torch.Tensor
) -> dict[str, Any]:
    """The tie tolerance of the metrics, measured on the weights that scored `logps`."""
    return measure_tie_rtol(
        model, data.train, logps[: len(data.train)], batch_size=run.config.batch_size,
        pad_id=tokenizer.pad_id, device=run.device, precision=run.precision,
    )  # fmt: skip


def _reference_about(config: DPOConfig, pairs: int) -> dict[str, Any]:
    """The report's `reference` entry: which weights scored the pairs."""
    source = config.reference_checkpoint or config.checkpoint
    return {
        "checkpoint": str(source),
        "sha256": sha256_file(Path(source) / WEIGHTS_FILE),
        "source": "--reference-checkpoint"
        if config.reference_checkpoint
        else "the policy's starting weights (--checkpoint)",
        "file": REFERENCE_FILE,
        "pairs": pairs,
    }


def _read_reference(out_file: Path, lines: torch.Tensor) -> tuple[torch.Tensor, float]:
    """--resume: the log-probs the first run saved, for exactly these pairs, and its tie
    tolerance (the floor for a file saved before the tolerance was)."""
    require_file(
        out_file,
        f"{REFERENCE_FILE} is missing, so the reference log-probs cannot be restored.",
        fix="Start the run anew without --resume.",
    )
    saved = read_checkpoint_tensors(out_file)
    if "logps" not in saved or not torch.equal(saved.get("lines", torch.empty(0)), lines):
        raise CheckpointError(
            "the saved reference log-probs do not match this preference file's pairs.",
            file=out_file,
            fix="Resume with the same --input, --val-fraction and --seed, or start anew.",
        )
    rtol = saved.get("tie_rtol")
    return saved["logps"], float(rtol[0]) if rtol is not None else TIE_RTOL_FLOOR


def _score(run: StageRun, model: nn.Module, data: DPOData, tokenizer: Any) -> torch.Tensor:
    """Answer log-prob sums of every pair under `model`.

    Train and validation pairs are batched apart, the validation ones exactly as the
    loop's evaluation batches them: at step 0 the policy's validation log-probs then
    equal the reference's bit for bit (fp32 SDPA rounds a row differently at another
    padded length, so a shared batching would let pairs "win" on ~1e-7 noise).
    """
    parts = [
        answer_logps(model, part, pad_id=tokenizer.pad_id, batch_size=run.config.batch_size,
                     device=run.device, precision=run.precision)
        for part in (data.train, data.val)
    ]  # fmt: skip
    return torch.cat(parts)


def _load_reference(
    config: DPOConfig, policy: nn.Module, tokenizer: Any, device: torch.device
) -> nn.Module:
    """--reference-checkpoint, checked to score the policy's pairs (vocabulary, context)."""
    reference = load_checkpoint(config.reference_checkpoint, device=device, tokenizer=tokenizer)
    if reference.config.vocab_size != policy.config.vocab_size:
        raise CheckpointError(
            "the reference and the policy have different vocabularies.",
            file=config.reference_checkpoint,
            fix="Use a reference trained with the same tokenizer as the policy.",
        )
    if reference.config.context_size < policy.config.context_size:
        raise CheckpointError(
            f"the reference's context ({reference.config.context_size} tokens) is shorter "
            f"than the policy's ({policy.config.context_size}), so it cannot score the pairs.",
            file=config.reference_checkpoint,
            fix="Use a reference with at least the policy's context (usually its SFT parent).",
        )
    return reference


def train_dpo(config: DPOConfig, *, show_progress: bool = True, on_step: Any = None) -> DPOResult:
    """Preference-tune `config.checkpoint`; see the module docstring for what is written."""
    check_config(config)
    with guarded_stage(config, report=layout.DPO_REPORT, stage="train dpo"):
        return run_stage(config, _train, show_progress=show_progress, on_step=on_step)


def _load_policy(config: DPOConfig, tokenizer: Any, device: torch.device) -> nn.Module:
    """The starting policy (or, with --resume, the run's own weights), LoRA-wrapped when asked.

    With LoRA the base stays frozen and the adapter's state rides in training_state.pt,
    as in `train sft`; a fresh adapter (B = 0) leaves the outputs unchanged.
    """
    resume_dir = Path(config.out_dir) / CHECKPOINT_DIR
    if config.resume:
        info = read_checkpoint_info(resume_dir)
        if info.get("kind") != "dpo":
            raise CheckpointError(
                "--resume needs the checkpoint/ of an earlier `train dpo` run in --out-dir.",
                file=resume_dir,
                fix="Start without --resume, or point --out-dir at the DPO run to continue.",
            )
    return load_finetune_model(config, tokenizer, device, command="DPO")


def _train(run: StageRun) -> DPOResult:
    config, out_dir = run.config, run.out_dir
    tokenizer = load_chat_tokenizer(config.tokenizer)
    seed_everything(config.seed)  # the LoRA init draws from torch's RNG
    policy = _load_policy(config, tokenizer, run.device)
    data = load_pairs(config, tokenizer, policy.config.context_size)
    reference, reference_info = reference_logps(run, policy, data, tokenizer)
    policy.train()
    task = _task(run, policy, tokenizer, data, reference, reference_info)
    loop = run.loop(task, label="train dpo")
    report: dict[str, Any] = {}
    lora = config.peft == "lora"
    if run.info.is_main:
        if lora:
            save_adapter(policy, out_dir, base_checkpoint=config.checkpoint)
        inputs = [config.input, config.tokenizer, config.checkpoint, config.reference_checkpoint]
        report = build_report(
            RunFacts.of(run, loop, inputs),
            model_info={
                "num_parameters": policy.num_parameters(),
                "trainable_parameters": sum(
                    p.numel() for p in policy.parameters() if p.requires_grad
                ),
            },
            data=data,
            reference=reference_info,
            peft=peft_summary(config),
        )
        write_report_files(out_dir, report)
    adapter_dir = out_dir if lora and run.info.is_main else None
    return DPOResult.from_loop(out_dir, report, loop, adapter_dir=adapter_dir)


def _task(
    run: StageRun,
    policy: nn.Module,
    tokenizer: Any,
    data: DPOData,
    reference: torch.Tensor,
    reference_info: dict[str, Any],
) -> TrainTask:
    """The DPO loss against the stored reference log-probs; merged checkpoints "dpo"."""
    config, pad_id = run.config, tokenizer.pad_id
    tie_rtol = reference_info["tie_tolerance"]["rtol"]

    def loss_fn(model: nn.Module, batch: PairBatch):
        chosen, rejected = sequence_logps(model, batch)
        ref = reference[batch.indices].to(chosen.device)
        terms = dpo_terms(chosen, rejected, ref[:, 0], ref[:, 1], config.beta, tie_rtol=tie_rtol)
        return terms.losses.mean(), terms.metrics()

    val_reference = reference[len(data.train) :]

    def evaluate(model: nn.Module) -> dict[str, float | None]:
        if not data.val:
            return {"val_loss": None}
        logps = answer_logps(
            model, data.val, pad_id=pad_id, batch_size=config.batch_size, device=run.device,
            precision=run.precision,
        )  # fmt: skip
        terms = dpo_terms(
            logps[:, 0], logps[:, 1], val_reference[:, 0], val_reference[:, 1], config.beta,
            tie_rtol=tie_rtol,
        )  # fmt: skip
        return {f"val_{name}": value for name, value in terms.metrics().items()}

    metadata = {
        "stage": "train dpo",
        "seed": config.seed,
        "beta": config.beta,
        "policy_start": str(config.checkpoint),
        "reference": reference_info["checkpoint"],
        "peft": peft_summary(config),
    }
    batches = PairBatches(data.train, pad_id=pad_id, **run.batching())
    return TrainTask(
        model=policy,
        loss_fn=loss_fn,
        train_batches=batches,
        evaluate=evaluate,
        save_checkpoint=finetune_saver(config, tokenizer, kind="dpo", metadata=metadata),
        count_tokens=lambda batch: batch.tokens,
    )
