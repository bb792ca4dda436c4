"""Reading a built corpus document by document, streamed, with bounded memory.

    spans, corpus_sha256 = read_spans(manifest)
    for row, first, text in iter_pieces(corpus, spans, piece_chars): ...

The manifest's spans (`char_start`, `char_end`, Python str offsets of `corpus.txt`
read with universal newlines) say where each document is. `iter_pieces` reads the
corpus once, in order, at most `piece_chars` characters at a time; a document longer
than that comes in pieces cut where BPE pre-tokenises the same way (after a newline
followed by a non-space, `tokenizer/bpe.py`), so encoding the pieces one by one gives
the ids of the whole document. Memory: one piece, never the corpus.

Not for building corpora (`corpus.py`) or tokenizing (`tokenize_shards.py`).
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from picochat.corpus_files import open_corpus_text
from picochat.errors import InputError
from picochat.tokenizer.bpe import text_pieces

MANIFEST_FIX = "Point --corpus-manifest at the corpus_manifest.json written by `data build`."
REBUILD_FIX = "Rebuild the corpus with `picochat data build`."
# Spans become Python ints this many rows at a time (~1.5 MB): all at once they cost
# ~180 bytes a document (a list and 3 ints), 180 MB for a million documents.
SPAN_ROWS = 1 << 13


def read_manifest(manifest: Path) -> dict[str, Any]:
    """The corpus manifest parsed; an InputError naming the file when it cannot be read
    or holds no `documents` list (every reader of a manifest starts here)."""
    try:
        data = json.loads(Path(manifest).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise InputError(
            f"Cannot read the corpus manifest ({error}).", file=manifest, fix=MANIFEST_FIX
        ) from error
    if not isinstance(data, dict) or not isinstance(data.get("documents"), list):
        raise InputError(
            "The manifest has no `documents` list of spans.", file=manifest, fix=REBUILD_FIX
        )
    return data


def stream_manifest_documents(manifest: Path) -> Iterator[Any]:
    """The manifest's `documents` entries one at a time, without parsing the whole file.

    `data build` writes that list one entry per line (`artifacts.json_chunks`), so the
    manifest of a multi-GB corpus (hundreds of thousands of entries, ~0.5 KB each once
    parsed) is read a line at a time. A manifest laid out otherwise (edited by hand) is
    parsed whole by `read_manifest`, with its checks.
    """
    opening = '  "documents": ['
    try:
        with open(manifest, encoding="utf-8") as handle:
            numbered = enumerate(handle, start=1)
            line = next((line for _, line in numbered if line.startswith(opening)), "")
            if line.rstrip("\n") != opening:  # absent, empty (`[]`) or laid out otherwise
                yield from read_manifest(manifest)["documents"]
                return
            for number, line in numbered:
                text = line.strip()
                if text in ("]", "],"):
                    return
                try:
                    yield json.loads(text[:-1] if text.endswith(",") else text)
                except ValueError as error:
                    raise InputError(
                        f"A document entry is not valid JSON ({error}).",
                        file=manifest, line=number, fix=REBUILD_FIX,
                    ) from None  # fmt: skip
    except OSError as error:
        raise InputError(
            f"Cannot read the corpus manifest ({error}).", file=manifest, fix=MANIFEST_FIX
        ) from error
    raise InputError("The manifest's `documents` list has no end.", file=manifest, fix=REBUILD_FIX)


def document_span(document: Any, index: int, manifest: Path) -> tuple[int, int]:
    """(char_start, char_end) of the manifest's document `index`."""
    try:
        return int(document["char_start"]), int(document["char_end"])
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(
            f"Document {index} has no valid char_start/char_end.", file=manifest, fix=REBUILD_FIX
        ) from error


def read_spans(manifest: Path | None) -> tuple[np.ndarray, str | None]:
    """(rows of [manifest id, char_start, char_end] of non-empty documents, corpus sha256
    the manifest names); one open-ended document without a manifest."""
    if manifest is None:
        return np.array([[0, 0, -1]], dtype=np.int64), None
    flat = array("q")
    for i, document in enumerate(stream_manifest_documents(manifest)):
        start, end = document_span(document, i, manifest)
        if end > start:
            flat.extend((i, start, end))
    rows = np.frombuffer(flat, dtype=np.int64).reshape(-1, 3)  # no copy: 24 bytes a document
    if len(rows) == 0:
        raise InputError("The manifest lists no non-empty document.", file=manifest)
    if np.any(np.diff(rows[:, 1]) < 0) or np.any(rows[1:, 1] < rows[:-1, 2]):
        raise InputError("The manifest's document spans overlap or are out of order.",
                         file=manifest, fix=REBUILD_FIX)  # fmt: skip
    return rows, _top_level_string(manifest, "corpus_sha256")


def _top_level_string(manifest: Path, key: str) -> str | None:
    """A top-level string field, found line by line in data build's layout (the file
    is otherwise parsed whole)."""
    prefix = f"  {json.dumps(key)}: "
    with open(manifest, encoding="utf-8") as handle:
        if handle.readline().rstrip("\n") == "{":
            for line in handle:
                if line.startswith(prefix):
                    value = json.loads(line[len(prefix) :].rstrip().rstrip(","))
                    return value if isinstance(value, str) else None
    value = read_manifest(manifest).get(key)  # not found that way: read it whole
    return value if isinstance(value, str) else None


def _span_rows(spans: np.ndarray) -> Iterator[tuple[int, int, int]]:
    """(row, char start, char end) of each row of `spans` (its last two columns)."""
    for base in range(0, len(spans), SPAN_ROWS):
        chunk = spans[base : base + SPAN_ROWS, -2:].tolist()
        for row, (start, end) in enumerate(chunk, start=base):
            yield row, start, end


def iter_pieces(
    corpus: Path, spans: np.ndarray, piece_chars: int
) -> Iterator[tuple[int, bool, str]]:
    """(row of `spans`, first piece of its document, text) in corpus order, streamed.
    `spans`: a row per document, the manifest id first and char start, char end last
    (`read_spans`' rows, or the token shards' document index).

    Read with universal newlines, like `Path.read_text`, so char offsets mean the same;
    `corpus` is a file or a shard folder (`picochat.corpus_files`).
    """
    try:
        with open_corpus_text(corpus) as handle:
            position = 0
            for row, start, end in _span_rows(spans):
                while position < start:  # the separators between documents
                    skipped = handle.read(min(start - position, piece_chars))
                    if not skipped:
                        break
                    position += len(skipped)
                first, carry = True, ""
                while end < 0 or position < end:
                    block = handle.read(
                        piece_chars if end < 0 else min(piece_chars, end - position)
                    )
                    if not block:
                        break
                    position += len(block)
                    pieces = text_pieces(carry + block, piece_chars)
                    carry = pieces.pop()  # may continue in the next block
                    for piece in pieces:
                        yield row, first, piece
                        first = False
                if end >= 0 and position < end:
                    raise InputError(
                        f"Document {int(spans[row, 0])} ends at character {end:,} but the corpus "
                        f"has {position:,}: the manifest belongs to another corpus.",
                        file=corpus,
                        fix="Pass the corpus_manifest.json written together with this corpus.",
                    )
                if carry or first:
                    yield row, first, carry
    except UnicodeDecodeError as error:
        raise InputError(
            f"The corpus is not UTF-8 text ({error.reason}).",
            file=corpus,
            fix="Rebuild it with `picochat data build`, which skips undecodable bytes.",
        ) from error
