"""`train base` input faults: a manifest of another corpus, a folder as the corpus."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _base(paths_corpus, manifest, tokenizer, out):
    return [
        "train", "base", "--corpus", paths_corpus, "--tokenizer", tokenizer,
        "--corpus-manifest", manifest, "--out-dir", out, "--preset", "smoke",
        "--context-size", "32", "--max-steps", "1", "--device", "cpu",
    ]  # fmt: skip


def test_a_manifest_from_another_corpus_is_refused_by_its_hash(tmp_path, run_cli):
    text = (EXAMPLES / "tiny_corpus.txt").read_text(encoding="utf-8")
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    # Same length, different text: the spans fit, only the hash can tell.
    (tmp_path / "b.txt").write_text(text.swapcase(), encoding="utf-8")
    for name in ("a", "b"):
        assert run_cli("--quiet", "data", "build", "--input", tmp_path / f"{name}.txt",
                       "--out", tmp_path / name / "corpus.txt")[0] == 0  # fmt: skip
    tok = tmp_path / "tok.json"
    assert run_cli("--quiet", "tok", "train", "--input", tmp_path / "a.txt", "--out", tok)[0] == 0
    flags = _base(tmp_path / "a" / "corpus.txt", tmp_path / "b" / "corpus_manifest.json", tok,
                  tmp_path / "run")  # fmt: skip
    code, _, err = run_cli(*flags)
    assert code == 2 and "corpus_sha256" in err and "Traceback" not in err


def test_a_folder_as_corpus_is_named_a_folder(tmp_path, run_cli):
    tok = tmp_path / "tok.json"
    (tmp_path / "t.txt").write_text("some text here\n", encoding="utf-8")
    assert run_cli("--quiet", "tok", "train", "--input", tmp_path / "t.txt", "--out", tok)[0] == 0
    code, _, err = run_cli(
        "train", "base", "--corpus", tmp_path, "--tokenizer", tok, "--out-dir", tmp_path / "r"
    )
    assert code == 2 and "is a folder" in err and "does not exist" not in err
