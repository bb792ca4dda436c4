"""Settings of the dataset stage (`picochat data ...`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picochat.configs.fields import option, path_option

CORPUS_SUFFIXES = (".txt", ".md", ".jsonl", ".csv", ".py")


def shard_mb_option() -> Any:
    """`--shard-mb` of `data build` and `data hf-import` (one definition, two commands)."""
    return option(
        None,
        "Write the corpus as a folder of shards of at most this many MB (10^6 bytes) each, "
        "cut between documents: --out then names the folder (e.g. runs/big/corpus) and "
        "corpus_manifest.json and corpus_report.md go beside it. Every stage reads such a "
        "folder where it reads corpus.txt. Without it: one corpus.txt.",
        metavar="MB",
        path=True,  # part of where the output goes: `run tiny` always writes corpus.txt
    )


@dataclass
class CorpusConfig:
    """Where the corpus comes from and how it is filtered (`data preview` / `data build`)."""

    input: Path | None = path_option(
        "A text file, or a folder read recursively (.txt .md .jsonl .csv .py)."
    )
    dataset_pack: Path | None = path_option(
        "A dataset pack JSON binding corpus, chat, eval (and preference) files."
    )
    recipe: Path | None = path_option(
        "A corpus recipe JSON: several sources with labels and include/exclude globs."
    )
    out: Path | None = path_option(
        "Where to write corpus.txt (a folder, or a path without a suffix, means "
        "FOLDER/corpus.txt); corpus_manifest.json and corpus_report.md go beside it. "
        "With --shard-mb: the folder of shards."
    )
    shard_mb: float | None = shard_mb_option()
    min_score: float = option(
        0.0, "Leave out files whose source quality score (0-100) is below this."
    )
    keep_duplicates: bool = option(
        False, "Keep exact duplicate documents (by default they are dropped and counted)."
    )
    text_column: str | None = option(
        None, "CSV column holding the text when there is no `text` column."
    )
    allow_outside_pack: bool = option(
        False,
        "Let a dataset pack or recipe read files outside its own folder (off: such a path "
        "is refused, so a pack from elsewhere cannot pull e.g. /etc/passwd into a corpus).",
    )
    near_duplicate_threshold: float = option(
        0.8,
        "Estimated Jaccard similarity (word 5-gram MinHash) from which two documents are "
        "flagged as near-duplicates. Flagged, never dropped.",
    )


@dataclass
class EvalStarterConfig:
    """`data eval-starter`: scaffold eval items from a corpus (marked needs_review)."""

    input: Path | None = path_option(
        "The corpus.txt (or shard folder) to draw items from.", required=True
    )
    out: Path | None = path_option("Where to write the eval JSONL.", required=True)
    max_items: int = option(40, "At most this many items.")
    seed: int = option(0, "Seed for which sentences and entities are picked.")


@dataclass
class PreferenceStarterConfig:
    """`data preference-starter`: chosen/rejected pairs with synthetic rejected answers."""

    input: Path | None = path_option("A chat JSONL file (SFT rows).", required=True)
    out: Path | None = path_option("Where to write the preference JSONL.", required=True)
    seed: int = option(0, "Seed for strategy choice and off-topic row picks.")


@dataclass
class HFImportConfig:
    """`data hf-import`: a Hugging Face dataset split written as a local corpus."""

    dataset: str | None = option(
        None, "A hub dataset id, or a local file/folder (jsonl, parquet, csv, text).", required=True
    )
    config: str | None = option(None, "Dataset configuration (subset) name.")
    split: str = option("train", "Which split to read.")
    text_column: str = option("text", "Column holding the document text.")
    max_rows: int = option(1000, "Read at most this many rows (0 = every row).")
    max_bytes: int = option(0, "Stop once this many bytes of text are kept (0 = no limit).")
    resume: bool = option(
        False, "Continue an interrupted import from its last finished part (same flags)."
    )
    min_chars: int = option(0, "Skip rows whose text is shorter than this.")
    streaming: bool = option(True, "Stream rows instead of downloading the whole split.")
    out: Path | None = path_option(
        "Where to write corpus.txt (with --shard-mb: the folder of shards).", required=True
    )
    shard_mb: float | None = shard_mb_option()


@dataclass
class TokenizeConfig:
    """`data tokenize`: a corpus tokenized once into memory-mapped token shards."""

    corpus: Path | None = path_option(
        "The corpus.txt (or shard folder) to tokenize.", required=True
    )
    tokenizer: Path | None = path_option("The tokenizer.json to use.", required=True)
    corpus_manifest: Path | None = path_option(
        "corpus_manifest.json: document spans (each document starts with <|bos|>)."
    )
    cache_dir: Path | None = path_option(
        "Where the shard folders go (default: token_shards/ beside the corpus, where "
        "`train base` looks for them unless given --token-cache)."
    )
    workers: int = option(0, "Tokenizing processes (0 = one per available CPU core).")
    rebuild: bool = option(False, "Tokenize again even if shards of these inputs exist.")
