"""`picochat data build/preview` through the real CLI: inputs, spans, duplicates, scores."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

SPEC_STATS = {
    "files_included",
    "files_skipped",
    "documents",
    "chars",
    "bytes",
    "duplicate_document_rate",
    "near_duplicate_document_rate",
    "duplicate_line_rate",
    "empty_line_rate",
    "non_ascii_rate",
}
SPEC_FILE_KEYS = {"path", "label", "included", "reason", "quality_score", "quality_flags"}
SPEC_DOC_KEYS = {"source", "label", "char_start", "char_end"}
HEADER_KEYS = {"config", "inputs", "versions", "seed", "wall_seconds"}

PROSE = (
    "Small language models learn the patterns that their training corpus contains. "
    "A model trained on a few pages of text will copy those pages back, because it has "
    "seen nothing else. Validation loss on held-out documents shows whether the model "
    "generalises or memorises, and a report that records every input file lets anyone "
    "rerun the experiment and check the numbers. "
)


def prose(seed: int, words: int = 120) -> str:
    """Deterministic text of random letter-words (distinct per seed, not repetitive)."""
    rng = random.Random(seed)
    letters = "etaoinshrdlucmfwypvbgk"
    out = ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(words)]
    return " ".join(out) + "."


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def build(run_cli, *args) -> tuple[dict, str]:
    code, out, err = run_cli("data", "build", *args)
    assert code == 0, err
    out_path = Path(args[list(args).index("--out") + 1])
    if out_path.is_dir() or not out_path.suffix:
        out_path = out_path / "corpus.txt"
    manifest = json.loads((out_path.parent / "corpus_manifest.json").read_text())
    return manifest, (out_path).read_text(encoding="utf-8")


def spans(manifest: dict, corpus: str) -> list[str]:
    return [corpus[d["char_start"] : d["char_end"]] for d in manifest["documents"]]


def test_single_file_writes_three_artifacts_with_spec_keys(run_cli, tmp_path):
    src = write(tmp_path / "notes.txt", "\r\n" + PROSE + "\r\nSecond line.\r\n\r\n")
    manifest, corpus = build(run_cli, "--input", src, "--out", tmp_path / "run" / "corpus.txt")
    assert (tmp_path / "run" / "corpus_report.md").is_file()
    assert manifest.keys() >= HEADER_KEYS
    assert {"stats", "files", "documents", "min_score", "corpus_sha256"} <= manifest.keys()
    assert manifest["stats"].keys() >= SPEC_STATS
    assert manifest["files"][0].keys() >= SPEC_FILE_KEYS
    assert manifest["documents"][0].keys() >= SPEC_DOC_KEYS
    assert spans(manifest, corpus) == [PROSE + "\nSecond line."]  # CRLF normalised, stripped
    assert (
        manifest["inputs"][str(src)] == __import__("hashlib").sha256(src.read_bytes()).hexdigest()
    )
    assert manifest["stats"]["chars"] == len(corpus)
    assert manifest["stats"]["bytes"] == len(corpus.encode())
    assert manifest["stats"]["lines"] == corpus.count("\n")
    digest = __import__("hashlib").sha256(corpus.encode()).hexdigest()
    assert manifest["corpus_sha256"] == digest


def test_folder_spans_slice_back_every_document(run_cli, tmp_path):
    folder = tmp_path / "data"
    write(folder / "a.txt", prose(1))
    write(folder / "deep" / "er" / "b.md", "# Title\n\n" + prose(2) + "\n\nünïcødé ok")
    write(folder / "c.py", 'def f(x):\n    """Return x."""\n    return x\n')
    rows = [
        {"text": prose(3)},
        {"content": prose(4)},
        {"user": "What is a corpus?", "assistant": "The text a model trains on."},
        {"messages": [{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": "Hi"},
                      {"role": "assistant", "content": "Hello."}]},
        {"user": "eval-style row without an answer", "must_include": ["x"]},
    ]  # fmt: skip
    write(folder / "d.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    write(folder / "e.csv", 'id,text\n1,"csv, with comma"\n2,""\n3,"multi\nline"\n')
    write(folder / "f.json", "{}")
    write(folder / ".hidden.txt", prose(9))
    manifest, corpus = build(run_cli, "--input", folder, "--out", tmp_path / "o" / "corpus.txt")
    expected = {
        (str(folder / "a.txt"), None): prose(1),
        (str(folder / "c.py"), None): 'def f(x):\n    """Return x."""\n    return x',
        (str(folder / "d.jsonl"), 1): prose(3),
        (str(folder / "d.jsonl"), 2): prose(4),
        (
            str(folder / "d.jsonl"),
            3,
        ): "User: What is a corpus?\nAssistant: The text a model trains on.",
        (str(folder / "d.jsonl"), 4): "System: Be brief.\nUser: Hi\nAssistant: Hello.",
        (str(folder / "deep" / "er" / "b.md"), None): "# Title\n\n" + prose(2) + "\n\nünïcødé ok",
        (str(folder / "e.csv"), 2): "csv, with comma",
        (str(folder / "e.csv"), 5): "multi\nline",
    }
    got = {
        (d["source"], d["row"]): text
        for d, text in zip(manifest["documents"], spans(manifest, corpus), strict=True)
    }
    assert got == expected
    assert all(d["label"] == "input" for d in manifest["documents"])
    skipped = {Path(f["path"]).name: f["reason"] for f in manifest["files"] if not f["included"]}
    assert "unsupported file type" in skipped["f.json"]
    assert skipped[".hidden.txt"] == "hidden file"
    jsonl = next(f for f in manifest["files"] if f["path"].endswith("d.jsonl"))
    assert "1 rows without text" in jsonl["reason"]
    assert manifest["stats"]["non_ascii_rate"] > 0
    assert manifest["stats"]["documents"] == len(expected)


def test_bad_files_are_skipped_with_reasons(run_cli, tmp_path):
    folder = tmp_path / "in"
    write(folder / "good.txt", prose(1))
    write(folder / "latin1.txt", "caf\xe9 au lait".encode("latin-1"))
    write(folder / "blob.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    write(folder / "empty.md", b"")
    write(folder / "blank.txt", b"  \n\t\n")
    write(folder / "rows.csv", "id,body\n1,hello\n")
    manifest, corpus = build(run_cli, "--input", folder, "--out", tmp_path / "o" / "corpus.txt")
    reasons = {Path(f["path"]).name: f["reason"] for f in manifest["files"] if not f["included"]}
    assert "not valid UTF-8" in reasons["latin1.txt"] and "offset 3" in reasons["latin1.txt"]
    assert reasons["blob.txt"].startswith("binary file")
    assert reasons["empty.md"] == "empty file"
    assert reasons["blank.txt"].startswith("empty file")
    assert "no `text` column" in reasons["rows.csv"] and "--text-column" in reasons["rows.csv"]
    assert manifest["stats"]["files_skipped"] == 5 and manifest["stats"]["files_included"] == 1
    assert corpus == prose(1) + "\n"
    # The CSV column can be named instead.
    manifest, corpus = build(
        run_cli, "--input", folder / "rows.csv", "--text-column", "body",
        "--out", tmp_path / "o2" / "corpus.txt",
    )  # fmt: skip
    assert spans(manifest, corpus) == ["hello"]


def test_exact_and_near_duplicates_counted_on_crafted_folder(run_cli, tmp_path):
    folder = tmp_path / "in"
    base = prose(1, words=300)
    words = base.split()
    near = " ".join(words[:150] + ["CHANGED"] + words[151:])  # 1 word of 300 differs
    write(folder / "a.txt", base)
    write(folder / "b.txt", "  " + base.replace(" ", "\n   ", 5) + "\n\n")  # exact after ws-norm
    write(folder / "c.txt", near)
    write(folder / "d.txt", prose(2, words=300))
    manifest, corpus = build(run_cli, "--input", folder, "--out", tmp_path / "o" / "corpus.txt")
    stats = manifest["stats"]
    assert stats["duplicate_document_rate"] == pytest.approx(1 / 4)
    assert stats["documents"] == 3 and stats["duplicates_dropped"] == 1
    assert stats["near_duplicate_document_rate"] == pytest.approx(1 / 3)
    [pair] = manifest["near_duplicates"]["pairs"]
    assert pair["source"].endswith("c.txt") and pair["other_source"].endswith("a.txt")
    assert pair["similarity"] > 0.9  # true Jaccard of 5-gram shingles: 291/301 = 0.967
    files = {Path(f["path"]).name: f for f in manifest["files"]}
    assert not files["b.txt"]["included"] and "exact duplicate" in files["b.txt"]["reason"]
    assert "duplicate" in files["b.txt"]["quality_flags"]
    assert files["c.txt"]["included"] and "near_duplicate" in files["c.txt"]["quality_flags"]
    assert "near_duplicate" not in files["d.txt"]["quality_flags"]
    assert near in spans(manifest, corpus)  # flagged, never dropped
    kept, corpus = build(
        run_cli, "--input", folder, "--keep-duplicates", "--out", tmp_path / "k" / "corpus.txt"
    )
    assert kept["stats"]["documents"] == 4
    assert kept["stats"]["duplicate_document_rate"] == pytest.approx(1 / 4)
    assert kept["documents"][1]["duplicate_of"] == 0


def test_min_score_filters_low_quality_files_and_report_says_so(run_cli, tmp_path):
    folder = tmp_path / "in"
    write(folder / "good.txt", prose(1, words=200))
    write(folder / "symbols.txt", "#@!$ %^&* ()[] {}<> ~~~ |||| //// " * 20)
    write(folder / "repeat.txt", "buy now and save big today\n" * 200)
    out = tmp_path / "o" / "corpus.txt"
    manifest, corpus = build(run_cli, "--input", folder, "--out", out)
    files = {Path(f["path"]).name: f for f in manifest["files"]}
    assert "mostly_symbols" in files["symbols.txt"]["quality_flags"]
    assert "highly_repetitive" in files["repeat.txt"]["quality_flags"]
    assert files["good.txt"]["quality_score"] == 100 and files["good.txt"]["quality_flags"] == []
    assert files["symbols.txt"]["quality_score"] == 100 - sum(
        files["symbols.txt"]["quality_penalties"].values()
    )
    filtered, corpus = build(run_cli, "--input", folder, "--min-score", "80", "--out", out)
    names = {Path(p).name for p in filtered["filtered_by_min_score"]}
    assert names == {"symbols.txt", "repeat.txt"}
    assert spans(filtered, corpus) == [prose(1, words=200)]
    assert filtered["min_score"] == 80
    report = (out.parent / "corpus_report.md").read_text()
    assert "--min-score 80 filtered out 2 file(s)" in report and "symbols.txt" in report
    assert "cannot learn what the dataset does not contain" in report
    assert "mostly memorised" in report


def test_recipe_labels_and_globs(run_cli, tmp_path):
    write(tmp_path / "docs" / "guide.md", prose(1))
    write(tmp_path / "docs" / "drafts" / "wip.md", prose(2))
    write(tmp_path / "docs" / "notes.txt", prose(3))
    write(tmp_path / "code" / "pkg" / "mod.py", "def add(a, b):\n    return a + b\n")
    write(tmp_path / "code" / "pkg" / "test_mod.py", "def test():\n    assert True\n")
    recipe = write(
        tmp_path / "recipe.json",
        json.dumps({
            "name": "mixed", "description": "docs and code",
            "exclude": ["**/drafts/**"],
            "sources": [
                {"path": "docs", "label": "docs", "include": ["**/*.md", "*.txt"],
                 "reason": "prose"},
                {"path": "code/", "label": "code", "include": ["**/*.py"],
                 "exclude": ["test_*.py"], "reason": "examples of code"},
            ],
        }),
    )  # fmt: skip
    manifest, corpus = build(run_cli, "--recipe", recipe, "--out", tmp_path / "o" / "corpus.txt")
    included = {Path(f["path"]).name: f["label"] for f in manifest["files"] if f["included"]}
    assert included == {"guide.md": "docs", "notes.txt": "docs", "mod.py": "code"}
    skipped = {Path(f["path"]).name: f["reason"] for f in manifest["files"] if not f["included"]}
    assert skipped == {
        "wip.md": "excluded by recipe glob `**/drafts/**`",
        "test_mod.py": "excluded by recipe glob `test_*.py`",
    }
    assert manifest["labels"]["docs"] == {
        "files_included": 2, "files_skipped": 1, "documents": 2,
        "chars": len(prose(1)) + len(prose(3)),
    }  # fmt: skip
    assert manifest["labels"]["code"]["documents"] == 1
    assert [s["label"] for s in manifest["source"]["recipe"]["sources"]] == ["docs", "code"]
    assert str(recipe.resolve()) in manifest["inputs"] or str(recipe) in manifest["inputs"]
    code, out, _ = run_cli("data", "preview", "--recipe", recipe)
    assert code == 0 and "examples of code" in out and "By source label" in out


def make_pack(tmp_path: Path, **overrides) -> Path:
    write(tmp_path / "pack" / "corpus" / "one.txt", prose(1))
    write(tmp_path / "pack" / "corpus" / "two.md", prose(2))
    write(tmp_path / "pack" / "chat.jsonl", '{"user": "a", "assistant": "b"}\n' * 3)
    write(tmp_path / "pack" / "eval.jsonl", '{"user": "q"}\n\n{"user": "r"}\n')
    pack = {"name": "demo", "description": "a test pack", "corpus": {"input": "corpus/"},
            "chat": "chat.jsonl", "eval": "eval.jsonl", **overrides}  # fmt: skip
    return write(tmp_path / "pack" / "pack.json", json.dumps(pack))


def test_dataset_pack_preview_and_build(run_cli, tmp_path):
    from picochat.data.pack import load_dataset_pack

    pack_path = make_pack(tmp_path)
    pack = load_dataset_pack(pack_path)
    assert pack.name == "demo" and pack.corpus_input == (tmp_path / "pack" / "corpus").resolve()
    assert pack.chat == (tmp_path / "pack" / "chat.jsonl").resolve() and pack.preferences is None
    code, out, err = run_cli("data", "preview", "--dataset-pack", pack_path)
    assert code == 0, err
    out = " ".join(out.split())  # the terminal table wraps long cells
    assert "Other files of the pack" in out and "not given" in out
    code, out, _ = run_cli("data", "build", "--dataset-pack", pack_path, "--out", tmp_path / "o2")
    assert code == 0 and (tmp_path / "o2" / "corpus.txt").is_file()  # no suffix: a folder
    assert "pack chat:" in out and "(3 rows)" in out and "pack preferences: not given" in out
    manifest, corpus = build(
        run_cli, "--dataset-pack", pack_path, "--out", tmp_path / "o" / "c.txt"
    )
    rows = {f["role"]: f["rows"] for f in manifest["pack_files"]}
    assert rows == {"chat": 3, "eval": 2, "preferences": None}
    assert spans(manifest, corpus) == [prose(1), prose(2)]
    assert {d["label"] for d in manifest["documents"]} == {"demo"}
    assert str(pack.chat) in manifest["inputs"]


def test_dataset_pack_with_recipe_corpus(run_cli, tmp_path):
    write(tmp_path / "pack" / "texts" / "t.txt", prose(5))
    write(tmp_path / "pack" / "r.json", json.dumps({"sources": [{"path": "texts", "label": "t"}]}))
    pack_path = make_pack(tmp_path, corpus={"recipe": "r.json"})
    manifest, corpus = build(
        run_cli, "--dataset-pack", pack_path, "--out", tmp_path / "o" / "c.txt"
    )
    assert spans(manifest, corpus) == [prose(5)]
    assert manifest["documents"][0]["label"] == "t"


def test_preview_writes_nothing(run_cli, tmp_path):
    pack_path = make_pack(tmp_path)
    before = sorted(p for p in tmp_path.rglob("*"))
    code, out, _ = run_cli("data", "preview", "--dataset-pack", pack_path)
    assert code == 0 and "Corpus report" in out and "nothing was written" in out
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_output_inside_input_folder_is_not_read_back(run_cli, tmp_path):
    folder = tmp_path / "in"
    write(folder / "a.txt", prose(1))
    first, _ = build(run_cli, "--input", folder, "--out", folder)  # a folder: corpus.txt inside
    second, corpus = build(run_cli, "--input", folder, "--out", folder / "corpus.txt")
    assert second["corpus_sha256"] == first["corpus_sha256"]
    reasons = [f["reason"] for f in second["files"] if not f["included"]]
    assert sum(r.startswith("an output of") for r in reasons) == 2  # corpus.txt and the .md
    elsewhere, _ = build(run_cli, "--input", folder, "--out", tmp_path / "other")
    reasons = [f["reason"] for f in elsewhere["files"] if not f["included"]]
    assert sum("an output of an earlier `data build`" in r for r in reasons) == 2
    assert elsewhere["corpus_sha256"] == first["corpus_sha256"]
    # Named explicitly, a built corpus.txt is read like any file.
    again, corpus_again = build(run_cli, "--input", folder / "corpus.txt", "--out", tmp_path / "x")
    assert spans(again, corpus_again) == [prose(1)]


def test_line_rates_are_exact_on_a_crafted_corpus(run_cli, tmp_path):
    folder = tmp_path / "in"
    write(folder / "a.txt", "alpha line\nbeta line\n\nalpha line\n")
    write(folder / "b.txt", "beta line\n  \ngamma ünï\n")
    manifest, corpus = build(run_cli, "--input", folder, "--out", tmp_path / "o" / "corpus.txt")
    stats = manifest["stats"]
    # Non-empty lines: alpha, beta, alpha, beta, gamma -> 2 repeat an earlier line.
    assert stats["duplicate_line_rate"] == pytest.approx(2 / 5)
    # Document lines: 4 + 3, of which 2 are empty or whitespace-only.
    assert stats["empty_line_rate"] == pytest.approx(2 / 7)
    doc_chars = sum(d["char_end"] - d["char_start"] for d in manifest["documents"])
    assert stats["non_ascii_rate"] == pytest.approx(2 / doc_chars)
    assert stats["lines"] == corpus.count("\n") == 8


def test_long_documents_measured_in_slices_give_the_same_manifest(tmp_path, monkeypatch):
    from picochat.configs import CorpusConfig
    from picochat.data import corpus, corpus_builder

    rng = random.Random(7)
    lines = [" ".join(prose(rng.randint(1, 99), words=rng.randint(0, 6)).split()[:6])
             for _ in range(600)]  # fmt: skip
    folder = tmp_path / "in"
    write(folder / "a.txt", "\n".join(lines))
    write(folder / "b.txt", "\n".join(lines[:300] + ["changed line"] + lines[301:]))
    write(folder / "c.md", "same line\n" * 300)

    def manifest(out: str) -> dict:
        config = CorpusConfig(input=folder, out=tmp_path / out / "corpus.txt")
        result = corpus.build_corpus(config, write=True).manifest
        for key in ("wall_seconds", "created_at", "config", "corpus_path"):
            result.pop(key)
        return result

    whole = manifest("whole")
    monkeypatch.setattr(corpus_builder, "SLICE_CHARS", 64)  # every line here is shorter
    sliced = manifest("sliced")
    assert sliced == whole
    assert whole["stats"]["near_duplicate_document_rate"] == pytest.approx(1 / 3)
    assert "highly_repetitive" in whole["files"][2]["quality_flags"]
