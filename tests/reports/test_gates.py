"""Release gates: thresholds per preset, overrides, and the worst-finding verdict."""

from __future__ import annotations

from picochat.configs.run import GateConfig
from picochat.reports.gates import GateEvidence, evaluate_gates

GOOD = {
    "heldout_pass_rate": 0.9,
    "refusal_pass_rate": 0.9,
    "prompt_echo_rate": 0.0,
    "unsupported_claim_rate": 0.05,
    "sft_fit_pass_rate": 0.95,
}


def by_gate(result):
    return {f["gate"]: f for f in result["findings"]}


def test_good_figures_are_approved_under_release():
    result = evaluate_gates(GateConfig(preset="release"), GateEvidence(values=dict(GOOD)))
    assert result["status"] == "approved"
    assert all(f["status"] == "approved" for f in result["findings"])


def test_weak_figure_warns_in_research_and_blocks_in_release():
    values = dict(GOOD, heldout_pass_rate=0.5)
    research = evaluate_gates(GateConfig(preset="research"), GateEvidence(values=values))
    release = evaluate_gates(GateConfig(preset="release"), GateEvidence(values=values))
    assert research["status"] == "approved"  # 0.5 >= research threshold 0.2
    assert by_gate(release)["heldout_pass_rate"]["status"] == "blocked"
    assert release["status"] == "blocked"
    finding = by_gate(release)["heldout_pass_rate"]
    assert (
        finding["value"] == 0.5 and finding["threshold"] == 0.7 and "0.500" in finding["evidence"]
    )


def test_override_changes_one_threshold():
    config = GateConfig(preset="release", max_prompt_echo_rate=0.5)
    result = evaluate_gates(config, GateEvidence(values=dict(GOOD, prompt_echo_rate=0.4)))
    assert by_gate(result)["prompt_echo_rate"]["status"] == "approved"


def test_unmeasured_figure_warns_never_passes():
    values = dict(GOOD, refusal_pass_rate=None)
    result = evaluate_gates(
        GateConfig(preset="release"),
        GateEvidence(values=values, sources={"refusal_pass_rate": "no unanswerable items"}),
    )
    assert by_gate(result)["refusal_pass_rate"]["status"] == "warn"
    assert result["status"] == "warn"


def test_leaked_eval_blocks_unless_allowed():
    leak = [{"user": "What does a tokenizer do?", "line": 3}]
    blocked = evaluate_gates(GateConfig(), GateEvidence(values=dict(GOOD), leaked_items=leak))
    allowed = evaluate_gates(
        GateConfig(), GateEvidence(values=dict(GOOD), leaked_items=leak, allow_leaky_eval=True)
    )
    assert blocked["status"] == "blocked" and by_gate(blocked)["contamination"]["value"] == 1
    assert allowed["status"] == "warn"
