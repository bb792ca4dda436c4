"""The stages, one module each, and the registry listing them in pipeline order.

Each module holds one `Stage` declaration (`picochat.stages.declaration`): config,
flag prefix, run-tiny defaults, runner, output folder and report, inputs, checks,
preflight estimate, summary extraction and console lines. Importing a stage module
imports no torch: runners load their stage's code when they run.
"""
