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

    def metric_sums(self) -> dict[str, float]:
        """Sums over the pairs (divide by the pair count for TRL's batch means)."""
        return {
            "loss": float(self.losses.detach().sum()),
            "rewards/chosen": float(self.chosen_rewards.sum()),
            "rewards/rejected": float(self.rejected_rewards.sum()),
            "rewards/margins": float((self.chosen_rewards - self.rejected_rewards).sum()),
            "rewards/accuracies": float((self.chosen_rewards > self.rejected_rewards).sum()),
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
) -> DPOTerms:
    """Sigmoid DPO loss per pair and the rewards, from [P] log-prob sums (see module doc)."""
    # fp32: log-prob sums of long answers lose precision in bf16.
    chosen_logratios = policy_chosen.float() - reference_chosen.float()
    rejected_logratios = policy_rejected.float() - reference_rejected.float()
    losses = -F.logsigmoid(beta * (chosen_logratios - rejected_logratios))
    return DPOTerms(
        losses=losses,
        chosen_rewards=beta * chosen_logratios.detach(),
        rejected_rewards=beta * rejected_logratios.detach(),
        policy_chosen=policy_chosen.detach().float(),
        policy_rejected=policy_rejected.detach().float(),
    )
