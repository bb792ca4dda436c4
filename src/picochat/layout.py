"""Every file and folder name of a run folder, defined once.

A run folder (what `picochat run tiny --out-dir D` writes, and what each stage
command writes into its own `--out`/`--out-dir`):

    D/corpus.txt  corpus_manifest.json  corpus_report.md      the corpus stage
    D/corpus/shard-00000.txt ...      a sharded corpus (`data build --shard-mb N`)
    D/token_shards/                                           token shards of a large corpus
    D/hf_rows/  hf_import_report.json                         `data hf-import` beside its corpus
    D/tokenizer.json  tokenizer_report.json                   the tokenizer stage
    D/contamination.json  preflight.json  stages.json         the run's own records
    D/base/  checkpoint/ best_checkpoint/ train_report.json report.md sample.txt
             loss_curve.png canary_probe.txt token_cache/ (dry_run.json)
    D/sft/   checkpoint/ sft_report.json report.md sample.txt loss_curve.png
    D/dpo/   checkpoint/ best_checkpoint/ dpo_report.json report.md dpo_curve.png
    D/eval/NAME/  eval_report.json report.md   (NAME: sft_fit, heldout, external evals)
    D/summary.json  summary.md  report.html

Not for: what is inside a checkpoint folder (`model.safetensors`, `config.json`,
`training_state.pt`: the checkpoint format, `picochat.model.checkpoint`), nor which
stage writes what (the stage declarations in `picochat.stages`). Nothing here
imports anything, so every layer may use it.
"""

from __future__ import annotations

from pathlib import Path

# The corpus stage (`data build --out D/corpus.txt` writes the other two beside it).
CORPUS = "corpus.txt"
CORPUS_MANIFEST = "corpus_manifest.json"
CORPUS_REPORT = "corpus_report.md"
CORPUS_SHARD = "shard-{:05d}.txt"  # a sharded corpus's files (`data build --shard-mb`)
TOKEN_SHARDS = "token_shards"  # beside the corpus, when base trains through token shards
# `data hf-import --out D/corpus.txt` also writes, beside the corpus:
HF_ROWS = "hf_rows"  # the imported rows, in resumable parts
HF_IMPORT_REPORT = "hf_import_report.json"

# The tokenizer stage.
TOKENIZER = "tokenizer.json"
TOKENIZER_REPORT = "tokenizer_report.json"

# What `run tiny` itself writes.
CONTAMINATION = "contamination.json"
PREFLIGHT = "preflight.json"
STAGE_RECORDS = "stages.json"
SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
REPORT_HTML = "report.html"

# Stage sub-folders of a run.
BASE_DIR = "base"
SFT_DIR = "sft"
DPO_DIR = "dpo"
EVAL_DIR = "eval"
STAGE_DIRS = (BASE_DIR, SFT_DIR, DPO_DIR, EVAL_DIR)

# Inside a training stage's folder.
CHECKPOINT = "checkpoint"
BEST_CHECKPOINT = "best_checkpoint"
CHECKPOINT_DIRS = (CHECKPOINT, BEST_CHECKPOINT)
BASE_REPORT = "train_report.json"
SFT_REPORT = "sft_report.json"
DPO_REPORT = "dpo_report.json"
STAGE_MARKDOWN = "report.md"
SAMPLE = "sample.txt"
LOSS_CURVE = "loss_curve.png"
DPO_CURVE = "dpo_curve.png"
CANARY_PROBE = "canary_probe.txt"
DRY_RUN_REPORT = "dry_run.json"  # `train base --dry-run N`: instead of the stage's report
TOKEN_CACHE = "token_cache"

# Inside the eval folder: one sub-folder per eval set.
EVAL_REPORT = "eval_report.json"
SFT_FIT_ITEMS = "sft_fit_items.jsonl"

# The run-level files, in the order the summary's artifact list shows them.
RUN_FILES = (
    CORPUS,
    CORPUS_MANIFEST,
    CORPUS_REPORT,
    TOKENIZER,
    TOKENIZER_REPORT,
    CONTAMINATION,
    PREFLIGHT,
    STAGE_RECORDS,
    SUMMARY_JSON,
    SUMMARY_MD,
    REPORT_HTML,
)


def eval_report(eval_name: str) -> str:
    """Where the eval set `eval_name`'s report lies, relative to the run folder."""
    return f"{EVAL_DIR}/{eval_name}/{EVAL_REPORT}"


def corpus_outputs(corpus: Path) -> tuple[Path, Path, Path]:
    """corpus.txt (or a shard folder) and the manifest and report written beside it."""
    return corpus, corpus.parent / CORPUS_MANIFEST, corpus.parent / CORPUS_REPORT


def corpus_shard(number: int) -> str:
    """The file name of a sharded corpus's shard `number` (inside its `--out` folder)."""
    return CORPUS_SHARD.format(number)


def is_corpus_shard(name: str) -> bool:
    """Whether a file name is one that `corpus_shard` gives."""
    prefix, suffix = CORPUS_SHARD.split("{")[0], CORPUS_SHARD.rsplit("}", 1)[1]
    middle = name[len(prefix) : -len(suffix)]
    return name.startswith(prefix) and name.endswith(suffix) and middle.isdigit()
