"""Dataset stage: sources -> documents -> corpus; chat, eval and preference file readers."""
