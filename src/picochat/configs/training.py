"""Settings of the training stages: the shared loop, base pretraining, SFT, DPO.

`LoopConfig` holds what every training stage shares (schedule, budget, evaluation
cadence, device). The five settings whose default differs per stage (steps, batch,
learning rate, warmup, evaluation cadence) have no default there: each stage config
gives its own, so every setting has exactly one default per stage, and one help text
(`LOOP_HELP`). `run tiny`'s own defaults live in the stage declarations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picochat.configs.fields import option, path_option

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")
SPLIT_MODES = ("auto", "document", "window")
PEFT_METHODS = ("none", "lora")
MLP_KINDS = ("swiglu", "relu2")  # see model/transformer.py Block.mlp
LORA_TARGETS = ("attn_qkv", "attn_proj", "mlp_fc", "mlp_proj")
OPTIMIZERS = ("adamw", "muon")
LR_SCHEDULES = ("cosine", "wsd")  # see training/schedule.py learning_rate_at
PARALLEL_MODES = ("ddp", "fsdp")


LOOP_HELP = {
    "max_steps": "Stop after this many optimizer steps.",
    "learning_rate": "Peak learning rate (AdamW).",
    "warmup_steps": "Linear warmup steps before the decay (--lr-schedule).",
    "eval_every": "Evaluate on validation data every this many steps.",
    "final_val_tokens": "After training, the final and best weights are scored on the whole "
    "validation set up to this many tokens (evenly spread rows beyond it). 16.8 M tokens: "
    "seconds on a GPU, ~10 minutes for a 1M-parameter model on 2 CPU cores.",
}
FINAL_VAL_TOKENS = 1 << 24


def loop_option(name: str, default: Any, help: str | None = None) -> Any:
    """A stage's default for one of the loop settings `LoopConfig` leaves to the stage."""
    return option(default, help or LOOP_HELP[name])


@dataclass(kw_only=True)
class LoopConfig:
    """What every training stage shares: budget, schedule, evaluation, device."""

    out_dir: Path | None = path_option("Folder for this stage's artifacts.", required=True)
    max_steps: int  # no default here: each stage config sets it (loop_option)
    max_minutes: float | None = option(
        None,
        "Stop (with a checkpoint) after this many minutes of the run, resumes included (the "
        "time-based decay of the learning rate goes on where it stopped).",
    )
    early_stop_patience: int | None = option(
        None, "Stop when validation loss has not improved for this many evaluations (0 = off)."
    )
    batch_size: int  # per stage
    grad_accum_steps: int = option(1, "Micro-batches accumulated per optimizer step.")
    learning_rate: float  # per stage
    min_lr_ratio: float = option(0.1, "The decay ends at learning_rate times this.")
    lr_schedule: str = option(
        "cosine",
        "After warmup: cosine decay to the floor; or wsd (warmup-stable-decay): the peak, "
        "then a linear decay to the floor over the last --warmdown-fraction of the run.",
        choices=LR_SCHEDULES,
    )
    warmdown_fraction: float = option(
        0.4, "With --lr-schedule wsd: share of the run (steps or --max-minutes) spent decaying."
    )
    warmup_steps: int  # per stage
    weight_decay: float = option(0.1, "AdamW weight decay, applied to weight matrices only.")
    grad_clip: float = option(1.0, "Clip the global gradient norm to this (0 = off).")
    eval_every: int  # per stage
    eval_batches: int = option(20, "Validation micro-batches per evaluation (0 = all).")
    seed: int = option(1337, "Seeds Python, numpy and torch; same seed, same numbers on CPU.")
    device: str = option("auto", "Where to train.", choices=DEVICES)
    precision: str = option(
        "auto",
        "bf16 autocast where the device supports it (auto), or force one.",
        choices=PRECISIONS,
    )
    compile: bool = option(False, "Compile the model with torch.compile.")
    optimizer: str = option(
        "adamw",
        "adamw; or muon: Muon (orthogonalised momentum) for the block matrices, AdamW for "
        "embeddings, head and norms.",
        choices=OPTIMIZERS,
    )
    muon_learning_rate: float = option(
        0.02, "Muon's peak learning rate (follows the same warmup and decay)."
    )
    embedding_learning_rate: float | None = option(
        None,
        "Peak learning rate (AdamW) of the token embedding table (and of a tied head, the "
        "same table); default: --learning-rate. Follows the same warmup and decay.",
    )
    activation_checkpointing: bool = option(
        False, "Recompute each block's activations in the backward pass (less memory, ~1.3x time)."
    )
    resume: bool = option(False, "Continue from out_dir/checkpoint exactly where it stopped.")
    tensorboard: Path | None = option(
        None,
        "Also log the metrics to TensorBoard in this folder (`pip install tensorboard`); "
        "metrics.jsonl in out_dir is always written.",
        path=True,
    )
    force: bool = option(
        False, "Replace a finished or interrupted run in out_dir (its artifacts are deleted)."
    )
    accept_changed_config: bool = option(
        False,
        "With --resume: continue although settings that change the numbers differ from the "
        "interrupted run's (the report records both).",
    )


