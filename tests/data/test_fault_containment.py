"""Containment counts as duplication (issue 15): a document whose text lies inside another
is flagged in the corpus report, and document holdout keeps it with its container."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from picochat.configs import CorpusConfig, TokenizerTrainConfig
from picochat.data.containment import AnchorTable, document_shingles, find_contained
from picochat.data.corpus import build_corpus
from picochat.tokenizer import load_tokenizer, train_tokenizer
from picochat.training.token_data import CorpusSplit, build_token_data

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def examples_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    result = build_corpus(CorpusConfig(input=EXAMPLES, out=out))
    return out, result.manifest


def flat(text: str) -> str:
    return " ".join(text.split())


def test_the_guide_files_inside_tiny_corpus_are_flagged_in_the_report(examples_corpus):
    out, manifest = examples_corpus
    docs = {d["source"]: d for d in manifest["documents"]}
    outer = docs["examples/tiny_corpus.txt"]["id"]
    assert docs["examples/corpus/guide/08_eval.md"]["contained_in"] == outer
    stats = manifest["stats"]
    assert stats["duplicate_document_rate"] == 0.0  # before: the only duplicate figure
    assert stats["contained_documents"] == 14 == manifest["containment"]["pairs_total"]
    assert stats["duplicate_or_contained_document_rate"] == pytest.approx(14 / 109, abs=1e-6)
    # Every flagged pair is a true containment (no false positive on the bundled pack).
    text = out.read_text(encoding="utf-8")
    spans = {d["id"]: flat(text[d["char_start"] : d["char_end"]]) for d in manifest["documents"]}
    for pair in manifest["containment"]["pairs"]:
        assert spans[pair["document"]] in spans[pair["inside"]]
    report = out.with_name("corpus_report.md").read_text(encoding="utf-8")
    assert "| documents inside another (containment) | 14 (12.84%) |" in report
    assert "## Containment" in report and "## Documents" in report
    first = manifest["documents"][1]  # a preference row inside a chat row (50 rows shown)
    assert first["contained_in"] is not None
    row = f"| {first['char_start']:,} | {first['char_end']:,} | inside {first['contained_in']} |"
    assert row in report and "showing 50 of 109" in report


def test_document_holdout_never_validates_on_text_inside_a_training_document(
    examples_corpus, tmp_path
):
    out, _ = examples_corpus
    manifest = out.with_name("corpus_manifest.json")
    tokenizer = tmp_path / "tok.json"
    train_tokenizer(TokenizerTrainConfig(input=out, out=tokenizer, type="char"))
    tok = load_tokenizer(tokenizer)
    stripped = tmp_path / "no_containment.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    for d in data["documents"]:
        d.pop("contained_in", None)
    stripped.write_text(json.dumps(data), encoding="utf-8")

    def leaks(manifest_path: Path, seed: int) -> int:
        split = build_token_data(
            CorpusSplit(
                corpus=out, manifest=manifest_path, split_mode="document", val_fraction=0.1,
                seed=seed, context_size=64,
            ),
            tok,
        )  # fmt: skip
        train = [flat(t) for t in split.train_texts]
        return sum(any(flat(v) in t for t in train) for v in split.val_texts)

    seeds = range(1337, 1347)
    assert sum(leaks(stripped, s) for s in seeds) > 0  # what the split did before
    assert all(leaks(manifest, s) == 0 for s in seeds)


def test_containment_is_found_in_either_order_and_chains_to_the_outermost():
    small = "one two three four five six seven eight nine ten eleven twelve"
    middle = "alpha beta " + small + " gamma delta"
    large = "start here " + middle + " and then much more text follows at the end"
    other = "entirely different words that share nothing with the others at all"
    texts = [middle, small, other, large]
    table = AnchorTable()
    for i, text in enumerate(texts):
        table.add(i, document_shingles(text), len(text.split()))
    found = find_contained(table, enumerate(texts))
    assert found == {0: 3, 1: 3}  # small is inside middle, inside large: outermost named
    # A document sharing only half of its words with another is not inside it.
    half = "one two three four five six zz yy xx ww vv uu"
    table2 = AnchorTable()
    for i, text in enumerate([half, large]):
        table2.add(i, document_shingles(text), len(text.split()))
    assert find_contained(table2, enumerate([half, large])) == {}
    assert len(np.frombuffer(table.hashes, dtype=np.uint32)) <= 8 * len(texts)


def test_train_report_names_the_held_out_documents(examples_corpus, tmp_path):
    from picochat.configs import BaseTrainConfig
    from picochat.training.pretrain import train_base

    out, manifest = examples_corpus
    tokenizer = tmp_path / "tok.json"
    train_tokenizer(TokenizerTrainConfig(input=out, out=tokenizer, type="char"))
    config = BaseTrainConfig(
        corpus=out, tokenizer=tokenizer, corpus_manifest=out.with_name("corpus_manifest.json"),
        out_dir=tmp_path / "run", preset="smoke", context_size=32, batch_size=4, max_steps=2,
        eval_every=2, device="cpu", precision="fp32",
    )  # fmt: skip
    report = train_base(config, show_progress=False).report
    ds = report["dataset"]
    names = ds["val_document_names"]
    assert len(names) == ds["val_documents"] > 0
    by_id = {d["id"]: d for d in manifest["documents"]}
    for entry in names:
        assert entry["source"] == by_id[entry["id"]]["source"]
        assert entry["chars"] == by_id[entry["id"]]["char_end"] - by_id[entry["id"]]["char_start"]
    markdown = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert f"`{names[0]['source']}` (id {names[0]['id']})" in markdown


def test_anchors_shared_by_many_documents_are_ignored(monkeypatch):
    """201 copies of one text (kept with --keep-duplicates): every anchor is shared by
    more than MAX_SHARED documents, so none is checked (the bound on the work per
    document); with a laxer bound each copy is inside the first."""
    import picochat.data.containment as containment

    header = "copyright notice of the project all rights reserved by the authors here"
    texts = [header] * 201

    def flagged() -> dict[int, int]:
        table = AnchorTable()
        for i, text in enumerate(texts):
            table.add(i, document_shingles(text), len(text.split()))
        return find_contained(table, enumerate(texts))

    assert flagged() == {}
    monkeypatch.setattr(containment, "MAX_SHARED", 10_000)
    assert flagged() == {i: 0 for i in range(1, 201)}


def test_documents_sharing_a_few_common_paragraphs_are_not_inside_each_other(monkeypatch):
    """Documents made of 8 shared paragraphs each: none is inside another. Anchors taken
    as a document's lowest hashes overall came from one or two paragraphs, and once the
    boilerplate ones were dropped, any document sharing those paragraphs "contained" it
    (18% of a 2 GB corpus built this way was flagged)."""
    import random

    import picochat.data.containment as containment

    monkeypatch.setattr(containment, "MAX_SHARED", 5)
    rng = random.Random(11)
    words = [f"w{i}" for i in range(500)]
    paragraph = lambda: " ".join(rng.choice(words) for _ in range(25))  # noqa: E731
    common = [paragraph() for _ in range(10)]  # each in ~21 documents: boilerplate
    rare = [paragraph() for _ in range(120)]  # each in ~2 documents
    texts = ["\n\n".join(rng.sample(rare, 8 - k) + rng.sample(common, k)) for k in [0, 7] * 30]
    table = AnchorTable()
    for i, text in enumerate(texts):
        table.add(i, document_shingles(text), len(text.split()))
    found = find_contained(table, enumerate(texts))
    assert all(texts[inner] in texts[outer] for inner, outer in found.items())
    assert found == {} and 0 < table.unchecked < len(texts)
