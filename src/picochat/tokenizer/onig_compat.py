"""Split text with the `regex` package exactly as Hugging Face (Oniguruma) does.

Hugging Face `tokenizers` runs split patterns with Oniguruma, whose Unicode tables are
older than those of the `regex` package (Unicode 17 in 2026): code points assigned
since (a few scripts, Latin additions, CJK extensions) are letters or digits for
`regex` but not for Oniguruma, so `\\p{L}` and `\\p{N}` would split text containing them
differently and the two libraries would give different ids.

The ranges below are exactly those code points (all of them: for every other code
point the two agree on \\p{L}, \\p{N} and \\s), measured against tokenizers 0.23.3 and
regex 2026.11. `compile_like_oniguruma` takes them out of \\p{L} and \\p{N}; as that
pattern runs about 2x slower, `OnigurumaSplit` uses it only for a text that contains
one of these (rare) characters.
`tests/tokenizer/test_onig_compat.py` re-measures both installed libraries on every run,
so an upgrade of either that moves the boundary fails a test instead of changing ids.
"""

from __future__ import annotations

from bisect import bisect_right

import regex

# Letters (\p{L}) for `regex` that Oniguruma does not know.
LETTERS_ONIGURUMA_LACKS = (
    (0x0558, 0x0558), (0x058B, 0x058C), (0x088F, 0x088F), (0x0C5C, 0x0C5C),
    (0x0CDC, 0x0CDC), (0x208F, 0x208F), (0x209D, 0x209F), (0xA7CE, 0xA7CF),
    (0xA7D2, 0xA7D2), (0xA7D4, 0xA7D4), (0xA7DD, 0xA7DD), (0xA7E2, 0xA7E2),
    (0xA7F1, 0xA7F1), (0xAB6C, 0xAB6D), (0x107BB, 0x107BF), (0x10940, 0x10959),
    (0x10EC5, 0x10EC7), (0x10ED9, 0x10EEE), (0x11B0A, 0x11B0A), (0x11DB0, 0x11DDB),
    (0x11DF1, 0x11DF1), (0x16EA0, 0x16EB8), (0x16EBB, 0x16ED3), (0x16FF2, 0x16FF3),
    (0x187F8, 0x187FF), (0x18CD6, 0x18CDA), (0x18D09, 0x18D20), (0x18D80, 0x18DF2),
    (0x18E00, 0x19191), (0x191A0, 0x191D2), (0x1B123, 0x1B128), (0x1B168, 0x1B168),
    (0x1D6A6, 0x1D6A6), (0x1DF1F, 0x1DF24), (0x1DF2B, 0x1DF81), (0x1DF90, 0x1DF96),
    (0x1DFCD, 0x1DFFF), (0x1E6C0, 0x1E6DE), (0x1E6E0, 0x1E6E2), (0x1E6E4, 0x1E6E5),
    (0x1E6E7, 0x1E6ED), (0x1E6F0, 0x1E6F4), (0x1E6FE, 0x1E6FF), (0x2B73A, 0x2B73F),
    (0x2B81E, 0x2B81E), (0x2CEA2, 0x2CEAD), (0x323B0, 0x33479), (0x3D000, 0x3FC3F),
)  # fmt: skip

# Numbers (\p{N}) for `regex` that Oniguruma does not know.
NUMBERS_ONIGURUMA_LACKS = (
    (0x11DE0, 0x11DE9), (0x1246F, 0x1246F), (0x12475, 0x1247F), (0x12550, 0x12686),
    (0x16FF4, 0x16FF6),
)  # fmt: skip


def _char_set(ranges: tuple[tuple[int, int], ...]) -> str:
    return "[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges) + "]"


def compile_like_oniguruma(pattern: str) -> regex.Pattern:
    """`pattern` with \\p{L} and \\p{N} narrowed to what Oniguruma knows.

    Uses the `regex` package's set difference (`[A--B]`, version 1 syntax), which works
    both inside and outside a character class; `(?-f)` keeps simple case folding, as
    Oniguruma does, where version 1 would switch to full case folding.
    """
    letters = f"[\\p{{L}}--{_char_set(LETTERS_ONIGURUMA_LACKS)}]"
    numbers = f"[\\p{{N}}--{_char_set(NUMBERS_ONIGURUMA_LACKS)}]"
    narrowed = pattern.replace(r"\p{L}", letters).replace(r"\p{N}", numbers)
    return regex.compile("(?V1-f)" + narrowed)


_NEWER = sorted(LETTERS_ONIGURUMA_LACKS + NUMBERS_ONIGURUMA_LACKS)
_NEWER_STARTS = [start for start, _ in _NEWER]
_FIRST_NEWER = chr(_NEWER_STARTS[0])


def has_newer_characters(text: str) -> bool:
    """Whether `text` holds a code point that Oniguruma and `regex` classify differently."""
    for char in set(text):
        if char >= _FIRST_NEWER:
            point = ord(char)
            i = bisect_right(_NEWER_STARTS, point) - 1
            if i >= 0 and point <= _NEWER[i][1]:
                return True
    return False


class OnigurumaSplit:
    """`findall` of a split pattern, returning the chunks Hugging Face would."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._plain = regex.compile(pattern)
        self._narrowed = compile_like_oniguruma(pattern)

    def findall(self, text: str) -> list[str]:
        if has_newer_characters(text):
            return self._narrowed.findall(text)
        return self._plain.findall(text)