@dataclass
class ModelShapeConfig:
    """The model's dials; a preset fills them, explicit flags override it."""

    preset: str | None = option(None, "A named model size (see `picochat train base --help`).")
    depth: int | None = option(
        None,
        "One dial for the model size: derives width (64*depth), heads, kv-heads, context and "
        "the learning rate (the presets table of `picochat train base --help`).",
    )
    n_layer: int | None = option(None, "Transformer blocks.")
    n_head: int | None = option(None, "Attention heads.")
    n_kv_head: int | None = option(None, "Key/value heads (grouped-query attention when < n_head).")
    n_embd: int | None = option(None, "Width of the residual stream.")
    context_size: int | None = option(None, "Tokens of context the model sees.")
    tie_embeddings: bool | None = option(None, "Share the input embedding and output head.")
    qk_norm: bool | None = option(
        None, "RMSNorm on each head's queries and keys (not exportable to Llama)."
    )
    mlp: str | None = option(
        None,
        "MLP kind: swiglu (Llama's, the default) or relu2 (relu(x)^2 with a 4x hidden "
        "width, as the speedrun GPTs; not exportable to Llama).",
        choices=MLP_KINDS,
    )
    logit_softcap: float | None = option(
        None,
        "Soft-cap the output logits at this value: c * tanh(logits / c), as Gemma 2 and the "
        "speedrun GPTs (15-30); 0 = off (the default; not exportable to Llama).",
    )
    value_residual: bool | None = option(
        None,
        "Value residual: each block after the first mixes its attention values with the "
        "first block's, by a learned weight (not exportable to Llama).",
    )


@dataclass
class BaseTrainConfig(ModelShapeConfig, LoopConfig):
    """`train base`: next-token pretraining on a corpus."""

    corpus: Path | None = path_option(
        "The corpus.txt (or shard folder, `data build --shard-mb`) to train on.", required=True
    )
    tokenizer: Path | None = path_option("The tokenizer.json to encode it with.", required=True)
    corpus_manifest: Path | None = path_option(
        "corpus_manifest.json (document spans for whole-document holdout)."
    )
    split_mode: str = option(
        "auto",
        "document: hold out whole documents from the manifest; window: hold out the tail of "
        "the token stream; auto: document when the manifest has >= 2 documents.",
        choices=SPLIT_MODES,
    )
    val_fraction: float = option(0.1, "Share of tokens (or documents) held out for validation.")
    dropout: float = option(
        0.0,
        "Dropout on the embeddings and on each attention and MLP output while training "
        "(nanoGPT uses 0.2 on tinyshakespeare, a corpus seen many times); 0 = off.",
    )
    canary_count: int = option(0, "Insert this many random secret strings into training text only.")
    token_shards: str = option(
        "auto",
        "on: tokenize the corpus once (in parallel) into memory-mapped token shards beside "
        "it and read training windows lazily; off: hold the token streams in memory; "
        "auto: shards for a corpus file of 5 MB or more.",
        choices=("auto", "on", "off"),
    )
    token_cache: Path | None = path_option(
        "Where token shards are cached (default: token_shards/ beside the corpus). Keyed by "
        "content: point corpora of the same text (a corpus.txt, a shard folder) at one folder, "
        "as `data tokenize --cache-dir` does, to tokenize once."
    )
    max_steps: int = loop_option("max_steps", 300)
    final_val_tokens: int = loop_option("final_val_tokens", FINAL_VAL_TOKENS)
    batch_size: int = option(16, "Sequences per micro-batch (per process under torchrun).")
    learning_rate: float | None = loop_option(
        "learning_rate",
        None,
        "Peak learning rate (AdamW). Default 3e-3; with --depth N (or --preset dN) "
        "3e-3*128/width, the 1/width rule (the presets table of `picochat train base --help`).",
    )
    warmup_steps: int = loop_option("warmup_steps", 20)
    eval_every: int = loop_option("eval_every", 50)
    parallel: str = option(
        "ddp",
        "Under torchrun: ddp (a full model copy per process) or fsdp (parameters, gradients "
        "and optimizer state sharded over processes: for models that do not fit one device).",
        choices=PARALLEL_MODES,
    )
    dry_run: int = option(
        0,
        "Run this many real steps (same launcher, batch and model), then report tokens/s, "
        "peak memory and the ETA of the full run; writes no checkpoint, only dry_run.json (0 = off).",
    )


