"""`run tiny`: the stages in order, each skipped when its fingerprint is unchanged.

Not for: the work of any stage (that lives in data/, tokenizer/, training/,
evaluation/); this package only wires stage outputs to stage inputs, records what ran,
and gathers the summary.
"""
