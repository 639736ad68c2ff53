"""Every error the library raises on purpose, under one base class (no Spark or torch import).

``except SynthohiveError`` catches all of them. Each class also derives from the built-in error a
caller would expect (``ValueError`` for bad input or state, ``KeyError`` for an unknown table,
``FileExistsError`` for an existing output, ``RuntimeError`` for a failed quality gate), so code
written against those keeps working. The modules that raise them re-export them under the names
they always had (``synthohive_spark.metadata.MetadataError``, ``ml._persist.ModelLoadError``...).
"""
from __future__ import annotations

from typing import Optional

__all__ = [
    "SynthohiveError", "ParamError", "MetadataError", "UnknownTableError", "SchemaGraphError", "TransformError",
    "ModelStateError", "CardinalityError", "DegreeModelError", "SchemaError", "ModelLoadError",
    "OutputExistsError", "TableSourceError", "ValidationInputError", "QualityGateError",
    "CopyRejectionError", "DeltaUnavailableError", "IncompleteOutputError",
]


class SynthohiveError(Exception):
    """Base of every error synthohive-spark raises on purpose."""


class ParamError(SynthohiveError, ValueError):
    """A stage param set to a value it cannot take (the message names the stage and the param)."""


# ------------------------------------------------------------------ describing the data
class MetadataError(SynthohiveError, ValueError):
    """Invalid metadata or data that cannot be described; ``errors`` lists every problem found."""

    def __init__(self, message: str, errors: Optional[list[str]] = None) -> None:
        super().__init__(message)
        self.errors: list[str] = list(errors) if errors else [message]


class UnknownTableError(MetadataError, KeyError):
    """A table name that the metadata does not hold (also a ``KeyError``)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0] if self.args else ""


class SchemaGraphError(MetadataError):
    """The foreign keys cannot be generated: a cycle, or a reference the generator cannot honour."""


class SchemaError(SynthohiveError, ValueError):
    """A DataFrame does not have the columns or types a stage expects."""


class TableSourceError(SynthohiveError, ValueError):
    """A table source that cannot be read: wrong type, missing path or table, unknown format."""


# ------------------------------------------------------------------ learning
class TransformError(SynthohiveError, ValueError):
    """A column cannot be encoded or decoded (unsupported values, bad spec, unknown column)."""


class ModelStateError(SynthohiveError, ValueError):
    """Saved model state is truncated, tampered with, or from an incompatible format."""


class CopyRejectionError(SynthohiveError, RuntimeError):
    """Generation could not make rows far enough from the real rows (``rejectCopies`` /
    ``minDCR``) within its retries; the message names the table, the rows and the setting."""


class CardinalityError(SynthohiveError, ValueError):
    """Bad input to, or bad saved state of, a cardinality model."""


class DegreeModelError(SynthohiveError, ValueError):
    """Bad input to, or state of, a degree model (how references spread over parents)."""


# ------------------------------------------------------------------ saving and writing
class ModelLoadError(SynthohiveError, ValueError):
    """A saved stage is missing, incomplete, tampered with, or from an incompatible version."""


class OutputExistsError(SynthohiveError, FileExistsError):
    """An output (table, path or saved model) already exists and overwriting was not asked for."""


class IncompleteOutputError(SynthohiveError, ValueError):
    """A multi-table output whose manifest is missing or says its write did not finish: its tables
    do not form one generated database (the message names what is there)."""


class DeltaUnavailableError(SynthohiveError, RuntimeError):
    """Delta Lake was asked for where it is not available: the session lacks Delta's jars or SQL
    extension, the delta-spark package is not installed, or no Delta release supports this Spark
    (the message says which, and how to add it)."""


class HiveUnavailableError(SynthohiveError, RuntimeError):
    """A Hive metastore was asked for (``get_or_create_session(hive=True)``) where this Spark has
    no Hive classes (a build without Hive, or a SPARK_HOME without spark-hive's jar)."""


# ------------------------------------------------------------------ validation
class ValidationInputError(SynthohiveError, ValueError):
    """The real and synthetic inputs cannot be compared (names the table/column and the problem)."""


class QualityGateError(SynthohiveError, RuntimeError):
    """A quality gate failed: the message names the properties, tables and columns that fell short."""

    def __init__(self, message: str, failures: Optional[list[str]] = None,
                 score: Optional[float] = None):
        super().__init__(message)
        self.failures = list(failures or [])
        self.score = score
