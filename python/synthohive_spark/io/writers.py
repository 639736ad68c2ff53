"""Write generated tables to a folder of paths or to a catalog database, one table at a time.

A table is first written under a temporary name and then moved into place (a Hadoop filesystem
rename for paths, ``ALTER TABLE ... RENAME`` for catalog tables), so a failure never leaves a
table that looks complete. On Spark Connect, where the filesystem is out of reach, a path is
written in place and Spark's ``_SUCCESS`` marker (written by the job commit, last) marks it done.
"""
from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from typing import Optional

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from synthohive_spark.io.readers import FORMATS, is_path
from synthohive_spark._spark import hadoop_fs, is_classic, path_exists
from synthohive_spark.errors import OutputExistsError  # noqa: F401 (re-exported)

logger = logging.getLogger("synthohive_spark.io.writers")

__all__ = ["Target", "resolve_target", "target_exists", "check_targets", "write_table",
           "read_back", "OutputExistsError", "MODES"]

MODES = ("errorifexists", "overwrite")


@dataclass(frozen=True)
class Target:
    table: str
    kind: str        # "path" or "catalog"
    location: str    # a path, or db.table


def resolve_target(output: str, table: str) -> Target:
    """Where ``table`` goes: ``output/table`` for a path, ``output.table`` for a database."""
    if not isinstance(output, str) or not output.strip():
        raise ValueError(f"output must be a path or a catalog database name, got {output!r}")
    if is_path(output):
        return Target(table, "path", output.rstrip("/") + "/" + table)
    return Target(table, "catalog", f"{output}.{table}")


def target_exists(spark: SparkSession, target: Target) -> bool:
    if target.kind == "catalog":
        return bool(spark.catalog.tableExists(target.location))
    return path_exists(spark, target.location)


def check_targets(spark: SparkSession, targets: list[Target], mode: str, fmt: str) -> None:
    """Fail before anything is generated: bad mode or format, existing targets without overwrite,
    a missing database."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    dbs = {t.location.rsplit(".", 1)[0] for t in targets if t.kind == "catalog"}
    for db in sorted(dbs):
        if not spark.catalog.databaseExists(db):
            raise ValueError(f"output database {db!r} does not exist; create it first "
                             f"(CREATE DATABASE {db}) or give a path")
    if mode == "errorifexists":
        existing = [t for t in targets if target_exists(spark, t)]
        if existing:
            raise OutputExistsError(
                "output already exists for table(s) "
                + ", ".join(f"{t.table!r} at {t.location!r}" for t in existing)
                + "; use mode='overwrite' to replace them")


def write_table(df: DataFrame, target: Target, fmt: str = "parquet",
                mode: str = "errorifexists") -> None:
    """Write ``df`` to ``target`` so that it appears complete or not at all."""
    spark = df.sparkSession
    tmp_name = f"_tmp_{target.table}_{uuid.uuid4().hex[:12]}"
    if target.kind == "catalog":
        db = target.location.rsplit(".", 1)[0]
        tmp = f"{db}.{tmp_name}"
        writer = df.write.format(fmt).mode("errorifexists")
        if fmt == "csv":
            writer = writer.option("header", "true")
        try:
            writer.saveAsTable(tmp)
            if mode == "overwrite":
                spark.sql(f"DROP TABLE IF EXISTS {target.location}")
            elif spark.catalog.tableExists(target.location):
                raise OutputExistsError(f"table {target.table!r}: {target.location} appeared "
                                        f"while it was being generated")
            spark.sql(f"ALTER TABLE {tmp} RENAME TO {target.location}")
        except BaseException:
            spark.sql(f"DROP TABLE IF EXISTS {tmp}")
            raise
        logger.info("wrote table %s to %s", target.table, target.location)
        return
    writer = df.write.format(fmt)
    if fmt == "csv":
        writer = writer.option("header", "true")
    if not is_classic(spark):  # Spark Connect: in place; _SUCCESS is written last by the commit
        writer.mode("overwrite" if mode == "overwrite" else "errorifexists").save(target.location)
        return
    parent = os.path.dirname(target.location.rstrip("/"))
    tmp = f"{parent}/.{tmp_name}"
    fs, tmp_path = hadoop_fs(spark, tmp)
    try:
        writer.mode("errorifexists").save(tmp)
        _, dest = hadoop_fs(spark, target.location)
        if fs.exists(dest):
            if mode != "overwrite":
                raise OutputExistsError(f"table {target.table!r}: {target.location} appeared "
                                        f"while it was being generated")
            fs.delete(dest, True)
        if not fs.rename(tmp_path, dest):
            raise OSError(f"table {target.table!r}: could not move {tmp} to {target.location}")
    except BaseException:
        if fs.exists(tmp_path):
            fs.delete(tmp_path, True)
        raise
    logger.info("wrote table %s to %s", target.table, target.location)


def read_back(spark: SparkSession, target: Target, fmt: str,
              schema: Optional[T.StructType] = None) -> DataFrame:
    """The written table as a DataFrame."""
    if target.kind == "catalog":
        return spark.table(target.location)
    reader = spark.read.format(fmt)
    if fmt == "csv":
        reader = reader.option("header", "true")
    if schema is not None and fmt in ("csv", "json"):
        reader = reader.schema(schema)
    return reader.load(target.location)
