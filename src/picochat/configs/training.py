"""Settings of the training stages: the shared loop, base pretraining, SFT, DPO.

`LoopConfig` holds what every training stage shares (schedule, budget, evaluation
cadence, device); each stage config extends it and sets its own defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from picochat.configs.fields import option

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")
SPLIT_MODES = ("auto", "document", "window")
PEFT_METHODS = ("none", "lora")
LORA_TARGETS = ("attn_qkv", "attn_proj", "mlp_fc", "mlp_proj")
OPTIMIZERS = ("adamw", "muon")
PARALLEL_MODES = ("ddp", "fsdp")


@dataclass
class LoopConfig:
    """What every training stage shares: budget, schedule, evaluation, device."""

    out_dir: Path | None = option(
        None, "Folder for this stage's artifacts.", path=True, required=True
    )
    max_steps: int = option(300, "Stop after this many optimizer steps.")
    max_minutes: float | None = option(None, "Stop (with a checkpoint) after this many minutes.")
    early_stop_patience: int | None = option(
        None, "Stop when validation loss has not improved for this many evaluations (0 = off)."
    )
    batch_size: int = option(16, "Sequences per micro-batch (per process under torchrun).")
    grad_accum_steps: int = option(1, "Micro-batches accumulated per optimizer step.")
    learning_rate: float = option(3e-3, "Peak learning rate (AdamW).")
    min_lr_ratio: float = option(0.1, "Cosine decay ends at learning_rate times this.")
    warmup_steps: int = option(20, "Linear warmup steps before cosine decay.")
    weight_decay: float = option(0.1, "AdamW weight decay, applied to weight matrices only.")
    grad_clip: float = option(1.0, "Clip the global gradient norm to this (0 = off).")
    eval_every: int = option(50, "Evaluate on validation data every this many steps.")
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
        "the learning rate (table below).",
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


@dataclass
class BaseTrainConfig(ModelShapeConfig, LoopConfig):
    """`train base`: next-token pretraining on a corpus."""

    corpus: Path | None = option(None, "The corpus.txt to train on.", path=True, required=True)
    tokenizer: Path | None = option(
        None, "The tokenizer.json to encode it with.", path=True, required=True
    )
    corpus_manifest: Path | None = option(
        None, "corpus_manifest.json (document spans for whole-document holdout).", path=True
    )
    split_mode: str = option(
        "auto",
        "document: hold out whole documents from the manifest; window: hold out the tail of "
        "the token stream; auto: document when the manifest has >= 2 documents.",
        choices=SPLIT_MODES,
    )
    val_fraction: float = option(0.1, "Share of tokens (or documents) held out for validation.")
    canary_count: int = option(0, "Insert this many random secret strings into training text only.")
    token_shards: str = option(
        "auto",
        "on: tokenize the corpus once (in parallel) into memory-mapped token shards beside "
        "it and read training windows lazily; off: hold the token streams in memory; "
        "auto: shards for a corpus file of 5 MB or more.",
        choices=("auto", "on", "off"),
    )
    learning_rate: float | None = option(
        None,
        "Peak learning rate (AdamW). Default 3e-3; with --depth N (or --preset dN) "
        "3e-3*128/width, the 1/width rule (table below).",
    )
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

    input: Path | None = option(None, "Chat JSONL rows.", path=True, required=True)
    tokenizer: Path | None = option(None, "The tokenizer.json.", path=True, required=True)
    checkpoint: Path | None = option(
        None, "The base checkpoint folder to start from.", path=True, required=True
    )
    strict: bool = option(False, "Stop with an error on the first bad row instead of skipping it.")
    val_fraction: float = option(
        0.1, "Share of chat rows (grouped by prompt) held out for validation."
    )
    learning_rate: float = option(1e-3, "Peak learning rate (AdamW).")
    batch_size: int = option(8, "Conversations per micro-batch.")
    warmup_steps: int = option(10, "Linear warmup steps before cosine decay.")
    probe_rows: int = option(
        32,
        "Training and validation prompts answered greedily for the memorisation check "
        "(each side; 0 = all).",
    )


@dataclass
class DPOConfig(PeftConfig, LoopConfig):
    """`train dpo`: direct preference optimisation after SFT."""

    input: Path | None = option(
        None, "Preference JSONL rows (prompt, chosen, rejected).", path=True, required=True
    )
    tokenizer: Path | None = option(None, "The tokenizer.json.", path=True, required=True)
    checkpoint: Path | None = option(
        None, "The policy checkpoint to start from (usually SFT).", path=True, required=True
    )
    reference_checkpoint: Path | None = option(
        None, "Frozen reference model (default: the policy's starting weights).", path=True
    )
    beta: float = option(0.1, "DPO beta: how far the policy may move from the reference.")
    val_fraction: float = option(0.2, "Share of pairs (grouped) held out for validation.")
    max_steps: int = option(200, "Stop after this many optimizer steps.")
    learning_rate: float = option(5e-6, "Peak learning rate (AdamW).")
    batch_size: int = option(8, "Preference pairs per micro-batch.")
    warmup_steps: int = option(10, "Linear warmup steps before cosine decay.")
    eval_every: int = option(20, "Evaluate on validation pairs every this many steps.")
    eval_batches: int = option(
        0, "DPO scores every validation pair at each evaluation; only 0 (= all) is accepted."
    )


@dataclass
class HFSFTConfig(PeftConfig, LoopConfig):
    """`train hf-sft`: fine-tune an existing Hugging Face causal LM on chat rows."""

    model: str | None = option(None, "A hub model id or a local model folder.", required=True)
    input: Path | None = option(None, "Chat JSONL rows.", path=True, required=True)
    out_dir: Path | None = option(
        None, "Folder for the model folders and reports.", path=True, required=True
    )
    max_steps: int = option(50, "Stop after this many optimizer steps.")
    learning_rate: float = option(2e-5, "Peak learning rate (AdamW).")
    batch_size: int = option(4, "Conversations per micro-batch (per process under torchrun).")
    max_length: int = option(512, "Tokens per conversation; earlier turns are cut from the left.")
    lora_targets: str = option(
        "q_proj,v_proj",
        "Comma-separated modules to adapt, by the model's own names (e.g. q_proj,v_proj), "
        "or all-linear.",
    )
    eval_every: int = option(10, "Evaluate on validation rows every this many steps.")
    eval_batches: int = option(0, "Validation micro-batches per evaluation (0 = all).")
    val_fraction: float = option(0.1, "Share of rows (grouped by prompt) held out for validation.")
    warmup_steps: int = option(5, "Linear warmup steps before cosine decay.")
    weight_decay: float = option(0.0, "AdamW weight decay, applied to weight matrices only.")
    probe_rows: int = option(
        16, "Train and validation prompts answered greedily for the memorisation check."
    )
    max_new_tokens: int = option(64, "Longest greedy reply in the memorisation check and sample.")
    strict: bool = option(False, "Stop with an error on the first bad row instead of skipping it.")
