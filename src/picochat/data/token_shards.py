"""Token shards: a tokenized corpus on disk, memory-mapped, with its document index.

A shard folder `tokens-<key>/` holds

- `shard_00000.bin`, ...: the token ids of the corpus, in corpus order, as raw
  little-endian `uint16` (vocabulary <= 65,536) or `uint32`, `SHARD_TOKENS` tokens per
  shard (the last one shorter). Every document starts with `<|bos|>`, exactly as the
  in-memory path (`training/token_data.py`) encodes it.
- `documents.npy`: one int64 row per non-empty document: manifest id, token start,
  token end (global positions over all shards), char start, char end.
- `index.json`: format, dtype, the sha256 of the corpus, tokenizer and document spans it
  was made from, token and document counts, the shards and their lengths. Written
  last: a folder without it is an unfinished build and is rebuilt.

The key is a hash of CONTENT: (format version, corpus sha256, tokenizer sha256, spans
sha256), the spans being the (manifest id, char start, char end) rows of the non-empty
documents that `documents.npy` records (`spans_sha256`). Not the manifest file's bytes:
it also records the build's config, wall seconds and time, so two builds of the same
text (rebuilt into the same folder, or one file and a shard folder: the same
`corpus_sha256`) share one folder. The same corpus and tokenizer give the same folder
for every run, seed, split and stage; the split (`training/shard_windows.py`) is a rule
over document ids (and the manifest's `contained_in`, read then) applied when reading.
Opening checks what can be checked without reading the tokens (file sizes, the hashes
the index records, the document index); a failure is an `InputError` naming the file
and the command that rebuilds it. The corpus sha256 and the spans' digest are
remembered by the (size, mtime) of the files they were read from in `digests.json`
beside the folders, so a cached 2 GB corpus opens in moments (the spans of a 330 K-
document manifest take ~1.5 s to read and hash).

Not here: building shards (`tokenize_shards.py`) or sampling windows from them.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from picochat.artifacts import atomic_write_json
from picochat.corpus_files import corpus_sha256, corpus_stamp
from picochat.data.corpus_stream import read_spans
from picochat.errors import InputError

FORMAT = "picochat-token-shards"
VERSION = 2  # 2: the key and index name the document spans' sha256, not the manifest's
SHARD_TOKENS = 1 << 26  # 64 M tokens: 128 MB of uint16 per shard
INDEX = "index.json"
DOCUMENTS = "documents.npy"
DIGESTS = "digests.json"
# documents.npy columns
DOC_ID, TOK_START, TOK_END, CHAR_START, CHAR_END = range(5)
_ZEROS = 1 << 20  # bytes a write where the file system cannot reserve blocks


def rebuild_command(corpus: Path, tokenizer: Path, manifest: Path | None) -> str:
    """The command that (re)builds the shards of these inputs."""
    command = f"picochat data tokenize --corpus {corpus} --tokenizer {tokenizer}"
    if manifest is not None:
        command += f" --corpus-manifest {manifest}"
    return command + " --rebuild"


def shard_name(number: int) -> str:
    return f"shard_{number:05d}.bin"


def dtype_for(vocab_size: int) -> np.dtype:
    return np.dtype("<u2") if vocab_size <= 1 << 16 else np.dtype("<u4")


def shard_key(corpus_sha256: str, tokenizer_sha256: str, spans_sha256: str | None) -> str:
    """The folder's key: what the tokens depend on (`spans_sha256` None: no manifest,
    the corpus is one document)."""
    parts = f"{FORMAT}|{VERSION}|{corpus_sha256}|{tokenizer_sha256}|{spans_sha256}"
    return hashlib.sha256(parts.encode()).hexdigest()[:16]


def spans_sha256(spans: np.ndarray) -> str:
    """sha256 of document span rows (manifest id, char start, char end; `read_spans`)
    as little-endian int64: the columns of `documents.npy` that come from the manifest."""
    return hashlib.sha256(np.ascontiguousarray(spans, dtype="<i8").tobytes()).hexdigest()


def _remembered(path: Path, cache_root: Path, field: str, compute: Callable[[Path], Any]) -> Any:
    """`compute(path)`, remembered as `field` in cache_root/digests.json by the
    (size, mtime_ns) of each file of `path` (a file, or a corpus shard folder)."""
    path = Path(path).resolve()
    stamp = corpus_stamp(path)
    digests_path = Path(cache_root) / DIGESTS
    try:
        digests = json.loads(digests_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        digests = {}
    entry = digests.get(str(path))
    if not isinstance(entry, dict) or entry.get("stamp") != stamp:
        entry = {"stamp": stamp}
    if field not in entry:
        entry[field] = compute(path)
        digests[str(path)] = entry
        with contextlib.suppress(OSError):  # a read-only cache works; it reads again next time
            atomic_write_json(digests_path, digests)
    return entry[field]


def cached_sha256(path: Path, cache_root: Path) -> str:
    """sha256 of `path` (a file, or a corpus shard folder: the hash of its shards'
    bytes in order), remembered in cache_root/digests.json."""
    return str(_remembered(path, cache_root, "sha256", corpus_sha256))


def cached_spans(manifest: Path, cache_root: Path) -> tuple[str, str | None]:
    """(`spans_sha256` of the manifest's document spans, the corpus sha256 the manifest
    names), remembered in cache_root/digests.json. The spans are streamed a line at a
    time (`read_spans`: 24 bytes a document in memory)."""

    def compute(path: Path) -> list[str | None]:
        spans, named = read_spans(path)
        return [spans_sha256(spans), named]

    digest, named = _remembered(manifest, cache_root, "spans", compute)
    return str(digest), named


class TokenShards:
    """An opened shard folder: the tokens as one logical array (no copy), and the index."""

    def __init__(self, folder: Path, index: dict[str, Any], documents: np.ndarray) -> None:
        self.folder = Path(folder)
        self.index = index
        self.documents = documents
        self.dtype = np.dtype(index["dtype"])
        self.shard_tokens = int(index["shard_tokens"])
        self.shards = [
            np.memmap(self.folder / s["file"], dtype=self.dtype, mode="r", shape=(s["tokens"],))
            if s["tokens"]
            else np.zeros(0, dtype=self.dtype)
            for s in index["shards"]
        ]

    def __len__(self) -> int:
        return int(self.index["tokens"])

    def take(self, positions: np.ndarray) -> np.ndarray:
        """Tokens at global `positions` (any shape), reading only the pages touched."""
        positions = np.asarray(positions, dtype=np.int64)
        shard = positions // self.shard_tokens
        local = positions - shard * self.shard_tokens
        out = np.empty(positions.shape, dtype=self.dtype)
        for number in np.unique(shard):
            mask = shard == number
            out[mask] = self.shards[int(number)][local[mask]]
        return out

    def tokens(self, start: int, end: int) -> np.ndarray:
        """A contiguous global range [start, end) as one array."""
        return self.take(np.arange(start, end, dtype=np.int64))


def _fail(message: str, file: Path, command: str) -> InputError:
    return InputError(message, file=file, fix=f"Rebuild the token shards: `{command}`.")


def open_token_shards(
    folder: Path,
    *,
    corpus_sha256: str,
    tokenizer_sha256: str,
    spans_sha256: str | None,
    command: str,
) -> TokenShards:
    """Open and check a finished shard folder; InputError (with `command`) if it is bad."""
    folder = Path(folder)
    index_path = folder / INDEX
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise _fail(
            f"The token-shard index cannot be read ({error}).", index_path, command
        ) from error
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise _fail("This is not a Picochat token-shard index.", index_path, command)
    if index.get("version") != VERSION:
        raise _fail(f"Token-shard format version {index.get('version')} is not {VERSION}.",
                    index_path, command)  # fmt: skip
    if index.get("tokenizer_sha256") != tokenizer_sha256:
        raise _fail(
            "These token shards were made with another tokenizer "
            f"(sha256 {str(index.get('tokenizer_sha256'))[:12]}..., this one {tokenizer_sha256[:12]}...).",
            index_path,
            command,
        )
    if index.get("corpus", {}).get("sha256") != corpus_sha256:
        raise _fail("These token shards were made from another corpus (its sha256 differs).",
                    index_path, command)  # fmt: skip
    if index.get("spans_sha256") != spans_sha256:
        raise _fail(
            "These token shards were made with other document spans (another corpus manifest).",
            index_path,
            command,
        )
    itemsize = np.dtype(index["dtype"]).itemsize
    total = 0
    for shard in index["shards"]:
        path = folder / shard["file"]
        expected = int(shard["tokens"]) * itemsize
        size = path.stat().st_size if path.is_file() else -1
        if size != expected:
            found = "missing" if size < 0 else f"{size:,} bytes"
            raise _fail(f"Token shard is truncated or damaged: {found}, expected {expected:,} bytes.",
                        path, command)  # fmt: skip
        total += int(shard["tokens"])
    documents = _load_documents(folder / DOCUMENTS, index, total, command)
    if total != int(index["tokens"]):
        raise _fail(f"The shards hold {total:,} tokens, the index says {index['tokens']:,}.",
                    index_path, command)  # fmt: skip
    return TokenShards(folder, index, documents)


def _load_documents(path: Path, index: dict[str, Any], total: int, command: str) -> np.ndarray:
    """The document index, memory-mapped read-only: its 40 bytes a document stay on disk
    (pages the kernel can drop) instead of being copied into memory on every open."""
    try:
        documents = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise _fail(f"The document index cannot be read ({error}).", path, command) from error
    if documents.ndim != 2 or documents.shape[1] != 5 or len(documents) != index["documents"]:
        raise _fail(
            f"The document index has shape {documents.shape}, expected ({index['documents']}, 5).",
            path,
            command,
        )
    if len(documents) and (documents[-1, TOK_END] != total or documents[0, TOK_START] != 0):
        raise _fail("The document index does not cover the shards' tokens.", path, command)
    return documents


def create_documents(path: Path, rows: int) -> np.memmap:
    """A new `documents.npy` of `rows` zero rows, mapped for writing: the index is
    filled on disk, not in memory (40 bytes a document). Its blocks are reserved
    first (`posix_fallocate`), so a full disk is an OSError (ENOSPC) here, before
    tokenizing, and never a SIGBUS when a page written through the map finds no room.
    The header is the one `np.save` writes for the same array, so is the file."""
    shape = (rows, CHAR_END + 1)
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<i8")), "fortran_order": False,
              "shape": shape}  # fmt: skip
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.flush()
        _reserve(handle, handle.tell() + rows * shape[1] * 8)
    return np.lib.format.open_memmap(path, mode="r+")


def _reserve(handle: Any, size: int) -> None:
    """Allocate the blocks of the file open as `handle` up to `size` bytes (zeros)."""
    fallocate = getattr(os, "posix_fallocate", None)  # not on macOS
    if fallocate is not None:
        try:
            fallocate(handle.fileno(), 0, size)
            return
        except OSError as error:  # a file system without it: write the zeros
            if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
    handle.seek(0, os.SEEK_END)
    zeros = bytes(_ZEROS)
    while (left := size - handle.tell()) > 0:
        handle.write(zeros[:left])
    handle.flush()


def free_bytes(folder: Path) -> int:
    """Free bytes on the file system that holds `folder` (or its nearest existing parent)."""
    folder = Path(folder).resolve()
    while not folder.exists():
        folder = folder.parent
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize
