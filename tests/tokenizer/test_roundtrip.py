"""decode(encode(x)) == x for every type; char reports what it cannot represent."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from picochat.configs import TokenizerTrainConfig
from picochat.tokenizer import CharTokenizer, load_tokenizer, train_tokenizer

TEXT = (
    "Café naïve — déjà vu! e\u0301 vs é\n"
    "😀 👩‍💻 🇫🇷 ❤️ 中文字符测试，日本語 한국어\n"
    "\tTabs\tand\r\nCRLF  trailing \n\n\nI'm 12345 3.14\n"
)


@pytest.fixture(scope="module")
def unicode_tokenizers(tmp_path_factory):
    """Each type trained on a corpus that contains TEXT (so char knows its characters)."""
    folder = tmp_path_factory.mktemp("unicode")
    corpus = folder / "corpus.txt"
    corpus.write_text(TEXT * 20, encoding="utf-8")
    out = {}
    for kind in ("char", "byte", "bpe"):
        config = TokenizerTrainConfig(
            input=corpus, out=folder / f"{kind}.json", type=kind, vocab_size=400, min_freq=2
        )
        out[kind] = load_tokenizer(train_tokenizer(config).path)
    return out


@pytest.mark.parametrize("kind", ("char", "byte", "bpe"))
def test_round_trip_on_unicode_text(unicode_tokenizers, kind):
    tok = unicode_tokenizers[kind]
    ids = tok.encode(TEXT)
    assert tok.decode(ids) == TEXT
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.unknown_characters(TEXT) == {}


def test_round_trip_on_real_text(tokenizers_dir, shakespeare):
    for kind, path in tokenizers_dir.items():
        tok = load_tokenizer(path)
        assert tok.decode(tok.encode(shakespeare)) == shakespeare, kind


def test_bpe_compresses_and_byte_does_not(unicode_tokenizers):
    data = TEXT.encode("utf-8")
    assert len(unicode_tokenizers["byte"].encode(TEXT)) == len(data)
    assert len(unicode_tokenizers["char"].encode(TEXT)) == len(TEXT)
    assert len(unicode_tokenizers["bpe"].encode(TEXT)) < len(data) / 2


@pytest.mark.parametrize("kind", ("byte", "bpe"))
@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_byte_level_types_round_trip_any_string(tokenizers_dir, kind, text):
    tok = load_tokenizer(tokenizers_dir[kind])
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert all(i >= 8 for i in ids)  # ordinary text never yields a special token


ALPHABET = sorted(set("abcXYZ é中😀\n\t<|>"))


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=ALPHABET))
def test_char_round_trips_on_its_alphabet(text):
    tok = CharTokenizer(ALPHABET)
    assert tok.decode(tok.encode(text)) == text
    assert tok.unknown_characters(text) == {}


@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_char_reports_unknown_characters_instead_of_crashing(text):
    tok = CharTokenizer(ALPHABET)
    ids = tok.encode(text)
    unknown = tok.unknown_characters(text)
    assert len(ids) == len(text)
    assert ids.count(tok.unk_id) == sum(unknown.values())
    assert set(unknown) == set(text) - set(ALPHABET)
    assert tok.encode_array(text).tolist() == ids
