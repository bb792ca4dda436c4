"""A Hugging Face byte-level BPE tokenizer.json as a Picochat BPE tokenizer.

Picochat's BPE layout is fixed: ids 0..7 are its special tokens, 8..263 the 256 bytes,
then the merged tokens. A foreign tokenizer has its own order, so importing builds that
layout from the file's vocab and merges and returns, with it, the map from each
Picochat id to the Hugging Face id whose embedding row it takes (`None`: a row that did
not exist there, e.g. `<|user|>` for a model that never had chat tokens). The model
importer permutes the embedding and output rows with that map, so both sides compute
the same logits for the same text.

Special tokens map by role: the Hugging Face BOS/EOS/PAD become `<|bos|>`/`<|eos|>`/
`<|pad|>`; an added token spelled like a Picochat special keeps that role (a Picochat
export read back). Other added tokens (`<|im_start|>`, reserved ones) are dropped and
listed in the import report.

What is refused (InputError naming the reason): a non-BPE model (WordPiece, Unigram,
SentencePiece files), a normalizer, byte fallback, word prefixes/suffixes,
`ignore_merges`, a prefix space, and pre-tokenizers other than ByteLevel (GPT-2 regex)
or Split(regex) followed by ByteLevel.

A Picochat export still carrying its `model.picochat` metadata is loaded as is
(identical ids, also for char and byte tokenizers); a re-saved one that lost the
metadata goes through the general path above.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.errors import InputError
from picochat.tokenizer import hf_format, load_tokenizer
from picochat.tokenizer.base import Tokenizer
from picochat.tokenizer.bpe import BPETokenizer
from picochat.tokenizer.byte import NUM_BASE_TOKENS
from picochat.tokenizer.special import BOS, EOS, PAD, SPECIAL_TOKENS

# The split `pre_tokenizers.ByteLevel(use_regex=True)` applies (GPT-2's pattern).
GPT2_SPLIT_PATTERN = (
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)
_FIX = (
    "Picochat imports byte-level BPE tokenizers (GPT-2 / Llama-3 style tokenizer.json) "
    "only; train a Picochat tokenizer instead (`picochat tok train`)."
)


@dataclass
class ImportedTokenizer:
    tokenizer: Tokenizer
    hf_ids: list[int | None]  # Picochat id -> Hugging Face id (None: a new row)
    dropped: list[str] = field(default_factory=list)  # HF added tokens with no place here
    notes: list[str] = field(default_factory=list)


def _refuse(path: Path, reason: str) -> InputError:
    return InputError(f"cannot import this tokenizer: {reason}.", file=path, fix=_FIX)


def _split_pattern(doc: dict[str, Any], path: Path) -> str:
    """The regex the pre-tokenizer splits with, if it is one Picochat reproduces."""
    pre = doc.get("pre_tokenizer") or {}

    def byte_level(step: dict[str, Any]) -> bool:
        if step.get("type") != "ByteLevel":
            return False
        if step.get("add_prefix_space"):
            raise _refuse(path, "its ByteLevel pre-tokenizer adds a prefix space")
        return True

    if byte_level(pre) and pre.get("use_regex", True):
        return GPT2_SPLIT_PATTERN
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else None
    if steps and len(steps) == 2 and byte_level(steps[1]) and not steps[1].get("use_regex"):
        split = steps[0]
        regex = (split.get("pattern") or {}).get("Regex")
        if (
            split.get("type") == "Split"
            and regex
            and split.get("behavior") == "Isolated"
            and not split.get("invert")
        ):
            return regex
    raise _refuse(path, f"its pre-tokenizer ({json.dumps(pre)[:120]}) is not one Picochat runs")


def _check_model(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    model = doc.get("model") or {}
    if model.get("type") != "BPE":
        raise _refuse(path, f"its model is {model.get('type')!r}, not byte-level BPE")
    if doc.get("normalizer") is not None:
        raise _refuse(path, "it has a normalizer")
    for key in ("byte_fallback", "continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key):
            raise _refuse(path, f"its BPE model sets {key}")
    if model.get("ignore_merges"):
        raise _refuse(path, "its BPE model sets ignore_merges (whole-word lookups)")
    if (doc.get("decoder") or {}).get("type") != "ByteLevel":
        raise _refuse(path, "its decoder is not ByteLevel")
    return model


def _role_names(folder: Path) -> dict[str, str]:
    """Picochat special -> the Hugging Face token playing that role (tokenizer_config)."""
    roles: dict[str, str] = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        file = folder / name
        if not file.is_file():
            continue
        data = json.loads(file.read_text(encoding="utf-8"))
        for key, special in (("bos_token", BOS), ("eos_token", EOS), ("pad_token", PAD)):
            value = data.get(key)
            value = value.get("content") if isinstance(value, dict) else value
            if isinstance(value, str):
                roles.setdefault(special, value)
    return roles


def _specials(
    doc: dict[str, Any], roles: dict[str, str], vocab: dict[str, int]
) -> tuple[list[int | None], list[str], set[int]]:
    """HF ids of Picochat's 8 specials, the dropped added tokens, all added ids."""
    added = {t["content"]: t["id"] for t in doc.get("added_tokens") or []}
    lookup = {**vocab, **added}
    mapped = []
    for special in SPECIAL_TOKENS:
        name = special if special in added else roles.get(special)
        mapped.append(lookup.get(name) if name is not None else None)
    used = {i for i in mapped if i is not None}
    dropped = [content for content, i in added.items() if i not in used]
    return mapped, dropped, set(added.values())


