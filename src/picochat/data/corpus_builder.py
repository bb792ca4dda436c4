"""Streaming one file at a time into corpus.txt: the per-document work of `data build`.

`CorpusBuilder.add_file` reads a file's documents, measures each one slice by slice
(bounded temporaries), marks exact duplicates (against every kept document) and near
duplicates (MinHash + LSH), scores the file, and writes its kept documents to the sink
unless `--min-score` filters the whole file out. What it keeps per document is small
(a manifest entry, its exact key, its LSH buckets); `finish` returns the corpus stats.

Not here: resolving the sources, the manifest and the written files (`corpus.py`),
reading a file's documents (`documents.py`), scoring (`quality.py`), MinHash (`dedup.py`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from picochat.configs.data import CorpusConfig
from picochat.data.containment import AnchorTable
from picochat.data.dedup import (
    NUM_PERM,
    SHINGLE_WORDS,
    MinHasher,
    NearDuplicateIndex,
    shingle_hashes,
    word_hashes,
)
from picochat.data.document_table import DocumentTable
from picochat.data.documents import FileDocuments, read_documents
from picochat.data.key_index import KeyIndex
from picochat.data.quality import (
    SHINGLE_SAMPLE,
    RepeatedLines,
    TextStats,
    line_hashes,
    score_file,
    text_stats,
)
from picochat.data.segments import SEGMENT_BYTES, read_segments, segment_size
from picochat.data.sources import SkippedFile, SourceFile

SEPARATOR = "\n\n"
SLICE_CHARS = 1 << 20
MINHASH_SEED = 1
MAX_LISTED = 1000  # pairs / dropped duplicates written to the manifest (all are counted)


def _slices(text: str) -> Iterator[tuple[str, list[str]]]:
    """(piece, its lines) in pieces of about SLICE_CHARS, cut after a newline.

    A document longer than one slice is measured piece by piece, so the temporaries
    (line lists, word hashes) stay bounded. A line longer than a slice is cut at a
    space, and then counts as two lines.
    """
    lo = 0
    while len(text) - lo > SLICE_CHARS:
        hi = lo + SLICE_CHARS
        cut = text.rfind("\n", lo, hi)
        if cut <= lo:
            cut = text.rfind(" ", lo, hi)
        hi = cut + 1 if cut > lo else hi
        piece = text[lo:hi]
        yield piece, (piece[:-1] if piece.endswith("\n") else piece).split("\n")
        lo = hi
    yield text[lo:], text[lo:].split("\n")


@dataclass
class _Doc:
    text: str
    row: int | None
    stats: TextStats
    hashes: np.ndarray
    key: bytes
    shingles: np.ndarray
    words: int = 0


class CorpusBuilder:
    """Streams documents into `sink` and keeps the small per-document records."""

    def __init__(
        self, config: CorpusConfig, sink: IO[bytes] | Any, folder: Path | None = None
    ) -> None:
        """`folder`: where the dedup indexes' temporary files go (the output's folder)."""
        self.config = config
        self.sink = sink
        # A shard sink (`corpus_shards.ShardSink`) is told where each document starts, so
        # it cuts shards between documents; corpus.txt's file and preview's sink are not.
        self._document_starts = getattr(sink, "start_document", None)
        self.digest = hashlib.sha256()
        self.chars = self.bytes = 0
        self.minhash = MinHasher(NUM_PERM, seed=MINHASH_SEED)
        self.index = NearDuplicateIndex(config.near_duplicate_threshold, NUM_PERM, folder)
        # exact key (first 8 digest bytes) -> id of the kept document
        self.seen = KeyIndex(folder=folder)
        self.inputs: dict[str, str] = {}
        self.files: list[dict[str, Any]] = []
        self.documents = DocumentTable()
        self.dropped: list[dict[str, Any]] = []
        self.pairs: list[dict[str, Any]] = []
        self.counts = Counter()
        self.stats = TextStats()
        self.repeated_lines = RepeatedLines()
        self.anchors = AnchorTable()  # for containment (containment.py), after the build

    def skip(self, source: SourceFile, reason: str, segment: str | None = None) -> None:
        self.files.append(file_entry(source, False, reason, segment=segment))

    def add_file(self, source: SourceFile) -> None:
        try:
            each = segment_size(source.path.stat().st_size, SEGMENT_BYTES)
            if each is not None:
                self._add_segments(source, each)
                return
            data = source.path.read_bytes()
        except OSError as error:
            self.skip(source, f"unreadable ({error.strerror})")
            return
        self.inputs[source.name] = hashlib.sha256(data).hexdigest()
        found = read_documents(source.path, data, self.config.text_column)
        del data
        self._add_found(source, found, segment=None)

    def _add_segments(self, source: SourceFile, segment_bytes: int) -> None:
        """A large file, segment by segment (segments.py): each is scored and placed as a
        file; the file's hash covers every segment."""
        digest = hashlib.sha256()
        text_column = self.config.text_column
        for segment in read_segments(source.path, text_column, segment_bytes, digest):
            self._add_found(source, segment.found, segment.label)
        self.inputs[source.name] = digest.hexdigest()

    def _add_found(self, source: SourceFile, found: FileDocuments, segment: str | None) -> None:
        if found.skip_reason:
            self.skip(source, found.skip_reason, segment)
            return
        docs = [self._prepare(d.text, d.row) for d in found.documents]
        self._place(source, docs, found.note, segment)

    def _prepare(self, text: str, row: int | None) -> _Doc:
        """Features of one document, computed slice by slice (bounded temporaries)."""
        stats = TextStats()
        hashes, shingles = [], []
        key = hashlib.blake2b(digest_size=16)  # = dedup.exact_key of all word hashes
        carry = np.empty(0, dtype=np.uint64)  # last words of the previous slice
        n_words = 0
        for piece, lines in _slices(text):
            encoded = piece.encode("utf-8")
            words, word_bytes = word_hashes(encoded)
            n_words += len(words)
            stats.add(text_stats(piece, encoded, word_bytes, lines))
            hashes.append(line_hashes(lines))
            key.update(words.tobytes())
            if len(words):
                shingles.append(shingle_hashes(np.concatenate([carry, words])))
                carry = np.concatenate([carry, words])[-(SHINGLE_WORDS - 1) :]
        return _Doc(
            text=text,
            row=row,
            stats=stats,
            hashes=np.concatenate(hashes),
            key=key.digest(),
            shingles=np.concatenate(shingles) if shingles else np.empty(0, dtype=np.uint32),
            words=n_words,
        )

    def _classify(self, docs: list[_Doc]) -> tuple[list[tuple[str, Any]], dict[bytes, int]]:
        """Per document ("duplicate", id of the earlier copy) or ("keep", NearMatch | None).

        Compared with the corpus so far and the file's own earlier documents; the
        near-duplicate index receives this file's kept documents (undone if the file
        is then filtered out). Returns the statuses and the file's new exact keys.
        """
        signatures = self.minhash.signatures([d.shingles for d in docs])
        keys = self.index.band_keys(signatures)
        self.index.begin()
        # The corpus so far, looked up for the whole file at once (it does not change
        # while the file is placed); the file's own documents are checked one by one.
        committed = self.index.committed_candidates(keys)
        exact = np.array([_seen_key(d.key) for d in docs], dtype=np.uint64).reshape(-1, 1)
        earlier = self.seen.find_rows(exact)
        next_id = len(self.documents)  # ids the kept documents will get, in order
        staged: dict[bytes, int] = {}
        status: list[tuple[str, Any]] = []
        for i, doc in enumerate(docs):
            first = earlier[i][0] if earlier[i] else staged.get(doc.key)
            if first is not None:
                status.append(("duplicate", first))
                if not self.config.keep_duplicates:
                    continue
            else:
                match = None
                if len(doc.shingles):
                    match = self.index.best_match(signatures[i], keys[i], committed[i])
                    self.index.insert(next_id, signatures[i], keys[i])
                staged[doc.key] = next_id
                status.append(("keep", match))
            next_id += 1
        return status, staged

    def _place(
        self, source: SourceFile, docs: list[_Doc], note: str | None, segment: str | None
    ) -> None:
        """Score the file, then write its kept documents (unless --min-score drops it)."""
        status, staged = self._classify(docs)
        stats = TextStats()
        for doc in docs:
            stats.add(doc.stats)
        duplicates = sum(kind == "duplicate" for kind, _ in status)
        near = sum(kind == "keep" and detail is not None for kind, detail in status)
        quality = score_file(
            stats,
            np.concatenate([d.hashes for d in docs]),
            _shingle_sample(docs),
            len(docs),
            duplicates,
            near,
        )
        entry = file_entry(source, True, "included", quality, len(docs), segment)
        self.files.append(entry)
        if quality.score < self.config.min_score:
            self.index.rollback()
            entry.update(included=False, reason=f"filtered: quality score {quality.score} < "
                         f"--min-score {self.config.min_score:g}")  # fmt: skip
            self.counts["files_filtered"] += 1
            return
        self.counts["documents_considered"] += len(docs)
        self.counts["duplicates"] += duplicates
        for key, doc_id in staged.items():
            self.seen.add([_seen_key(key)], doc_id)
        self.seen.commit()
        kept = 0
        for doc, (kind, detail) in zip(docs, status, strict=True):
            if kind == "duplicate" and not self.config.keep_duplicates:
                self._drop(source, doc, detail)
                continue
            doc_id = self._write(source, doc)
            kept += 1
            if kind == "duplicate":
                self.documents.mark(doc_id, duplicate_of=detail)
            elif detail is not None:
                similarity = round(detail.similarity, 4)
                self.documents.mark(doc_id, near_duplicate_of=detail.other, similarity=similarity)
                self.counts["near_duplicates"] += 1
                if len(self.pairs) < MAX_LISTED:
                    self.pairs.append(
                        {"document": doc_id, "near_duplicate_of": detail.other,
                         "source": source.name, "other_source": self.documents.source(detail.other),
                         "similarity": similarity}
                    )  # fmt: skip
        notes = [n for n in (note,) if n]
        if duplicates:
            verb = "kept" if self.config.keep_duplicates else "dropped"
            notes.append(f"{duplicates} exact duplicate documents {verb}")
        if kept == 0:
            entry.update(included=False, reason="every document is an exact duplicate of an "
                         "earlier one (dropped; --keep-duplicates keeps them)")  # fmt: skip
        else:
            entry["reason"] = "included" + (f" ({'; '.join(notes)})" if notes else "")
        entry["documents_kept"] = kept

    def _drop(self, source: SourceFile, doc: _Doc, first: int) -> None:
        if len(self.dropped) < MAX_LISTED:
            self.dropped.append(
                {"source": source.name, "row": doc.row, "duplicate_of": first,
                 "duplicate_of_source": self.documents.source(first)}
            )  # fmt: skip

    def _write(self, source: SourceFile, doc: _Doc) -> int:
        if self.documents:
            self._emit(SEPARATOR, SEPARATOR.encode())
        start = self.chars
        encoded = doc.text.encode("utf-8")
        if self._document_starts is not None:
            self._document_starts(len(self.documents), len(encoded), start)
        self._emit(doc.text, encoded)
        doc_id = self.documents.append(source.name, source.label, doc.row, start, self.chars)
        self.anchors.add(doc_id, doc.shingles, doc.words)
        self.stats.add(doc.stats)
        self.repeated_lines.add(doc.hashes)
        self.counts[f"label:{source.label}:documents"] += 1
        self.counts[f"label:{source.label}:chars"] += doc.stats.chars
        return doc_id

    def _emit(self, text: str, encoded: bytes) -> None:
        self.sink.write(encoded)
        self.digest.update(encoded)
        self.chars += len(text)
        self.bytes += len(encoded)

    def finish(self) -> dict[str, Any]:
        """The corpus stats; the dedup indexes' temporary files are closed (no document
        is added after this)."""
        self.index.close()
        self.seen.close()
        if self.documents:
            self._emit("\n", b"\n")
        considered = self.counts["documents_considered"]
        kept = len(self.documents)
        s = self.stats
        files = per_file(self.files)
        return {
            "files_included": sum(included for _label, included in files),
            "files_skipped": sum(not included for _label, included in files),
            "files_filtered_by_min_score": self.counts["files_filtered"],
            "documents": kept,
            "documents_considered": considered,
            "duplicate_documents": self.counts["duplicates"],
            "duplicates_dropped": considered - kept if not self.config.keep_duplicates else 0,
            "near_duplicate_documents": self.counts["near_duplicates"],
            "chars": self.chars,
            "bytes": self.bytes,
            # Lines of corpus.txt: each document's lines plus the blank separator lines.
            "lines": s.lines + len(self.documents) - 1 if self.documents else 0,
            "duplicate_document_rate": _rate(self.counts["duplicates"], considered),
            "near_duplicate_document_rate": _rate(self.counts["near_duplicates"], kept),
            "duplicate_line_rate": _rate(self.repeated_lines.repeated(), self.repeated_lines.lines),
            "empty_line_rate": _rate(s.empty_lines, s.lines),
            "non_ascii_rate": _rate(s.non_ascii, s.chars),
        }


