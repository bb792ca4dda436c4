"""Tokenizing a corpus into token shards: streamed, in parallel over the cores, cached.

    ensure_token_shards(corpus, tokenizer_path, manifest, cache_root) -> TokenizeResult

The main process reads `corpus.txt` once, in order, a bounded number of characters at
a time (a document longer than `BATCH_CHARS` is cut where BPE pre-tokenises the same
way: after a newline followed by a non-space, see `tokenizer/bpe.py`), hands batches
of about `BATCH_CHARS` characters to worker processes running Picochat's own encoder
(measured faster here than Hugging Face `tokenizers` on one long text, and the ids are
identical: tests/data/test_token_shards.py checks both), and appends their ids to the
shards in corpus order. At most 2 batches per worker are in flight, so memory is
bounded by the batch size and the largest document, not by the corpus. The document
index (`documents.npy`, 40 bytes a document) is filled through a memory map of its
final file, its blocks reserved up front (`token_shards.create_documents`: a full disk
is the clear error below, not a SIGBUS); reading the manifest's spans holds 24 bytes a
document in memory while the index is made, and none after.

Before writing, the shard size is estimated from the first `SAMPLE_CHARS` characters
and compared with the free disk space (a clear error if it cannot fit). The folder is
built under a temporary name and renamed when complete; a crash or a full disk leaves
no folder that looks finished.

Not here: the format and opening (`token_shards.py`).
"""

from __future__ import annotations

import contextlib
import errno
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from picochat.artifacts import atomic_dir, atomic_write_json
from picochat.byte_progress import ByteProgress
from picochat.configs.data import TokenizeConfig
from picochat.corpus_files import corpus_shards, corpus_size, open_corpus_text
from picochat.data import token_shards as fmt
from picochat.data.corpus_stream import iter_pieces, read_spans
from picochat.errors import ConfigError, InputError
from picochat.layout import TOKEN_SHARDS
from picochat.tokenizer import load_tokenizer

BATCH_CHARS = 4 << 20  # text per worker job: ~1.6 s of encoding at 2.5 MB/s
SAMPLE_CHARS = 1 << 20  # encoded first to estimate the shards' size
DISK_MARGIN = 1.15  # the estimate is from a sample; leave room for error


@dataclass
class TokenizeResult:
    shards: fmt.TokenShards
    built: bool  # False: an earlier build was reused
    seconds: float
    workers: int
    corpus_bytes: int

    @property
    def mb_per_s(self) -> float:
        return self.corpus_bytes / 1e6 / max(self.seconds, 1e-9)


def default_cache_root(corpus: Path, given: Path | None = None) -> Path:
    """`given` (--cache-dir, --token-cache), else token_shards/ beside the corpus, so
    every run and stage on it shares them (and a corpus.txt and a shard folder of the
    same text in one folder: the key is their content)."""
    return Path(given) if given is not None else Path(corpus).parent / TOKEN_SHARDS


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _batches(pieces: Iterator[tuple[int, bool, str]], batch_chars: int) -> Iterator[list]:
    batch, size = [], 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece[2])
        if size >= batch_chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


_TOKENIZER: Any = None


def _init_worker(path: str) -> None:
    global _TOKENIZER
    _TOKENIZER = load_tokenizer(path)


