"""A built corpus is one file or a folder of shards: the one place that knows which.

    with open_corpus_text(corpus) as handle: ...      # text, universal newlines
    corpus_files(corpus) -> [Path, ...]               # checked against the manifest
    corpus_size(corpus), corpus_sha256(corpus)

`data build --out D/corpus.txt` writes one file; `data build --out D/corpus --shard-mb N`
writes `D/corpus/shard-00000.txt`, ... (cut only between documents) and lists them in
`D/corpus_manifest.json` under `shards` (path, bytes, chars, sha256, documents). The
corpus is the concatenation of its shards in that order: the manifest's spans are
character offsets over it and `corpus_sha256` is the hash of its bytes, so a reader
that goes through this module sees the same text, offsets and hash either way.

Opening a shard folder checks each listed shard exists with the listed size (cheap);
the listed sha256 is compared only where the bytes are hashed anyway (`corpus_sha256`,
`open_corpus_bytes(verify=True)`), so no extra pass over a multi-GB corpus is made.
A shard that is missing, truncated or changed is an InputError naming the shard.

Not here: writing shards (`data/corpus_shards.py`), the document spans
(`data/corpus_stream.py`). Lives at the base layer because the data and tokenizer
packages both read corpora and neither may import the other's readers.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from picochat.artifacts import sha256_file
from picochat.errors import InputError
from picochat.layout import corpus_outputs, is_corpus_shard

READ_BYTES = 1 << 20
_LIST_OPENING = '  "shards": ['


@dataclass(frozen=True)
class CorpusShard:
    """One shard as the manifest lists it (`path` resolved inside the folder)."""

    path: Path
    bytes: int
    sha256: str | None = None


def rebuild_fix(corpus: Path) -> str:
    return (
        f"Rebuild it with `picochat data build ... --out {corpus} --shard-mb N` (the same "
        "input flags); the manifest and the shards are written together."
    )


def is_shard_folder(corpus: str | Path) -> bool:
    return Path(corpus).is_dir()


def _shard_entries(manifest: Path) -> list[Any] | None:
    """The manifest's `shards` list (None: absent), found line by line in data build's
    layout (one entry a line, before the long `documents` list); parsed whole otherwise."""
    with open(manifest, encoding="utf-8") as handle:
        if handle.readline().rstrip("\n") == "{":
            for line in handle:
                if line.rstrip("\n") == _LIST_OPENING:
                    items = []
                    for item in handle:
                        text = item.strip()
                        if text in ("]", "],"):
                            return [json.loads(entry) for entry in items]
                        items.append(text[:-1] if text.endswith(",") else text)
                    return None
                if line.startswith('  "documents": '):
                    break  # data build writes `shards` before `documents`
    value = json.loads(manifest.read_text(encoding="utf-8")).get("shards")
    return value if isinstance(value, list) else None


def corpus_shards(corpus: str | Path) -> list[CorpusShard]:
    """The shards of a corpus (a file is its own single shard), each checked to exist
    with the size the manifest beside the folder lists."""
    corpus = Path(corpus)
    if not corpus.is_dir():
        if not corpus.is_file():
            raise InputError(
                "The corpus does not exist.",
                file=corpus,
                fix="Build one with `picochat data build --input ... --out corpus.txt`.",
            )
        return [CorpusShard(corpus, corpus.stat().st_size)]
    manifest = corpus_outputs(corpus)[1]
    if not manifest.is_file():
        raise InputError(
            f"The corpus is a folder, but no {manifest.name} lies beside it to list its "
            "shards: a corpus is one text file or a shard folder written by `data build "
            "--shard-mb`.",
            file=corpus,
            fix="Pass a corpus.txt (`picochat data build --input FOLDER --out corpus.txt` "
            "makes one from a folder of sources), or " + rebuild_fix(corpus)[0].lower()
            + rebuild_fix(corpus)[1:],
        )  # fmt: skip
    try:
        entries = _shard_entries(manifest)
    except (OSError, ValueError, AttributeError) as error:  # AttributeError: not an object
        raise InputError(
            f"The corpus is a folder, read as shards through the manifest beside it, which "
            f"cannot be read ({error}).",
            file=manifest,
            fix=rebuild_fix(corpus),
        ) from error
    if not entries:
        raise InputError(
            f"The corpus is a folder but {manifest} lists no shards of it: a corpus is one "
            "text file or a shard folder written by `data build --shard-mb`.",
            file=corpus,
            fix="Pass a corpus.txt, or a shard folder written by `picochat data build ... "
            "--out FOLDER --shard-mb N` with its corpus_manifest.json beside it.",
        )
    return [_checked(corpus, manifest, number, entry) for number, entry in enumerate(entries)]


def _checked(corpus: Path, manifest: Path, number: int, entry: Any) -> CorpusShard:
    try:
        shard = CorpusShard(corpus / str(entry["path"]), int(entry["bytes"]), entry.get("sha256"))
        if not is_corpus_shard(str(entry["path"])):  # a plain name: nothing outside the folder
            raise ValueError(entry["path"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InputError(
            f"Shard {number} of the manifest has no valid path/bytes.", file=manifest,
            fix=rebuild_fix(corpus),
        ) from error  # fmt: skip
    if not shard.path.is_file():
        raise InputError(
            "This shard of the corpus is missing.", file=shard.path, fix=rebuild_fix(corpus)
        )
    size = shard.path.stat().st_size
    if size != shard.bytes:
        raise InputError(
            f"This shard has {size:,} bytes but the manifest lists {shard.bytes:,}: it is "
            "truncated or was changed after `data build`.",
            file=shard.path,
            fix=rebuild_fix(corpus),
        )
    return shard


def corpus_files(corpus: str | Path) -> list[Path]:
    """The files holding the corpus text, in order (checked, see `corpus_shards`)."""
    return [shard.path for shard in corpus_shards(corpus)]


def corpus_size(corpus: str | Path) -> int:
    """The corpus's bytes (all shards)."""
    return sum(shard.bytes for shard in corpus_shards(corpus))


