"""Containment: kept documents whose text lies inside another, longer kept document.

Exact and near duplicates (`dedup.py`) compare whole documents: a short file copied
into a long one has a tiny Jaccard similarity and escapes both, and then document
holdout could validate on text the model trained on. This finds such pairs in bounded
memory, without holding any text:

1. While the corpus is built, each kept document leaves `ANCHORS` word 5-gram shingle
   hashes: the lowest hash of each of `ANCHORS` equal stretches of the document
   (`AnchorTable`, ~100 bytes/document). Spread over the document, not its 8 lowest
   hashes overall: those often all come from one paragraph, and then any document
   holding that paragraph looked like a container (a 2 GB corpus of documents made of
   40 of tinyshakespeare's ~8,000 paragraphs had 18% of its documents flagged "inside"
   another that shared 1 or 2 of their 40 paragraphs).
2. After corpus.txt is written, it is read back one document at a time; each
   document's shingles are looked up among all anchors (`np.isin`), and a document A
   is inside B when every anchor of A occurs in B and B is longer (more shingles; the
   lower id on a tie, so the relation has no cycles).

A document wholly inside another is always found (its anchors are among the other's
shingles). One that shares a share c of its text with another, in stretches spread
through it, is flagged with probability about c^8 (0.9 -> 43%, 0.5 -> 0.4%). Documents
of fewer than 5 words have no 5-gram and are never flagged. An anchor that more than
`MAX_SHARED` documents share (boilerplate) bounds the work per document, and a document
with such an anchor is not checked (its other anchors alone are partial evidence, the
same false matches again); how many were not checked is reported. Each contained document names its outermost container
(`contained_in`), so the training split keeps both on one side.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from typing import IO

import numpy as np

from picochat.data.dedup import SHINGLE_WORDS, shingle_hashes, word_hashes
from picochat.data.document_table import DocumentTable

ANCHORS = 8
MAX_SHARED = 64  # an anchor of more documents than this is boilerplate and is ignored
_SLICE_CHARS = 1 << 20  # text hashed at a time: bounded temporaries for a huge document

METHOD = (
    f"a document is inside another when all of its {ANCHORS} anchors (the lowest-hash word "
    f"{SHINGLE_WORDS}-gram shingle of each of {ANCHORS} equal stretches of it) occur in one "
    "longer kept document (read back from corpus.txt one document at a time); wholly "
    f"contained documents are always found, except those with an anchor shared by more "
    f"than {MAX_SHARED} documents (boilerplate), which are not checked"
)


def document_shingles(text: str) -> np.ndarray:
    """The word 5-gram shingle hashes of `text`, hashed slice by slice (as data build)."""
    parts, carry, lo = [], np.empty(0, dtype=np.uint64), 0
    while lo < len(text):
        hi = min(len(text), lo + _SLICE_CHARS)
        if hi < len(text):  # cut at whitespace so that no word is split
            cut = max(text.rfind(" ", lo, hi), text.rfind("\n", lo, hi))
            hi = cut + 1 if cut > lo else hi
        words, _ = word_hashes(text[lo:hi].encode("utf-8"))
        if len(words):
            joined = np.concatenate([carry, words])
            if len(joined) >= SHINGLE_WORDS:
                parts.append(shingle_hashes(joined))
            carry = joined[-(SHINGLE_WORDS - 1) :]
        lo = hi
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.uint32)


def spread_anchors(shingles: np.ndarray) -> np.ndarray:
    """The distinct lowest hashes of `ANCHORS` equal stretches of the shingle sequence."""
    if len(shingles) <= ANCHORS:
        return np.unique(shingles)
    starts = np.linspace(0, len(shingles), ANCHORS, endpoint=False).astype(np.int64)
    return np.unique(np.minimum.reduceat(shingles, starts))


class AnchorTable:
    """The anchors of every kept document, in compact arrays (no per-document objects)."""

    def __init__(self) -> None:
        self.hashes = array("I")
        self.docs = array("q")
        self.sizes = array("q")  # distinct shingles per document id
        self.unchecked = 0  # documents with a boilerplate anchor (set by find_contained)

    def add(self, doc_id: int, shingles: np.ndarray, words: int) -> None:
        """Record document `doc_id` (ids are added in order, 0, 1, 2...)."""
        assert doc_id == len(self.sizes)
        has_shingles = words >= SHINGLE_WORDS and len(shingles) > 0
        self.sizes.append(len(np.unique(shingles)) if has_shingles else 0)
        chosen = spread_anchors(shingles) if has_shingles else np.empty(0, np.uint32)
        self.hashes.extend(int(h) for h in chosen)
        self.docs.extend([doc_id] * len(chosen))


def find_contained(table: AnchorTable, documents: Iterable[tuple[int, str]]) -> dict[int, int]:
    """{contained id: outermost container id} over `documents` ((id, text) in any order)."""
    hashes = np.frombuffer(table.hashes, dtype=np.uint32)
    owners = np.frombuffer(table.docs, dtype=np.int64)
    sizes = np.frombuffer(table.sizes, dtype=np.int64)
    if not len(hashes):
        return {}
    order = np.argsort(hashes, kind="stable")
    hashes, owners = hashes[order], owners[order]
    # An anchor shared by many documents is boilerplate: it would make every document
    # holding it walk that many owners. It is left out, and so is every document that has
    # one (never "inside" anything): its remaining anchors would be partial evidence.
    _, counts = np.unique(hashes, return_counts=True)
    common = np.repeat(counts > MAX_SHARED, counts)
    anchors = np.bincount(owners, minlength=len(sizes))
    hashes, owners = hashes[~common], owners[~common]
    needed = np.bincount(owners, minlength=len(sizes))
    partial = needed != anchors
    table.unchecked = int(partial.sum())
    needed[partial] = -1  # a count of matched anchors is never -1
    container: dict[int, int] = {}
    for doc_id, text in documents:
        found = np.unique(document_shingles(text))
        # Binary search in the sorted anchors: O(shingles x log anchors) per document
        # (np.isin would sort all anchors again for every document).
        lo = np.searchsorted(hashes, found, side="left")
        hit = lo < len(hashes)
        hit[hit] = hashes[lo[hit]] == found[hit]
        if not hit.any():
            continue
        found, lo = found[hit], lo[hit]
        hi = np.searchsorted(hashes, found, side="right")
        holders = np.concatenate([owners[a:b] for a, b in zip(lo, hi, strict=True)])
        candidates, counts = np.unique(holders, return_counts=True)
        inside = candidates[counts == needed[candidates]]
        for other in inside.tolist():
            if other == doc_id or (sizes[other], -other) >= (sizes[doc_id], -doc_id):
                continue  # only a longer document (lower id on a tie) contains another
            best = container.get(other)
            if best is None or sizes[doc_id] > sizes[best]:
                container[other] = doc_id
    return {doc: _outermost(doc, container) for doc in container}


def _outermost(doc: int, container: dict[int, int]) -> int:
    """Follow containers outwards (sizes strictly grow, so this ends)."""
    while doc in container:
        doc = container[doc]
    return doc


def read_back(handle: IO[str], documents: DocumentTable) -> Iterable[tuple[int, str]]:
    """(id, text) of each manifest document, read in order from the written corpus
    (`handle`: its text, opened without newline translation; closed at the end)."""
    with handle:
        position = 0
        for doc_id, start, end in documents.spans():
            handle.read(start - position)  # the separator before it
            yield doc_id, handle.read(end - start)
            position = end


def apply(
    found: dict[int, int], documents: DocumentTable, stats: dict, listed: int, unchecked: int
) -> dict:
    """Mark `contained_in` on the manifest documents, add the rates to `stats`, and
    return the manifest's `containment` section (at most `listed` pairs quoted;
    `unchecked`: documents with a boilerplate anchor)."""
    for doc, outer in sorted(found.items()):
        documents.mark(doc, contained_in=outer)
    kept, considered = len(documents), stats.get("documents_considered") or 0
    stats["contained_documents"] = len(found)
    stats["contained_document_rate"] = round(len(found) / kept, 6) if kept else None
    flagged = (stats.get("duplicate_documents") or 0) + len(found)
    stats["duplicate_or_contained_document_rate"] = (
        round(flagged / considered, 6) if considered else None
    )
    pairs = [
        {"document": doc, "source": documents.source(doc), "inside": outer,
         "inside_source": documents.source(outer)}
        for doc, outer in sorted(found.items())[:listed]
    ]  # fmt: skip
    return {
        "method": METHOD,
        "measured": True,
        "pairs_total": len(found),
        "unchecked_documents": unchecked,
        "pairs": pairs,
    }


def not_measured(stats: dict, reason: str) -> dict:
    """The section and stats when containment could not be measured (a preview)."""
    for key in ("contained_documents", "contained_document_rate"):
        stats[key] = None
    stats["duplicate_or_contained_document_rate"] = None
    stats["contained_documents_reason"] = reason
    return {"method": METHOD, "measured": False, "reason": reason, "pairs_total": None, "pairs": []}
