"""Text normalisation shared by every eval rule, and the phrase-matching rule.

Three normalisers, each chosen to match a reference exactly:

- `words(text)`: eval rules (phrases, entities, echo, repetition, support). Lowercase,
  every run of characters that is not a letter or digit (Unicode aware) becomes a
  space, split on whitespace. "Token-F1!" -> ["token", "f1"].
- `squad_tokens(text)`: token-F1, the official SQuAD `normalize_answer` (lowercase,
  drop ASCII punctuation, drop the articles a/an/the, collapse whitespace).
- `rouge_tokens(text)`: ROUGE-L, the default tokenizer of Google's `rouge-score`
  (lowercase, non-[a-z0-9] runs become spaces, no stemming).

Phrase matching works on `words`: a phrase matches when its words occur as a
contiguous run of whole words in the reply, so "token" does not match "tokenizer"
and "New York" matches "new-york" and "NEW  YORK". Not for tokenising model input.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Sequence

_NON_WORD = re.compile(r"[\W_]+")
_SQUAD_PUNCT = set(string.punctuation)
_SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ROUGE_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_ROUGE_VALID = re.compile(r"^[a-z0-9]+$")

PHRASE_MATCHING_RULE = (
    "Case, punctuation and whitespace are ignored: text is lowercased and every run of "
    "characters that is not a letter or digit becomes a space. A phrase matches when its "
    "words appear as a contiguous run of whole words in the reply ('token' does not match "
    "'tokenizer'; 'New York' matches 'new-york')."
)


def words(text: str) -> list[str]:
    """Lowercased letter/digit words of `text` (the eval rules' view of a text)."""
    return _NON_WORD.sub(" ", text.lower()).split()


def normalize(text: str) -> str:
    """`words(text)` joined by single spaces."""
    return " ".join(words(text))


class MatchableText:
    """A reply prepared once for many whole-word phrase look-ups."""

    def __init__(self, text: str) -> None:
        self.words = words(text)
        self._padded = " " + " ".join(self.words) + " "

    def contains(self, phrase: str) -> bool:
        """Whether `phrase` occurs as whole words (an empty phrase never matches)."""
        target = normalize(phrase)
        return bool(target) and f" {target} " in self._padded

    def split(self, phrases: Iterable[str]) -> tuple[list[str], list[str]]:
        """(phrases found, phrases not found), each in the given order."""
        found, missing = [], []
        for phrase in phrases:
            (found if self.contains(phrase) else missing).append(phrase)
        return found, missing


def contains_phrase(text: str, phrase: str) -> bool:
    """Whether `phrase` occurs in `text` as whole words, ignoring case and punctuation."""
    return MatchableText(text).contains(phrase)


def squad_normalize_answer(text: str) -> str:
    """SQuAD's `normalize_answer`: lower, remove punctuation, articles, extra whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _SQUAD_PUNCT)
    text = _SQUAD_ARTICLES.sub(" ", text)
    return " ".join(text.split())


def squad_tokens(text: str) -> list[str]:
    return squad_normalize_answer(text).split()


def rouge_tokens(text: str) -> list[str]:
    """Tokens as `rouge_score.tokenize.tokenize(text, stemmer=None)` makes them."""
    text = _ROUGE_NON_ALNUM.sub(" ", text.lower())
    return [token for token in re.split(r"\s+", text) if _ROUGE_VALID.match(token)]


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """All contiguous n-grams of `tokens` (none when there are fewer than n)."""
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
