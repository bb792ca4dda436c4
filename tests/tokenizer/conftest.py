"""Shared text and trained tokenizers for the tokenizer tests (trained once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from picochat.configs import TokenizerTrainConfig
from picochat.tokenizer import train_tokenizer

REPO = Path(__file__).resolve().parents[2]

# Accents (composed and combining), emoji (incl. ZWJ sequence and flag), CJK, Arabic,
# Cyrillic, Greek, digits runs, tabs, CRLF, blank lines, trailing spaces, apostrophes.
UNICODE_SAMPLE = (
    "Café, naïve façade — déjà vu! Ångström: 1234567 apples; 3.14159\n"
    "e\u0301 (combining acute) vs é\n"
    "Emoji: 😀 👩‍💻 🇫🇷 ❤️ 🤖🤖\n"
    "中文字符测试，日本語のテキスト、한국어 텍스트。\n"
    "Русский текст. Ελληνικά. العربية.\n"
    "\tTabbed\tline\t\n"
    "Windows line\r\nend  \n\n\n"
    "I'm you're they'll we've she'd IT'S   multiple   spaces\n"
    "<|user|> looks special but is text; so is <|end|><unk>\n"
)


def find_shared_data() -> Path | None:
    """`shared/data` beside the repo root (or beside a parent: worktrees sit deeper)."""
    for parent in REPO.parents:
        candidate = parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def shakespeare() -> str:
    data = find_shared_data()
    path = data / "tinyshakespeare.txt" if data else None
    if path is None or not path.is_file():
        pytest.skip("tinyshakespeare.txt not found in ../shared/data")
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def tokenizers_dir(tmp_path_factory, shakespeare) -> dict[str, Path]:
    """tokenizer.json of each type, trained on shakespeare + the Unicode sample."""
    folder = tmp_path_factory.mktemp("tokenizers")
    corpus = folder / "corpus.txt"
    corpus.write_text(shakespeare + UNICODE_SAMPLE * 3, encoding="utf-8")
    paths = {}
    for kind in ("char", "byte", "bpe"):
        out = folder / f"{kind}.json"
        train_tokenizer(
            TokenizerTrainConfig(input=corpus, out=out, type=kind, vocab_size=600, min_freq=2)
        )
        paths[kind] = out
    return paths
