"""Corpus -> token streams for pretraining: the train/validation split, encoded.

Not for: reading or cleaning sources (`picochat.data`), tokenizing rules
(`picochat.tokenizer`) or cutting the streams into batches (`windows.py`); this module
only applies a tokenizer to a built corpus.

The split is made on TEXT, before tokenizing, so train and validation never share a
token and the validation text is exactly known (BPB is measured over all of it):

- `document`: whole documents from `corpus_manifest.json` go to validation, chosen by a
  seeded shuffle until `val_fraction` of the characters is held out;
- `window`: the last `val_fraction` of the corpus characters (nanoGPT's split).

Every segment (a document, or each side of the window split) starts with `<|bos|>`, so
every token of the validation text is predicted exactly once. Streams are numpy arrays
(uint16 when the vocabulary fits, else uint32); large corpora are cached as `.npy` in
the output folder and memory-mapped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from picochat.artifacts import atomic_open, atomic_write_json
from picochat.corpus_files import corpus_sha256, open_corpus_text
from picochat.data.corpus_stream import document_span, read_manifest
from picochat.errors import ConfigError, InputError

# Below this many validation tokens a validation loss is mostly noise.
MIN_VAL_TOKENS = 64
# Unknown-token share above which the tokenizer clearly was not built for this corpus.
MAX_UNKNOWN_RATE = 0.01
# Corpora above this many characters get their token streams cached and memory-mapped.
CACHE_MIN_CHARS = 5_000_000
# Held-out documents named in train_report.json (all are counted).
MAX_NAMED_DOCUMENTS = 100
# In the cached streams' key; 2: keyed by document layout, not the manifest file's bytes.
STREAMS_FORMAT = "picochat-token-streams-2"


@dataclass
class Document:
    text: str
    source: str | None = None
    index: int | None = None  # the manifest's document id
    contained_in: int | None = None  # id of the document whose text holds this one
    start: int = 0  # its first character in the corpus


@dataclass
class CorpusSplit:
    """Which corpus and how it is split: the same settings for the in-memory streams
    (`build_token_data`) and the token shards (`pretrain_shards.shard_token_data`).

    `canaries` are inserted as lines into the training side only (after the split)."""

    corpus: Path
    manifest: Path | None
    split_mode: str
    val_fraction: float
    seed: int
    context_size: int
    canaries: list[str] | None = None


@dataclass
class TokenData:
    """The two token streams and what a report needs to say about them."""

    train: np.ndarray
    val: np.ndarray
    split_mode: str
    split_reason: str
    train_texts: list[str]
    val_texts: list[str]
    train_documents: int
    val_documents: int | None
    unknown_rate: float
    warnings: list[str] = field(default_factory=list)
    # The held-out documents by name (at most MAX_NAMED_DOCUMENTS; document split only).
    val_document_names: list[dict[str, Any]] | None = None

    @property
    def train_text(self) -> str:
        return "\n".join(self.train_texts)

    @property
    def val_text(self) -> str:
        return "\n".join(self.val_texts)


def read_corpus(path: Path) -> str:
    """The whole corpus text (a file or a shard folder), with universal newlines."""
    if not Path(path).is_dir() and not Path(path).is_file():
        raise InputError(
            "The corpus file does not exist.",
            file=path,
            fix="Build one with `picochat data build --input ... --out corpus.txt`.",
        )
    try:
        with open_corpus_text(path) as handle:  # a folder that is no shard folder: an error
            return handle.read()
    except UnicodeDecodeError as error:
        raise InputError(
            f"The corpus is not UTF-8 text (byte {error.start}).",
            file=path,
            fix="Rebuild it with `picochat data build`, which skips undecodable bytes.",
        ) from error


def read_documents(text: str, manifest: Path | None) -> list[Document]:
    """The corpus documents from the manifest spans, or the whole text as one document."""
    if manifest is None:
        return [Document(text)]
    data = read_manifest(manifest)
    recorded = data.get("corpus_sha256")
    if isinstance(recorded, str) and recorded != hashlib.sha256(text.encode("utf-8")).hexdigest():
        raise InputError(
            f"The manifest's corpus_sha256 ({recorded[:12]}...) is not the hash of this "
            "corpus: the manifest belongs to another corpus.",
            file=manifest,
            fix="Pass the corpus_manifest.json written together with this corpus.txt.",
        )
    documents = []
    for index, span in enumerate(data["documents"]):
        start, end = document_span(span, index, manifest)
        if not 0 <= start <= end <= len(text):
            raise InputError(
                f"Document {index} spans characters {start}..{end} but the corpus has "
                f"{len(text)}: the manifest belongs to another corpus.",
                file=manifest,
                fix="Pass the corpus_manifest.json written together with this corpus.txt.",
            )
        if end > start:
            inside = span.get("contained_in")
            inside = inside if isinstance(inside, int) and not isinstance(inside, bool) else None
            documents.append(Document(text[start:end], span.get("source"), index, inside, start))
    if not documents:
        raise InputError("The manifest lists no non-empty document.", file=manifest)
    return documents


def resolve_split_mode(
    requested: str, documents: list[Document], has_manifest: bool
) -> tuple[str, str]:
    """(`document`|`window`, the reason a person reads in the report)."""
    count = len(documents)
    if requested == "document":
        if count < 2:
            raise ConfigError(
                f"--split-mode document needs a manifest with >= 2 documents (found {count}).",
                fix="Pass --corpus-manifest from `data build`, or use --split-mode window.",
            )
        return "document", f"asked for --split-mode document; the manifest has {count} documents"
    if requested == "window":
        return "window", "asked for --split-mode window: the tail of the corpus is held out"
    if count >= 2:
        return "document", (
            f"auto: the manifest has {count} documents, so whole documents are held out "
            "(validation text comes from sources never seen in training)"
        )
    why = "no manifest was given" if not has_manifest else "the manifest has one document"
    return "window", f"auto: {why}, so the tail of the corpus is held out"


def split_texts(
    documents: list[Document], mode: str, val_fraction: float, seed: int
) -> tuple[list[str], list[str]]:
    """(train texts, validation texts) for `mode`."""
    if not 0 < val_fraction < 1:
        raise ConfigError(
            f"--val-fraction must be between 0 and 1 (got {val_fraction}).", fix="Use e.g. 0.1."
        )
    if mode == "window":
        text = "\n".join(d.text for d in documents)
        cut = int(len(text) * (1 - val_fraction))
        return [text[:cut]], [text[cut:]]
    held, roots = held_documents(documents, val_fraction, seed)
    train = [d.text for i, d in enumerate(documents) if roots[i] not in held]
    val = [d.text for i, d in enumerate(documents) if roots[i] in held]
    return train, val


def held_documents(
    documents: list[Document], val_fraction: float, seed: int
) -> tuple[set[int], list[int]]:
    """(held-out group roots, each document's root position) for the document split.

    A document inside another (`contained_in`, from data build's containment check)
    goes wherever its container goes, so validation never holds text that training
    holds. Groups are taken in a seeded shuffle until `val_fraction` of the characters
    is held out; a group of several documents larger than twice that share is passed
    over (it would make most of the corpus validation), unless nothing else is left.
    """
    position = {d.index: i for i, d in enumerate(documents) if d.index is not None}
    roots = [position.get(d.contained_in, i) for i, d in enumerate(documents)]
    chars = np.zeros(len(documents), dtype=np.int64)
    members = np.zeros(len(documents), dtype=np.int64)
    for i, d in enumerate(documents):
        chars[roots[i]] += len(d.text)
        members[roots[i]] += 1
    order = np.random.default_rng(seed).permutation(len(documents))
    candidates = [int(i) for i in order if roots[i] == i]
    target = val_fraction * int(chars.sum())
    held: set[int] = set()
    held_chars = 0
    for index in candidates[:-1]:  # at least one group stays for training
        if held and held_chars >= target:
            break
        if members[index] > 1 and chars[index] > 2 * target:
            continue
        held.add(index)
        held_chars += int(chars[index])
    if not held and len(candidates) > 1:
        held.add(min(candidates, key=lambda i: int(chars[i])))
    return held, roots


def _dtype_for(vocab_size: int) -> type:
    return np.uint16 if vocab_size <= np.iinfo(np.uint16).max + 1 else np.uint32


def encode_segments(tokenizer: Any, texts: list[str]) -> np.ndarray:
    """`<|bos|>` + ids for each text, concatenated into one stream."""
    dtype = _dtype_for(tokenizer.vocab_size)
    parts = []
    bos = np.asarray([tokenizer.bos_id], dtype=dtype)
    for text in texts:
        parts += [bos, np.asarray(tokenizer.encode_array(text), dtype=dtype)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def unknown_rate(tokenizer: Any, *streams: np.ndarray) -> float:
    unk = tokenizer.token_to_id("<unk>")
    total = sum(len(s) for s in streams)
    if unk is None or total == 0:
        return 0.0
    return float(sum(int((s == unk).sum()) for s in streams)) / total


def _cache_key(corpus: Path, tokenizer: Any, documents: list[Document], texts_key: str) -> str:
    """A key of what the streams depend on: the corpus bytes, the tokenizer, each
    document's manifest id, span and container (the split) and the split settings. Not
    the manifest file's bytes, which also hold the build's config and times."""
    layout = np.asarray(
        [(-1 if d.index is None else d.index, d.start, d.start + len(d.text),
          -1 if d.contained_in is None else d.contained_in) for d in documents],
        dtype="<i8",
    )  # fmt: skip
    parts = [STREAMS_FORMAT, corpus_sha256(corpus), str(tokenizer.sha256), texts_key,
             hashlib.sha256(layout.tobytes()).hexdigest()]  # fmt: skip
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _cached_streams(cache_dir: Path, key: str, build: Any) -> tuple[np.ndarray, np.ndarray]:
    folder = cache_dir / f"tokens-{key}"
    if (folder / "done.json").is_file():
        return np.load(folder / "train.npy", mmap_mode="r"), np.load(
            folder / "val.npy", mmap_mode="r"
        )
    train, val = build()
    for name, array in (("train", train), ("val", val)):
        with atomic_open(folder / f"{name}.npy", "wb") as handle:
            np.save(handle, array)
    atomic_write_json(folder / "done.json", {"train_tokens": len(train), "val_tokens": len(val)})
    return np.load(folder / "train.npy", mmap_mode="r"), np.load(folder / "val.npy", mmap_mode="r")


def check_streams(
    corpus: Path, train: Sized, val: Sized, rate: float, context_size: int
) -> list[str]:
    """Warnings about the encoded streams (in memory or sharded; `rate` is the <unk>
    share); InputError where they cannot train a model."""
    warnings = []
    if rate > MAX_UNKNOWN_RATE:
        raise InputError(
            f"{rate:.1%} of the corpus tokens are <unk>: this tokenizer was not built for "
            "this corpus.",
            file=corpus,
            fix="Train the tokenizer on this corpus (`picochat tok train --input ...`) or use "
            "--type byte/bpe, which never produce unknown tokens.",
        )
    if rate > 0:
        warnings.append(
            f"{rate:.3%} of the corpus tokens are <unk> (characters the tokenizer never saw)."
        )
    if len(train) < context_size + 1:
        raise InputError(
            f"The training part of the corpus has {len(train)} tokens, fewer than one window "
            f"of --context-size {context_size} plus its target.",
            file=corpus,
            fix=f"Use --context-size {max(8, len(train) // 4)} or less, or a larger corpus.",
        )
    if len(val) < MIN_VAL_TOKENS:
        raise InputError(
            f"The corpus is too small to hold out validation: {len(val)} validation tokens "
            f"(at least {MIN_VAL_TOKENS} are needed for a meaningful validation loss).",
            file=corpus,
            fix="Use a larger corpus or raise --val-fraction.",
        )
    return warnings


def build_token_data(
    split: CorpusSplit,
    tokenizer: Any,
    *,
    cache_dir: Path | None = None,
    cache_min_chars: int = CACHE_MIN_CHARS,
) -> TokenData:
    """Read, split, encode and check the corpus; errors name the file and the fix."""
    corpus, manifest, canaries = split.corpus, split.manifest, split.canaries
    val_fraction, seed = split.val_fraction, split.seed
    text = read_corpus(corpus)
    documents = read_documents(text, manifest)
    mode, reason = resolve_split_mode(split.split_mode, documents, manifest is not None)
    train_texts, val_texts = split_texts(documents, mode, val_fraction, seed)
    names = None
    if mode == "document":
        held, roots = held_documents(documents, val_fraction, seed)
        names = named_documents(
            (d.index, d.source, len(d.text)) for i, d in enumerate(documents) if roots[i] in held
        )
    if canaries:
        train_texts = insert_lines(train_texts, canaries, seed)

    def build() -> tuple[np.ndarray, np.ndarray]:
        return encode_segments(tokenizer, train_texts), encode_segments(tokenizer, val_texts)

    if cache_dir is not None and len(text) >= cache_min_chars:
        key = _cache_key(corpus, tokenizer, documents, f"{mode}|{val_fraction}|{seed}|{canaries}")
        train, val = _cached_streams(cache_dir, key, build)
    else:
        train, val = build()

    rate = unknown_rate(tokenizer, train, val)
    warnings = check_streams(corpus, train, val, rate, split.context_size)
    return TokenData(
        train=train,
        val=val,
        split_mode=mode,
        split_reason=reason,
        train_texts=train_texts,
        val_texts=val_texts,
        train_documents=len(train_texts),
        val_documents=len(val_texts) if mode == "document" else None,
        unknown_rate=rate,
        warnings=warnings,
        val_document_names=names,
    )


def named_documents(documents: Any) -> list[dict[str, Any]]:
    """[{id, source, chars}] of (id, source, chars) rows, the first MAX_NAMED_DOCUMENTS."""
    named = []
    for index, source, chars in documents:
        if len(named) == MAX_NAMED_DOCUMENTS:
            break
        named.append({"id": index, "source": source, "chars": chars})
    return named


def insert_lines(texts: list[str], lines: list[str], seed: int) -> list[str]:
    """Insert each line at a seeded random line start of a random text (canaries).

    The texts are the TRAINING side of the split, so the lines never reach validation.
    """
    texts = list(texts)
    rng = np.random.default_rng([seed, 7])
    weights = np.asarray([len(t) + 1 for t in texts], dtype=np.float64)
    for line in lines:
        index = int(rng.choice(len(texts), p=weights / weights.sum()))
        text = texts[index]
        # The line start after a random character (or the text's start).
        newline = text.find("\n", int(rng.integers(len(text) + 1)))
        at = 0 if newline < 0 else newline + 1
        texts[index] = text[:at] + line + "\n" + text[at:]
    return texts
