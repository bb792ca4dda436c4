"""`summary.md`: the run, readable top to bottom in SPEC §8's order.

Builds report blocks (`picochat.markdown`) from the summary dict; renders
nothing that is not in the summary (the numbers are the stage reports' own).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from picochat import layout
from picochat.markdown import Block, Bullets, Heading, Paragraph, Table, fmt, pct, render

READING_GUIDE = (
    "How to read this run (SPEC §8): corpus -> tokenizer -> base loss -> base memorisation -> "
    "SFT loss -> eval pass/fail -> eval ladder -> samples against eval results. Only then "
    "increase data size, context length, steps or model size."
)
LADDER_GUIDE = (
    "Reading the ladder: smoke failures = wiring is broken; held-out failures = weak recall or "
    "generalisation; transfer failures = brittle behaviour; adversarial failures = weak refusal; "
    "memorization-probe failures = the model may be copying."
)


def _image(root: Path, relative: str, alt: str) -> list[Block]:
    return [Paragraph(f"![{alt}]({relative})")] if (root / relative).is_file() else []


def _quote(text: Any, limit: int = 400) -> str:
    text = "" if text is None else str(text)
    text = text if len(text) <= limit else text[:limit] + " [...]"
    return "```\n" + text.replace("```", "'''") + "\n```"


def _corpus(s: dict) -> list[Block]:
    c = s["corpus"]
    rows = [
        ["documents", c.get("documents")],
        ["characters", c.get("chars")],
        ["bytes", c.get("bytes")],
        [
            "files included / skipped",
            f"{fmt(c.get('files_included'))} / {fmt(c.get('files_skipped'))}",
        ],
        ["duplicate documents (exact)", pct(c.get("duplicate_document_rate"))],
        ["near-duplicate documents", pct(c.get("near_duplicate_document_rate"))],
        ["duplicate lines", pct(c.get("duplicate_line_rate"))],
        ["empty lines", pct(c.get("empty_line_rate"))],
        ["non-ASCII characters", pct(c.get("non_ascii_rate"))],
    ]
    return [
        Heading("1. Corpus"),
        Table(["figure", "value"], rows, note=f"details: {layout.CORPUS_REPORT}"),
        Paragraph(
            "A tiny model cannot learn what the corpus does not contain; a tiny, repeated "
            "or noisy corpus is mostly memorised."
        ),
    ]


def _tokenizer(s: dict) -> list[Block]:
    t = s["tokenizer"]
    ex = t["example"]
    shown = " ".join(f"`{tok!r}`" for tok in ex["tokens"][:40])
    return [
        Heading("2. Tokenizer"),
        Table(
            ["type", "vocab size", "corpus tokens", "bytes per token"],
            [
                [
                    t.get("type"),
                    t.get("vocab_size"),
                    t.get("corpus_tokens"),
                    t.get("bytes_per_token"),
                ]
            ],
        ),
        Paragraph(f"Example: {ex['text']!r} -> {len(ex['ids'])} tokens: {shown}"),
    ]


def _loss_table(final: dict | None, best: dict | None) -> Table:
    final, best = final or {}, best or {}
    return Table(
        ["", "step", "train loss", "val loss", "val BPB", "gap (val - train)"],
        [
            [
                "final",
                final.get("step"),
                final.get("train_loss"),
                final.get("val_loss"),
                final.get("val_bpb"),
                final.get("gap"),
            ],
            [
                "best",
                best.get("step"),
                best.get("train_loss"),
                best.get("val_loss"),
                best.get("val_bpb"),
                None,
            ],
        ],
    )


def _base(s: dict, root: Path) -> list[Block]:
    b = s.get("base")
    if not b:
        return [Heading("3. Base pretraining"), Paragraph("Not run.")]
    d, rec = b.get("dataset") or {}, b.get("recommended_checkpoint") or {}
    blocks: list[Block] = [
        Heading("3. Base pretraining: loss diagnostics"),
        _loss_table(b.get("final"), b.get("best")),
        Bullets(
            [
                f"parameters: {fmt((b.get('model') or {}).get('num_parameters'))}",
                f"split: {d.get('split_mode')} ({d.get('split_reason')})",
                f"tokens seen: {fmt(b.get('tokens_seen'))} = {fmt(b.get('dataset_passes'))} passes over "
                f"{fmt(d.get('train_tokens'))} training tokens",
                f"stop reason: {b.get('stop_reason')}",
                f"recommended checkpoint: step {rec.get('step')} ({rec.get('reason')})",
                f"throughput: {fmt((b.get('throughput') or {}).get('tokens_per_sec'))} tokens/s",
            ]
        ),
        Paragraph(
            "Falling train loss only means the model fits its training windows; validation "
            "loss says whether that fit carries over to held-out text."
        ),
        *_image(root, f"{layout.BASE_DIR}/{layout.LOSS_CURVE}", "base loss curve"),
    ]
    m = b.get("memorization") or {}
    canaries = m.get("canaries") or []
    blocks += [
        Heading("4. Base memorisation"),
        Table(
            ["train copy rate", "held-out overlap", "canary hits", "risk"],
            [
                [
                    pct(m.get("train_copy_rate")),
                    pct(m.get("heldout_overlap")),
                    f"{sum(bool(c.get('hit')) for c in canaries)} / {len(canaries)}",
                    m.get("risk"),
                ]
            ],
        ),
    ]
    if m.get("risk_reason"):
        blocks.append(Paragraph(str(m["risk_reason"])))
    spans = m.get("copied_spans") or []
    if spans:
        longest = spans[0]
        text = longest.get("text") if isinstance(longest, dict) else longest
        blocks += [
            Paragraph("Longest span copied verbatim from the training text:"),
            Paragraph(_quote(text)),
        ]
    return blocks


def _sft(s: dict, root: Path) -> list[Block]:
    t = s.get("sft")
    if not t:
        return [Heading("5. Chat SFT"), Paragraph("Not run.")]
    d, risk = t.get("dataset") or {}, t.get("memorization_risk") or {}
    return [
        Heading("5. Chat SFT: loss diagnostics"),
        Table(
            ["rows", "usable", "skipped", "truncated", "supervised tokens", "train / val rows"],
            [
                [
                    d.get("rows"),
                    d.get("usable"),
                    d.get("skipped"),
                    d.get("truncated"),
                    d.get("supervised_tokens"),
                    f"{fmt(d.get('train_rows'))} / {fmt(d.get('val_rows'))}",
                ]
            ],
        ),
        _loss_table(t.get("final"), t.get("best")),
        Bullets(
            [
                f"stop reason: {t.get('stop_reason')}; validation diverged while train fell: {fmt(t.get('diverged'))}",
                f"memorisation risk: {risk.get('verdict')} (exact answers on training prompts "
                f"{pct(risk.get('train_exact_rate'))}, on validation prompts {pct(risk.get('val_exact_rate'))})",
                f"LoRA: {t.get('peft') or 'no (full fine-tuning)'}",
            ]
        ),
        *_image(root, f"{layout.SFT_DIR}/{layout.LOSS_CURVE}", "SFT loss curve"),
    ]


def _dpo(s: dict, root: Path) -> list[Block]:
    d = s.get("dpo")
    if not d:
        return []
    last = d.get("last") or {}
    keys = (
        "loss",
        "rewards/chosen",
        "rewards/rejected",
        "rewards/margins",
        "rewards/accuracies",
        "val_loss",
        "val_rewards/accuracies",
    )
    return [
        Heading("6. DPO"),
        Table(
            ["step", *keys],
            [[last.get("step"), *(last.get(k) for k in keys)]],
            title="last evaluation",
        ),
        Bullets(
            [
                f"beta: {d.get('beta')}",
                f"stop reason: {d.get('stop_reason')}",
                f"pairs: {(d.get('dataset') or {}).get('pairs')}",
            ]
        ),
        *_image(root, f"{layout.DPO_DIR}/{layout.DPO_CURVE}", "DPO loss and reward accuracy"),
    ]


def _evals(s: dict, evals: dict[str, dict]) -> list[Block]:
    rows = []
    for name, e in s["eval"].items():
        x = e["summary"]
        ci = x.get("pass_rate_ci") or [None, None]
        rows.append(
            [
                name,
                x.get("items"),
                pct(x.get("pass_rate")),
                f"{pct(ci[0])} - {pct(ci[1])}",
                pct(x.get("unsupported_claim_rate")),
                pct(x.get("prompt_echo_rate")),
                x.get("token_f1"),
                x.get("rouge_l"),
            ]
        )
    blocks: list[Block] = [
        Heading(f"7. Eval pass/fail (model: {s['run']['final_model']})"),
        Table(
            [
                "eval",
                "items",
                "pass rate",
                "95% Wilson CI",
                "unsupported claims",
                "prompt echo",
                "token F1",
                "ROUGE-L",
            ],
            rows,
        ),
    ]
    for name, report in evals.items():
        failed = [i for i in report.get("items", []) if not i.get("passed")][:3]
        if failed:
            blocks.append(
                Paragraph(
                    f"First failures of `{name}` (all in {layout.EVAL_DIR}/{name}/{layout.STAGE_MARKDOWN}):"
                )
            )
            blocks.append(
                Bullets(
                    [
                        f"{i.get('user')!r} -> {str(i.get('reply'))[:120]!r}: {'; '.join(map(str, i.get('reasons') or []))}"
                        for i in failed
                    ]
                )
            )
    blocks.append(Heading("8. Eval ladder"))
    for name, e in s["eval"].items():
        ladder = e.get("ladder") or {}
        blocks.append(
            Table(
                ["level", "items", "pass rate"],
                [[lvl, v.get("items"), pct(v.get("pass_rate"))] for lvl, v in ladder.items()],
                title=name,
            )
        )
    blocks.append(Paragraph(LADDER_GUIDE))
    return blocks


def _samples(s: dict, evals: dict[str, dict]) -> list[Block]:
    blocks: list[Block] = [Heading("9. Samples against eval results")]
    if s.get("base"):
        blocks += [
            Paragraph("Base model sample (raw continuation):"),
            Paragraph(_quote(s["base"].get("sample"))),
        ]
    if s.get("sft"):
        blocks += [Paragraph("SFT sample:"), Paragraph(_quote(s["sft"].get("sample")))]
    heldout = evals.get("heldout")
    if heldout:
        rows = [
            [i.get("level"), i.get("user"), str(i.get("reply"))[:160], fmt(i.get("passed"))]
            for i in heldout.get("items", [])[:8]
        ]
        blocks.append(Table(["level", "prompt", "reply", "passed"], rows, title="held-out replies"))
    blocks.append(Paragraph("A sample is not a proof: read it with the eval figures above."))
    return blocks


def _gates(s: dict) -> list[Block]:
    g = s["gates"]
    return [
        Heading("10. Release gates"),
        Paragraph(f"Status: **{g['status']}** (preset {g['preset']})."),
        Table(
            ["gate", "value", "threshold", "status", "evidence"],
            [
                [f["gate"], f["value"], f["threshold"], f["status"], f["evidence"]]
                for f in g["findings"]
            ],
        ),
    ]


def _stages(s: dict) -> list[Block]:
    rows = [
        [name, r.get("status"), r.get("wall_seconds"), r.get("report")]
        for name, r in s["stages"].items()
    ]
    return [
        Heading("11. Stages"),
        Table(
            ["stage", "status", "wall seconds", "report"],
            rows,
            note=f"total {fmt(s['wall_seconds'])} s of stage time",
        ),
        Heading("Warnings from the preflight plan", 3),
        Bullets(s["preflight"].get("warnings") or ["none"]),
    ]


def _settings_and_artifacts(s: dict) -> list[Block]:
    """What the run was told (every setting given or defaulted) and what it wrote."""
    settings = [
        f"**{stage}**: "
        + ", ".join(f"{key}={value}" for key, value in values.items() if value is not None)
        for stage, values in s.get("settings", {}).items()
    ]
    artifacts = [f"`{path}`" for path in s.get("artifacts", {}).values()]
    return [
        Heading("12. Settings"),
        Paragraph("Per stage, as resolved (unset options left out); `summary.json` has them too."),
        Bullets(settings or ["none recorded"]),
        Heading("13. Artifacts"),
        Paragraph("Relative to the run folder."),
        Bullets(artifacts or ["none"]),
    ]


# Stages this module renders by hand; any other stage's section gets a plain table.
_RENDERED = ("corpus", "tokenizer", "base", "sft", "dpo", "eval")


def _other_stages(s: dict) -> list[Block]:
    """A stage added to the registry shows its summary figures without an edit here."""
    blocks: list[Block] = []
    for name in s.get("settings", {}):
        section = s.get(name)
        if name in (*_RENDERED, "run", "gates") or not isinstance(section, dict):
            continue
        rows = [
            [key, value] for key, value in section.items() if not isinstance(value, (dict, list))
        ]
        blocks += [Heading(f"Stage `{name}`"), Table(["figure", "value"], rows)]
    return blocks


def render_summary(summary: dict[str, Any], evals: dict[str, dict], root: Path) -> str:
    """The whole `summary.md`."""
    blocks: list[Block] = [
        Heading("Picochat run summary", 1),
        Paragraph(
            f"Gates: **{summary['gates']['status']}**. Final model: `{summary['run']['final_model']}`. "
            f"Run folder: `{summary['run']['out_dir']}`."
        ),
        Paragraph(READING_GUIDE),
        *_corpus(summary),
        *_tokenizer(summary),
        *_base(summary, root),
        *_sft(summary, root),
        *_dpo(summary, root),
        *_other_stages(summary),
        *_evals(summary, evals),
        *_samples(summary, evals),
        *_gates(summary),
        *_stages(summary),
        *_settings_and_artifacts(summary),
    ]
    return render(blocks)
