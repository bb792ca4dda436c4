"""tokenizer.json is a real Hugging Face file: `tokenizers` and `transformers` give our ids."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Regex, pre_tokenizers, trainers
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models as hf_models

from picochat.tokenizer import load_tokenizer
from picochat.tokenizer.bpe import GPT4_SPLIT_PATTERN
from picochat.tokenizer.bpe_train import count_words, train_bpe
from picochat.tokenizer.special import SPECIAL_TOKENS

KINDS = ("char", "byte", "bpe")
UNICODE_SAMPLE = (
    "Café, naïve façade — déjà vu! e\u0301 😀 👩‍💻 🇫🇷 中文字符，日本語 한국어\n"
    "Русский. Ελληνικά. العربية.\n\tTabbed\tline\t\r\nend  \n\n\n"
    "I'm you're they'll 1234567 3.14   spaces \u00a0nbsp \u2028sep \x00\x07 ctrl\n"
)


@pytest.mark.parametrize("kind", KINDS)
def test_hf_tokenizers_gives_identical_ids_on_all_of_shakespeare(kind, tokenizers_dir, shakespeare):
    ours = load_tokenizer(tokenizers_dir[kind])
    theirs = HFTokenizer.from_file(str(tokenizers_dir[kind]))
    ids = ours.encode(shakespeare)
    assert theirs.encode(shakespeare).ids == ids
    assert ours.encode_array(shakespeare).tolist() == ids
    assert theirs.get_vocab_size() == ours.vocab_size


@pytest.mark.parametrize("kind", KINDS)
def test_hf_tokenizers_gives_identical_ids_on_unicode(kind, tokenizers_dir):
    ours = load_tokenizer(tokenizers_dir[kind])
    theirs = HFTokenizer.from_file(str(tokenizers_dir[kind]))
    ids = ours.encode(UNICODE_SAMPLE)
    assert theirs.encode(UNICODE_SAMPLE).ids == ids
    assert ours.encode_array(UNICODE_SAMPLE).tolist() == ids
    if kind != "char":  # char maps unseen characters (e.g. \x07) to <unk>
        assert theirs.decode(ids) == UNICODE_SAMPLE


# Arbitrary Unicode, and strings dense in the whitespace/punctuation cases where the split
# regex is subtle (runs of spaces before newlines, CRLF, NBSP, apostrophes, digits).
TRICKY = st.text(alphabet=" \t\n\r\u00a0\u2028\u3000ab1'.,-😀é中", max_size=60)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=150, deadline=None)
@given(text=st.one_of(st.text(max_size=80), TRICKY))
def test_hf_tokenizers_agrees_on_arbitrary_text(kind, tokenizers_dir, text):
    # The Hugging Face library always parses special-token spellings; ours only when
    # allowed, so the promise covers text that spells none.
    if any(token in text for token in SPECIAL_TOKENS):
        return
    ours = load_tokenizer(tokenizers_dir[kind])
    theirs = HFTokenizer.from_file(str(tokenizers_dir[kind]))
    assert theirs.encode(text).ids == ours.encode(text)


@pytest.mark.parametrize("kind", KINDS)
def test_special_tokens_parse_alike_when_allowed(kind, tokenizers_dir):
    ours = load_tokenizer(tokenizers_dir[kind])
    theirs = HFTokenizer.from_file(str(tokenizers_dir[kind]))
    text = "<|bos|><|user|>Hi there<|end|><|assistant|>Hello!<|end|><|eos|>"
    assert theirs.encode(text).ids == ours.encode(text, allow_special=True)


@pytest.mark.parametrize("kind", KINDS)
def test_transformers_loads_it_as_pretrained_tokenizer_fast(kind, tokenizers_dir):
    transformers = pytest.importorskip("transformers")
    ours = load_tokenizer(tokenizers_dir[kind])
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizers_dir[kind]),
        bos_token="<|bos|>",
        eos_token="<|eos|>",
        pad_token="<|pad|>",
    )
    text = "To be, or not to be: that is the question.\n"
    assert fast.encode(text) == ours.encode(text)
    assert (fast.bos_token_id, fast.eos_token_id, fast.pad_token_id) == (
        ours.bos_id,
        ours.eos_id,
        ours.pad_id,
    )
    assert fast.decode(ours.encode(text)) == text
    assert len(fast) == ours.vocab_size


def test_bpe_training_matches_hf_bpe_trainer(shakespeare):
    """Cross-check of the trainer against the reference: same words, same merges.

    Not a promise of the format (only encoding must match), but on this corpus
    Picochat's tie-breaking reproduces `tokenizers`' BpeTrainer merge for merge.
    """
    text = shakespeare[:400_000]
    learned = train_bpe(count_words([text]), vocab_size=700, min_freq=2)
    hf = HFTokenizer(hf_models.BPE())
    hf.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(GPT4_SPLIT_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=700,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    hf.train_from_iterator([text], trainer)
    hf_merges = [tuple(pair) for pair in json.loads(hf.to_str())["model"]["merges"]]
    from picochat.tokenizer import BPETokenizer

    ours = BPETokenizer(learned.merged_tokens, learned.merges)
    our_merges = [(ours.id_to_token(a), ours.id_to_token(b)) for a, b in ours.merges]
    assert len(our_merges) == 700 - 264
    assert our_merges == hf_merges


@pytest.mark.parametrize("kind", KINDS)
def test_hf_tokenizers_agrees_on_every_code_point(kind, tokenizers_dir):
    everything = "".join(
        chr(c) for c in [*range(0x40000), *range(0xE0000, 0xE1000)] if not 0xD800 <= c < 0xE000
    )
    ours = load_tokenizer(tokenizers_dir[kind])
    theirs = HFTokenizer.from_file(str(tokenizers_dir[kind]))
    # no special-token spelling occurs: in code-point order '<' is followed by '='
    assert theirs.encode(everything).ids == ours.encode(everything)
