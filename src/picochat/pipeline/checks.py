"""What `run tiny` checks before the first stage that trains: contamination, then preflight.

Contamination: eval prompts found in the SFT rows or the corpus (contamination.json).
Preflight: the plan of what the run is about to spend (preflight.json), recomputed
only when what it plans changed, since its throughput probe takes seconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from picochat import layout
from picochat.artifacts import atomic_write_json, json_text, write_text_if_changed
from picochat.data.contamination import ContaminationReport, check_contamination
from picochat.pipeline import preflight as preflight_plan
from picochat.pipeline.jobs import JobRunner
from picochat.stages.declaration import Job, RunSpec, Stage


def contamination(
    run: RunSpec, *, allow_leaky_eval: bool, say: Callable[[str], None]
) -> ContaminationReport:
    """Eval prompts found in the SFT rows or the corpus; written to contamination.json."""
    from picochat.data.chat import read_chat_jsonl
    from picochat.evaluation.items import read_eval_items

    items = [
        (item.user, item.line, item.level, item.reference_answer)
        for path in run.inputs.eval_sets().values()
        for item in read_eval_items(path).items
    ]
    chat = read_chat_jsonl(run.inputs.chat)
    sft_texts = [
        " ".join(str(m.get("content") or "") for m in example.messages) for example in chat.examples
    ]
    report = check_contamination(items, sft_texts, run.root / layout.CORPUS)
    body = {
        "checked_items": report.checked_items,
        "exempt_items": report.exempt_items,
        "method": report.method,
        "leaked_items": report.leaked_items,
        "checked_answers": report.checked_answers,
        "leaked_answers": report.leaked_answers,
        "allowed": allow_leaky_eval,
    }
    write_text_if_changed(run.root / layout.CONTAMINATION, json_text(body))
    if report.leaked_answers:
        say(
            f"[contamination] {len(report.leaked_answers)} eval item(s) have their reference "
            "answer in the corpus: they measure recall of that text (contamination.json)"
        )
    if report.leaked_items:
        verdict = "allowed by --allow-leaky-eval" if allow_leaky_eval else "the gates will block"
        say(
            f"[contamination] {len(report.leaked_items)} eval item(s) found in training data ({verdict})"
        )
    return report


def preflight(
    runner: JobRunner,
    run: RunSpec,
    stages: Sequence[Stage],
    jobs: dict[str, list[Job]],
    leaks: ContaminationReport,
    *,
    show_progress: bool = True,
) -> dict[str, Any]:
    """The plan, as a job: it reruns only when a training config or a planned input changed."""
    path = run.root / layout.PREFLIGHT
    configs = {s.name: jobs[s.name][0].config for s in stages if s.estimate}
    planned = {s.name: configs[s.name] for s in stages if s.trains}
    files = {"chat": run.inputs.chat, **{f"eval:{n}": p for n, p in run.inputs.eval_sets().items()}}

    def work(_: Any) -> Path:
        plan = preflight_plan.plan(
            run, stages, configs, leaks.leaked_items, show_progress=show_progress
        )
        atomic_write_json(path, plan)
        return path

    job = Job("preflight", planned, files, upstream=("tokenizer",))
    runner.run(job, work)
    plan = json.loads(path.read_text())
    runner.say(preflight_plan.render(plan))
    return plan
