"""Token shards: exactly the in-memory token stream, in parallel, cached, checked on open."""

from __future__ import annotations

import errno
import json
import os
import tracemalloc

import numpy as np
import pytest
from tokenizers import Tokenizer as HFTokenizer

from picochat.data import corpus_stream, tokenize_shards
from picochat.data import token_shards as fmt
from picochat.data.corpus_stream import iter_pieces
from picochat.data.tokenize_shards import ensure_token_shards
from picochat.errors import InputError
from picochat.tokenizer import load_tokenizer
from picochat.training.token_data import encode_segments, read_corpus, read_documents


def shards_of(paths, tmp_path, **settings):
    settings.setdefault("quiet", True)
    return ensure_token_shards(
        paths["corpus"], paths["tokenizer"], paths.get("manifest"), tmp_path / "cache", **settings
    )


def in_memory_stream(paths) -> np.ndarray:
    documents = read_documents(read_corpus(paths["corpus"]), paths.get("manifest"))
    return encode_segments(load_tokenizer(paths["tokenizer"]), [d.text for d in documents])


@pytest.fixture
def bpe_inputs(make_inputs, doc_text):
    documents = [doc_text(i, words=90) for i in range(9)]
    return make_inputs(documents=documents, tokenizer_type="bpe"), documents


@pytest.mark.parametrize("workers", [1, 2])
def test_shards_hold_exactly_the_in_memory_stream(bpe_inputs, tmp_path, monkeypatch, workers):
    paths, documents = bpe_inputs
    # Tiny batches and shards: documents are cut into pieces, shards roll over mid-document.
    monkeypatch.setattr(tokenize_shards, "BATCH_CHARS", 100)
    monkeypatch.setattr(corpus_stream, "SPAN_ROWS", 2)  # spans read 2 rows at a time
    result = shards_of(paths, tmp_path, workers=workers, shard_tokens=97)
    shards = result.shards
    assert result.built and len(shards.shards) > 3
    np.testing.assert_array_equal(shards.tokens(0, len(shards)), in_memory_stream(paths))
    tok = load_tokenizer(paths["tokenizer"])
    assert len(shards.documents) == len(documents)
    for row, text in zip(shards.documents, documents, strict=True):
        ids = shards.tokens(int(row[fmt.TOK_START]), int(row[fmt.TOK_END]))
        assert ids[0] == tok.bos_id and list(ids[1:]) == tok.encode(text)
    assert json.loads((shards.folder / fmt.INDEX).read_text())["workers"] == workers
    spans = [[i, d["char_start"], d["char_end"]] for i, d in enumerate(manifest_documents(paths))]
    columns = [fmt.DOC_ID, fmt.CHAR_START, fmt.CHAR_END]
    assert shards.documents[:, columns].tolist() == spans


def manifest_documents(paths) -> list[dict]:
    return json.loads(paths["manifest"].read_text())["documents"]


@pytest.mark.parametrize("workers", [1, 2])
def test_the_index_counts_the_unknown_ids(make_inputs, tmp_path, monkeypatch, workers):
    documents = ["abc xyz abc", "zzz q", "ab ba"]  # x, y, z and q are not in the vocabulary
    paths = make_inputs(documents=documents, tokenizer_text="abc cab bca " * 20)
    monkeypatch.setattr(tokenize_shards, "BATCH_CHARS", 4)  # several batches
    shards = shards_of(paths, tmp_path, workers=workers).shards
    tok = load_tokenizer(paths["tokenizer"])
    unk = tok.token_to_id("<unk>")
    expected = sum(tok.encode(text).count(unk) for text in documents)
    assert shards.index["unknown_tokens"] == expected == 7


def test_reading_the_spans_holds_no_python_object_per_document(tmp_path):
    count = 100_000
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join(f"d{i % 10}" for i in range(count)), encoding="utf-8")
    starts = np.arange(count, dtype=np.int64) * 4
    spans = np.column_stack([np.arange(count), starts, starts + 2])
    tracemalloc.start()
    try:
        pieces = sum(1 for row, first, text in iter_pieces(corpus, spans, 1 << 20) if first)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert pieces == count
    # the spans as one Python list: ~144 bytes a document (14.4 MB here); chunked: 2.4 MB
    assert peak < 4 << 20, peak


def test_hugging_face_tokenizers_gives_the_ids_stored_in_the_shards(bpe_inputs, tmp_path):
    paths, documents = bpe_inputs
    shards = shards_of(paths, tmp_path, workers=2).shards
    hf = HFTokenizer.from_file(str(paths["tokenizer"]))
    for row, text in zip(shards.documents, documents, strict=True):
        ids = shards.tokens(int(row[fmt.TOK_START]) + 1, int(row[fmt.TOK_END]))  # after <|bos|>
        assert hf.encode(text, add_special_tokens=False).ids == ids.tolist()


def test_without_a_manifest_the_corpus_is_one_document(make_inputs, doc_text, tmp_path):
    paths = make_inputs("".join(doc_text(i) for i in range(5)))
    shards = shards_of(paths, tmp_path, workers=1).shards
    np.testing.assert_array_equal(shards.tokens(0, len(shards)), in_memory_stream(paths))
    assert len(shards.documents) == 1


def test_a_second_run_reuses_the_shards_and_rebuild_makes_them_again(bpe_inputs, tmp_path):
    paths, _ = bpe_inputs
    first = shards_of(paths, tmp_path, workers=1)
    again = shards_of(paths, tmp_path, workers=1)
    assert first.built and not again.built and again.shards.folder == first.shards.folder
    assert shards_of(paths, tmp_path, workers=1, rebuild=True).built


