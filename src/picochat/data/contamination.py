"""Contamination check: eval prompts (and reference answers) found in the training data.

An eval item whose prompt the model saw in training measures recall, not
generalisation. Before any training, each eval prompt is compared with the SFT rows
and the corpus on normalised words (lowercase, punctuation dropped):

- verbatim: the whole normalised prompt occurs in a training text;
- near-verbatim: at least `NEAR_OVERLAP` of the prompt's word `NGRAM`-grams occur in
  one training source (prompts shorter than `NGRAM` words must match verbatim);
- one word changed: the `NGRAM`-grams found in one source cover every word of the
  prompt but one (a one-word paraphrase of a 16-word prompt breaks 5 of its 12
  5-grams, 42%, and escaped the overlap rule; it cannot escape this one).

Reference answers are checked against the corpus with the same rules: an answer
pasted into the corpus turns the item into a recall test of that sentence. SFT rows
are not searched for answers (a `transfer` item rephrases a trained prompt on purpose,
so its answer is the trained one), nor are answers shorter than `NGRAM` words (a
short fact such as "Paris" in the corpus is knowledge, not a copied answer). Answer
findings are flagged (`leaked_answers`, `contamination.json`) but do not block the
gates as a leaked prompt does: an item with `require_corpus_support` expects its
facts in the corpus. On the bundled pack (examples/, tiny_corpus.txt) it flags 5 of 16
checked answers (each a corpus sentence that a heldout or transfer item asks to recall:
true copies, but by the pack's design, so false alarms as contamination: 31%) and 0 of
33 prompts.

Items of level `memorization` probe training prompts on purpose and are not counted.
Memory stays bounded by the eval prompts: the corpus is streamed in chunks and only
the eval prompts' own n-grams are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from picochat.corpus_files import open_corpus_text

NGRAM = 5
NEAR_OVERLAP = 0.6
_WORD = re.compile(r"\w+")
_CHUNK_CHARS = 1 << 20


def words(text: str) -> list[str]:
    """Normalised words: lowercase, punctuation and whitespace dropped."""
    return _WORD.findall(text.lower())


def _ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


@dataclass
class Leak:
    """One eval prompt found in training data."""

    user: str
    line: int | None
    level: str | None
    source: str  # "sft" or "corpus"
    kind: str  # "verbatim" or "near-verbatim"
    overlap: float
    field: str = "prompt"  # or "answer": the item's reference_answer was found
    answer: str | None = None


@dataclass
class ContaminationReport:
    checked_items: int
    exempt_items: int
    leaks: list[Leak] = field(default_factory=list)
    checked_answers: int = 0
    method: str = (
        f"normalised words; verbatim = whole prompt found; near-verbatim = >= {NEAR_OVERLAP:.0%} "
        f"of the prompt's word {NGRAM}-grams found in one source, or found {NGRAM}-grams "
        "covering every prompt word but one (a one-word paraphrase); level=memorization "
        f"items exempt. Reference answers of {NGRAM}+ words: the same rules against the "
        "corpus only (flagged in leaked_answers, not blocking)"
    )

    def _first_per_item(self, answers: bool) -> list[dict]:
        seen, items = set(), []
        for leak in self.leaks:
            key = (leak.line, leak.user)
            if (leak.field == "answer") == answers and key not in seen:
                seen.add(key)
                items.append(leak.__dict__)
        return items

    @property
    def leaked_items(self) -> list[dict]:
        """One entry per eval item whose prompt leaked (first source that matched)."""
        return self._first_per_item(answers=False)

    @property
    def leaked_answers(self) -> list[dict]:
        """One entry per eval item whose reference answer is in the corpus."""
        return self._first_per_item(answers=True)


@dataclass
class _Probe:
    user: str
    line: int | None
    level: str | None
    tokens: list[str]
    grams: set[tuple[str, ...]]
    found: set[tuple[str, ...]] = field(default_factory=set)
    verbatim: bool = False
    answer: str | None = None  # set on an answer probe


def _probes(items: Iterable[tuple]) -> tuple[list[_Probe], list[_Probe], int]:
    """(prompt probes, answer probes, exempt count) of `(user, line, level[, answer])`."""
    probes, answers, exempt = [], [], 0
    for user, line, level, *rest in items:
        if level == "memorization":
            exempt += 1
            continue
        tokens = words(user)
        if tokens:
            probes.append(_Probe(user, line, level, tokens, _ngrams(tokens, NGRAM)))
        answer = rest[0] if rest else None
        answer_tokens = words(answer or "")
        if len(answer_tokens) >= NGRAM:
            grams = _ngrams(answer_tokens, NGRAM)
            answers.append(_Probe(user, line, level, answer_tokens, grams, answer=answer))
    return probes, answers, exempt


def _scan(probes: list[_Probe], texts: Iterable[str]) -> None:
    """Mark, for each probe, which of its n-grams (and whether the whole prompt) occur."""
    for text in texts:
        tokens = words(text)
        joined = " " + " ".join(tokens) + " "
        grams = _ngrams(tokens, NGRAM)
        for probe in probes:
            if not probe.verbatim and (" " + " ".join(probe.tokens) + " ") in joined:
                probe.verbatim = True
            probe.found |= probe.grams & grams


def _uncovered(probe: _Probe) -> int:
    """Prompt words inside no found n-gram (0: every word is in a copied run)."""
    covered = [False] * len(probe.tokens)
    for i in range(len(probe.tokens) - NGRAM + 1):
        if tuple(probe.tokens[i : i + NGRAM]) in probe.found:
            covered[i : i + NGRAM] = [True] * NGRAM
    return covered.count(False)


def _collect(probes: list[_Probe], source: str) -> list[Leak]:
    leaks = []
    for probe in probes:
        overlap = len(probe.found) / len(probe.grams) if probe.grams else 0.0
        what = {"field": "answer" if probe.answer else "prompt", "answer": probe.answer}
        if probe.verbatim:
            leaks.append(Leak(probe.user, probe.line, probe.level, source, "verbatim", 1.0, **what))
        elif probe.grams and (overlap >= NEAR_OVERLAP or _uncovered(probe) <= 1):
            kind, share = "near-verbatim", round(overlap, 3)
            leaks.append(Leak(probe.user, probe.line, probe.level, source, kind, share, **what))
        probe.found, probe.verbatim = set(), False
    return leaks


def _corpus_chunks(path: Path) -> Iterable[str]:
    """The corpus in ~1 MB pieces cut at whitespace, overlapping by a few words."""
    carry = ""
    with open_corpus_text(path, errors="replace") as handle:  # a file or a shard folder
        while chunk := handle.read(_CHUNK_CHARS):
            text = carry + chunk
            cut = text.rfind(" ", 0, max(len(text) - 200, 0))
            if cut <= 0:
                carry = text
                continue
            yield text[:cut]
            carry = text[max(cut - 400, 0) :]  # overlap keeps n-grams that straddle the cut
    if carry:
        yield carry


def check_contamination(
    eval_items: Iterable[tuple],
    sft_texts: Iterable[str] = (),
    corpus_path: Path | None = None,
) -> ContaminationReport:
    """Compare eval prompts `(user, line, level[, reference_answer])` with SFT texts and
    the corpus file, and reference answers with the corpus (module docstring)."""
    probes, answers, exempt = _probes(eval_items)
    leaks: list[Leak] = []
    _scan(probes, sft_texts)
    leaks += _collect(probes, "sft")
    if corpus_path is not None:
        _scan(probes + answers, _corpus_chunks(Path(corpus_path)))
        leaks += _collect(probes + answers, "corpus")
    return ContaminationReport(
        checked_items=len(probes),
        exempt_items=exempt,
        leaks=leaks,
        checked_answers=len(answers) if corpus_path is not None else 0,
    )
