"""A one-word paraphrase of a 16-word eval prompt is caught; unrelated prompts are not."""

from __future__ import annotations

from picochat.data.contamination import check_contamination

PROMPT = "Which part of the pipeline turns the raw corpus text into the integer ids models read?"


def test_one_changed_word_in_the_middle_is_caught():
    words = PROMPT.split()
    assert len(words) == 16
    words[7] = "plain"  # "raw" -> "plain", in the middle
    sft = ["User: " + " ".join(words) + "\nAssistant: The tokenizer."]
    report = check_contamination([(PROMPT, 1, "heldout")], sft)
    assert [leak["line"] for leak in report.leaked_items] == [1]


def test_shared_phrases_alone_are_not_a_leak():
    sft = ["User: Which part of the training pipeline is slowest?\nAssistant: Pretraining."]
    report = check_contamination([(PROMPT, 1, "heldout")], sft)
    assert report.leaked_items == []