def test_a_truncated_shard_exits_2_naming_it_and_the_rebuild_command(bpe_inputs, tmp_path, run_cli):
    paths, _ = bpe_inputs
    flags = ["data", "tokenize", "--corpus", paths["corpus"], "--tokenizer", paths["tokenizer"],
             "--corpus-manifest", paths["manifest"], "--cache-dir", tmp_path / "cache"]  # fmt: skip
    code, out, _ = run_cli(*flags)
    assert code == 0 and "tokens" in out
    folder = next((tmp_path / "cache").glob("tokens-*"))
    shard = folder / fmt.shard_name(0)
    shard.write_bytes(shard.read_bytes()[:-3])
    code, out, err = run_cli(*flags)
    assert code == 2
    assert str(shard) in out + err and "picochat data tokenize" in out + err
    assert "Traceback" not in out + err
    code, _, _ = run_cli(*flags, "--rebuild")
    assert code == 0


def test_shards_of_another_tokenizer_or_corpus_are_refused(bpe_inputs, tmp_path):
    paths, _ = bpe_inputs
    shards = shards_of(paths, tmp_path, workers=1).shards
    index = shards.index
    good = dict(
        corpus_sha256=index["corpus"]["sha256"],
        tokenizer_sha256=index["tokenizer_sha256"],
        spans_sha256=index["spans_sha256"],
        command="picochat data tokenize ...",
    )
    assert len(fmt.open_token_shards(shards.folder, **good)) == len(shards)
    for key, message in (("tokenizer_sha256", "another tokenizer"),
                         ("corpus_sha256", "another corpus")):  # fmt: skip
        with pytest.raises(InputError, match=message) as caught:
            fmt.open_token_shards(shards.folder, **{**good, key: "0" * 64})
        assert caught.value.file == str(shards.folder / fmt.INDEX)
    (shards.folder / fmt.DOCUMENTS).write_bytes(b"not numpy")
    with pytest.raises(InputError, match="document index"):
        fmt.open_token_shards(shards.folder, **good)


def test_a_manifest_of_another_corpus_is_refused(make_inputs, doc_text, tmp_path):
    paths = make_inputs(documents=[doc_text(i) for i in range(4)])
    manifest = json.loads(paths["manifest"].read_text())
    manifest["documents"][-1]["char_end"] += 500  # past the end of this corpus
    paths["manifest"].write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="another corpus") as caught:
        shards_of(paths, tmp_path, workers=1)
    assert caught.value.file == str(paths["corpus"])
    manifest["corpus_sha256"] = "f" * 64
    paths["manifest"].write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="another corpus") as caught:
        shards_of(paths, tmp_path, workers=1)
    assert caught.value.file == str(paths["manifest"])


def test_too_little_disk_space_is_a_clear_error_before_writing(bpe_inputs, tmp_path, monkeypatch):
    paths, _ = bpe_inputs
    monkeypatch.setattr(fmt, "free_bytes", lambda folder: 10)
    with pytest.raises(InputError, match="GB are free"):
        shards_of(paths, tmp_path, workers=1)
    assert not list((tmp_path / "cache").glob("tokens-*"))


@pytest.mark.parametrize("rows", [1, 3, 100_003])
@pytest.mark.parametrize("fallocate", [True, False])  # False: the zeros written instead
def test_the_mapped_index_is_reserved_and_is_the_file_np_save_writes(
    tmp_path, monkeypatch, rows, fallocate
):
    if not fallocate:
        monkeypatch.delattr(os, "posix_fallocate", raising=False)
    path = tmp_path / fmt.DOCUMENTS
    mapped = fmt.create_documents(path, rows)
    size = path.stat().st_size
    assert size == 128 + rows * 40  # the header (128 bytes) and the rows
    assert path.stat().st_blocks * 512 >= size  # every block allocated: not a sparse file
    assert mapped.shape == (rows, 5) and not mapped.any()
    values = np.arange(rows * 5, dtype=np.int64).reshape(rows, 5) * 7 - 3
    mapped[:] = values
    mapped.flush()
    del mapped
    np.save(tmp_path / "saved.npy", values)
    assert path.read_bytes() == (tmp_path / "saved.npy").read_bytes()


def test_a_full_disk_when_the_index_is_reserved_exits_2(bpe_inputs, tmp_path, monkeypatch, run_cli):
    paths, _ = bpe_inputs
    reserved = []

    def full(fd: int, offset: int, length: int) -> None:
        reserved.append(length)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    code, out, err = run_cli("data", "tokenize", "--corpus", paths["corpus"], "--tokenizer",
                             paths["tokenizer"], "--corpus-manifest", paths["manifest"],
                             "--cache-dir", tmp_path / "cache", "--workers", "1")  # fmt: skip
    assert code == 2 and reserved == [128 + 9 * 40]  # documents.npy: 9 documents
    assert "disk filled up" in err and "Fix:" in err and "Traceback" not in out + err
    assert not list((tmp_path / "cache").glob("tokens-*"))  # nothing kept


def test_the_document_index_opens_memory_mapped_and_a_cut_one_is_refused(bpe_inputs, tmp_path):
    paths, documents = bpe_inputs
    shards = shards_of(paths, tmp_path, workers=1).shards
    again = shards_of(paths, tmp_path, workers=1)  # opened from the cache
    assert not again.built and isinstance(again.shards.documents, np.memmap)
    assert not again.shards.documents.flags.writeable  # read-only: the cache stays as built
    np.testing.assert_array_equal(again.shards.documents, shards.documents)
    path = shards.folder / fmt.DOCUMENTS
    path.write_bytes(path.read_bytes()[:-8])  # the last row cut short
    with pytest.raises(InputError, match="document index cannot be read") as caught:
        shards_of(paths, tmp_path, workers=1)
    assert caught.value.file == str(path) and "picochat data tokenize" in str(caught.value)