def _encode(
    batch: list[tuple[int, bool, str]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """(row, token count) of each piece and all their ids in one array of the shards'
    dtype (`<|bos|>` first on a document's first piece), unknown ids, UTF-8 bytes of the
    batch. One array a batch, not one a piece: a batch of short documents has ~100,000
    pieces, and an array and a tuple each cost ~200 bytes (x 2 batches a worker)."""
    tok = _TOKENIZER
    unk = tok.token_to_id("<unk>")
    dtype = fmt.dtype_for(tok.vocab_size)
    bos = np.asarray([tok.bos_id], dtype=dtype)
    parts, rows, lengths, nbytes = [], [], [], 0
    for row, first, text in batch:
        ids = tok.encode_array(text).astype(dtype, copy=False)
        parts.extend((bos, ids) if first else (ids,))
        rows.append(row)
        lengths.append(len(ids) + first)
        nbytes += len(text.encode("utf-8"))
    ids = np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
    unknown = 0 if unk is None else int(np.count_nonzero(ids == unk))
    return (
        np.asarray(rows, dtype=np.int64),
        np.asarray(lengths, dtype=np.int64),
        ids,
        unknown,
        nbytes,
    )


@contextlib.contextmanager
def _encoder(tokenizer_path: Path, workers: int) -> Iterator[Callable[[Iterator[list]], Iterator]]:
    """A function from batches to their `_encode` results in order, at most 2 batches per
    worker in flight. The workers start here, before the document index is made: forked
    after it, they would keep its pages (and the spans') while the parent's writes copy
    them, twice its memory."""
    if workers <= 1:
        _init_worker(str(tokenizer_path))
        yield lambda batches: map(_encode, batches)
        return
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    with context.Pool(workers, initializer=_init_worker, initargs=(str(tokenizer_path),)) as pool:

        def encoded(batches: Iterator[list]) -> Iterator[tuple]:
            pending: deque = deque()
            for batch in batches:
                pending.append(pool.apply_async(_encode, (batch,)))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().get()
            while pending:
                yield pending.popleft().get()

        yield encoded


class _ShardWriter:
    """Appends ids to shard files of `shard_tokens` tokens each."""

    def __init__(self, folder: Path, dtype: np.dtype, shard_tokens: int) -> None:
        self.folder, self.dtype, self.shard_tokens = folder, dtype, shard_tokens
        self.shards: list[dict[str, Any]] = []
        self.total = 0
        self._handle: BinaryIO | None = None

    def write(self, ids: np.ndarray) -> None:
        ids = ids.astype(self.dtype, copy=False)
        while len(ids):
            if self._handle is None or self.shards[-1]["tokens"] == self.shard_tokens:
                self._open()
            room = self.shard_tokens - self.shards[-1]["tokens"]
            part, ids = ids[:room], ids[room:]
            self._handle.write(part.tobytes())
            self.shards[-1]["tokens"] += len(part)
            self.total += len(part)

    def _open(self) -> None:
        self.close()
        name = fmt.shard_name(len(self.shards))
        self._handle = open(self.folder / name, "wb")  # noqa: SIM115 - closed in close()
        self.shards.append({"file": name, "tokens": 0})

    def close(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None


def _check_disk(corpus: Path, tokenizer: Any, folder: Path, dtype: np.dtype) -> int:
    """Estimated shard bytes; InputError when the disk cannot hold them."""
    with open_corpus_text(corpus, errors="replace") as handle:
        sample = handle.read(SAMPLE_CHARS)
    corpus_bytes = corpus_size(corpus)
    per_byte = len(tokenizer.encode_array(sample)) / max(1, len(sample.encode("utf-8")))
    estimate = int(corpus_bytes * per_byte * dtype.itemsize * DISK_MARGIN)
    free = fmt.free_bytes(folder)
    if estimate > free:
        raise InputError(
            f"The token shards need about {estimate / 1e9:.2f} GB (estimated from the first "
            f"{len(sample):,} characters) but only {free / 1e9:.2f} GB are free.",
            file=folder,
            fix="Free disk space there, or train on a smaller corpus.",
        )
    return estimate


def _document_index(manifest: Path | None, spans_sha256: str | None, path: Path) -> np.memmap:
    """The document index to fill, as `path` mapped (`documents.npy`): manifest id and
    char span set, the token columns 0. The manifest's spans (24 bytes a document) are
    in memory only while it is made; they must be the spans the folder is keyed by."""
    spans, _ = read_spans(manifest)
    if manifest is not None and fmt.spans_sha256(spans) != spans_sha256:
        raise InputError(
            "The manifest's document spans are not the ones the token-shard key was made "
            f"from: it changed since, or {fmt.DIGESTS} remembers another file by its size "
            "and time.",
            file=manifest,
            fix=f"Run the command again; if this repeats, delete {fmt.DIGESTS} in the cache folder.",
        )
    documents = fmt.create_documents(path, len(spans))
    for column, values in zip((fmt.DOC_ID, fmt.CHAR_START, fmt.CHAR_END), spans.T, strict=True):
        documents[:, column] = values  # no manifest: end -1
    return documents


def build_token_shards(
    corpus: Path,
    tokenizer_path: Path,
    manifest: Path | None,
    folder: Path,
    *,
    workers: int,
    shard_tokens: int = fmt.SHARD_TOKENS,
    quiet: bool = False,
    digests: dict[str, str | None],
) -> None:
    """Tokenize `corpus` into `folder` (see the module docstring)."""
    started = time.perf_counter()
    tokenizer = load_tokenizer(tokenizer_path)
    dtype = fmt.dtype_for(tokenizer.vocab_size)
    corpus_bytes = corpus_size(corpus)
    progress = ByteProgress("tokenize", corpus_bytes, quiet=quiet)
    try:
        with _encoder(tokenizer_path, workers) as encoded, atomic_dir(folder) as tmp:
            mapped = _document_index(manifest, digests["spans"], tmp / fmt.DOCUMENTS)
            documents = np.asarray(mapped)  # a plain view: row access without memmap's wrapper
            estimate = _check_disk(corpus, tokenizer, folder.parent, dtype)
            writer, unknown = _ShardWriter(tmp, dtype, shard_tokens), 0
            pieces = iter_pieces(corpus, documents, BATCH_CHARS)
            for rows, lengths, ids, unk, nbytes in encoded(_batches(pieces, BATCH_CHARS)):
                ends = (writer.total + np.cumsum(lengths)).tolist()
                for row, length, end in zip(rows.tolist(), lengths.tolist(), ends, strict=True):
                    if documents[row, fmt.TOK_END] == 0:  # its first piece (<|bos|>: never empty)
                        documents[row, fmt.TOK_START] = end - length
                    documents[row, fmt.TOK_END] = end
                writer.write(ids)
                unknown += unk
                progress.advance(nbytes)
            writer.close()
            mapped.flush()  # written back to the reserved blocks (msync)
            rows = len(mapped)
            del documents, mapped  # its last references: the map is released before the rename
            index = {
                "format": fmt.FORMAT,
                "version": fmt.VERSION,
                "dtype": dtype.str,
                "vocab_size": tokenizer.vocab_size,
                "tokenizer_sha256": digests["tokenizer"],
                "tokenizer_type": tokenizer.type,
                "corpus": {"path": str(corpus), "sha256": digests["corpus"], "bytes": corpus_bytes},
                "spans_sha256": digests["spans"],
                "documents": rows,
                "tokens": writer.total,
                "unknown_tokens": unknown,
                "shard_tokens": shard_tokens,
                "shards": writer.shards,
                "estimated_bytes": estimate,
                "workers": workers,
                "encoder": "picochat",
                "wall_seconds": round(time.perf_counter() - started, 3),
            }
            atomic_write_json(tmp / fmt.INDEX, index)
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        raise InputError(
            "The disk filled up while writing token shards; nothing was kept.",
            file=folder,
            fix="Free disk space and run the command again.",
        ) from error
    finally:
        progress.close()


def _content_digests(
    corpus: Path, tokenizer_path: Path, manifest: Path | None, cache_root: Path
) -> dict[str, str | None]:
    """What the shards' key is made of: sha256 of the corpus bytes, the tokenizer and the
    document spans (None without a manifest); a manifest naming another corpus is refused
    here, before a cached folder could be opened for it."""
    digests = {
        "corpus": fmt.cached_sha256(corpus, cache_root),
        "tokenizer": load_tokenizer(tokenizer_path).sha256,
        "spans": None,
    }
    if manifest is not None:
        digests["spans"], named = fmt.cached_spans(manifest, cache_root)
        if named is not None and named != digests["corpus"]:
            raise InputError(
                "The manifest was written for another corpus (its corpus_sha256 differs).",
                file=manifest,
                fix="Pass the corpus_manifest.json written together with this corpus.",
            )
    return digests


def ensure_token_shards(
    corpus: Path,
    tokenizer_path: Path,
    manifest: Path | None,
    cache_root: Path,
    *,
    workers: int | None = None,
    rebuild: bool = False,
    shard_tokens: int = fmt.SHARD_TOKENS,
    quiet: bool = False,
) -> TokenizeResult:
    """The shards of (corpus, tokenizer, manifest): opened from the cache, else built."""
    started = time.perf_counter()
    corpus_shards(corpus)  # a file, or a shard folder whose shards match its manifest
    if not Path(tokenizer_path).is_file():
        raise InputError("The tokenizer file does not exist.", file=tokenizer_path)
    cache_root = Path(cache_root)
    cache_root.mkdir(parents=True, exist_ok=True)
    digests = _content_digests(corpus, tokenizer_path, manifest, cache_root)
    folder = (
        cache_root
        / f"tokens-{fmt.shard_key(digests['corpus'], digests['tokenizer'], digests['spans'])}"
    )
    command = fmt.rebuild_command(corpus, tokenizer_path, manifest)
    workers = workers or default_workers()
    built = rebuild or not (folder / fmt.INDEX).is_file()
    if built:
        build_token_shards(corpus, tokenizer_path, manifest, folder, workers=workers,
                           shard_tokens=shard_tokens, quiet=quiet, digests=digests)  # fmt: skip
    shards = fmt.open_token_shards(
        folder,
        corpus_sha256=digests["corpus"],
        tokenizer_sha256=digests["tokenizer"],
        spans_sha256=digests["spans"],
        command=command,
    )
    return TokenizeResult(shards, built, time.perf_counter() - started, workers,
                          corpus_size(corpus))  # fmt: skip


def tokenize_corpus(config: TokenizeConfig) -> TokenizeResult:
    """`picochat data tokenize`: `ensure_token_shards` with the command's settings."""
    if config.corpus is None or config.tokenizer is None:
        raise ConfigError("--corpus and --tokenizer are required.")
    if config.workers < 0:
        raise ConfigError(f"--workers must be >= 0, got {config.workers}.")
    root = default_cache_root(config.corpus, config.cache_dir)
    return ensure_token_shards(
        config.corpus,
        config.tokenizer,
        config.corpus_manifest,
        root,
        workers=config.workers or None,
        rebuild=config.rebuild,
    )
