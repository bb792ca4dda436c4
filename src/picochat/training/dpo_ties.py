"""How close to 0 a DPO log-ratio or margin must be to count as a tie: measured.

Not for: the loss and metrics themselves (`dpo_loss.py`).

The same weights give log-prob sums that differ in their last bits between the
reference pass (eval mode, no gradients) and a training step (train mode, gradients
on, other batch shapes): on this CPU 7e-8 relative to the sums in fp32 (~1 float32 ulp
of a sum of 120 nats), 1.2e-5 under the bundled demo's bf16 autocast. On another device
the kernels, and so the noise, differ. So the noise is measured where it arises: right after the reference
pass, the first `MEASURE_BATCHES` training batches are scored again as a training step
scores them, by the very weights that scored the reference, and compared. The tie
tolerance is `NOISE_FACTOR` times the largest relative difference seen, and at least
`TIE_RTOL_FLOOR`; it is saved with the reference log-probs, so a resumed run uses the
same one.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from picochat.runtime import autocast
from picochat.training.dpo_data import EncodedPair, collate, sequence_logps

MEASURE_BATCHES = 4
NOISE_FACTOR = 10
TIE_RTOL_FLOOR = 1e-6  # ~8 float32 epsilons: below any real change, above sum rounding


def measure_tie_rtol(
    model: nn.Module,
    pairs: list[EncodedPair],
    reference: torch.Tensor,
    *,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    precision: str,
) -> dict[str, Any]:
    """{rtol, measured_relative_noise, pairs_measured, method} (see the module docstring).

    `reference` holds the [len(pairs), 2] sums the same `model` gave in eval mode.
    """
    was_training = model.training
    model.train()
    worst, measured = 0.0, 0
    for start in range(0, min(len(pairs), MEASURE_BATCHES * batch_size), batch_size):
        chunk = pairs[start : start + batch_size]
        with torch.enable_grad(), autocast(device, precision):  # as a training step runs
            chosen, rejected = sequence_logps(model, collate(chunk, pad_id).to(device))
        got = torch.stack([chosen, rejected], dim=1).detach().float().cpu()
        want = reference[start : start + len(chunk)].float()
        scale = (got.abs() + want.abs()).clamp(min=1e-30)
        worst = max(worst, float(((got - want).abs() / scale).max()))
        measured += len(chunk)
    model.train(was_training)
    return {
        "rtol": max(TIE_RTOL_FLOOR, NOISE_FACTOR * worst),
        "measured_relative_noise": worst,
        "pairs_measured": measured,
        "method": f"{NOISE_FACTOR}x the largest relative difference between training-mode "
        "and reference log-prob sums of the same weights on the first "
        f"{MEASURE_BATCHES} training batches, at least {TIE_RTOL_FLOOR:g}",
    }
