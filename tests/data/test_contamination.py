"""Eval prompts leaked into training data are found; clean ones are not."""

from __future__ import annotations

from pathlib import Path

from picochat.data.contamination import check_contamination

SFT = [
    "What does a tokenizer do? It turns text into token ids.",
    "Why hold out validation documents? To see whether the fit carries over.",
]


def test_verbatim_and_near_verbatim_prompts_are_found(tmp_path: Path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(
        "Picochat trains small models.\n\nThe learning rate warms up then decays slowly over time.\n"
    )
    items = [
        ("What does a TOKENIZER do?", 1, "heldout"),  # verbatim after normalisation
        # 8 of its 9 word 5-grams occur in an SFT row: near-verbatim.
        ("Why hold out validation documents? To see whether the fit carries over, right", 2, None),
        ("How does the learning rate warm up then decay slowly?", 3, "transfer"),
        ("Name a colour of the sky at noon.", 4, "heldout"),  # clean
        ("What does a tokenizer do?", 5, "memorization"),  # exempt on purpose
    ]
    report = check_contamination(items, SFT, corpus)
    leaked = {(leak["line"], leak["source"], leak["kind"]) for leak in report.leaked_items}
    assert (1, "sft", "verbatim") in leaked
    assert (2, "sft", "near-verbatim") in leaked
    assert all(line != 4 for line, _, _ in leaked)
    assert all(line != 5 for line, _, _ in leaked)
    assert report.exempt_items == 1 and report.checked_items == 4


def test_clean_eval_has_no_leaks(tmp_path: Path):
    report = check_contamination([("What is the capital of Mars?", 1, "heldout")], SFT, None)
    assert report.leaks == []


def test_prompt_straddling_corpus_chunks_is_found(tmp_path: Path, monkeypatch):
    import picochat.data.contamination as contamination

    monkeypatch.setattr(contamination, "_CHUNK_CHARS", 1000)
    prompt = "the secret phrase sits right across the chunk boundary here"
    text = ("filler words " * 74) + prompt + (" more filler" * 200)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(text)
    report = check_contamination([(prompt, 1, "heldout")], [], corpus)
    assert [leak.kind for leak in report.leaks] == ["verbatim"]
