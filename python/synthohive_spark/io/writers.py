"""Write generated tables to a folder of paths or to a catalog database, one table at a time.

A table is first written under a temporary name and then moved into place (a Hadoop filesystem
rename for paths, ``ALTER TABLE ... RENAME`` for catalog tables), so a failure never leaves a
table that looks complete. On Spark Connect, where the filesystem is out of reach, a path is
written in place and Spark's ``_SUCCESS`` marker (written by the job commit, last) marks it done.

Delta tables are written in place, each in one Delta commit (an overwrite is a new version of the
table, never a deletion of its files), and a database written as Delta has a manifest, itself a
small Delta table beside the tables (``_synthohive_manifest``): it says 'writing' before the first
table and 'complete', with the version of every table, after the last, so a write that failed half
way leaves no set of tables that looks complete. :func:`read_output` reads a database through it.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import uuid
from dataclasses import dataclass
from typing import Optional

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from synthohive_spark.io.readers import FORMATS, is_path, require_delta
from synthohive_spark._spark import hadoop_fs, is_classic, path_exists, quote
from synthohive_spark.errors import IncompleteOutputError, OutputExistsError  # noqa: F401

logger = logging.getLogger("synthohive_spark.io.writers")

__all__ = ["Target", "resolve_target", "target_exists", "check_targets", "write_table",
           "read_back", "OutputExistsError", "MODES", "DatabaseWriter", "read_output", "MANIFEST",
           "IncompleteOutputError"]

#: The manifest of a database written as Delta: a Delta table beside its tables
MANIFEST = "_synthohive_manifest"
_MANIFEST_SCHEMA = ("run_id string, status string, table string, location string, "
                    "format string, version long, written_at timestamp")

MODES = ("errorifexists", "overwrite")
#: Spark's save mode 'errorifexists' as every client spells it (pyspark 3.5's Connect client
#: knows only 'error')
_ERROR_IF_EXISTS = "error"


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


def _delta_ref(target: Target) -> str:
    """The SQL name of a Delta target: delta.`path`, or the catalog table."""
    return f"delta.{quote(target.location)}" if target.kind == "path" else target.location


def _delta_state(spark: SparkSession, target: Target) -> str:
    """'delta' (a Delta table with at least one commit), 'missing' (nothing there, or only the
    empty _delta_log and uncommitted files of a Delta write that failed) or 'other'."""
    if target.kind == "catalog":
        if not spark.catalog.tableExists(target.location):
            return "missing"
        for row in spark.sql(f"DESCRIBE TABLE EXTENDED {target.location}").collect():
            if str(row[0]).strip().lower() == "provider":
                return "delta" if str(row[1]).strip().lower() == "delta" else "other"
        return "other"
    if not path_exists(spark, target.location):
        return "missing"
    try:
        spark.sql(f"DESCRIBE HISTORY {_delta_ref(target)} LIMIT 1").collect()
        return "delta"
    except Exception as exc:  # AnalysisException: no Delta table (no commit) at the path
        if not any(m in str(exc) for m in ("DELTA_", "not a Delta table")):
            raise
    return "missing" if path_exists(spark, target.location.rstrip("/") + "/_delta_log") else "other"


def _delta_version(spark: SparkSession, target: Target, note: Optional[str] = None) -> int:
    """The latest version of a Delta table, or the latest one committed with ``note`` as its
    user metadata (the commit of this write, whatever others committed since)."""
    rows = spark.sql(f"DESCRIBE HISTORY {_delta_ref(target)}").select(
        "version", "userMetadata").collect()
    mine = [int(r[0]) for r in rows if note is None or r[1] == note]
    if not mine:
        raise RuntimeError(f"table {target.table!r}: no Delta commit {note!r} in the history of "
                           f"{target.location}")
    return max(mine)


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
    if fmt == "delta":
        require_delta(spark, "format='delta'")
        states = {t: _delta_state(spark, t) for t in targets}
        other = [t for t in targets if states[t] == "other"]
        if other:
            raise OutputExistsError(
                "output exists and is not a Delta table for table(s) "
                + ", ".join(f"{t.table!r} at {t.location!r}" for t in other)
                + "; a Delta table written there would mix its files with what is there, and "
                  "nothing is deleted to make room: remove it or choose another output")
    if mode == "errorifexists":
        if fmt == "delta":
            existing = [t for t in targets if states[t] == "delta"]
        else:
            existing = [t for t in targets if target_exists(spark, t)]
        if existing:
            raise OutputExistsError(
                "output already exists for table(s) "
                + ", ".join(f"{t.table!r} at {t.location!r}" for t in existing)
                + "; use mode='overwrite' to replace them")


def _write_delta(df: DataFrame, target: Target, mode: str, note: str) -> int:
    """One Delta commit (``note`` as its user metadata); an overwrite is Delta's own transaction,
    a new version of the table. Returns the version committed."""
    spark = df.sparkSession
    writer = df.write.format("delta")
    if mode == "overwrite":
        writer = writer.mode("overwrite").option("overwriteSchema", "true")
    else:
        writer = writer.mode(_ERROR_IF_EXISTS)
    try:
        if target.kind == "catalog":  # saveAsTable passes no userMetadata option to the commit
            key = "spark.databricks.delta.commitInfo.userMetadata"
            before = spark.conf.get(key, None)
            spark.conf.set(key, note)
            try:
                writer.saveAsTable(target.location)
            finally:
                if before is None:
                    spark.conf.unset(key)
                else:
                    spark.conf.set(key, before)
        else:
            writer.option("userMetadata", note).save(target.location)
    except Exception as exc:  # AnalysisException: Delta's own check that nothing is there
        text = str(exc)
        if any(f"[{m}]" in text for m in ("DELTA_PATH_EXISTS", "TABLE_OR_VIEW_ALREADY_EXISTS",
                                           "TABLE_ALREADY_EXISTS")):
            raise OutputExistsError(f"table {target.table!r}: {target.location} appeared while "
                                    f"it was being generated") from exc
        raise
    version = _delta_version(spark, target, note)
    logger.info("wrote table %s to %s as Delta version %d", target.table, target.location,
                version)
    return version


def write_table(df: DataFrame, target: Target, fmt: str = "parquet",
                mode: str = "errorifexists", note: Optional[str] = None) -> Optional[int]:
    """Write ``df`` to ``target`` so that it appears complete or not at all. A Delta table is
    one commit (``note``: its user metadata) and its version is returned; other formats: None."""
    spark = df.sparkSession
    if fmt == "delta":
        return _write_delta(df, target, mode, note or f"synthohive-spark {uuid.uuid4().hex}")
    tmp_name = f"_tmp_{target.table}_{uuid.uuid4().hex[:12]}"
    if target.kind == "catalog":
        db = target.location.rsplit(".", 1)[0]
        tmp = f"{db}.{tmp_name}"
        writer = df.write.format(fmt).mode(_ERROR_IF_EXISTS)
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
        writer.mode("overwrite" if mode == "overwrite" else _ERROR_IF_EXISTS).save(target.location)
        return
    parent = os.path.dirname(target.location.rstrip("/"))
    tmp = f"{parent}/.{tmp_name}"
    fs, tmp_path = hadoop_fs(spark, tmp)
    try:
        writer.mode(_ERROR_IF_EXISTS).save(tmp)
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
              schema: Optional[T.StructType] = None, version: Optional[int] = None) -> DataFrame:
    """The written table as a DataFrame (a Delta table: at ``version`` when given)."""
    if fmt == "delta" and version is not None:
        reader = spark.read.option("versionAsOf", str(int(version)))
        if target.kind == "catalog":
            return reader.table(target.location)
        return reader.format("delta").load(target.location)
    if target.kind == "catalog":
        return spark.table(target.location)
    reader = spark.read.format(fmt)
    if fmt == "csv":
        reader = reader.option("header", "true")
    if schema is not None and fmt in ("csv", "json"):
        reader = reader.schema(schema)
    return reader.load(target.location)


class DatabaseWriter:
    """Writes the tables of one generated database to ``output`` (a path or a catalog database):
    checks every target before anything is generated, writes each table when asked
    (:func:`write_table`), and, for Delta, keeps the manifest: 'writing' before the first table,
    'complete' with each table's version after the last (:meth:`finish`)."""

    def __init__(self, spark: SparkSession, output: str, tables: list[str], fmt: str = "parquet",
                 mode: str = "errorifexists") -> None:
        self.spark, self.output, self.fmt, self.mode = spark, output, fmt, mode
        self.targets = {t: resolve_target(output, t) for t in tables}
        if MANIFEST in self.targets:
            raise ValueError(f"a table cannot be named {MANIFEST!r}: the manifest of the output")
        check_targets(spark, list(self.targets.values()), mode, fmt)
        self.run_id = uuid.uuid4().hex
        self.versions: dict[str, Optional[int]] = {}
        self._started = False

    def _note(self, status: str) -> str:
        return f"synthohive-spark {status} {self.run_id}"

    def write(self, table: str, df: DataFrame) -> None:
        if self.fmt == "delta" and not self._started:
            self._manifest("writing")
        self._started = True
        self.versions[table] = write_table(df, self.targets[table], self.fmt, self.mode,
                                           note=self._note("table"))

    def finish(self) -> None:
        """Mark the database complete (Delta: the manifest, written last)."""
        missing = [t for t in self.targets if t not in self.versions]
        if missing:
            raise RuntimeError(f"output {self.output!r}: table(s) {missing} were not written")
        if self.fmt == "delta":
            self._manifest("complete")

    def read_back(self, table: str, schema: Optional[T.StructType] = None) -> DataFrame:
        """The table as written by this writer (Delta: the version it committed)."""
        return read_back(self.spark, self.targets[table], self.fmt, schema,
                         version=self.versions.get(table))

    def _manifest(self, status: str) -> None:
        import pandas as pd

        now = pd.Timestamp(_dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None))
        names = list(self.targets)
        versions = [self.versions.get(t) if status == "complete" else None for t in names]
        rows = pd.DataFrame({  # from pandas: Arrow, no Python worker
            "run_id": [self.run_id] * len(names), "status": [status] * len(names),
            "table": names, "location": [self.targets[t].location for t in names],
            "format": [self.fmt] * len(names), "version": pd.array(versions, dtype="Int64"),
            "written_at": [now] * len(names)})
        df = self.spark.createDataFrame(rows, _MANIFEST_SCHEMA).coalesce(1)
        _write_delta(df, resolve_target(self.output, MANIFEST), "overwrite", self._note(status))


