"""Read a table given as a Spark DataFrame, a catalog table name or a path."""
from __future__ import annotations

import logging
import os
import re
from typing import Any, Optional

from pyspark.sql import DataFrame, SparkSession

from synthohive_spark._spark import path_exists
from synthohive_spark.errors import DeltaUnavailableError, TableSourceError  # noqa: F401

logger = logging.getLogger("synthohive_spark.io.readers")

__all__ = ["read_table", "is_path", "require_delta", "TableSourceError", "FORMATS", "TIME_TRAVEL",
           "name_parts", "session_catalogs", "check_catalog"]

FORMATS = ("parquet", "delta", "orc", "csv", "json")
_EXT = {".parquet": "parquet", ".orc": "orc", ".csv": "csv", ".json": "json", ".jsonl": "json"}
#: Delta's read options for an earlier state of a table
TIME_TRAVEL = ("versionAsOf", "timestampAsOf")
#: delta.`/some/path`: Delta's SQL name of the table at a path (a backtick inside is doubled)
_DELTA_REF = re.compile(r"^delta\.`((?:[^`]|``)+)`$", re.IGNORECASE)


def require_delta(spark: SparkSession, what: str) -> None:
    """Raise :class:`DeltaUnavailableError` naming ``what`` and how to add Delta Lake when
    ``spark`` cannot read and write Delta tables."""
    from synthohive_spark.session import delta_available, delta_help

    if not delta_available(spark):
        raise DeltaUnavailableError(f"{what}: this Spark session has no Delta Lake. "
                                    + delta_help())


def _time_travel(options: Optional[dict[str, Any]]) -> list[str]:
    return [k for k in (options or {}) if k.lower() in {t.lower() for t in TIME_TRAVEL}]


def is_path(location: str) -> bool:
    """A location with a path separator or a URI scheme is a path; otherwise a catalog name."""
    return "/" in location or "\\" in location or "://" in location


def name_parts(name: str) -> list[str]:
    """The parts of a catalog name: ``['cat', 'db', 'orders']`` of ``cat.db.orders``, a
    backtick-quoted part taken as it is (``db.`my.table``` has two parts)."""
    parts, part, quoted, i = [], "", False, 0
    while i < len(name):
        ch = name[i]
        if ch == "`":
            if quoted and name[i + 1:i + 2] == "`":
                part, i = part + "`", i + 2
                continue
            quoted = not quoted
        elif ch == "." and not quoted:
            parts.append(part.strip())
            part = ""
        else:
            part += ch
        i += 1
    return parts + [part.strip()]


def session_catalogs(spark: SparkSession) -> set[str]:
    """The catalogs a name's first part can name in ``spark``: ``spark_catalog`` and every one
    configured as ``spark.sql.catalog.<name>`` (or already loaded)."""
    names = {"spark_catalog"}
    prefix = "spark.sql.catalog."
    for row in spark.sql("SET").collect():
        key = str(row[0])
        if key.startswith(prefix) and "." not in key[len(prefix):]:
            names.add(key[len(prefix):])
    names.update(str(r[0]) for r in spark.sql("SHOW CATALOGS").collect())
    return names


def check_catalog(spark: SparkSession, name: str, parts: int, what: str,
                  error: type = TableSourceError) -> list[str]:
    """The parts of ``name``; raises ``error`` (naming ``what``) when it has ``parts`` parts or
    more and its first one is no catalog of ``spark``: Spark would read it as a namespace of the
    session catalog, which has one-part namespaces (databases) only."""
    split = name_parts(name)
    if len(split) >= parts:
        catalogs = session_catalogs(spark)
        first = split[0]
        if first not in catalogs and first.lower() != "spark_catalog":
            raise error(f"{what}: {name!r} names catalog {first!r}, and this Spark session has "
                        f"no catalog of that name (its catalogs: {', '.join(sorted(catalogs))}; "
                        f"a catalog is configured as spark.sql.catalog.{first}=<class>). A table "
                        f"is named db.table or catalog.db.table")
    return split


