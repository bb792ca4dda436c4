"""`data eval-starter`: scaffold eval items from a corpus, each marked `needs_review`.

Four kinds of item, all drawn deterministically (`--seed`) from the corpus:

- recall (level heldout): the start of a corpus sentence is shown, its held-back
  ending must come back (`must_include` its first 3 words, `reference_answer` the
  whole ending). At least 40% of the sentence (4+ words) is held back.
- entity (level heldout): "What does the text say about X?" for a name that the
  corpus capitalises mid-sentence (or, failing that, a frequent long term);
  `required_entities` [X], `require_corpus_support`, `min_words` 3.
- unanswerable control (level adversarial, `answerable: false`): a question about a
  made-up name that does not occur in the corpus. Passing means declining.
- false premise (level adversarial, `answerable: false`): asks how a corpus name is
  tied to a modern topic whose words never occur in the corpus.

Every corpus item stores its source sentence and line (`source`), and is built so
that the source sentence itself, given as the reply, passes every rule of the item.
These rows are scaffolding: a person must review them before a score means anything.
Not an eval scorer (see `picochat.evaluation`).
"""

from __future__ import annotations

import bisect
import json
import math
import random
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from picochat.artifacts import atomic_open
from picochat.configs import EvalStarterConfig
from picochat.corpus_files import corpus_files, open_corpus_text
from picochat.data.text_input import require_utf8_text
from picochat.errors import ConfigError, InputError

MIN_SENTENCE_WORDS, MAX_SENTENCE_WORDS = 8, 40
MAX_PROMPT_WORDS = 12
_PARAGRAPH = re.compile(r"[^\n]*\S[^\n]*(?:\n[^\n]*\S[^\n]*)*")
# Up to the first . ! or ? that is followed by whitespace: "0.1" and "v1.2" do not end one.
_SENTENCE = re.compile(r"\S.*?[.!?]+(?=\s|$)", re.DOTALL)
_LABEL_LINE = re.compile(r"\A[^\n]{1,40}:[ \t]*\n")  # "First Citizen:" speaker labels
# A name: capitalised words (or acronyms) in a row on one line, e.g. "Hugging Face", "DPO".
_NAME_WORD = r"[A-Z](?:[a-z]{2,}|[A-Za-z0-9]*[A-Z][A-Za-z0-9]*)"
_CAPITALISED = re.compile(rf"\b{_NAME_WORD}(?: {_NAME_WORD})*\b")
_WORD = re.compile(r"[\W_]+")
_CHAR_RUN = re.compile(r"(\w)\1{5,}")
_SYLLABLES = ("zor", "qua", "vel", "tani", "mex", "pli", "dru", "kos", "yun", "bre", "fax", "ilo")
_MODERN_TOPICS = (
    "smartphones", "the internet", "electric cars", "quantum computers", "social media",
    "the moon landing", "antibiotics", "nuclear power", "cryptocurrency", "television",
)  # fmt: skip
_UNANSWERABLE_TEMPLATES = (
    "In what year was {name} born, according to the text?",
    "What is the telephone number of {name}?",
    "How many books did {name} write?",
    "What is {name}'s favourite colour, as the text says?",
)
_FALSE_PREMISE_TEMPLATES = (
    "Quote exactly what the text says about {entity} and {topic}.",
    "According to the text, how is {entity} connected to {topic}?",
)


@dataclass
class Sentence:
    text: str
    line: int


@dataclass
class EvalStarterResult:
    out: Path
    items: int
    by_category: dict[str, int]
    candidate_sentences: int
    entities: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _norm_words(text: str) -> list[str]:
    return _WORD.sub(" ", text.lower()).split()


def _usable(words: list[str], text: str) -> bool:
    # Stricter than the eval's degenerate-repetition rule, so a source reply never loops.
    norm = _norm_words(text)
    if not MIN_SENTENCE_WORDS <= len(words) <= MAX_SENTENCE_WORDS or len(norm) < len(words) * 0.7:
        return False
    return len(set(norm)) >= 0.6 * len(norm) and not _CHAR_RUN.search(text.lower())


