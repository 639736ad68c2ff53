"""Errors raised by validation (no Spark import)."""
from __future__ import annotations


class ValidationInputError(ValueError):
    """The real and synthetic inputs cannot be compared (names the table/column and the problem)."""


class QualityGateError(RuntimeError):
    """A quality gate failed: the message names the properties, tables and columns that fell short."""

    def __init__(self, message: str, failures: list[str] | None = None, score: float | None = None):
        super().__init__(message)
        self.failures = list(failures or [])
        self.score = score
