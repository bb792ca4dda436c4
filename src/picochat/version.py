"""Picochat's version, defined once: the package (`picochat.__version__`), the install
metadata (pyproject.toml reads it from here), checkpoints and every report's header."""

__version__ = "0.1.0"
