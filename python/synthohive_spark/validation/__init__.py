"""Validation: quality and privacy metrics of synthetic data computed in Spark, and the report.

``evaluate(real, synthetic, metadata=None, holdout=None)`` returns a ``ValidationReport``
(``.score``, ``.details``, ``.save_html``, ``.save_json``, ``.to_dict``, ``.check``);
``quality_gate`` is the synthesizers' ``minQuality`` check. The report classes import no Spark.
"""
from __future__ import annotations

from typing import Any

from .errors import QualityGateError, ValidationInputError
from .report import ValidationReport

__all__ = ["evaluate", "quality_gate", "ValidationReport", "QualityGateError", "ValidationInputError"]


def __getattr__(name: str) -> Any:
    if name in ("evaluate", "quality_gate"):
        from . import _evaluate as _ev

        value = getattr(_ev, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'synthohive_spark.validation' has no attribute {name!r}")