def corpus_stamp(corpus: str | Path) -> list[int]:
    """Size and mtime (ns) of every file of the corpus: what a cached hash is keyed by."""
    stamp = []
    for path in corpus_files(corpus):
        stat = path.stat()
        stamp += [stat.st_size, stat.st_mtime_ns]
    return stamp


class _ShardReader(io.RawIOBase):
    """The shards' bytes as one seekable stream; with `verify`, a shard read from start to
    end in order has its sha256 compared with the manifest's."""

    def __init__(self, corpus: Path, shards: list[CorpusShard], verify: bool) -> None:
        super().__init__()
        self._corpus, self._shards = corpus, shards
        self._starts = [0]
        for shard in shards:
            self._starts.append(self._starts[-1] + shard.bytes)
        self._number, self._position = 0, 0
        self._handle: IO[bytes] | None = None
        self._digest = hashlib.sha256() if verify else None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._starts[-1]}
        self._position = max(0, base[whence] + offset)
        self._number = min(bisect.bisect_right(self._starts, self._position) - 1, len(self._shards))
        self._close_shard()
        self._digest = None  # no longer one pass in order: nothing to verify
        return self._position

    def readinto(self, buffer: Any) -> int:
        while self._number < len(self._shards):
            if self._handle is None:
                self._handle = open(self._shards[self._number].path, "rb")  # noqa: SIM115
                self._handle.seek(self._position - self._starts[self._number])
            got = self._handle.readinto(buffer)
            if got:
                if self._digest is not None:
                    self._digest.update(memoryview(buffer)[:got])
                self._position += got
                return got
            self._end_of_shard()
        return 0

    def _end_of_shard(self) -> None:
        shard = self._shards[self._number]
        if self._position != self._starts[self._number + 1]:
            raise InputError(
                f"This shard ended after {self._position - self._starts[self._number]:,} "
                f"bytes but the manifest lists {shard.bytes:,}: it changed while being read.",
                file=shard.path, fix=rebuild_fix(self._corpus),
            )  # fmt: skip
        if self._digest is not None and shard.sha256 and self._digest.hexdigest() != shard.sha256:
            raise InputError(
                "This shard's sha256 is not the one the manifest lists: it was changed after "
                "`data build`.",
                file=shard.path,
                fix=rebuild_fix(self._corpus),
            )
        if self._digest is not None:
            self._digest = hashlib.sha256()
        self._close_shard()
        self._number += 1

    def _close_shard(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def close(self) -> None:
        self._close_shard()
        super().close()


def open_corpus_bytes(corpus: str | Path, *, verify: bool = False) -> IO[bytes]:
    """The corpus's bytes as one binary stream (seekable; `verify`: see `_ShardReader`)."""
    corpus = Path(corpus)
    shards = corpus_shards(corpus)
    if not corpus.is_dir():
        return open(corpus, "rb")  # noqa: SIM115 - the caller closes it
    return io.BufferedReader(_ShardReader(corpus, shards, verify), buffer_size=READ_BYTES)


def open_corpus_text(
    corpus: str | Path, *, errors: str = "strict", newline: str | None = None
) -> IO[str]:
    """The corpus as text, decoded as UTF-8 (universal newlines unless `newline` says
    otherwise, like `open`), so char offsets mean the same for a file and for shards."""
    corpus = Path(corpus)
    if not corpus.is_dir():
        corpus_shards(corpus)  # the same missing-file error as a folder's
        return open(corpus, encoding="utf-8", errors=errors, newline=newline)  # noqa: SIM115
    return concat_text(corpus, corpus_shards(corpus), errors=errors, newline=newline)


def concat_text(
    folder: Path, shards: list[CorpusShard], *, errors: str = "strict", newline: str | None = None
) -> IO[str]:
    """The text of `shards` in order (sizes as given; `data build` reads back the shards
    it has just written, before their manifest exists)."""
    stream = io.BufferedReader(_ShardReader(folder, shards, False), buffer_size=READ_BYTES)
    return io.TextIOWrapper(stream, encoding="utf-8", errors=errors, newline=newline)


def corpus_sha256(corpus: str | Path) -> str:
    """sha256 of the corpus's bytes (of all shards concatenated: the same as the one-file
    corpus of the same text); each shard's own hash is checked on the way."""
    corpus = Path(corpus)
    if not corpus.is_dir():
        corpus_shards(corpus)
        return sha256_file(corpus)
    digest = hashlib.sha256()
    with open_corpus_bytes(corpus, verify=True) as handle:
        while block := handle.read(READ_BYTES):
            digest.update(block)
    return digest.hexdigest()


def read_corpus_bytes(corpus: str | Path) -> bytes:
    """The whole corpus's bytes (for readers that hold a small corpus in memory and
    hash it: each shard's sha256 is checked on the way)."""
    with open_corpus_bytes(corpus, verify=True) as handle:
        return handle.read()
