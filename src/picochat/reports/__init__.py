"""Markdown rendering, plots, run summary and release gates."""
