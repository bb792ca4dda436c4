"""Write documents as `corpus.txt` + `corpus_manifest.json` (SPEC §11 keys).

A small writer for sources that arrive as ready-made documents (a Hugging Face
split): documents are joined by `DOCUMENT_SEPARATOR`, each one's character span is
recorded, and the manifest carries the corpus statistics that can be computed from
the documents alone. Per-file quality scores and near-duplicate detection belong to
the dataset stage (`picochat data build`); here they are null with a reason.

Not for: reading source files or scoring them (the dataset stage does that).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picochat.artifacts import atomic_open, atomic_write_json

# A blank line between documents: what the dataset stage writes too.
DOCUMENT_SEPARATOR = "\n\n"


@dataclass
class CorpusDocument:
    text: str
    source: str
    label: str


@dataclass
class WrittenCorpus:
    corpus: Path
    manifest: Path
    documents: int
    chars: int
    bytes: int
    sha256: str


def _normalised(text: str) -> str:
    return " ".join(text.split())


def write_corpus(
    documents: Iterable[CorpusDocument], out: Path, *, files: list[dict[str, Any]]
) -> WrittenCorpus:
    """Stream `documents` into `out` (atomically) and write the manifest beside it."""
    spans: list[dict[str, Any]] = []
    seen_docs: set[str] = set()
    seen_lines: set[str] = set()
    duplicate_docs = lines = empty_lines = duplicate_lines = non_ascii = 0
    chars = 0
    digest = hashlib.sha256()
    with atomic_open(out, "w") as handle:
        for doc in documents:
            piece = (DOCUMENT_SEPARATOR if spans else "") + doc.text
            start = chars + (len(DOCUMENT_SEPARATOR) if spans else 0)
            handle.write(piece)
            digest.update(piece.encode("utf-8"))
            chars += len(piece)
            spans.append(
                {"source": doc.source, "label": doc.label, "char_start": start, "char_end": chars}
            )
            key = _normalised(doc.text)
            duplicate_docs += key in seen_docs
            seen_docs.add(key)
            non_ascii += sum(1 for ch in doc.text if ord(ch) > 127)
            for line in doc.text.split("\n"):
                lines += 1
                if not line.strip():
                    empty_lines += 1
                    continue
                duplicate_lines += line in seen_lines
                seen_lines.add(line)
    size = out.stat().st_size
    n = len(spans)
    stats = {
        "files_included": len(files),
        "files_skipped": 0,
        "documents": n,
        "chars": chars,
        "bytes": size,
        "lines": lines,
        "duplicate_document_rate": duplicate_docs / n if n else None,
        "near_duplicate_document_rate": None,
        "near_duplicate_document_rate_reason": "computed by `picochat data build`, not on import",
        "duplicate_line_rate": duplicate_lines / (lines - empty_lines)
        if lines > empty_lines
        else None,
        "empty_line_rate": empty_lines / lines if lines else None,
        "non_ascii_rate": non_ascii / chars if chars else None,
    }
    manifest = out.with_name("corpus_manifest.json")
    atomic_write_json(
        manifest,
        {
            "stats": stats,
            "files": [
                {
                    "included": True,
                    "reason": None,
                    "quality_score": None,
                    "quality_flags": [],
                    **entry,
                }
                for entry in files
            ],
            "documents": spans,
            "min_score": None,
            "corpus": str(out),
            "corpus_sha256": digest.hexdigest(),
        },
    )
    return WrittenCorpus(out, manifest, n, chars, size, digest.hexdigest())
