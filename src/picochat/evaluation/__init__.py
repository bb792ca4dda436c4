"""Rule-based eval: scoring rules, metrics, ladder, failure analysis.

    eval_set = read_eval_items("examples/tiny_eval.jsonl")
    report = score_items(eval_set, replies, support_corpus=Path("corpus.txt"), seed=0)
    result = evaluate_chat(EvalConfig(...))            # generates replies, writes files

Modules: `items` (the JSONL reader), `text` (normalisation, phrase matching),
`metrics` (token-F1, ROUGE-L, repetition, prompt echo), `support` (corpus n-gram
index), `rules` (one item, one reply -> ItemResult), `analysis` (rates, bootstrap CI,
ladder, clusters, weak spots), `advice` (recommendations), `report` (`score_items`,
pure), `markdown` (report.md), `stage` (`evaluate_chat` and the reply functions).
"""

from picochat.evaluation.items import EvalItem, EvalSet, read_eval_items
from picochat.evaluation.report import score_items
from picochat.evaluation.stage import EvalResult, evaluate_chat

__all__ = ["EvalItem", "EvalResult", "EvalSet", "evaluate_chat", "read_eval_items", "score_items"]
