"""The command-line layer: flag parsing and printing only; the work happens in stages."""