def _guess_format(path: str, spark: Optional[SparkSession] = None) -> str:
    local = path[len("file:"):] if path.startswith("file:") else path
    if os.path.isdir(os.path.join(local, "_delta_log")):
        return "delta"
    if spark is not None and "://" in path and not path.startswith("file:") \
            and path_exists(spark, path.rstrip("/") + "/_delta_log"):
        return "delta"  # a Delta table read as parquet would read every version's files
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
    inferred types), a Delta table at a path as ``delta.`/path```, or a catalog table name
    (``db.table``). ``options`` go to the reader; Delta's ``versionAsOf`` / ``timestampAsOf``
    read an earlier state of a Delta table (path or catalog)."""
    if isinstance(source, DataFrame) or (hasattr(source, "schema") and hasattr(source, "mapInPandas")):
        return source
    if not isinstance(source, str) or not source:
        raise TableSourceError(f"table {name!r}: expected a Spark DataFrame, a catalog table name "
                               f"or a path, got {type(source).__name__}")
    spark = spark or SparkSession.active()
    travel = _time_travel(options)
    ref = _DELTA_REF.match(source.strip())
    if ref is not None:
        if fmt not in (None, "delta"):
            raise TableSourceError(f"table {name!r}: {source!r} names a Delta table, but "
                                   f"format {fmt!r} was asked for")
        source, fmt = ref.group(1).replace("``", "`"), "delta"
    if ref is not None or is_path(source):
        fmt = fmt or _guess_format(source, spark)
        if fmt not in FORMATS:
            raise TableSourceError(f"table {name!r}: unknown format {fmt!r}; expected one of "
                                   f"{', '.join(FORMATS)}")
        if travel and fmt != "delta":
            raise TableSourceError(f"table {name!r}: {', '.join(travel)} reads an earlier "
                                   f"version of a Delta table; {source!r} is read as {fmt}")
        if fmt == "delta":
            require_delta(spark, f"table {name!r} at {source!r}")
        reader = spark.read.format(fmt)
        if fmt == "csv":
            reader = reader.option("header", "true").option("inferSchema", "true")
        for k, v in (options or {}).items():
            reader = reader.option(k, v)
        try:
            return reader.load(source)
        except Exception as exc:  # AnalysisException / SparkConnectException: say which table
            text = str(exc)
            if fmt == "delta" and any(m in text for m in ("DELTA_TABLE_NOT_FOUND",
                                                           "DELTA_MISSING_DELTA_TABLE",
                                                           "is not a Delta table")):
                if path_exists(spark, source):
                    raise TableSourceError(f"table {name!r}: {source!r} is not a Delta table "
                                           f"(no commit in a _delta_log)") from exc
                raise TableSourceError(f"table {name!r}: path {source!r} does not exist") from exc
            if "PATH_NOT_FOUND" in text or "does not exist" in text.lower():
                raise TableSourceError(f"table {name!r}: path {source!r} does not exist") from exc
            if travel and ("time travel" in text.lower() or "VersionNotFound" in text):
                raise TableSourceError(f"table {name!r}: {source!r} has no such version "
                                       f"({', '.join(f'{k}={options[k]}' for k in travel)}): "
                                       f"{text.splitlines()[0]}") from exc
            raise
    if travel:
        require_delta(spark, f"table {name!r}: {', '.join(travel)} of {source!r}")
    check_catalog(spark, source, 3, f"table {name!r}")
    try:
        if options:
            return spark.read.options(**{k: str(v) for k, v in options.items()}).table(source)
        return spark.table(source)
    except Exception as exc:
        if "TABLE_OR_VIEW_NOT_FOUND" in str(exc) or "not found" in str(exc).lower():
            raise TableSourceError(f"table {name!r}: catalog table {source!r} does not exist "
                                   f"(give a DataFrame, a path with '/', or db.table)") from exc
        raise
