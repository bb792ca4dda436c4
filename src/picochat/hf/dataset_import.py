"""`picochat data hf-import`: one split of a Hugging Face dataset as a local corpus.

Reads rows with `datasets.load_dataset` (streamed by default, so a 1,000-row sample
of a terabyte dataset downloads only what it reads) from a hub id or from local
files: a `.jsonl`/`.json`, `.parquet`, `.csv` or `.txt` file, or a folder of one of
those formats (split names inferred from file names the way `datasets` does). Each
row's text column becomes one document of `corpus.txt`, with the same manifest the
dataset stage writes, so base pretraining can hold out whole documents.

Rows are streamed into `hf_rows/part_*.jsonl` parts (`import_parts.py`: bounded memory,
`--max-rows`/`--max-bytes`, `--resume` after an interruption) and the dataset stage
reads them one part at a time.

Plain-text files are read one paragraph (blank-line separated block) per row, not
one line per row: a line is too small to be a held-out document.

Not for: cleaning or filtering beyond `--min-chars` (preview the corpus and rebuild
it with `picochat data build` for quality scores), nor for chat data.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.artifacts import atomic_write_json, hash_inputs, report_header
from picochat.configs import CorpusConfig, HFImportConfig
from picochat.data.corpus import CorpusResult, build_corpus
from picochat.data.corpus_shards import check_shard_flags
from picochat.data.documents import normalise
from picochat.data.sources import output_paths
from picochat.errors import ConfigError, InputError, PicochatError, from_os_error
from picochat.hf import import_parts as hf_parts
from picochat.hf.support import require

# Suffix -> `datasets` packaged builder.
LOCAL_BUILDERS = {
    ".jsonl": "json",
    ".json": "json",
    ".parquet": "parquet",
    ".csv": "csv",
    ".txt": "text",
}
_TEXT_BUILDER_OPTIONS = {"sample_by": "paragraph"}


@dataclass
class HFImportResult:
    """What an import wrote and what it read."""

    corpus: CorpusResult
    rows_file: Path
    report: Path
    source: str
    builder: str | None
    columns: list[str]
    rows_read: int
    rows_kept: int
    skipped: dict[str, int] = field(default_factory=dict)


def _local_builder(path: Path) -> str | None:
    """The `datasets` builder for a local file or folder; None for a folder datasets infers."""
    if path.is_file():
        builder = LOCAL_BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise InputError(
                f"Cannot import a `{path.suffix}` file.",
                file=path,
                fix=f"Use one of: {', '.join(sorted(LOCAL_BUILDERS))}.",
            )
        return builder
    files = [p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")]
    kinds = Counter(
        LOCAL_BUILDERS[p.suffix.lower()] for p in files if p.suffix.lower() in LOCAL_BUILDERS
    )
    if not kinds:
        raise InputError(
            "The folder holds no data files to import.",
            file=path,
            fix=f"Put {', '.join(sorted(LOCAL_BUILDERS))} files in it, or pass one file.",
        )
    if len(kinds) > 1:
        raise InputError(
            f"The folder mixes data formats ({', '.join(sorted(kinds))}); `datasets` would "
            "silently read only the most common one.",
            file=path,
            fix="Keep one format per folder, or pass a single file.",
        )
    return next(iter(kinds))


def open_split(config: HFImportConfig) -> tuple[Any, str | None]:
    """`load_dataset` for a hub id or local path -> (dataset or iterable dataset, builder)."""
    datasets = require("datasets", purpose="`picochat data hf-import`")
    source = str(config.dataset)
    local = Path(source).expanduser()
    kwargs: dict[str, Any] = {"split": config.split, "streaming": config.streaming}
    builder: str | None = None
    if local.exists():
        datasets.disable_progress_bars()  # local files load in moments; bars are noise
        # Its JSON reader logs a malformed line itself, with a row number that is not the
        # file's line (it counts within a block); Picochat names the real line instead.
        logging.getLogger("datasets.packaged_modules.json.json").setLevel(logging.CRITICAL)
        builder = _local_builder(local)
        options = _TEXT_BUILDER_OPTIONS if builder == "text" else {}
        if local.is_file():
            args: tuple[str, ...] = (builder,)
            kwargs["data_files"] = str(local)
        else:
            args = (str(local),)
        kwargs.update(options)
    else:
        args = (source,) if config.config is None else (source, config.config)
    try:
        return datasets.load_dataset(*args, **kwargs), builder
    except ValueError as error:  # unknown split or config
        raise InputError(
            f"Cannot open split `{config.split}` of {source}: {error}",
            file=source if local.exists() else None,
            fix="Pick an existing --split (and --config for hub datasets with subsets).",
        ) from error
    except Exception as error:  # noqa: BLE001 - hub, network and parse errors of any kind
        offline = "HF_HUB_OFFLINE" if not local.exists() else ""
        raise InputError(
            f"Cannot load dataset {source}: {type(error).__name__}: {error}",
            file=source if local.exists() else None,
            fix="Check the id or path"
            + (", and that the hub is reachable (unset HF_HUB_OFFLINE)." if offline else "."),
        ) from error


def _check_column(columns: Iterable[str] | None, config: HFImportConfig) -> list[str]:
    available = sorted(columns or [])
    if config.text_column not in available:
        raise InputError(
            f"Column `{config.text_column}` is not in {config.dataset} "
            f"(split {config.split}). Available columns: {', '.join(available) or 'none'}.",
            fix="Pass --text-column with one of the available columns.",
        )
    return available


def _rows(dataset: Any, config: HFImportConfig) -> tuple[list[str], Iterator[dict]]:
    """The column names and an iterator over at most max_rows rows (column checked first)."""
    rows = iter(dataset)
    columns = getattr(dataset, "column_names", None)
    if columns is None:  # streamed JSON: the schema is known only after the first row
        first = next(rows, None)
        columns = list(first) if first is not None else [config.text_column]
        rows = itertools.chain([first] if first is not None else [], rows)
    available = _check_column(columns, config)
    return available, itertools.islice(rows, config.max_rows or None)


def _kept_rows(
    rows: Iterator[dict], config: HFImportConfig, skipped: Counter, start: int = 0
) -> Iterator[tuple[int, str]]:
    """(row index, normalised text) of each row worth a document; the rest are counted."""
    for index, row in enumerate(rows, start):
        value = row.get(config.text_column)
        if not isinstance(value, str):
            skipped[f"not text ({type(value).__name__})"] += 1
            continue
        text = normalise(value)
        if not text:
            skipped["empty"] += 1
        elif len(text) < config.min_chars:
            skipped[f"shorter than --min-chars {config.min_chars}"] += 1
        else:
            yield index, text


def _validate(config: HFImportConfig) -> None:
    if not config.dataset:
        raise ConfigError("--dataset is required.", fix="Pass a hub id or a local path.")
    if config.out is None:
        raise ConfigError("--out is required.", fix="Pass where to write corpus.txt.")
    if config.max_rows < 0 or config.max_bytes < 0:
        raise ConfigError("--max-rows and --max-bytes must be >= 0 (0 = no limit).")
    if config.min_chars < 0:
        raise ConfigError(f"--min-chars must be >= 0, got {config.min_chars}.")
    check_shard_flags(config.out, config.shard_mb)  # before any row is read


def _write_row_parts(
    config: HFImportConfig, rows: Iterator[dict], rows_path: Path, *, quiet: bool
) -> hf_parts.PartsState:
    """Stream the rows not yet in finished parts into hf_rows/ (resumable); the parts'
    state. A row that fails to parse is a _read_failure naming how far reading got."""
    settings = {
        k: str(v) for k, v in asdict(config).items() if k not in ("resume", "out", "shard_mb")
    }
    state = hf_parts.start_state(rows_path, settings, config.resume)
    if not state.complete:
        # Skip the rows the finished parts already hold (all of them on a fresh import: 0).
        counted = _CountingIterator(itertools.islice(rows, state.rows_read, None))
        session_skipped: Counter = Counter()
        kept_rows = _kept_rows(counted, config, session_skipped, start=state.rows_read)
        try:
            hf_parts.write_parts(
                rows_path, state, kept_rows, read_so_far=lambda: counted.count,
                skipped=session_skipped, max_bytes=config.max_bytes or None, quiet=quiet,
            )  # fmt: skip
        except _ReadFailure as failure:  # a bad row deep inside a streamed file
            read = state.rows_read + counted.count
            raise _read_failure(config, failure.error, read, state.parts) from failure.error
        except PicochatError:
            raise
        except OSError as error:
            if from_os_error(error) is not None:  # the output's fault (read-only, full)
                raise
            raise _read_failure(
                config, error, state.rows_read + counted.count, state.parts
            ) from error
    return state


def import_hf_dataset(config: HFImportConfig, *, quiet: bool = False) -> HFImportResult:
    """Stream the split into hf_rows/ parts (resumable), build the corpus from them, write
    the report."""
    _validate(config)
    start = time.perf_counter()
    dataset, builder = open_split(config)
    try:
        columns, rows = _rows(dataset, config)
    except PicochatError:
        raise
    except Exception as error:  # noqa: BLE001 - the first block of rows failed to parse
        raise _read_failure(config, error, 0) from error
    corpus_path = output_paths(Path(config.out), sharded=config.shard_mb is not None)[0]
    rows_path = corpus_path.with_name(layout.HF_ROWS)
    state = _write_row_parts(config, rows, rows_path, quiet=quiet)
    skipped, kept = state.skipped, state.rows_kept
    if not kept:
        raise InputError(
            f"None of the {state.rows_read} rows read has usable text in column "
            f"`{config.text_column}` ({dict(skipped)}).",
            fix="Check --text-column and --min-chars.",
        )
    corpus = build_corpus(
        CorpusConfig(input=rows_path, out=corpus_path, shard_mb=config.shard_mb), write=True
    )
    report_path = corpus_path.with_name(layout.HF_IMPORT_REPORT)
    inputs = hash_inputs([config.dataset]) if Path(config.dataset).exists() else {}
    report = report_header(config, inputs=inputs, wall_seconds=time.perf_counter() - start)
    report.update(
        {
            "source": {
                "dataset": str(config.dataset),
                "config": config.config,
                "split": config.split,
                "text_column": config.text_column,
                "builder": builder or "hub",
                "streaming": config.streaming,
                "columns": columns,
            },
            "rows_read": state.rows_read,
            "text_bytes": state.text_bytes,
            "parts": state.parts,
            "max_bytes": config.max_bytes or None,
            "rows_kept": kept,
            "skipped": dict(skipped),
            "rows_file": str(rows_path),
            "corpus": {name: str(path) for name, path in corpus.paths.items()},
            "corpus_stats": corpus.stats,
            "corpus_sha256": corpus.manifest["corpus_sha256"],
        }
    )
    atomic_write_json(report_path, report)
    return HFImportResult(
        corpus=corpus,
        rows_file=rows_path,
        report=report_path,
        source=str(config.dataset),
        builder=builder,
        columns=columns,
        rows_read=state.rows_read,
        rows_kept=kept,
        skipped=dict(skipped),
    )


def _first_bad_jsonl_line(path: Path) -> int | None:
    """The 1-based number of the first line of a JSONL file that is not a JSON object."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                return number
            if not isinstance(row, dict):
                return number
    return None


