"""The Hugging Face import stage: a dataset split (hub id or local files) -> a local corpus.

Its work is `picochat.hf.dataset_import.import_hf_dataset` (`data hf-import`); not part
of `run tiny` (its corpus feeds `run tiny --corpus-input` or `data build`).
"""

from __future__ import annotations

from typing import Any

from picochat.configs import HFImportConfig
from picochat.stages.declaration import Command, Stage, runner


def _describe(result: Any) -> list[Any]:
    """A line, the corpus report's tables (report blocks), then what was written."""
    from picochat.data.corpus_report import corpus_blocks

    skipped = ", ".join(f"{n} {why}" for why, n in result.skipped.items()) or "none"
    lines = [
        f"Imported {result.rows_kept} of {result.rows_read} rows of {result.source} "
        f"(columns: {', '.join(result.columns)}); skipped: {skipped}.",
        *corpus_blocks(result.corpus.manifest),
    ]
    for name, path in {"rows": result.rows_file, **result.corpus.paths}.items():
        lines.append(f"wrote {name}: {path}")
    lines.append(f"wrote import report: {result.report}")
    return lines


STAGE = Stage(
    name="hf-import",
    config=HFImportConfig,
    command=Command(
        "data",
        "hf-import",
        "Write a Hugging Face dataset split (hub id or local files) as a local corpus.",
    ),
    run=runner("picochat.hf.dataset_import", "import_hf_dataset"),
    describe=_describe,
    in_run=False,
)
