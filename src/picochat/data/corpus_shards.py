"""Writing `data build`'s corpus as a folder of shards (`--shard-mb N`).

`ShardSink` takes the bytes `CorpusBuilder` streams out and writes them into
`shard-00000.txt`, `shard-00001.txt`, ... (`layout.corpus_shard`) of at most
`shard_bytes` each, cut only between documents: the builder calls
`start_document` before a document's text, and a document that would push the open
shard past the limit (with the separator that follows it) starts the next shard. A
document larger than the limit gets a shard of its own. Each shard ends with the
separator after its last document (the last one with the corpus's final newline), so
the concatenation of the shards is byte for byte the one-file corpus.txt of the same
build: spans stay global, and `corpus_sha256` is the same.

Each shard streams into its own temporary file (`artifacts.atomic_open`) and is
renamed when finished, so memory holds no shard; `corpus.py` builds the whole folder
under a temporary name (`artifacts.atomic_dir`) and swaps it in after the manifest and
report are written, as it renames corpus.txt last. `entries` is the manifest's `shards`
list (path, bytes, chars, sha256, documents [first id, end id)).

Not here: reading shards back (`picochat.corpus_files`), the documents (`corpus_builder.py`).
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import IO, Any

from picochat.artifacts import atomic_open
from picochat.configs.data import CORPUS_SUFFIXES
from picochat.errors import ConfigError
from picochat.layout import corpus_shard, is_corpus_shard

MB = 1_000_000  # --shard-mb counts decimal megabytes, as the MB/s figures do


class ShardSink:
    """A binary sink (`write`) that cuts the corpus into shards between documents."""

    def __init__(self, folder: Path, shard_bytes: int, separator_bytes: int) -> None:
        self.folder, self.limit, self.separator_bytes = Path(folder), shard_bytes, separator_bytes
        self.entries: list[dict[str, Any]] = []
        self._stack = contextlib.ExitStack()
        self._handle: IO[bytes] | None = None
        self._digest = hashlib.sha256()
        self._bytes = self._start_chars = self._first = 0

    def start_document(self, doc_id: int, nbytes: int, chars_before: int) -> None:
        """Called before document `doc_id` (`nbytes` of text) is written; `chars_before`:
        the corpus's characters so far (where the open shard would end)."""
        over = self._bytes + nbytes + self.separator_bytes > self.limit
        if self._handle is not None and self._bytes and over:
            self._finish(doc_id, chars_before)
        if self._handle is None:
            self._open(doc_id, chars_before)

    def write(self, data: bytes) -> int:
        if self._handle is None:  # never before the first document (the builder's order)
            raise RuntimeError("ShardSink.write before start_document")
        self._handle.write(data)
        self._digest.update(data)
        self._bytes += len(data)
        return len(data)

    def _open(self, doc_id: int, chars_before: int) -> None:
        name = corpus_shard(len(self.entries))
        self._handle = self._stack.enter_context(atomic_open(self.folder / name, "wb"))
        self._digest, self._bytes = hashlib.sha256(), 0
        self._start_chars, self._first = chars_before, doc_id
        self.entries.append({"path": name})

    def _finish(self, end_id: int, chars: int) -> None:
        self.entries[-1].update(
            bytes=self._bytes,
            chars=chars - self._start_chars,
            sha256=self._digest.hexdigest(),
            documents=[self._first, end_id],
        )
        self._stack.close()  # flush, fsync, rename into place
        self._handle = None

    def close(self, documents: int, chars: int) -> list[dict[str, Any]]:
        """Finish the last shard (`documents`, `chars`: the corpus's totals); the entries."""
        if self._handle is not None:
            self._finish(documents, chars)
        return self.entries


def check_shard_flags(out: Path | None, shard_mb: float | None) -> None:
    """ConfigError for `--shard-mb` settings that contradict themselves or `--out`
    (checked before any work: `data build` and `data hf-import` both call it)."""
    if shard_mb is None:
        return
    if not shard_mb > 0:  # also NaN
        raise ConfigError(
            f"--shard-mb must be > 0, got {shard_mb:g}.",
            fix="Give the most MB per shard, e.g. --shard-mb 256, or leave --shard-mb out "
            "for one corpus.txt.",
        )
    if out is None:
        return
    out = Path(out)
    if out.is_file() or out.suffix.lower() in CORPUS_SUFFIXES:
        raise ConfigError(
            f"--shard-mb writes a folder of shards, but --out {out} names a file.",
            fix=f"Pass the folder, e.g. --out {out.with_suffix('')} (corpus_manifest.json "
            "goes beside it), or leave --shard-mb out for one corpus.txt.",
        )
    if out.is_dir() and any(not is_corpus_shard(child.name) for child in out.iterdir()):
        raise ConfigError(
            f"--out {out} is a folder holding other files, and a shard build replaces the "
            "whole folder.",
            fix=f"Pass a folder of its own, e.g. --out {out / 'corpus'}.",
        )
