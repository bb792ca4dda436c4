"""Fixtures for the training tests: real corpora, manifests and tokenizers in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from picochat.configs import TokenizerTrainConfig
from picochat.tokenizer import train_tokenizer

WORDS = [
    "the",
    "model",
    "reads",
    "text",
    "and",
    "predicts",
    "the",
    "next",
    "token",
    "while",
    "a",
    "small",
    "corpus",
    "teaches",
    "only",
    "what",
    "it",
    "holds",
    "so",
    "validation",
    "shows",
    "whether",
    "learning",
    "carries",
    "over",
    "to",
    "new",
    "documents",
    "from",
    "unseen",
    "sources",
    "café",
    "naïve",
    "déjà",
    "vu",
]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread, and the CPU is shared with other jobs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def document_text(index: int, words: int = 60) -> str:
    """A deterministic pseudo-random document that starts with its own marker."""
    picks = [WORDS[(index * 7 + i * i * 3 + i) % len(WORDS)] for i in range(words)]
    return f"document {index} says: " + " ".join(picks) + ".\n"


@pytest.fixture
def doc_text():
    return document_text


@pytest.fixture
def make_inputs(tmp_path: Path):
    """Write corpus.txt (+ manifest when docs are given) and a tokenizer.json.

    `tokenizer_text` trains the tokenizer on other text (to test a mismatch).
    """

    def _make(
        text: str | None = None,
        *,
        documents: list[str] | None = None,
        tokenizer_text: str | None = None,
        tokenizer_type: str = "char",
        name: str = "data",
    ) -> dict[str, Path]:
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        if documents is not None:
            spans, parts, position = [], [], 0
            for i, doc in enumerate(documents):
                spans.append(
                    {
                        "source": f"doc{i}.txt",
                        "label": "test",
                        "char_start": position,
                        "char_end": position + len(doc),
                    }
                )
                parts.append(doc)
                position += len(doc) + 1
            text = "\n".join(parts)
            paths["manifest"] = folder / "corpus_manifest.json"
            paths["manifest"].write_text(json.dumps({"documents": spans}), encoding="utf-8")
        assert text is not None
        paths["corpus"] = folder / "corpus.txt"
        paths["corpus"].write_text(text, encoding="utf-8")
        source = paths["corpus"]
        if tokenizer_text is not None:
            source = folder / "tokenizer_source.txt"
            source.write_text(tokenizer_text, encoding="utf-8")
        paths["tokenizer"] = folder / "tokenizer.json"
        train_tokenizer(
            TokenizerTrainConfig(input=source, out=paths["tokenizer"], type=tokenizer_type)
        )
        return paths

    return _make
