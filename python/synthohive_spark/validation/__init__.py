"""Validation: quality and privacy metrics of synthetic data computed in Spark, and the report.

``evaluate(real, synthetic, metadata=None, holdout=None)`` returns a ``ValidationReport``
(``.score``, ``.details``, ``.save_html``, ``.save_json``, ``.to_dict``, ``.check``);
``quality_gate`` is the synthesizers' ``minQuality`` check; ``k_anonymity`` checks a DataFrame over
its quasi-identifier columns and ``enforce_k_anonymity`` suppresses or generalizes it to k. The
report classes import no Spark.
"""
from __future__ import annotations

from typing import Any

from .errors import QualityGateError, ValidationInputError
from .report import ValidationReport

__all__ = ["evaluate", "quality_gate", "k_anonymity", "enforce_k_anonymity", "ValidationReport",
           "QualityGateError", "ValidationInputError"]

_LAZY = {"evaluate": "_evaluate", "quality_gate": "_evaluate", "k_anonymity": "_kanon",
         "enforce_k_anonymity": "_kanon"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'synthohive_spark.validation' has no attribute {name!r}")
