"""The transformer, LoRA, and checkpoint save/load."""