def _seen_key(digest: bytes) -> int:
    """The exact-duplicate index key: 8 of the 16 digest bytes (a chance collision
    among 10 M documents: ~3e-6)."""
    return int.from_bytes(digest[:8], "little")


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def _shingle_sample(docs: list[_Doc]) -> np.ndarray:
    """The file's first SHINGLE_SAMPLE word 5-gram hashes (for the repetition check)."""
    parts, size = [], 0
    for doc in docs:
        parts.append(doc.shingles[: SHINGLE_SAMPLE - size])
        size += len(parts[-1])
        if size >= SHINGLE_SAMPLE:
            break
    return np.concatenate(parts)


def per_file(files: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """(label, included) once per file: a file read in segments counts once, as
    included when any of its segments is."""
    whole = [(f["label"], f["included"]) for f in files if "segment" not in f]
    segmented: dict[tuple[str, str], bool] = {}
    for f in files:
        if "segment" in f:
            key = (f["path"], f["label"])
            segmented[key] = segmented.get(key, False) or f["included"]
    return whole + [(label, included) for (_path, label), included in segmented.items()]


def file_entry(
    source: SourceFile | SkippedFile,
    included: bool,
    reason: str,
    quality: Any = None,
    documents: int = 0,
    segment: str | None = None,
) -> dict[str, Any]:
    """A file's row of the manifest (`quality` None for a file never scored); a large
    file has one row per segment (`segment`: its line range, segments.py)."""
    where = {} if segment is None else {"segment": segment}
    return {
        "path": source.name,
        **where,
        "label": source.label,
        "included": included,
        "reason": reason,
        "quality_score": None if quality is None else quality.score,
        "quality_flags": [] if quality is None else quality.flags,
        "quality_penalties": {} if quality is None else quality.penalties,
        "quality_measures": None if quality is None else quality.measures,
        "documents": documents,
    }