def sentences(text: str) -> list[Sentence]:
    """Corpus sentences of 8-40 words (whitespace collapsed) with their 1-based line."""
    newlines = [m.start() for m in re.finditer("\n", text)]
    out = []
    for para in _PARAGRAPH.finditer(text):
        body, start = para.group(), para.start()
        label = _LABEL_LINE.match(body)
        if label:
            body, start = body[label.end() :], start + label.end()
        for match in _SENTENCE.finditer(body):
            raw = match.group()
            offset = start + match.start() + (len(raw) - len(raw.lstrip()))
            words = raw.split()
            first_letter = next((ch for ch in raw if ch.isalpha()), "")
            if first_letter.isupper() and _usable(words, raw):
                out.append(Sentence(" ".join(words), bisect.bisect_right(newlines, offset) + 1))
    return out


def find_entities(text: str, limit: int = 50) -> list[str]:
    """Names (runs of capitalised words or acronyms) the corpus writes mid-sentence at
    least twice and (almost) never in lowercase."""
    capitalised: Counter[str] = Counter()
    for match in _CAPITALISED.finditer(text):
        name = match.group()
        before = text[max(0, match.start() - 3) : match.start()]
        # A sentence- or line-initial capital says nothing about names ("Then DPO": "DPO").
        if not before or re.search(r"[.!?:\n]\s*$", before):
            if " " not in name:
                continue
            name = name.split(" ", 1)[1]
        capitalised[name] += 1
    lowercase = Counter(re.findall(r"\b[a-z][a-z0-9]*\b", text))
    names = [
        (count, name)
        for name, count in capitalised.items()
        if count >= 2 and _count_lowercase(text, name, lowercase) <= 0.1 * count
    ]
    return [name for _, name in sorted(names, key=lambda x: (-x[0], x[1]))[:limit]]


def _count_lowercase(text: str, name: str, words: Counter[str]) -> int:
    """How often `name` is written in lowercase ("face" for "Face"): then it is a plain word."""
    parts = name.lower().split()
    if len(parts) == 1:
        return words[parts[0]]
    return len(re.findall(r"\b" + r"\s+".join(map(re.escape, parts)) + r"\b", text))


def find_terms(text: str, limit: int = 50) -> list[str]:
    """Fallback subjects: long lowercase words that recur (3-50 times)."""
    counts = Counter(re.findall(r"\b[a-z]{7,}\b", text))
    terms = [(c, w) for w, c in counts.items() if 3 <= c <= 50]
    return [w for _, w in sorted(terms, key=lambda x: (-x[0], x[1]))[:limit]]


def _made_up_name(rng: random.Random, vocabulary: set[str]) -> str:
    while True:
        parts = [
            "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))) for _ in range(2)
        ]
        if not any(part in vocabulary for part in parts):
            return " ".join(part.capitalize() for part in parts)


def _recall_item(sentence: Sentence) -> dict[str, Any]:
    words = sentence.text.split()
    held = max(4, math.ceil(0.4 * len(words)))
    cut = min(MAX_PROMPT_WORDS, len(words) - held)
    prefix, ending = " ".join(words[:cut]), words[cut:]
    # The 3-word window around the ending's longest word: more telling than "and to the".
    longest = max(range(len(ending)), key=lambda i: len("".join(_norm_words(ending[i]))))
    start = max(0, min(longest - 1, len(ending) - 3))
    phrase = ending[start : start + 3]
    return {
        "user": f'Continue this line from the text. It begins: "{prefix} ..." '
        "What are the words that follow?",
        "category": "recall",
        "level": "heldout",
        "must_include": [" ".join(phrase).strip(' .,;:!?-"')],
        "reference_answer": " ".join(ending),
    }


