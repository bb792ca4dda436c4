"""The sigmoid DPO loss and the metrics DPO users know, as pure functions of log-probs.

Not for: computing log-probabilities from a model (`dpo_data.sequence_logps`) or the
training stage (`dpo.py`).

Inputs are per-pair sums of answer-token log-probabilities (the final assistant message
and its `<|end|>`, as `chat_format.render_training` masks them) under the policy
(pi) and the frozen reference (ref):

    loss               = -logsigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r)))
    rewards/chosen     = beta * (pi_c - ref_c)
    rewards/rejected   = beta * (pi_r - ref_r)
    rewards/margins    = rewards/chosen - rewards/rejected
    rewards/accuracies = share of pairs with rewards/chosen > rewards/rejected (strictly)
    logps/chosen, logps/rejected = the policy's sums pi_c, pi_r

These are the definitions of Hugging Face TRL's DPOTrainer (trl 1.16,
trl/trainer/dpo_trainer.py, `_compute_loss`: `per_sequence_loss =
-F.logsigmoid(self.beta * delta_score)` with `delta_score = chosen_logratios -
rejected_logratios` for loss_type "sigmoid"; `chosen_rewards = self.beta *
chosen_logratios.detach()`, `reward_accuracies = (chosen_rewards >
rejected_rewards).float()`, `margins = chosen_rewards - rejected_rewards`, each logged
as the batch mean). With the policy equal to the reference every pair scores 0, so the
loss is ln 2 and the accuracy 0 (a tie is not a win).

Ties within float noise. The same weights give log-prob sums that differ in their last
bits between the reference pass and a training step (eval vs train mode, other batch
shapes): 7e-8 relative on this CPU in fp32, 1.2e-5 under bf16 autocast. Such a difference is not evidence, so a log-ratio
`pi - ref` with |pi - ref| <= rtol * (|pi| + |ref|) counts as exactly 0 in
rewards/chosen and rewards/rejected, and a pair whose margin is within rtol of the four
sums' magnitudes is a tie: margin 0, not a win. `rtol` is measured on the device at the
start of each run (`dpo_ties.py`: 10x the noise seen, at least 1e-6). Without this the
first interval of a run read `rewards/accuracies` 0.5 on margins of 3e-7 (the bundled
demo's first interval: 0.9375 before, 0.8625 after: its step-1 pairs tie). The loss
keeps the exact values (its gradient needs them; at a tie it is ln 2 to ~1e-8).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

METRIC_NAMES = (
    "loss",
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracies",
    "logps/chosen",
    "logps/rejected",
)


@dataclass
class DPOTerms:
    """Per-pair values of one batch; `losses` carries gradients, the rest are detached."""

    losses: torch.Tensor
    chosen_rewards: torch.Tensor
    rejected_rewards: torch.Tensor
    policy_chosen: torch.Tensor
    policy_rejected: torch.Tensor
    # Per pair: the margin is within float noise of 0 (module docstring): not a win.
    ties: torch.Tensor | None = None

    def metric_sums(self) -> dict[str, float]:
        """Sums over the pairs (divide by the pair count for TRL's batch means)."""
        margins = self.chosen_rewards - self.rejected_rewards
        if self.ties is not None:
            margins = torch.where(self.ties, torch.zeros_like(margins), margins)
        return {
            "loss": float(self.losses.detach().sum()),
            "rewards/chosen": float(self.chosen_rewards.sum()),
            "rewards/rejected": float(self.rejected_rewards.sum()),
            "rewards/margins": float(margins.sum()),
            "rewards/accuracies": float((margins > 0).sum()),
            "logps/chosen": float(self.policy_chosen.detach().sum()),
            "logps/rejected": float(self.policy_rejected.detach().sum()),
        }

    def metrics(self) -> dict[str, float]:
        """Means over the pairs, keyed by the TRL names in `METRIC_NAMES`."""
        count = max(1, self.losses.numel())
        return {name: value / count for name, value in self.metric_sums().items()}


def dpo_terms(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float,
    *,
    tie_rtol: float = 0.0,
) -> DPOTerms:
    """Sigmoid DPO loss per pair and the rewards, from [P] log-prob sums (see module doc).

    `tie_rtol` (measured: `dpo_ties.measure_tie_rtol`): log-ratios and margins within it of 0, relative
    to the log-prob sums' magnitudes, count as exactly 0 in the metrics (not the loss)."""
    # fp32: log-prob sums of long answers lose precision in bf16.
    pi_c, pi_r = policy_chosen.float(), policy_rejected.float()
    ref_c, ref_r = reference_chosen.float(), reference_rejected.float()
    chosen_logratios = pi_c - ref_c
    rejected_logratios = pi_r - ref_r
    losses = -F.logsigmoid(beta * (chosen_logratios - rejected_logratios))
    chosen, rejected = chosen_logratios.detach(), rejected_logratios.detach()
    scale_c = (pi_c.abs() + ref_c.abs()).detach()
    scale_r = (pi_r.abs() + ref_r.abs()).detach()
    zero = torch.zeros_like(chosen)
    chosen = torch.where(chosen.abs() <= tie_rtol * scale_c, zero, chosen)
    rejected = torch.where(rejected.abs() <= tie_rtol * scale_r, zero, rejected)
    ties = (chosen - rejected).abs() <= tie_rtol * (scale_c + scale_r)
    return DPOTerms(
        losses=losses,
        chosen_rewards=beta * chosen,
        rejected_rewards=beta * rejected,
        policy_chosen=policy_chosen.detach().float(),
        policy_rejected=policy_rejected.detach().float(),
        ties=ties,
    )
