"""One exception family for the whole zoo.

Every error names the file (or record) it is about and what was expected, so that a researcher reading a
traceback-free one-line message knows what to fix.
"""
from __future__ import annotations

from pathlib import Path


class ZooError(Exception):
    """Base class of every error the zoo raises on purpose."""


class DataError(ZooError, ValueError):
    """A data file (media, annotation, split list) could not be read or does not match its format."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class LabelError(DataError):
    """A label that is not in the task's taxonomy."""


class CheckpointError(ZooError):
    """A checkpoint that is missing, tampered with, truncated or not a zoo checkpoint."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class ConfigError(ZooError, ValueError):
    """A model name, preset or argument that the zoo does not know."""