def _entity_items(
    rng: random.Random, entities: list[str], candidates: list, used: set[int], wanted: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """Up to `wanted` "what does the text say about X" items, each on a sentence naming X."""
    items, chosen = [], []
    for entity in rng.sample(entities, len(entities)):
        if len(chosen) >= wanted:
            break
        pattern = re.compile(rf"\b{re.escape(entity)}\b")
        pool = [i for i, s in enumerate(candidates) if pattern.search(s.text)]
        # Prefer a sentence no recall item uses; a small corpus may have none left.
        pool = [i for i in pool if i not in used] or pool
        if not pool:
            continue
        index = rng.choice(pool)
        used.add(index)
        chosen.append(entity)
        items.append(
            {
                "user": f"What does the text say about {entity}?",
                "category": "entity",
                "level": "heldout",
                "required_entities": [entity],
                "require_corpus_support": True,
                "min_words": 3,
                "source": asdict(candidates[index]),
            }
        )
    return items, chosen


def _adversarial_items(
    rng: random.Random, vocabulary: set[str], entities: list[str], count: int
) -> list[dict[str, Any]]:
    """`count` questions about made-up names, then `count` false premises (modern topics
    the corpus never mentions), where the corpus has entities to pin them on."""
    items = []
    for k in range(count):
        name = _made_up_name(rng, vocabulary)
        template = _UNANSWERABLE_TEMPLATES[k % len(_UNANSWERABLE_TEMPLATES)]
        items.append(
            {
                "user": template.format(name=name),
                "category": "unanswerable_control",
                "level": "adversarial",
                "answerable": False,
                "source": {"kind": "made-up name absent from the corpus", "name": name},
            }
        )
    topics = [t for t in _MODERN_TOPICS if not set(_norm_words(t)) & (vocabulary - {"the"})]
    for k in range(count if topics and entities else 0):
        entity, topic = rng.choice(entities), topics[k % len(topics)]
        template = _FALSE_PREMISE_TEMPLATES[k % len(_FALSE_PREMISE_TEMPLATES)]
        items.append(
            {
                "user": template.format(entity=entity, topic=topic),
                "category": "false_premise",
                "level": "adversarial",
                "answerable": False,
                "source": {"kind": "topic absent from the corpus", "topic": topic},
            }
        )
    return items


def build_items(text: str, max_items: int, seed: int) -> tuple[list[dict[str, Any]], dict]:
    """The starter items (without ids) and facts about how they were drawn."""
    rng = random.Random(seed)
    candidates = sentences(text)
    vocabulary = set(_norm_words(text))
    entities = find_entities(text) or find_terms(text)
    n_adversarial = max(1, max_items // 10) if max_items >= 4 else 0
    n_entity = round(0.3 * max_items) if max_items >= 4 else 0
    n_recall = max_items - n_entity - 2 * n_adversarial
    items: list[dict[str, Any]] = []
    used: set[int] = set()
    picks = rng.sample(range(len(candidates)), min(n_recall, len(candidates)))
    for index in sorted(picks):
        used.add(index)
        sentence = candidates[index]
        items.append(_recall_item(sentence) | {"source": asdict(sentence)})
    entity_items, chosen_entities = _entity_items(rng, entities, candidates, used, n_entity)
    items += entity_items
    items += _adversarial_items(rng, vocabulary, entities, n_adversarial)
    facts = {"candidate_sentences": len(candidates), "entities": chosen_entities}
    return items, facts


def eval_starter(config: EvalStarterConfig) -> EvalStarterResult:
    """Write `config.out`: up to `max_items` starter items drawn from `config.input`."""
    if config.max_items < 1:
        raise ConfigError(f"--max-items must be >= 1, got {config.max_items}.", fix="Use 1+.")
    path = Path(config.input)
    if not path.exists():  # a corpus file or a shard folder
        raise InputError("corpus not found.", file=path, fix="Pass an existing corpus.txt.")
    for part in corpus_files(path):  # a file, or a shard folder's shards
        require_utf8_text(part, what="corpus")  # Latin-1 would read as "no sentence found"
    with open_corpus_text(path, errors="replace") as handle:
        text = handle.read()
    items, facts = build_items(text, config.max_items, config.seed)
    if not facts["candidate_sentences"]:
        raise InputError(
            f"no sentence of {MIN_SENTENCE_WORDS}-{MAX_SENTENCE_WORDS} words ending in . ! or ? "
            "was found, so no item can reference the corpus.",
            file=path,
            fix="Use a corpus of running prose (build one with `picochat data build`).",
        )
    notes = []
    if len(items) < config.max_items:
        notes.append(f"only {len(items)} items could be drawn (asked for {config.max_items})")
    with atomic_open(Path(config.out)) as handle:
        for number, item in enumerate(items, start=1):
            row = {"id": f"starter-{number:03d}", **item, "needs_review": True}
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return EvalStarterResult(
        out=Path(config.out),
        items=len(items),
        by_category=dict(Counter(item["category"] for item in items)),
        candidate_sentences=facts["candidate_sentences"],
        entities=facts["entities"],
        notes=notes,
    )