def read_output(output: str, spark: Optional[SparkSession] = None,
                version: Optional[int] = None) -> dict[str, DataFrame]:
    """The tables of a database written as Delta to ``output``, each at the version its manifest
    records: one consistent database. ``version`` reads an earlier manifest (Delta time travel).
    Raises :class:`IncompleteOutputError` when the manifest is missing or its write did not
    finish (the message names the last complete version, if any)."""
    spark = spark or SparkSession.active()
    require_delta(spark, f"read_output({output!r})")
    target = resolve_target(output, MANIFEST)
    if _delta_state(spark, target) != "delta":
        raise IncompleteOutputError(f"output {output!r} has no manifest ({target.location}): it "
                                    f"was not written as Delta by synthohive-spark, or its write "
                                    f"never started")
    rows = read_back(spark, target, "delta", version=version).collect()
    status = {r["status"] for r in rows}
    if status != {"complete"}:
        history = spark.sql(f"DESCRIBE HISTORY {_delta_ref(target)}").select(
            "version", "userMetadata").collect()
        done = sorted(int(r[0]) for r in history
                      if str(r[1] or "").startswith("synthohive-spark complete "))
        earlier = [v for v in done if version is None or v < version]
        hint = (f"; the last complete one is manifest version {earlier[-1]} "
                f"(read_output({output!r}, version={earlier[-1]}))" if earlier else "")
        raise IncompleteOutputError(
            f"output {output!r}: its write did not finish (manifest status "
            f"{', '.join(sorted(map(str, status))) or 'empty'}, tables "
            f"{sorted(r['table'] for r in rows)}){hint}")
    return {r["table"]: read_back(spark, Target(r["table"], target.kind, r["location"]), "delta",
                                  version=int(r["version"])) for r in rows}
