"""Token shards: a document inside another takes its container's side (issue 15)."""

from __future__ import annotations

import json

import pytest

from picochat.artifacts import atomic_write_json
from picochat.data.tokenize_shards import ensure_token_shards
from picochat.training.pretrain_shards import ManifestDocuments
from picochat.training.shard_windows import split_shards


@pytest.mark.parametrize("layout", ["one_per_line", "compact"])  # streamed / parsed whole
def test_a_contained_document_follows_its_container_on_every_seed(
    make_inputs, doc_text, tmp_path, layout
):
    documents = [doc_text(i) for i in range(12)]
    documents[5] = documents[2][10:-10]  # document 5 lies inside document 2
    paths = make_inputs(documents=documents)
    data = json.loads(paths["manifest"].read_text())
    data["documents"][5]["contained_in"] = 2
    if layout == "compact":
        paths["manifest"].write_text(json.dumps(data))
    else:  # as data build writes it
        atomic_write_json(paths["manifest"], data, one_item_per_line=("documents",))
    shards = ensure_token_shards(
        paths["corpus"], paths["tokenizer"], paths["manifest"], tmp_path / "cache",
        workers=1, quiet=True,
    ).shards  # fmt: skip
    listed = ManifestDocuments(paths["manifest"])
    inside = listed.contained_in
    assert inside == {5: 2}
    assert listed.source(5) == data["documents"][5]["source"] and listed.source(99) is None
    apart = together = 0
    for seed in range(40):
        _, _, plain = split_shards(shards, "document", 0.3, seed)
        _, _, held = split_shards(shards, "document", 0.3, seed, contained_in=inside)
        apart += bool(plain[5] and not plain[2])  # validated on text training holds
        together += held[5] == held[2]
        assert (held[:5] == plain[:5]).all() and (held[6:] == plain[6:]).all()
    assert apart > 0 and together == 40
