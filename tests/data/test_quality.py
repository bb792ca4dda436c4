"""Quality flags and scores on crafted text, and the recipe glob rules."""

from __future__ import annotations

import base64
import random

import numpy as np
import pytest

from picochat.data.dedup import shingle_hashes, word_hashes
from picochat.data.quality import PENALTIES, line_hashes, score_file, text_stats
from picochat.data.sources import glob_match


def score(text: str, documents: int = 1, duplicates: int = 0, near: int = 0):
    encoded = text.encode()
    lines = text.split("\n")
    stats = text_stats(text, encoded, word_hashes(encoded)[1], lines)
    shingles = shingle_hashes(word_hashes(encoded)[0])
    return score_file(stats, line_hashes(lines), shingles, documents, duplicates, near)


def prose(n_words: int) -> str:
    rng = random.Random(0)
    words = [
        "".join(rng.choices("etaoinshrdlucmfwyp", k=rng.randint(2, 8))) for _ in range(n_words)
    ]
    return "\n".join(" ".join(words[i : i + 12]) for i in range(0, n_words, 12))


def test_clean_text_scores_100():
    result = score(prose(400))
    assert result.score == 100 and result.flags == []


@pytest.mark.parametrize(
    ("text", "flag"),
    [
        ("Too short to learn from.", "very_short"),
        ("$$ %% ^^ && ** (( )) ++ == -- ;; :: ,, .. // ?? " * 30, "mostly_symbols"),
        (prose(100) + "\n" + base64.b64encode(bytes(range(256)) * 8).decode(), "mostly_non_text"),
        (prose(300) + "\x00\x01\x02\ufffd" * 40, "mostly_non_text"),
        ("the same line again\n" * 50, "highly_repetitive"),
        ("spam spam eggs and spam " * 400, "highly_repetitive"),  # one long line
    ],
)
def test_problem_text_gets_its_flag_and_penalty(text, flag):
    result = score(text)
    assert flag in result.flags
    assert result.penalties[flag] == PENALTIES[flag]
    assert result.score == max(0, 100 - sum(result.penalties.values()))


def test_duplicate_penalties_scale_with_share():
    result = score(prose(400), documents=4, duplicates=2, near=1)
    assert result.penalties == {"duplicate": 20, "near_duplicate": 5}
    assert result.score == 75


def test_text_stats_count_non_ascii_and_empty_lines():
    text = "héllo wörld\n\n   \nok"
    stats = text_stats(text, text.encode(), word_hashes(text.encode())[1], text.split("\n"))
    assert stats.non_ascii == 2 and stats.empty_lines == 2 and stats.lines == 4
    assert stats.non_space == len(text.replace(" ", "").replace("\n", ""))
    assert stats.letters == 12


def test_line_hashes_skip_blank_lines():
    assert len(line_hashes(["a", "", "  ", "a"])) == 2
    assert isinstance(line_hashes([]), np.ndarray)


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        ("*.md", "a/b/readme.md", True),  # no slash: matches the file name anywhere
        ("*.md", "a/b/readme.txt", False),
        ("**/*.py", "x.py", True),
        ("**/*.py", "pkg/sub/x.py", True),
        ("pkg/*.py", "pkg/sub/x.py", False),
        ("**/drafts/**", "a/drafts/b/c.md", True),
        ("**/drafts/**", "a/draftsman.md", False),
        ("test_?.py", "test_a.py", True),
        ("[!a]*.txt", "b.txt", True),
        ("[!a]*.txt", "a.txt", False),
    ],
)
def test_recipe_globs(pattern, path, hit):
    assert glob_match(pattern, path) is hit
