"""Read a table given as a Spark DataFrame, a catalog table name or a path."""
from __future__ import annotations

import logging
import os
from typing import Any, Optional

from pyspark.sql import DataFrame, SparkSession

from synthohive_spark.errors import TableSourceError  # noqa: F401 (re-exported)

logger = logging.getLogger("synthohive_spark.io.readers")

__all__ = ["read_table", "is_path", "TableSourceError", "FORMATS"]

FORMATS = ("parquet", "delta", "orc", "csv", "json")
_EXT = {".parquet": "parquet", ".orc": "orc", ".csv": "csv", ".json": "json", ".jsonl": "json"}


def is_path(location: str) -> bool:
    """A location with a path separator or a URI scheme is a path; otherwise a catalog name."""
    return "/" in location or "\\" in location or "://" in location


def _guess_format(path: str) -> str:
    local = path[len("file:"):] if path.startswith("file:") else path
    if os.path.isdir(os.path.join(local, "_delta_log")):
        return "delta"
    ext = os.path.splitext(local.rstrip("/"))[1].lower()
    if ext in _EXT:
        return _EXT[ext]
    if os.path.isdir(local):
        for _, _, files in os.walk(local):
            for f in files:
                e = os.path.splitext(f)[1].lower()
                if e in _EXT:
                    return _EXT[e]
                if f.endswith(".snappy.parquet") or ".parquet" in f:
                    return "parquet"
    return "parquet"


def read_table(source: Any, spark: Optional[SparkSession] = None, name: str = "table",
               fmt: Optional[str] = None, options: Optional[dict[str, str]] = None) -> DataFrame:
    """``source`` as a Spark DataFrame: a DataFrame as it is, a path (format from ``fmt``, a
    ``_delta_log`` folder or the file extension; parquet by default; csv with a header and
    inferred types) or a catalog table name (``db.table``)."""
    if isinstance(source, DataFrame) or (hasattr(source, "schema") and hasattr(source, "mapInPandas")):
        return source
    if not isinstance(source, str) or not source:
        raise TableSourceError(f"table {name!r}: expected a Spark DataFrame, a catalog table name "
                               f"or a path, got {type(source).__name__}")
    spark = spark or SparkSession.active()
    if is_path(source):
        fmt = fmt or _guess_format(source)
        if fmt not in FORMATS:
            raise TableSourceError(f"table {name!r}: unknown format {fmt!r}; expected one of "
                                   f"{', '.join(FORMATS)}")
        reader = spark.read.format(fmt)
        if fmt == "csv":
            reader = reader.option("header", "true").option("inferSchema", "true")
        for k, v in (options or {}).items():
            reader = reader.option(k, v)
        try:
            return reader.load(source)
        except Exception as exc:  # AnalysisException / SparkConnectException: say which table
            if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc).lower():
                raise TableSourceError(f"table {name!r}: path {source!r} does not exist") from exc
            raise
    try:
        return spark.table(source)
    except Exception as exc:
        if "TABLE_OR_VIEW_NOT_FOUND" in str(exc) or "not found" in str(exc).lower():
            raise TableSourceError(f"table {name!r}: catalog table {source!r} does not exist "
                                   f"(give a DataFrame, a path with '/', or db.table)") from exc
        raise