@dataclass
class PeftConfig:
    """Parameter-efficient fine-tuning (LoRA)."""

    peft: str = option(
        "none", "none: train all weights; lora: train low-rank adapters.", choices=PEFT_METHODS
    )
    lora_rank: int = option(8, "LoRA rank r.")
    lora_alpha: float = option(16.0, "LoRA alpha; the update is scaled by alpha / rank.")
    lora_targets: str = option(
        "attn_qkv,attn_proj",
        "Comma-separated modules to adapt: attn_qkv, attn_proj, mlp_fc, mlp_proj, or all.",
    )


@dataclass
class SFTConfig(PeftConfig, LoopConfig):
    """`train sft`: supervised chat fine-tuning of a base checkpoint."""

    input: Path | None = path_option("Chat JSONL rows.", required=True)
    tokenizer: Path | None = path_option("The tokenizer.json.", required=True)
    checkpoint: Path | None = path_option(
        "The base checkpoint folder to start from.", required=True
    )
    strict: bool = option(False, "Stop with an error on the first bad row instead of skipping it.")
    val_fraction: float = option(
        0.1, "Share of chat rows (grouped by prompt) held out for validation."
    )
    max_steps: int = loop_option("max_steps", 300)
    final_val_tokens: int = loop_option("final_val_tokens", FINAL_VAL_TOKENS)
    learning_rate: float = loop_option("learning_rate", 1e-3)
    batch_size: int = option(8, "Conversations per micro-batch.")
    warmup_steps: int = loop_option("warmup_steps", 10)
    eval_every: int = loop_option("eval_every", 50)
    probe_rows: int = option(
        32,
        "Training and validation prompts answered greedily for the memorisation check "
        "(each side; 0 = all).",
    )


@dataclass
class DPOConfig(PeftConfig, LoopConfig):
    """`train dpo`: direct preference optimisation after SFT."""

    input: Path | None = path_option(
        "Preference JSONL rows (prompt, chosen, rejected).", required=True
    )
    tokenizer: Path | None = path_option("The tokenizer.json.", required=True)
    checkpoint: Path | None = path_option(
        "The policy checkpoint to start from (usually SFT).", required=True
    )
    reference_checkpoint: Path | None = path_option(
        "Frozen reference model (default: the policy's starting weights)."
    )
    beta: float = option(0.1, "DPO beta: how far the policy may move from the reference.")
    val_fraction: float = option(0.2, "Share of pairs (grouped) held out for validation.")
    max_steps: int = loop_option("max_steps", 200)
    learning_rate: float = loop_option("learning_rate", 5e-6)
    batch_size: int = option(8, "Preference pairs per micro-batch.")
    warmup_steps: int = loop_option("warmup_steps", 10)
    eval_every: int = loop_option(
        "eval_every", 20, "Evaluate on validation pairs every this many steps."
    )
    eval_batches: int = option(
        0, "DPO scores every validation pair at each evaluation; only 0 (= all) is accepted."
    )


@dataclass
class HFSFTConfig(PeftConfig, LoopConfig):
    """`train hf-sft`: fine-tune an existing Hugging Face causal LM on chat rows."""

    model: str | None = option(None, "A hub model id or a local model folder.", required=True)
    input: Path | None = path_option("Chat JSONL rows.", required=True)
    out_dir: Path | None = path_option("Folder for the model folders and reports.", required=True)
    max_steps: int = loop_option("max_steps", 50)
    learning_rate: float = loop_option("learning_rate", 2e-5)
    batch_size: int = option(4, "Conversations per micro-batch (per process under torchrun).")
    max_length: int = option(512, "Tokens per conversation; earlier turns are cut from the left.")
    lora_targets: str = option(
        "q_proj,v_proj",
        "Comma-separated modules to adapt, by the model's own names (e.g. q_proj,v_proj), "
        "or all-linear.",
    )
    eval_every: int = loop_option(
        "eval_every", 10, "Evaluate on validation rows every this many steps."
    )
    eval_batches: int = option(0, "Validation micro-batches per evaluation (0 = all).")
    val_fraction: float = option(0.1, "Share of rows (grouped by prompt) held out for validation.")
    warmup_steps: int = loop_option("warmup_steps", 5)
    weight_decay: float = option(0.0, "AdamW weight decay, applied to weight matrices only.")
    probe_rows: int = option(
        16, "Train and validation prompts answered greedily for the memorisation check."
    )
    max_new_tokens: int = option(64, "Longest greedy reply in the memorisation check and sample.")
    strict: bool = option(False, "Stop with an error on the first bad row instead of skipping it.")
