"""Metadata of a relational database: tables, columns, keys and privacy settings.

``Metadata`` is a pydantic model that describes every table (its columns with their semantic type,
physical type and constraints, its primary key and its foreign keys) and the privacy settings used
when the synthetic copy is generated. It is validated on construction (keys that exist, parents
that exist, compatible key types, no foreign-key cycle across tables), reads and writes YAML/JSON
losslessly, and can be inferred from data with :meth:`Metadata.detect` (pandas or Spark frames).

The package imports no pyspark at load time; Spark frames passed to ``detect`` are recognised by
duck typing and profiled with Spark aggregations (bounded samples, exact key checks in Spark).

Modules: :mod:`.schema` (the models and their validation), :mod:`._loader` (YAML reading and
validation messages), :mod:`.detect` (profiles, column rules, keys, reference tables and rules).
"""
from __future__ import annotations

from synthohive_spark.errors import MetadataError, UnknownTableError
from synthohive_spark.metadata.detect import PANDAS_TIMESTAMP_BOUNDS, check_case_distinct
from synthohive_spark.metadata.schema import (PII_KINDS, ColumnConfig, CopyRule, DerivedRule,
                                              ForeignKey, Metadata, PIIStrategy, PrivacyConfig,
                                              SDType, TableConfig, dtype_family)

__all__ = [
    "SDType",
    "PII_KINDS",
    "MetadataError",
    "UnknownTableError",
    "ColumnConfig",
    "CopyRule",
    "DerivedRule",
    "ForeignKey",
    "TableConfig",
    "PrivacyConfig",
    "Metadata",
    "PIIStrategy",
    "dtype_family",
    "PANDAS_TIMESTAMP_BOUNDS",
    "check_case_distinct",
]
