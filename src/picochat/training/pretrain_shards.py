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

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from picochat.data.corpus_stream import read_manifest
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
    return Path(corpus).is_file() and Path(corpus).stat().st_size >= SHARD_MIN_BYTES


def corpus_sample(corpus: Path, chars: int = CANARY_SAMPLE_CHARS) -> str:
    """The first `chars` characters of the corpus (what the canary alphabet is drawn from)."""
    with open(corpus, encoding="utf-8", errors="replace") as handle:
        return handle.read(chars)


def _check(data: ShardTokenData, corpus: Path, context_size: int) -> None:
    data.warnings += check_streams(corpus, data.train, data.val, data.unknown_rate, context_size)


def manifest_documents(manifest: Path) -> list[Any]:
    """The manifest's document entries (ids are positions, as the shards' document ids)."""
    return read_manifest(manifest)["documents"]


def contained_in(documents: list[Any]) -> dict[int, int]:
    """{document id: id of the document holding its text} (data build's containment)."""
    return {
        i: int(d["contained_in"])
        for i, d in enumerate(documents)
        if isinstance(d, dict) and isinstance(d.get("contained_in"), int)
    }


def _held_names(documents: list[Any], shards: Any, held: np.ndarray) -> list[dict[str, Any]]:
    rows = shards.documents[held]
    return named_documents(
        (int(r[DOC_ID]), _source(documents, int(r[DOC_ID])), int(r[CHAR_END] - r[CHAR_START]))
        for r in rows
    )


def _source(documents: list[Any], index: int) -> str | None:
    entry = documents[index] if index < len(documents) else None
    return entry.get("source") if isinstance(entry, dict) else None


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
    root = Path(cache_root) if cache_root is not None else default_cache_root(corpus)
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
    listed = manifest_documents(manifest) if mode == "document" and manifest else []
    train, val, held = split_shards(
        shards, mode, val_fraction, split.seed, extra_train=extra, contained_in=contained_in(listed)
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
    mode: str, corpus: Path, tokenizer_path: Path, manifest: Path | None, *, quiet: bool = True
) -> int | None:
    """Corpus tokens from the shard index when `train base` will read this corpus through
    shards (building them now if needed: the work base would do first), else None."""
    if not wants_shards(mode, corpus):
        return None
    root = default_cache_root(corpus)
    return len(ensure_token_shards(corpus, tokenizer_path, manifest, root, quiet=quiet).shards)
