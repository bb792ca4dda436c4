"""Pretraining data for large corpora: token shards, a seeded split, lazy windows.

    data = shard_token_data(...)   # -> ShardTokenData, no corpus text in memory

Used by `train base` when the corpus file is at least `SHARD_MIN_BYTES` (or with
`--token-shards on`); below that the in-memory path (`token_data.py`) runs unchanged,
so small corpora (the bundled pack) give exactly the figures they always gave. The
shards are built once (in parallel) under `cache_root` and reused by every later run
and stage on the same corpus, manifest and tokenizer; only rank 0 builds them under
torchrun, the other ranks wait and open them. Time to the first step on a cached
corpus is then: hash lookups by (size, mtime), opening the memory maps and reading
the document index (8 bytes x 5 per document).

Canaries go into the training side as extra lines after the shards (the shards stay
shared and unchanged); the canary alphabet is checked on the first
`CANARY_SAMPLE_CHARS` characters of the corpus.

Not here: the split rule and the windows (`shard_windows.py`).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from picochat.corpus_files import corpus_size, open_corpus_text
from picochat.data.corpus_stream import stream_manifest_documents
from picochat.data.token_shards import CHAR_END, CHAR_START, DOC_ID
from picochat.data.tokenize_shards import default_cache_root, ensure_token_shards
from picochat.errors import ConfigError
from picochat.training.shard_windows import ShardTokenData, split_shards
from picochat.training.token_data import (
    CorpusSplit,
    check_streams,
    named_documents,
    resolve_split_mode,
)

# The size from which the in-memory path already cached its token streams (5 M chars).
SHARD_MIN_BYTES = 5_000_000
CANARY_SAMPLE_CHARS = 1 << 22
TOKEN_SHARD_MODES = ("auto", "on", "off")


def wants_shards(mode: str, corpus: Path) -> bool:
    """Whether `train base` reads this corpus through token shards."""
    if mode not in TOKEN_SHARD_MODES:
        raise ConfigError(
            f"--token-shards must be one of {', '.join(TOKEN_SHARD_MODES)}, got {mode!r}."
        )
    if mode != "auto":
        return mode == "on"
    # By size alone, so the same text as one file or as a shard folder trains the same way.
    return Path(corpus).exists() and corpus_size(corpus) >= SHARD_MIN_BYTES


def corpus_sample(corpus: Path, chars: int = CANARY_SAMPLE_CHARS) -> str:
    """The first `chars` characters of the corpus (what the canary alphabet is drawn from)."""
    with open_corpus_text(corpus, errors="replace") as handle:
        return handle.read(chars)


def _check(data: ShardTokenData, corpus: Path, context_size: int) -> None:
    data.warnings += check_streams(corpus, data.train, data.val, data.unknown_rate, context_size)


class ManifestDocuments:
    """What document holdout needs from the manifest, compactly: each document's source
    (an index into the distinct names) and the rare `contained_in` marks. Read a line at
    a time (`stream_manifest_documents`): a million documents cost ~4 MB, not ~500 MB."""

    def __init__(self, manifest: Path | None) -> None:
        self.contained_in: dict[int, int] = {}  # document id -> the id holding its text
        self._source = array("i")
        self._names: list[str | None] = []
        ids: dict[str | None, int] = {}
        documents = stream_manifest_documents(manifest) if manifest is not None else ()
        for i, entry in enumerate(documents):
            entry = entry if isinstance(entry, dict) else {}
            if isinstance(entry.get("contained_in"), int):
                self.contained_in[i] = int(entry["contained_in"])
            name = entry.get("source")
            self._source.append(ids.setdefault(name, len(ids)))
            if len(ids) > len(self._names):
                self._names.append(name)

    def source(self, index: int) -> str | None:
        return self._names[self._source[index]] if index < len(self._source) else None


def _held_names(
    documents: ManifestDocuments, shards: Any, held: np.ndarray
) -> list[dict[str, Any]]:
    rows = shards.documents[held]
    return named_documents(
        (int(r[DOC_ID]), documents.source(int(r[DOC_ID])), int(r[CHAR_END] - r[CHAR_START]))
        for r in rows
    )


def shard_token_data(
    split: CorpusSplit,
    tokenizer: Any,
    *,
    tokenizer_path: Path,
    cache_root: Path | None = None,
    is_main: bool = True,
    barrier: Callable[[], None] = lambda: None,
    quiet: bool = False,
) -> ShardTokenData:
    """Open (rank 0: build if needed) the shards and split them; errors name the file."""
    corpus, manifest, val_fraction = split.corpus, split.manifest, split.val_fraction
    if not 0 < val_fraction < 1:
        raise ConfigError(
            f"--val-fraction must be between 0 and 1 (got {val_fraction}).", fix="Use e.g. 0.1."
        )
    root = default_cache_root(corpus, cache_root)
    if is_main:
        result = ensure_token_shards(corpus, tokenizer_path, manifest, root, quiet=quiet)
    barrier()
    if not is_main:
        result = ensure_token_shards(corpus, tokenizer_path, manifest, root, quiet=True)
    shards = result.shards
    count = len(shards.documents) if manifest is not None else 1
    mode, reason = resolve_split_mode(split.split_mode, range(count), manifest is not None)
    extra = None
    if split.canaries:
        extra = np.concatenate([tokenizer.encode_array("\n" + c + "\n") for c in split.canaries])
    listed = ManifestDocuments(manifest if mode == "document" else None)
    train, val, held = split_shards(
        shards, mode, val_fraction, split.seed, extra_train=extra, contained_in=listed.contained_in
    )
    held_count = int(held.sum())
    data = ShardTokenData(
        train=train,
        val=val,
        split_mode=mode,
        split_reason=reason
        + ("; held out by a seeded hash of each document id" if mode == "document" else "")
        + f"; token shards in {shards.folder} ({'built now' if result.built else 'reused'})",
        train_documents=count - held_count if mode == "document" else 1,
        val_documents=held_count if mode == "document" else None,
        unknown_rate=shards.index["unknown_tokens"] / max(1, len(shards)),
        val_doc_mask=held,
        shards=shards,
        val_document_names=_held_names(listed, shards, held) if mode == "document" else None,
    )
    _check(data, corpus, split.context_size)
    return data


def shard_corpus_tokens(
    mode: str,
    corpus: Path,
    tokenizer_path: Path,
    manifest: Path | None,
    *,
    cache_root: Path | None = None,
    quiet: bool = True,
) -> int | None:
    """Corpus tokens from the shard index when `train base` will read this corpus through
    shards (building them now if needed: the work base would do first), else None."""
    if not wants_shards(mode, corpus):
        return None
    root = default_cache_root(corpus, cache_root)
    return len(ensure_token_shards(corpus, tokenizer_path, manifest, root, quiet=quiet).shards)
