"""`picochat data hf-import` on local files through the real `datasets` library (offline)."""

from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
pytest.importorskip("datasets")

ROWS = [
    {"text": "The first document talks about tides.", "id": 1},
    {"text": "   ", "id": 2},
    {"text": None, "id": 3},
    {"text": "Second\nhas two lines.", "id": 4},
    {"text": "tiny", "id": 5},
    {"text": "The first document talks about tides.", "id": 6},
]
# The third kept row repeats the first: the dataset stage drops exact duplicates.
KEPT = ["The first document talks about tides.", "Second\nhas two lines."]


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _write_parquet(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def _check_corpus(out, expected):
    corpus = out.read_text(encoding="utf-8")
    manifest = json.loads((out.parent / "corpus_manifest.json").read_text())
    docs = manifest["documents"]
    assert [corpus[d["char_start"] : d["char_end"]] for d in docs] == expected
    assert manifest["stats"]["documents"] == len(expected)
    assert manifest["stats"]["chars"] == len(corpus)
    assert (out.parent / "corpus_report.md").exists()
    return manifest


@pytest.mark.parametrize("streaming", [True, False])
@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_import_local_file(run_cli, tmp_path, fmt, streaming):
    writer = _write_jsonl if fmt == "jsonl" else _write_parquet
    source = writer(tmp_path / f"rows.{fmt}", ROWS)
    out = tmp_path / "out" / "corpus.txt"
    flags = [] if streaming else ["--no-streaming"]
    code, stdout, _ = run_cli(
        "data", "hf-import", "--dataset", source, "--out", out, "--min-chars", "10", *flags
    )
    assert code == 0, stdout
    manifest = _check_corpus(out, KEPT)
    assert manifest["stats"]["duplicate_document_rate"] == pytest.approx(1 / 3)
    report = json.loads((out.parent / "hf_import_report.json").read_text())
    assert report["rows_read"] == 6 and report["rows_kept"] == 3
    rows = [json.loads(line) for line in (out.parent / "hf_rows" / "part_00000.jsonl").open()]
    assert [r["hf_row"] for r in rows] == [0, 3, 5]
    assert report["source"]["streaming"] is streaming
    assert report["source"]["builder"] == ("json" if fmt == "jsonl" else "parquet")
    assert sum(report["skipped"].values()) == 3
    assert str(source) in report["inputs"]
    assert "Imported 3 of 6 rows" in stdout


def test_max_rows_and_csv(run_cli, tmp_path):
    source = tmp_path / "rows.csv"
    source.write_text("body,n\nalpha row,1\nbeta row,2\ngamma row,3\n", encoding="utf-8")
    out = tmp_path / "corpus.txt"
    code, stdout, _ = run_cli(
        "data", "hf-import", "--dataset", source, "--text-column", "body",
        "--max-rows", "2", "--out", out,
    )  # fmt: skip
    assert code == 0, stdout
    _check_corpus(out, ["alpha row", "beta row"])


def test_shard_mb_writes_the_corpus_as_shards(run_cli, tmp_path):
    """`--shard-mb`: shards of the same bytes as the one-file import, the manifest and the
    import report beside the folder; contradictory flags stop before any row is read."""
    rows = [{"text": f"Document number {i} tells about tides and moons. " * 3} for i in range(30)]
    source = _write_jsonl(tmp_path / "rows.jsonl", rows)
    one, folder = tmp_path / "one" / "corpus.txt", tmp_path / "big" / "corpus"
    assert run_cli("data", "hf-import", "--dataset", source, "--out", one)[0] == 0
    flags = ("data", "hf-import", "--dataset", source, "--out", folder)
    code, stdout, err = run_cli(*flags, "--shard-mb", "0.001")
    assert code == 0, err
    manifest = json.loads((tmp_path / "big" / "corpus_manifest.json").read_text())
    shards = manifest["shards"]
    assert len(shards) > 3 and all(s["bytes"] <= 1000 for s in shards)
    joined = b"".join((folder / s["path"]).read_bytes() for s in shards)
    assert joined == one.read_bytes()
    assert (
        manifest["corpus_sha256"]
        == json.loads((one.parent / "corpus_manifest.json").read_text())["corpus_sha256"]
    )
    report = json.loads((tmp_path / "big" / "hf_import_report.json").read_text())
    assert report["corpus"]["corpus"] == str(folder) and (tmp_path / "big" / "hf_rows").is_dir()
    code, _, err = run_cli(*flags[:-1], tmp_path / "c" / "corpus.txt", "--shard-mb", "1")
    assert code == 2 and "names a file" in err and not (tmp_path / "c").exists()


def test_folder_with_splits_and_text_paragraphs(run_cli, tmp_path):
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "train.txt").write_text("para one\nline two\n\npara two\n", encoding="utf-8")
    (folder / "test.txt").write_text("held out para\n", encoding="utf-8")
    out = tmp_path / "corpus.txt"
    code, stdout, _ = run_cli(
        "data", "hf-import", "--dataset", folder, "--split", "test", "--out", out
    )
    assert code == 0, stdout
    _check_corpus(out, ["held out para"])
    code, _, _ = run_cli("data", "hf-import", "--dataset", folder, "--out", out)
    assert code == 0
    _check_corpus(out, ["para one\nline two", "para two"])


