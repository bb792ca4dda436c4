"""The final and best validation figures, over the whole validation set.

Not for: the periodic evaluations (each stage's `make_evaluate`), which may score a
sample (`--eval-batches` x `--batch-size` rows, spread evenly) so that evaluating every
few steps stays cheap; nor choosing the best checkpoint (the loop does, on those
periodic figures).

After the loop, the final weights and the best checkpoint's weights are scored on every
validation row, so `final.val_loss` and `best.val_loss` are what their labels say.
A huge validation side (GBs of text) is capped at `--final-val-tokens` scored targets over
evenly spread rows; the figures then say so (`val_scope` "capped", `val_tokens` of
`val_tokens_total`), and report.md repeats it. Rows are read `CHUNK_TOKENS` at a time,
so memory stays bounded whatever the validation size.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from picochat.byte_progress import ByteProgress
from picochat.configs.training import FINAL_VAL_TOKENS
from picochat.model.checkpoint import load_checkpoint
from picochat.model.chunked_loss import IGNORE_INDEX
from picochat.runtime import autocast
from picochat.training import distributed
from picochat.training.lm_metrics import LossSums, window_loss_sums
from picochat.training.loop_types import LoopResult
from picochat.training.shard_windows import fixed_window_count, fixed_window_rows
from picochat.training.windows import spread_rows

# Tokens of rows read per forward batch (window_loss_sums splits it further by logits).
CHUNK_TOKENS = 1 << 16

Scorer = Callable[..., dict[str, Any]]  # (model, label=..., show_progress=...) -> figures


def _figures(sums: LossSums, total: int, capped: bool) -> dict[str, Any]:
    return {
        "val_loss": sums.mean_loss,
        "val_bpb": sums.bits_per_byte,
        "val_tokens": sums.targets,
        "val_bytes": sums.text_bytes,
        "val_tokens_total": total,
        "val_scope": "capped" if capped else "whole",
    }


def _score_rows(
    model: nn.Module,
    read: Callable[[np.ndarray], tuple[torch.Tensor, torch.Tensor]],
    rows: np.ndarray,
    rows_per_chunk: int,
    byte_lengths: torch.Tensor,
    device: torch.device,
    info: distributed.DistInfo,
    progress: ByteProgress,
) -> LossSums:
    """Sum the losses over `rows`, `rows_per_chunk` at a time (a multiple of the world
    size, the last chunk padded with unscored rows: every rank runs the same forwards)."""
    world = max(1, info.world_size)
    step = max(world, rows_per_chunk // world * world)
    total = LossSums()
    for start in range(0, len(rows), step):
        x, y = read(rows[start : start + step])
        short = -len(x) % world
        if short:
            x = torch.cat([x, torch.zeros((short, x.shape[1]), dtype=x.dtype)])
            y = torch.cat([y, torch.full((short, y.shape[1]), IGNORE_INDEX, dtype=y.dtype)])
        part = window_loss_sums(model, x, y, byte_lengths, device=device, dist_info=info)
        total = LossSums(
            total.nats + part.nats,
            total.targets + part.targets,
            total.text_nats + part.text_nats,
            total.text_bytes + part.text_bytes,
        )
        progress.advance(min(step, len(rows) - start))
    return total


def _progress(label: str, rows: int, show: bool) -> contextlib.closing[ByteProgress]:
    return contextlib.closing(ByteProgress(label, rows, quiet=not show, unit="rows"))


def stream_scorer(
    tokens: Any,
    context_size: int,
    byte_lengths: torch.Tensor,
    *,
    device: torch.device,
    info: distributed.DistInfo,
    max_tokens: int = FINAL_VAL_TOKENS,
) -> Scorer:
    """Scores a token stream's fixed windows (base pretraining's validation side)."""
    count = fixed_window_count(tokens, context_size)
    capped = count * context_size > max_tokens
    rows = spread_rows(count, max(1, max_tokens // context_size)) if capped else np.arange(count)

    def score(model: nn.Module, label: str = "", show_progress: bool = False) -> dict[str, Any]:
        with _progress(label, len(rows), show_progress and info.is_main) as progress:
            sums = _score_rows(
                model,
                lambda chosen: fixed_window_rows(tokens, context_size, chosen),
                rows,
                max(1, CHUNK_TOKENS // context_size),
                byte_lengths,
                device,
                info,
                progress,
            )
        return _figures(sums, max(0, len(tokens) - 1), capped)

    return score


def sequence_scorer(
    sequences: Sequence[Any],
    collate: Callable[[Sequence[Any]], tuple[torch.Tensor, torch.Tensor]],
    byte_lengths: torch.Tensor,
    *,
    device: torch.device,
    info: distributed.DistInfo,
    max_tokens: int = FINAL_VAL_TOKENS,
) -> Scorer:
    """Scores conversations (SFT's validation rows): `collate` pads a chunk of them."""
    lengths = [len(s.ids) for s in sequences]
    capped = sum(lengths) > max_tokens
    wanted = max(1, int(len(sequences) * max_tokens / max(1, sum(lengths))))
    rows = spread_rows(len(sequences), wanted) if capped else np.arange(len(sequences))
    longest = max(lengths, default=1)
    supervised = sum(s.supervised_tokens for s in sequences)

    def score(model: nn.Module, label: str = "", show_progress: bool = False) -> dict[str, Any]:
        with _progress(label, len(rows), show_progress and info.is_main) as progress:
            sums = _score_rows(
                model,
                lambda chosen: collate([sequences[i] for i in chosen]),
                rows,
                max(1, CHUNK_TOKENS // longest),
                byte_lengths,
                device,
                info,
                progress,
            )
        return _figures(sums, supervised, capped)

    return score


def final_and_best(
    model: nn.Module,
    loop: LoopResult,
    score: Scorer,
    *,
    device: torch.device,
    precision: str,
    tokenizer: Any = None,
    show_progress: bool = False,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(final, best) whole-validation figures; every rank calls it (rows are split over
    ranks). The best weights are the final ones when the best evaluation was the last
    step; else they are read from the best checkpoint. None where no weights exist.
    `show_progress`: rank 0 shows how far scoring is (a bar, or a log line every 30 s)."""
    if not loop.history and loop.best is None:
        return None, None
    was_training = model.training
    model.eval()
    with torch.no_grad(), autocast(device, precision):
        final = {
            **score(model, "whole validation, final weights", show_progress),
            "weights_step": loop.steps,
        }
        best = None
        if loop.best is not None and loop.best["step"] == loop.steps:
            best = final
        elif loop.best is not None and loop.best_checkpoint_dir is not None:
            best_model = load_checkpoint(
                loop.best_checkpoint_dir, device=device, tokenizer=tokenizer
            )
            best = {
                **score(best_model, "whole validation, best weights", show_progress),
                "weights_step": loop.best["step"],
            }
            del best_model
    model.train(was_training)
    return final, best


def apply_to_report(
    final_section: dict[str, Any],
    best_section: dict[str, Any] | None,
    whole: tuple[dict[str, Any] | None, dict[str, Any] | None],
) -> None:
    """Put the whole-validation figures into a report's `final` and `best` sections; the
    periodic (possibly sampled) figures stay beside them as `periodic_val_loss`/`_bpb`.
    Where the section's step is not the scored weights' (a run interrupted between two
    evaluations), the figures go under `whole_validation` and the section stays as it was."""
    for section, figures in ((final_section, whole[0]), (best_section, whole[1])):
        if section is None or figures is None:
            continue
        if section.get("step") != figures["weights_step"]:
            section["whole_validation"] = figures
            continue
        section["periodic_val_loss"] = section.get("val_loss")
        section["periodic_val_bpb"] = section.get("val_bpb")
        section.update(figures)
        loss, train = section.get("val_loss"), section.get("train_loss")
        if "gap" in section and loss is not None and train is not None and math.isfinite(loss):
            section["gap"] = loss - train


def describe(figures: dict[str, Any] | None) -> str:
    """'all 1,234 validation tokens' or 'a spread sample of 16,777,216 of ... (capped)'."""
    if not figures:
        return "no validation tokens"
    if figures["val_scope"] == "whole":
        return f"all {figures['val_tokens']:,} validation tokens"
    return (
        f"{figures['val_tokens']:,} of {figures['val_tokens_total']:,} validation tokens "
        "(evenly spread rows; capped by --final-val-tokens to bound the cost)"
    )
