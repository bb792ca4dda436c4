"""The preflight plan: what a run is about to spend, and what to know before spending it.

Computed after the corpus and tokenizer stages (cheap) and before any training. Each
stage's declaration estimates its own part (`Stage.estimate`): the base stage probes
throughput (three timed optimizer steps at the base model's shape after a warm-up;
evaluation and generation are not in it) and counts passes over the corpus, SFT its
passes over the chat rows, the eval stage its items. Kept in `preflight.json`;
`--preflight-only` stops after it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from picochat.stages.declaration import Plan, RunSpec, Stage
from picochat.training.memory_estimate import describe as describe_memory

ETA_NOTE = "training steps only; evaluation, sampling and the evals are not included"


def plan(
    run: RunSpec,
    stages: Sequence[Stage],
    configs: Mapping[str, Any],
    leaked_items: Sequence[dict[str, Any]],
    *,
    show_progress: bool = True,
) -> dict[str, Any]:
    """The plan of `run`: each estimating stage (in order) fills in its part."""
    state = Plan(root=run.root, inputs=run.inputs, show_progress=show_progress)
    for stage in stages:
        if stage.estimate is not None:
            stage.estimate(configs[stage.name], state)
    if leaked_items:
        state.warnings.append(
            f"{len(leaked_items)} eval item(s) appear in the training data (contamination.json)."
        )
    eta = {k: round(v, 1) for k, v in state.eta.items()}
    return {
        **state.facts,
        "planned_passes": state.passes,
        "probe": state.probe,
        "eta_seconds": eta | {"total_training": round(sum(state.eta.values()), 1)},
        "eta_note": ETA_NOTE,
        "warnings": state.warnings,
    }


def render(plan: dict[str, Any]) -> str:
    """The plan as a few lines for the terminal."""
    passes = plan["planned_passes"]
    lines = [
        "Preflight plan",
        f"  model: {plan['parameters']:,} parameters on {plan['device']} ({plan['precision']})",
        f"  corpus: {plan['corpus_tokens']:,} tokens ({plan['tokens_per_pass']:,} per training pass); "
        f"base plans {plan['base_tokens_planned']:,} tokens = {passes['corpus']} passes",
        f"  chat: {plan['chat_rows']} rows (mean {plan['chat_tokens_mean']} tokens); "
        f"SFT plans {passes['chat_rows']} passes",
        f"  base memory: {describe_memory(plan['memory'])}",
        f"  base tokens: {plan['token_budget']}",
        "  eval items: " + ", ".join(f"{k} {v}" for k, v in plan["eval_items"].items()),
        "  ETA: "
        + ", ".join(f"{k} {v:.0f}s" for k, v in plan["eta_seconds"].items())
        + f" ({plan['eta_note']})",
    ]
    lines += [f"  warning: {w}" for w in plan["warnings"]]
    return "\n".join(lines)
