"""`run tiny`: walks the stage registry in order, each stage skipped when unchanged.

Not for: the work of any stage (data/, tokenizer/, training/, evaluation/) nor what a
stage is (its declaration in `picochat.stages`); this package resolves the run's
inputs, runs the declared stages into one folder, records what ran, checks
contamination, plans (preflight) and gathers the summary.
"""
