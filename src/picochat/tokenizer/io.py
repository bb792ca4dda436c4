"""Reading and writing tokenizer.json, with clear errors for files that do not fit.

`load_tokenizer` accepts only files Picochat wrote (they carry the `picochat` metadata
in their model section, see hf_format.py): a Hugging Face tokenizer.json from another
project may normalise, add prefix spaces or post-process in ways Picochat's encoders do
not reproduce, so it is refused with an explanation instead of encoded differently.
"""

from __future__ import annotations

import json
from pathlib import Path

from picochat.artifacts import atomic_write_text, sha256_bytes
from picochat.errors import InputError
from picochat.tokenizer import hf_format
from picochat.tokenizer.base import Tokenizer
from picochat.tokenizer.bpe import BPETokenizer
from picochat.tokenizer.byte import ByteTokenizer
from picochat.tokenizer.char import CharTokenizer
from picochat.tokenizer.special import SPECIAL_TOKENS

TOKENIZER_CLASSES: dict[str, type] = {
    "char": CharTokenizer,
    "byte": ByteTokenizer,
    "bpe": BPETokenizer,
}

_RETRAIN = "Train one with `picochat tok train --input corpus.txt --out tokenizer.json`."


def save_tokenizer(tokenizer: Tokenizer, path: str | Path) -> Path:
    """Write `tokenizer` as tokenizer.json atomically; sets its `path` and `sha256`."""
    text = tokenizer.to_json()
    path = atomic_write_text(path, text)
    tokenizer.path = path
    tokenizer._sha256 = sha256_bytes(text.encode("utf-8"))
    return path


def _read_document(path: Path) -> tuple[bytes, object]:
    """(raw bytes, parsed JSON) of the file, or an InputError saying why not."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError("tokenizer file not found.", file=path, fix=_RETRAIN) from None
    except OSError as error:
        raise InputError(
            f"cannot read the tokenizer file ({error.strerror or error}).",
            file=path,
            fix="Check the path points to a readable tokenizer.json file.",
        ) from None
    try:
        return raw, json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError("tokenizer file is not UTF-8 text.", file=path, fix=_RETRAIN) from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"tokenizer file is not valid JSON ({error.msg}).",
            file=path,
            line=error.lineno,
            fix=_RETRAIN,
        ) from None


def _check_picochat_document(doc: object, path: Path) -> str:
    """The tokenizer type of a document Picochat wrote; InputError for anything else."""
    meta = hf_format.metadata(doc) if isinstance(doc, dict) else None
    if not isinstance(meta, dict):
        raise InputError(
            "not a Picochat tokenizer.json: it has no `model.picochat` metadata (a Hugging "
            "Face tokenizer from elsewhere is not read, its encoding may differ).",
            file=path,
            fix=_RETRAIN,
        )
    kind = meta.get("type")
    version = meta.get("format_version")
    if kind not in TOKENIZER_CLASSES:
        raise InputError(
            f"unknown tokenizer type {kind!r} (known: {', '.join(TOKENIZER_CLASSES)}).",
            file=path,
            fix=_RETRAIN,
        )
    if version != hf_format.FORMAT_VERSION:
        raise InputError(
            f"tokenizer format version {version!r} is not supported by this Picochat "
            f"(it reads version {hf_format.FORMAT_VERSION}).",
            file=path,
            fix="Use the Picochat version that wrote it, or retrain the tokenizer.",
        )
    listed = doc.get("added_tokens") or []
    if not isinstance(listed, list):
        listed = [listed]
    # Each entry must be an object ({"id", "content", ...}); anything else is not Picochat's.
    added = [(t.get("id"), t.get("content")) if isinstance(t, dict) else t for t in listed]
    if added != list(enumerate(SPECIAL_TOKENS)):
        raise InputError(
            "the special tokens of this tokenizer.json are not Picochat's "
            f"({', '.join(SPECIAL_TOKENS)} with ids 0..{len(SPECIAL_TOKENS) - 1}).",
            file=path,
            fix=_RETRAIN,
        )
    return kind


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load a Picochat tokenizer.json (char, byte or bpe)."""
    path = Path(path)
    raw, doc = _read_document(path)
    kind = _check_picochat_document(doc, path)
    try:
        tokenizer = TOKENIZER_CLASSES[kind].from_document(doc)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise InputError(
            f"malformed {kind} tokenizer.json ({type(error).__name__}: {error}).",
            file=path,
            fix=_RETRAIN,
        ) from None
    # The sections that decide ids must be the ones Picochat encodes with, or
    # Hugging Face and Picochat would disagree on this file.
    expected = tokenizer._hf_sections()["pre_tokenizer"]
    if doc.get("normalizer") is not None or doc.get("pre_tokenizer") != expected:
        raise InputError(
            f"the normalizer or pre-tokenizer of this {kind} tokenizer.json was changed "
            "after Picochat wrote it, so Picochat cannot encode like it.",
            file=path,
            fix=_RETRAIN,
        )
    tokenizer.path = path
    tokenizer._sha256 = sha256_bytes(raw)
    return tokenizer