def import_tokenizer(folder: str | Path) -> ImportedTokenizer:
    """Read `folder`/tokenizer.json (+ tokenizer_config.json) as a Picochat tokenizer."""
    folder = Path(folder)
    path = folder / layout.TOKENIZER
    if not path.is_file():
        raise InputError(
            "the model folder has no tokenizer.json (a fast tokenizer file).",
            file=folder,
            fix="Save it with transformers first: AutoTokenizer.from_pretrained(DIR)"
            ".save_pretrained(DIR) writes tokenizer.json; " + _FIX,
        )
    doc = json.loads(path.read_text(encoding="utf-8"))
    if hf_format.metadata(doc):
        tokenizer = load_tokenizer(path)
        return ImportedTokenizer(tokenizer, list(range(tokenizer.vocab_size)))
    model = _check_model(doc, path)
    pattern = _split_pattern(doc, path)
    vocab: dict[str, int] = model["vocab"]
    specials, dropped, added_ids = _specials(doc, _role_names(folder), vocab)
    byte_symbols = hf_format.byte_to_unicode()
    hf_ids: list[int | None] = specials + [vocab.get(byte_symbols[b]) for b in range(256)]
    notes = []
    missing = [b for b in range(256) if hf_ids[len(SPECIAL_TOKENS) + b] is None]
    if missing:
        notes.append(f"{len(missing)} byte tokens were not in the vocab (new rows)")
    taken = {i for i in hf_ids if i is not None} | added_ids
    merged_tokens = []
    for name, hf_id in sorted(vocab.items(), key=lambda item: item[1]):
        if hf_id in taken:
            continue
        try:
            merged_tokens.append(hf_format.symbols_to_bytes(name))
        except KeyError:
            raise _refuse(path, f"vocab entry {name!r} is not in the byte-level alphabet") from None
        hf_ids.append(hf_id)
    names = {hf_id: i for i, hf_id in enumerate(hf_ids) if hf_id is not None}
    merges = []
    for merge in model.get("merges") or []:
        left, right = merge.split(" ") if isinstance(merge, str) else merge
        if vocab.get(left) not in names or vocab.get(right) not in names:
            raise _refuse(path, f"merge {left!r} + {right!r} names a token not in the vocab")
        merges.append((names[vocab[left]], names[vocab[right]]))
    metadata = {"imported_from": str(folder), "split_pattern_source": "hf"}
    try:
        tokenizer = BPETokenizer(merged_tokens, merges, pattern, metadata)
    except ValueError as error:  # two tokens with the same bytes, a merge with no token
        raise _refuse(path, str(error)) from None
    assert tokenizer.vocab_size == len(hf_ids) and len(hf_ids) >= NUM_BASE_TOKENS
    return ImportedTokenizer(tokenizer, hf_ids, dropped, notes)
