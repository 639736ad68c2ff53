"""Errors raised by validation (no Spark import); defined with the others in :mod:`synthohive_spark.errors`."""
from __future__ import annotations

from synthohive_spark.errors import QualityGateError, ValidationInputError

__all__ = ["QualityGateError", "ValidationInputError"]
