"""The corpus stage: source files -> corpus.txt + corpus_manifest.json + corpus_report.md.

Its work is `picochat.data.corpus.build_corpus`; this module only declares it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.configs import CorpusConfig
from picochat.data.corpus_report import segmented_files
from picochat.stages.declaration import Command, RunSpec, Stage, runner


def _describe(result: Any) -> list[str]:
    stats = result.stats
    lines = [
        f"corpus: {stats['documents']:,} documents, {stats['chars']:,} characters from "
        f"{stats['files_included']:,} files ({stats['files_skipped']:,} skipped)"
    ]
    if segmented := segmented_files(result.manifest):
        lines.append(segmented)
    for entry in result.manifest["pack_files"]:
        where = f"{entry['path']} ({entry['rows']:,} rows)" if entry["exists"] else "not given"
        lines.append(f"pack {entry['role']}: {where}")
    lines += [f"wrote {name}: {path}" for name, path in result.paths.items()]
    return lines


def _wire(config: CorpusConfig, run: RunSpec) -> CorpusConfig:
    return replace(
        config,
        dataset_pack=run.inputs.pack,
        input=run.inputs.corpus_input,
        out=run.root / layout.CORPUS,
    )


def _files(config: CorpusConfig, run: RunSpec) -> dict[str, Path | None]:
    from picochat.data.sources import resolve_sources

    sources = resolve_sources(config)  # also fails early on a missing or unreadable source
    return {str(s.path): s.path for s in sources.files} | {str(p): p for p in sources.config_files}


def _summarize(manifest: dict[str, Any], run: RunSpec) -> dict[str, Any]:
    return {**manifest.get("stats", {}), "corpus_sha256": manifest.get("corpus_sha256")}


STAGE = Stage(
    name="corpus",
    config=CorpusConfig,
    prefix="data-",
    command=Command(
        "data", "build", "Write corpus.txt, corpus_manifest.json and corpus_report.md."
    ),
    run=runner("picochat.data.corpus", "build_corpus", write=True),
    describe=_describe,
    report=layout.CORPUS_MANIFEST,
    wire=_wire,
    files=_files,
    record=lambda result, config, run: result.paths["manifest"],
    summarize=_summarize,
)