def test_missing_column_lists_available_and_keeps_old_corpus(run_cli, tmp_path):
    source = _write_jsonl(tmp_path / "rows.jsonl", ROWS)
    out = tmp_path / "corpus.txt"
    out.write_text("previous corpus", encoding="utf-8")
    code, _, err = run_cli(
        "data", "hf-import", "--dataset", source, "--text-column", "body", "--out", out
    )
    assert code == 2
    assert "body" in err and "id, text" in err and "Traceback" not in err
    assert out.read_text(encoding="utf-8") == "previous corpus"


def test_bad_inputs_are_clear_errors(run_cli, tmp_path):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    _write_jsonl(mixed / "a.jsonl", ROWS)
    (mixed / "b.csv").write_text("text\nx\n", encoding="utf-8")
    code, _, err = run_cli("data", "hf-import", "--dataset", mixed, "--out", tmp_path / "c.txt")
    assert code == 2 and "mixes data formats" in err
    source = _write_jsonl(tmp_path / "rows.jsonl", ROWS)
    code, _, err = run_cli(
        "data", "hf-import", "--dataset", source, "--split", "validation",
        "--out", tmp_path / "c.txt",
    )  # fmt: skip
    assert code == 2 and "validation" in err


def test_hub_id_offline_is_a_clear_error(run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = run_cli(
        "data", "hf-import", "--dataset", "nobody/no-such-dataset", "--out", tmp_path / "c.txt"
    )
    assert code == 2 and "nobody/no-such-dataset" in err and "Traceback" not in err
    assert not (tmp_path / "c.txt").exists()


def test_large_imports_stream_into_parts_stop_at_max_bytes_and_resume(
    run_cli, tmp_path, monkeypatch
):
    from picochat.hf import dataset_import as hf_import
    from picochat.hf import import_parts as hf_parts

    rows = [{"text": f"document number {i} " + "word " * 30} for i in range(40)]
    source = _write_jsonl(tmp_path / "rows.jsonl", rows)
    monkeypatch.setattr(hf_parts, "PART_BYTES", 500)  # ~3 rows per part
    out = tmp_path / "full" / "corpus.txt"
    flags = ["data", "hf-import", "--dataset", source, "--max-rows", "0"]
    code, stdout, _ = run_cli(*flags, "--out", out)
    assert code == 0, stdout
    parts = sorted((out.parent / "hf_rows").glob("part_*.jsonl"))
    assert len(parts) > 5
    expected = [" ".join(r["text"].split()) for r in rows]
    _check_corpus(out, expected)

    # --max-bytes stops after the row that reaches the limit.
    capped = tmp_path / "capped" / "corpus.txt"
    code, _, _ = run_cli(*flags, "--max-bytes", "1000", "--out", capped)
    report = json.loads((capped.parent / "hf_import_report.json").read_text())
    assert code == 0 and 1000 <= report["text_bytes"] < 1000 + len(expected[0]) + 1
    assert report["rows_kept"] == len(
        _check_corpus(capped, expected[: report["rows_kept"]])["documents"]
    )

    # A failure after row 25: finished parts are kept, --resume finishes the same corpus.
    real = hf_import._kept_rows

    def failing(rows_iter, config, skipped, start=0):
        for index, text in real(rows_iter, config, skipped, start):
            if index == 25:
                raise OSError("connection reset")
            yield index, text

    monkeypatch.setattr(hf_import, "_kept_rows", failing)
    resumed = tmp_path / "resumed" / "corpus.txt"
    code, _, err = run_cli(*flags, "--out", resumed)
    assert code == 2 and "--resume" in err and "finished parts kept" in err
    state = json.loads((resumed.parent / "hf_rows_state.json").read_text())
    assert 0 < state["rows_read"] <= 25 and not state["complete"]
    monkeypatch.setattr(hf_import, "_kept_rows", real)
    code, _, err = run_cli(*flags, "--out", resumed, "--resume")
    assert code == 0, err
    _check_corpus(resumed, expected)
    report = json.loads((resumed.parent / "hf_import_report.json").read_text())
    assert report["rows_read"] == 40 and report["rows_kept"] == 40
    code, _, err = run_cli(*flags, "--out", resumed, "--resume", "--min-chars", "5")
    assert code == 2 and "other settings" in err
