"""`train base --dropout`: the loop trains with the masks and scores without them."""

from __future__ import annotations

import json

from tests.training.test_pretrain import base_config

from picochat.training.pretrain import train_base


def test_train_base_scores_without_dropout_and_trains_with_it(make_inputs, doc_text, tmp_path):
    """Step 0 (before any update) is scored on the same initial weights with and without
    dropout: equal only if the loop's evaluation runs in eval mode. The first interval's
    training loss differs: the masks are applied while training."""
    paths = make_inputs("".join(doc_text(i) for i in range(6)))
    reports = {}
    for p in (0.0, 0.5):
        out = tmp_path / f"p{p}"
        train_base(base_config(paths, out, max_steps=2, eval_every=2, dropout=p))
        reports[p] = json.loads((out / "train_report.json").read_text())
    plain, dropped = reports[0.0]["history"], reports[0.5]["history"]
    assert plain[0]["step"] == dropped[0]["step"] == 0
    assert plain[0]["val_loss"] == dropped[0]["val_loss"]
    assert plain[1]["train_loss"] != dropped[1]["train_loss"]
    assert reports[0.5]["config"]["dropout"] == 0.5
