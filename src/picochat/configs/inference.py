"""Settings of generation, chat, eval, export and compare."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from picochat.configs.fields import option, path_option


@dataclass
class SamplingConfig:
    """How tokens are drawn. temperature 0 is greedy."""

    max_new_tokens: int = option(128, "Stop after this many new tokens.")
    temperature: float = option(0.8, "Softmax temperature; 0 picks the most likely token (greedy).")
    top_k: int | None = option(None, "Sample only among the k most likely tokens.")
    top_p: float | None = option(
        None, "Sample only among the smallest set with this total probability."
    )
    repetition_penalty: float = option(1.0, "> 1 makes tokens already in the text less likely.")
    seed: int | None = option(None, "Seed for a reproducible sample.")


@dataclass
class ModelSourceConfig:
    """Which model to load: a native checkpoint with its tokenizer, or a Hugging Face folder."""

    checkpoint: Path | None = path_option("A Picochat checkpoint folder.")
    tokenizer: Path | None = path_option("The tokenizer.json the checkpoint was trained with.")
    hf_model: Path | None = path_option("A Hugging Face model folder instead of a checkpoint.")
    device: str = option("auto", "Where to run.", choices=("auto", "cpu", "cuda", "mps"))
    compile: bool = option(
        False,
        "Compile a native checkpoint for decoding (torch.compile): the first reply waits "
        "while it compiles (~25 s for a 12M model on 2 CPU cores), later tokens come "
        "~2-3x faster.",
    )


@dataclass
class GenerateConfig(SamplingConfig, ModelSourceConfig):
    """`generate`: continue raw text with a base (or any) model."""

    prompt: str = option("", "The text to continue.", required=True)


@dataclass
class ChatConfig(SamplingConfig, ModelSourceConfig):
    """`chat`: talk to a chat model, one turn per line."""

    system: str | None = option(None, "A system message placed before the conversation.")


@dataclass
class EvalConfig(ModelSourceConfig):
    """`eval chat`: generate replies to eval items and score them with rules."""

    input: Path | None = path_option("Eval JSONL items.", required=True)
    out_dir: Path | None = path_option("Folder for eval_report.json and report.md.", required=True)
    support_corpus: Path | None = path_option(
        "Corpus that replies must be supported by (require_corpus_support items)."
    )
    replies: Path | None = path_option(
        'Score these replies instead of generating: JSONL with one {"reply": ...} row per '
        "eval item, in the same order (no checkpoint needed)."
    )
    max_new_tokens: int = option(96, "Longest reply generated per item (greedy decoding).")
    batch_size: int = option(16, "Items generated together.")
    seed: int = option(0, "Seed for the bootstrap confidence interval.")
    min_reference_f1: float = option(
        0.3, "An item with a reference_answer fails below this token-F1."
    )
    min_corpus_support: float = option(
        0.5,
        "A require_corpus_support item fails when fewer than this share of its content "
        "bigrams occur in the support corpus.",
    )


@dataclass
class ExportHFConfig:
    """`export hf`: a native checkpoint as a Hugging Face LlamaForCausalLM folder."""

    checkpoint: Path | None = path_option("The Picochat checkpoint folder.", required=True)
    tokenizer: Path | None = path_option("Its tokenizer.json.", required=True)
    out_dir: Path | None = path_option("Where to write the Hugging Face folder.", required=True)
    adapter: Path | None = path_option(
        "A LoRA run folder (`train sft/dpo --peft lora` wrote adapter_config.json there) "
        "trained on --checkpoint: also written as a PEFT adapter in OUT_DIR/adapter."
    )
    force: bool = option(
        False, "Replace --out-dir even when it holds files an earlier export did not write."
    )
