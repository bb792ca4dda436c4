"""Picochat's split gives Oniguruma's chunks for every code point (so ids match HF's)."""

from __future__ import annotations

import pytest
import regex

from picochat.tokenizer.bpe import GPT4_SPLIT_PATTERN
from picochat.tokenizer.onig_compat import (
    LETTERS_ONIGURUMA_LACKS,
    NUMBERS_ONIGURUMA_LACKS,
    OnigurumaSplit,
    has_newer_characters,
)

pre_tokenizers = pytest.importorskip("tokenizers.pre_tokenizers")
from tokenizers import Regex  # noqa: E402

# Planes 0-3 and 14 hold every assigned code point (4-13 are empty, 15-16 private use).
CODE_POINTS = [
    chr(c) for c in [*range(0x40000), *range(0xE0000, 0xE1000)] if not 0xD800 <= c < 0xE000
]


def onig_members(prop: str) -> set[str]:
    kept = pre_tokenizers.Split(Regex(prop), behavior="removed").pre_tokenize_str(
        "".join(CODE_POINTS)
    )
    return set(CODE_POINTS) - set("".join(piece for piece, _ in kept))


def expand(ranges) -> set[str]:
    return {chr(c) for start, end in ranges for c in range(start, end + 1)}


@pytest.mark.parametrize(
    ("prop", "lacks"),
    [(r"\p{L}", LETTERS_ONIGURUMA_LACKS), (r"\p{N}", NUMBERS_ONIGURUMA_LACKS), (r"\s", ())],
)
def test_the_listed_ranges_are_exactly_where_the_engines_differ(prop, lacks):
    ours = set(regex.findall(prop, "".join(CODE_POINTS)))
    theirs = onig_members(prop)
    assert theirs <= ours
    assert ours - theirs == expand(lacks)


@pytest.mark.parametrize(
    "context",
    [
        lambda c: " " + c + c + "1" + c + "a\n",
        lambda c: "a" + c + " " + c + "'s\t" + c + "\r\n",
        lambda c: "'" + c + c + " '" + c + "l" + c + "  \n",
    ],
)
def test_split_matches_oniguruma_on_the_differing_code_points(context):
    # The test above proves the engines classify every other code point alike; here the
    # whole pattern runs on all differing code points and a spread of the others.
    sample = sorted(expand(LETTERS_ONIGURUMA_LACKS + NUMBERS_ONIGURUMA_LACKS))
    sample += CODE_POINTS[::97]
    text = "".join(context(c) for c in sample)
    split = pre_tokenizers.Split(Regex(GPT4_SPLIT_PATTERN), behavior="isolated")
    theirs = [piece for piece, _ in split.pre_tokenize_str(text)]
    assert OnigurumaSplit(GPT4_SPLIT_PATTERN).findall(text) == theirs


def test_fast_path_is_taken_only_without_newer_characters():
    assert not has_newer_characters("plain text, Café, 中文, 😀")
    assert has_newer_characters("a\u0558b")
    assert has_newer_characters("\U00011de0")
    plain = regex.compile(GPT4_SPLIT_PATTERN)
    assert plain.findall("a\u0558 b") != OnigurumaSplit(GPT4_SPLIT_PATTERN).findall("a\u0558 b")
