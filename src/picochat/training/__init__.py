"""The shared training loop and the stages built on it: pretrain, SFT, DPO (hf-sft, in `picochat.hf`, too)."""
