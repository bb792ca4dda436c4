"""`data eval-starter`: valid items, each satisfiable by its own source text, seeded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from picochat.configs import EvalStarterConfig
from picochat.data.eval_starter import eval_starter, find_entities, sentences
from picochat.errors import InputError
from picochat.evaluation.items import read_eval_items
from picochat.evaluation.report import score_items

_REPO = Path(__file__).resolve().parents[2]
SHAKESPEARE = next(
    (p / "data" / "tinyshakespeare.txt" for p in (_REPO.parent / "shared",
     _REPO.parent.parent / "shared") if (p / "data" / "tinyshakespeare.txt").is_file()),
    None,
)  # fmt: skip

SMALL_CORPUS = """Ada Lovelace wrote the first published program for the Analytical Engine.
Charles Babbage designed the Analytical Engine but never finished building it.
Later, Ada Lovelace described how the engine could compose elaborate pieces of music.
The engine used punched cards that Babbage borrowed from the Jacquard loom.
Many historians say Babbage and Ada Lovelace exchanged long letters about the engine.
"""

REFUSAL = "I don't know; the text does not say."


def make(tmp_path, text, max_items=20, seed=0, name="starter.jsonl"):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(text)
    out = tmp_path / name
    result = eval_starter(EvalStarterConfig(input=corpus, out=out, max_items=max_items, seed=seed))
    return corpus, out, result


def assert_satisfiable(out: Path, corpus: Path):
    eval_set = read_eval_items(out)  # passes the reader
    replies = []
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for row in rows:
        assert row["needs_review"] is True
        replies.append(row["source"].get("text", REFUSAL))
    report = score_items(eval_set, replies, corpus, seed=0)
    failed = [(i["user"], i["reply"], i["reasons"]) for i in report["items"] if not i["passed"]]
    assert not failed
    return rows, report


def test_small_corpus_items_pass_reader_and_their_own_source(tmp_path):
    corpus, out, result = make(tmp_path, SMALL_CORPUS, max_items=10)
    rows, report = assert_satisfiable(out, corpus)
    kinds = {row["category"] for row in rows}
    assert {"recall", "entity", "unanswerable_control", "false_premise"} <= kinds
    assert result.items == len(rows)
    for row in rows:
        if row["category"] == "recall":
            line = corpus.read_text().splitlines()[row["source"]["line"] - 1]
            assert row["source"]["text"].split()[0] in line
            prefix = row["user"].split('"')[1].removesuffix(" ...")
            assert row["source"]["text"].startswith(prefix)
            assert row["source"]["text"].endswith(row["reference_answer"])
    made_up = [r["source"]["name"] for r in rows if r["category"] == "unanswerable_control"]
    assert all(name.split()[0].lower() not in SMALL_CORPUS.lower() for name in made_up)
    # A reply that answers the unanswerable items fails them: controls can fail.
    answers = ["He was born in 1850." if r.get("answerable") is False else "x" for r in rows]
    bad = score_items(read_eval_items(out), answers, corpus)
    assert bad["summary"]["unsupported_claim_rate"] == 1.0


def test_entities_are_mid_sentence_capitalised_names():
    assert set(find_entities(SMALL_CORPUS)) == {"Ada Lovelace", "Babbage", "Analytical Engine"}
    assert find_entities("We use DPO here. Then DPO again, with Hugging Face and Hugging Face.") == [
        "DPO", "Hugging Face"
    ]  # fmt: skip
    text = (
        "Set beta to 0.1 so that the loss stays small. Then the model trains for many more steps."
    )
    assert [s.text for s in sentences(text)] == [
        "Set beta to 0.1 so that the loss stays small.", "Then the model trains for many more steps."
    ]  # fmt: skip
    assert "Later" not in find_entities(SMALL_CORPUS)
    assert all(8 <= len(s.text.split()) <= 40 for s in sentences(SMALL_CORPUS))


def test_deterministic_under_seed(tmp_path):
    text = SMALL_CORPUS * 3
    _, a, _ = make(tmp_path, text, seed=1, name="a.jsonl")
    _, b, _ = make(tmp_path, text, seed=1, name="b.jsonl")
    _, c, _ = make(tmp_path, text, seed=2, name="c.jsonl")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


@pytest.mark.skipif(SHAKESPEARE is None, reason="../shared/data/tinyshakespeare.txt is absent")
@pytest.mark.parametrize("seed", [0, 7])
def test_real_corpus_items_are_satisfiable(tmp_path, seed):
    out = tmp_path / "starter.jsonl"
    eval_starter(EvalStarterConfig(input=SHAKESPEARE, out=out, max_items=40, seed=seed))
    rows, _ = assert_satisfiable(out, SHAKESPEARE)
    assert len(rows) == 40


def test_cli_and_errors(run_cli, tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(SMALL_CORPUS)
    out = tmp_path / "eval_starter.jsonl"
    code, stdout, _ = run_cli("data", "eval-starter", "--input", corpus, "--out", out,
                              "--max-items", 6, "--seed", 3)  # fmt: skip
    assert code == 0 and "needs_review" in stdout
    assert len(out.read_text().splitlines()) == 6
    (tmp_path / "empty.txt").write_text("no sentences here\n")
    code, _, err = run_cli("data", "eval-starter", "--input", tmp_path / "empty.txt",
                           "--out", tmp_path / "x.jsonl")  # fmt: skip
    assert code == 2 and "no sentence" in err and not (tmp_path / "x.jsonl").exists()
    with pytest.raises(InputError, match="not found"):
        eval_starter(EvalStarterConfig(input=tmp_path / "absent.txt", out=out))
