"""A reply that apologises or refuses but still states a claim is not a refusal."""

from __future__ import annotations

import pytest

from picochat.evaluation.rules import is_refusal


@pytest.mark.parametrize(
    "reply",
    [
        "Sorry for the wait: Bob founded Picochat in 2019.",
        "I don't know, but it was founded in 2019.",
        "I cannot be sure. It was written by Alice.",
        "Sorry.",
    ],
)
def test_claims_beside_a_refusal_marker_are_answers(reply):
    assert not is_refusal(reply)


@pytest.mark.parametrize(
    "reply",
    [
        "I don't know; the corpus does not cover football.",
        "Sorry, I cannot answer that.",
        "I do not know. The corpus does not say who won.",
        "I don't know; the corpus is about language models.",
    ],
)
def test_plain_refusals_still_count(reply):
    assert is_refusal(reply)