def _read_failure(
    config: HFImportConfig, error: Exception, rows_read: int, parts: int = 0
) -> InputError:
    """An InputError naming the bad line of a local JSONL file, found by reading it here:
    the parser reads rows in blocks, so its own row number can point elsewhere."""
    local = Path(str(config.dataset)).expanduser()
    line = None
    if local.is_file() and local.suffix.lower() == ".jsonl":
        line = _first_bad_jsonl_line(local)
    if line is not None:
        return InputError(
            f"Line {line} is not a JSON object, so the file cannot be read.",
            file=local,
            line=line,
            fix="Fix or remove that line: each line must be one JSON object.",
        )
    return InputError(
        f"Reading {config.dataset} failed after {rows_read} rows ({parts} finished parts "
        "kept; rows are parsed in blocks, so a bad row may come later): "
        f"{type(error).__name__}: {error}",
        file=local if local.exists() else None,
        fix="Check that every row of the file is well formed; after a transient failure, "
        "run the same command with --resume.",
    )


class _ReadFailure(Exception):
    """Reading a row failed (not writing one): carries the reader's error."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _CountingIterator:
    """Wraps an iterator and counts what it yielded (rows read, kept or not)."""

    def __init__(self, items: Iterator[dict]) -> None:
        self._items = items
        self.count = 0

    def __iter__(self) -> _CountingIterator:
        return self

    def __next__(self) -> dict:
        try:
            item = next(self._items)
        except StopIteration:
            raise
        except Exception as error:  # noqa: BLE001 - any reader error: the input's fault
            raise _ReadFailure(error) from error
        self.count += 1
        return item
