"""The dataset stage: source files -> one normalised `corpus.txt` plus its manifest.

With `--shard-mb N` the same bytes go into a folder of shards instead (`corpus_shards.py`;
the manifest lists them under `shards`, and its spans and `corpus_sha256` are those of
the shards concatenated, i.e. of the corpus.txt the same build would write).

`build_corpus(config, write)` reads one file at a time, turns it into documents,
scores it, marks exact and near duplicates against the documents already kept, and
streams the kept documents straight into `corpus.txt` (documents joined by
`SEPARATOR`, a final newline). Memory never holds the corpus: one file's documents
at a time (about 6x the file while it is read; a file over 32 MB is read in segments
of at most 16 MB, segments.py; a long document measured in 1 M-character slices), plus
some bytes per kept document (span columns, `DocumentTable`; containment anchors; the
MinHash signature waits in a temporary file), the LSH and exact-duplicate index entries
up to ~30 MB (`KeyIndex` spills the rest as sorted runs to temporary files beside the
output) and at most 32 MB of line hashes for the exact
duplicate-line rate (`line_counts.py` spills the rest to disk). bench/bench_data.py and
bench/bench_data_scale.py measure it.

`corpus.txt[char_start:char_end]` (Python str offsets) is exactly each document, so
base pretraining can hold out whole documents. After writing, corpus.txt is read back
one document at a time to find documents inside another (`containment.py`): each such
document names its container (`contained_in`), and the split keeps them together. Exact duplicates are dropped unless
`keep_duplicates`; near duplicates are kept and flagged. A file scoring below
`min_score` contributes nothing (and is not used as a duplicate reference).

With `write=False` (`data preview`) the same work runs and nothing is written. With
`write=True` corpus.txt, corpus_manifest.json and corpus_report.md are each written
atomically; corpus.txt (or the shard folder) is renamed into place last, so a failure
at any point leaves the previous artifacts as they were.

Not here: the per-document work (corpus_builder.py), reading files (documents.py),
scoring (quality.py), the report text (corpus_report.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from picochat.artifacts import (
    atomic_dir,
    atomic_open,
    atomic_write_json,
    atomic_write_text,
    report_header,
)
from picochat.byte_progress import ByteProgress
from picochat.configs.data import CorpusConfig
from picochat.corpus_files import CorpusShard, concat_text
from picochat.data import containment
from picochat.data.corpus_builder import (
    MAX_LISTED,
    MINHASH_SEED,
    SEPARATOR,
    CorpusBuilder,
    file_entry,
    per_file,
)
from picochat.data.corpus_report import corpus_report
from picochat.data.corpus_shards import MB, ShardSink, check_shard_flags
from picochat.data.dedup import NUM_PERM, SHINGLE_WORDS
from picochat.data.pack import pack_summary
from picochat.data.quality import PENALTIES
from picochat.data.sources import SourceFile, Sources, display_name, output_paths, resolve_sources
from picochat.errors import ConfigError, InputError

# One entry per line in the JSON.
_LONG_LISTS = ("shards", "files", "documents", "duplicates_dropped")


@dataclass
class CorpusResult:
    """What a build (or preview) produced; `paths` is empty for a preview."""

    manifest: dict[str, Any]
    report: str
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def stats(self) -> dict[str, Any]:
        return self.manifest["stats"]


class _NullSink:
    def write(self, data: bytes) -> int:
        return len(data)


def _check(config: CorpusConfig, write: bool) -> None:
    if write and config.out is None:
        raise ConfigError(
            "`data build` needs --out", fix="e.g. --out runs/manual/corpus.txt (the manifest "
            "and report are written beside it).",
        )  # fmt: skip
    if not 0 <= config.min_score <= 100:
        raise ConfigError(f"--min-score must be within 0..100, got {config.min_score:g}")
    check_shard_flags(config.out if write else None, config.shard_mb)
    if not 0 < config.near_duplicate_threshold <= 1:
        raise ConfigError(
            f"--near-duplicate-threshold must be within (0, 1], got "
            f"{config.near_duplicate_threshold:g}"
        )


def _labels(builder: CorpusBuilder, files: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    labels: dict[str, dict[str, int]] = {}
    for label, included in per_file(files):
        counts = labels.setdefault(
            label, {"files_included": 0, "files_skipped": 0, "documents": 0, "chars": 0}
        )
        counts["files_included" if included else "files_skipped"] += 1
    for label, counts in labels.items():
        counts["documents"] = builder.counts[f"label:{label}:documents"]
        counts["chars"] = builder.counts[f"label:{label}:chars"]
    return labels


def _manifest(
    config: CorpusConfig, sources: Sources, builder: CorpusBuilder, stats: dict, started: float
) -> dict[str, Any]:
    inputs = dict(builder.inputs)
    for path in sources.config_files:
        inputs[display_name(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    pack_files = pack_summary(sources.pack) if sources.pack else []
    for entry in pack_files:
        if entry["exists"]:
            inputs[entry["path"]] = hashlib.sha256(Path(entry["path"]).read_bytes()).hexdigest()
    skipped = [file_entry(s, False, s.reason) for s in sources.skipped]
    files = builder.files + skipped
    stats["files_skipped"] += len(skipped)
    header = report_header(config, inputs=inputs, wall_seconds=time.perf_counter() - started)
    return {
        **header,
        "seed_reason": f"no randomness: MinHash permutations use the fixed seed {MINHASH_SEED}",
        "stats": stats,
        "files": files,
        "documents": builder.documents,
        "min_score": config.min_score,
        "filtered_by_min_score": [f["path"] for f in files if f["reason"].startswith("filtered:")],
        "corpus_sha256": builder.digest.hexdigest(),
        "corpus_path": str(_outputs(config)[0]) if config.out is not None else None,
        "separator": SEPARATOR,
        "source": {
            "kind": sources.kind,
            "pack": None
            if sources.pack is None
            else {
                "path": str(sources.pack.path),
                "name": sources.pack.name,
                "description": sources.pack.description,
            },  # fmt: skip
            "recipe": sources.recipe,
        },
        "pack_files": pack_files,
        "labels": _labels(builder, files),
        "near_duplicates": {
            "method": f"MinHash ({NUM_PERM} permutations) over word {SHINGLE_WORDS}-gram "
            f"shingles, LSH {builder.index.bands} bands x {builder.index.rows} rows",
            "threshold": config.near_duplicate_threshold,
            "pairs_total": builder.counts["near_duplicates"],
            "pairs": builder.pairs,
        },
        "duplicates_dropped": builder.dropped,
        "quality_penalties": PENALTIES,
    }


def _add_files(builder: CorpusBuilder, files: list[SourceFile]) -> None:
    """Every source file into the builder, with MB/s and ETA (plain lines without a tty)."""
    sizes = [source.path.stat().st_size if source.path.is_file() else 0 for source in files]
    with contextlib.closing(ByteProgress("data build", sum(sizes))) as progress:
        for source, size in zip(files, sizes, strict=True):
            builder.add_file(source)
            progress.advance(size)


def _outputs(config: CorpusConfig) -> list[Path]:
    return output_paths(config.out, sharded=config.shard_mb is not None)


@contextlib.contextmanager
def _corpus_sink(config: CorpusConfig, corpus: Path | None) -> Iterator[Any]:
    """What the builder writes to: nothing (preview, `corpus` None), corpus.txt's
    temporary file, or (`--shard-mb`) a ShardSink in the shard folder's temporary twin;
    either is renamed into place when the block ends."""
    if corpus is None:
        yield _NullSink()
    elif config.shard_mb is None:
        with atomic_open(corpus, "wb") as handle:
            yield handle
    else:
        with atomic_dir(corpus) as folder:
            yield ShardSink(folder, max(1, int(config.shard_mb * MB)), len(SEPARATOR.encode()))


def _written_text(sink: Any) -> IO[str]:
    """The corpus just written, as text without newline translation (for read-back)."""
    if isinstance(sink, ShardSink):
        shards = [CorpusShard(sink.folder / e["path"], e["bytes"]) for e in sink.entries]
        return concat_text(sink.folder, shards, newline="")
    sink.flush()
    return open(sink.name, encoding="utf-8", newline="")  # noqa: SIM115 - read_back closes it


def _with_shards(manifest: dict[str, Any], shards: list[dict[str, Any]] | None) -> dict:
    """`shards` listed right after `stats` (a one-file corpus has none): before the long
    `documents` list, where `corpus_files` finds it reading line by line."""
    if shards is None:
        return manifest
    ordered: dict[str, Any] = {}
    for key, value in manifest.items():
        ordered[key] = value
        if key == "stats":
            ordered["shards"] = shards
    return ordered


def build_corpus(config: CorpusConfig, write: bool = True) -> CorpusResult:
    """Build (write=True) or preview (write=False) the corpus described by `config`."""
    started = time.perf_counter()
    _check(config, write)
    sources = resolve_sources(config)
    paths = (
        dict(zip(("corpus", "manifest", "report"), _outputs(config), strict=True)) if write else {}
    )
    with _corpus_sink(config, paths.get("corpus")) as handle:
        builder = CorpusBuilder(config, handle, paths["corpus"].parent if write else None)
        _add_files(builder, sources.files)
        stats = builder.finish()
        shards = None
        if isinstance(handle, ShardSink):
            shards = handle.close(len(builder.documents), builder.chars)
        if write:  # read back what was written, one document at a time
            found = containment.find_contained(
                builder.anchors, containment.read_back(_written_text(handle), builder.documents)
            )
            contained = containment.apply(
                found, builder.documents, stats, MAX_LISTED, builder.anchors.unchecked
            )
        else:
            contained = containment.not_measured(
                stats, "data preview writes no corpus.txt to read back; data build measures it"
            )
        manifest = _with_shards(_manifest(config, sources, builder, stats, started), shards)
        manifest["containment"] = contained
        report = corpus_report(manifest)
        if write and not builder.documents:
            raise InputError(
                f"no documents to write: all {len(manifest['files'])} input files were skipped "
                f"(first reason: {manifest['files'][0]['reason'] if manifest['files'] else 'no files'})",
                file=config.input or config.dataset_pack or config.recipe,
                fix="Run `picochat data preview` with the same flags to see every file and why.",
            )
        if write:  # inside the block: corpus.txt is renamed into place only after these
            atomic_write_json(paths["manifest"], manifest, one_item_per_line=_LONG_LISTS)
            atomic_write_text(paths["report"], report)
    return CorpusResult(manifest=manifest, report=report, paths=paths)
