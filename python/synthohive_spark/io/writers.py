"""Write generated tables to a folder of paths or to a catalog database, one table at a time.

A table is first written under a temporary name beside its target (a hidden folder for a path,
a ``_tmp_`` table in the database) and moved into place (a Hadoop filesystem rename, ``ALTER
TABLE ... RENAME``) only when every table of the database is written (:class:`DatabaseWriter`):
a failure half way drops the temporary tables and leaves no table of the database in place,
and a failure while moving them into place moves back the ones already moved (an overwritten
table is moved aside, not deleted, until the new one is in place). A process killed mid-write
can leave ``_tmp_`` tables, never a table under its own name. On Spark Connect, where the
filesystem is out of reach, a path is written in place and Spark's ``_SUCCESS`` marker (written
by the job commit, last) marks it done.

Delta tables are written in place, each in one Delta commit (an overwrite is a new version of the
table, never a deletion of its files), and a database written as Delta has a manifest, itself a
small Delta table beside the tables (``_synthohive_manifest``): each write appends its rows, one
per table, and the manifest's newest commit (its user metadata names the status and the write)
says 'complete', with the version of every table, once the last is written (an overwrite first
appends 'writing'; a first write has no manifest until then), so a write that failed half way
leaves no set of tables that looks complete. Appends, not overwrites: an overwrite of the small
table cost two to three times an append (its snapshot is read to remove the old rows).
:func:`read_output` reads a database through it.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import uuid
from dataclasses import dataclass
from typing import Any, Optional

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from synthohive_spark.io.readers import FORMATS, check_catalog, is_path, name_parts, require_delta
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

#: Commit files probed after a table's last checkpoint before its version is left to Delta's
#: history (Delta checkpoints every 10 commits by default)
_MAX_COMMIT_PROBES = 100

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
    return _exists(spark, target.kind, target.location)


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
    if note is not None:
        latest = _latest_commit(spark, target)
        if latest is not None and latest[1] == note:
            return latest[0]
    rows = spark.sql(f"DESCRIBE HISTORY {_delta_ref(target)}").select(
        "version", "userMetadata").collect()
    mine = [int(r[0]) for r in rows if note is None or r[1] == note]
    if not mine:
        raise RuntimeError(f"table {target.table!r}: no Delta commit {note!r} in the history of "
                           f"{target.location}")
    return max(mine)


def _latest_commit(spark: SparkSession, target: Target) -> Optional[tuple[int, Optional[str]]]:
    """(version, user metadata) of the newest commit of a path table, read from its
    ``_delta_log`` through the driver's Hadoop filesystem: the last checkpoint's version, the
    commit files after it probed one by one (Delta checkpoints every few commits, so a few
    probes whatever the table's history), and the first lines of the newest one, where
    DESCRIBE HISTORY loads the table's snapshot. None where that is out of reach (Spark Connect,
    a catalog table) or the log is not as expected: the caller asks Delta itself."""
    import json

    if target.kind != "path":
        return None
    found = hadoop_fs(spark, target.location.rstrip("/") + "/_delta_log")
    if found is None:
        return None
    fs, log = found
    jvm = spark.sparkContext._jvm

    def file(name: str) -> Any:
        return jvm.org.apache.hadoop.fs.Path(log, name)

    def first_lines(name: str, n: int) -> list[str]:
        if not fs.exists(file(name)):
            return []
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(fs.open(file(name)),
                                                                         "UTF-8"))
        try:
            lines = [reader.readLine() for _ in range(n)]
        finally:
            reader.close()
        return [line for line in lines if line is not None]

    try:
        checkpoint = first_lines("_last_checkpoint", 1)
        version = int(json.loads(checkpoint[0])["version"]) if checkpoint else 0
        for _ in range(_MAX_COMMIT_PROBES):
            if not fs.exists(file(f"{version + 1:020d}.json")):
                break
            version += 1
        else:
            return None
        for line in first_lines(f"{version:020d}.json", 8):  # commitInfo comes among the first
            action = json.loads(line)
            if "commitInfo" in action:
                return version, action["commitInfo"].get("userMetadata")
    except Exception as exc:  # a layout this reader does not know: Delta's own history decides
        logger.debug("could not read the newest Delta commit of %s: %s", target.location, exc)
    return None


def check_targets(spark: SparkSession, targets: list[Target], mode: str, fmt: str) -> None:
    """Fail before anything is generated: bad mode or format, existing targets without overwrite,
    a missing database."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    dbs = {_database(t.location) for t in targets if t.kind == "catalog"}
    for db in sorted(dbs):
        parts = check_catalog(spark, db, 2, f"output database {db!r}", ValueError)
        if len(parts) >= 2 and parts[0].lower() != "spark_catalog":
            impl = spark.conf.get(f"spark.sql.catalog.{parts[0]}", None) or ""
            if impl.endswith(".JDBCTableCatalog"):
                raise ValueError(
                    f"output database {db!r}: catalog {parts[0]!r} is Spark's JDBC catalog, "
                    f"which creates no table with a format (CREATE TABLE ... USING {fmt}) and "
                    f"declares no keys; write to the database with a JDBC output instead "
                    f"(output='jdbc:postgresql://...' or JdbcOutput(url, schema): its keys "
                    f"declared and its tables swapped in at once). Reading catalog "
                    f"{parts[0]!r}'s tables by their three-part names works")
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


def _write_delta(df: DataFrame, target: Target, mode: str, note: str,
                 version: bool = True) -> Optional[int]:
    """One Delta commit (``note`` as its user metadata); an overwrite is Delta's own transaction,
    a new version of the table. Returns the version committed (None when ``version`` is False:
    the caller does not need it)."""
    spark = df.sparkSession
    writer = df.write.format("delta")
    if mode == "overwrite":
        writer = writer.mode("overwrite").option("overwriteSchema", "true")
    elif mode == "append":
        writer = writer.mode("append")
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
    if not version:
        logger.info("wrote table %s to %s as Delta", target.table, target.location)
        return None
    committed = _delta_version(spark, target, note)
    logger.info("wrote table %s to %s as Delta version %d", target.table, target.location,
                committed)
    return committed


def _database(location: str) -> str:
    """The database (``db`` or ``catalog.db``) of a catalog table's name."""
    return location.rsplit(".", 1)[0]


def _stageable(spark: SparkSession, target: Target) -> bool:
    """Whether ``target`` can be written under a temporary name and moved into place: a catalog
    table always, a path where the filesystem is in reach (a classic session)."""
    return target.kind == "catalog" or is_classic(spark)


def _exists(spark: SparkSession, kind: str, location: str) -> bool:
    if kind == "catalog":
        return bool(spark.catalog.tableExists(location))
    return path_exists(spark, location)


def _remove(spark: SparkSession, kind: str, location: str) -> None:
    if kind == "catalog":
        spark.sql(f"DROP TABLE IF EXISTS {location}")
        return
    fs, path = hadoop_fs(spark, location)
    if fs.exists(path):
        fs.delete(path, True)


def _move(spark: SparkSession, kind: str, source: str, dest: str) -> None:
    """Rename a table (``ALTER TABLE ... RENAME TO``, whose new name is given without its
    catalog: a table never leaves its catalog) or a path (a Hadoop filesystem rename)."""
    if kind == "catalog":
        parts = name_parts(dest)
        new = ".".join(quote(p) for p in parts[1:]) if len(parts) >= 3 else dest
        spark.sql(f"ALTER TABLE {source} RENAME TO {new}")
        return
    fs, src = hadoop_fs(spark, source)
    _, dst = hadoop_fs(spark, dest)
    if not fs.rename(src, dst):
        raise OSError(f"could not move {source} to {dest}")


def _beside(target: Target, prefix: str) -> str:
    """A fresh temporary name beside ``target`` (same database or parent folder)."""
    name = f"{prefix}_{target.table}_{uuid.uuid4().hex[:12]}"
    if target.kind == "catalog":
        return f"{_database(target.location)}.{name}"
    return f"{os.path.dirname(target.location.rstrip('/'))}/.{name}"


def _stage(df: DataFrame, target: Target, fmt: str) -> str:
    """Write ``df`` under a temporary name beside ``target`` and return that name; nothing is
    left behind when the write fails."""
    spark = df.sparkSession
    tmp = _beside(target, "_tmp")
    writer = df.write.format(fmt).mode(_ERROR_IF_EXISTS)
    if fmt == "csv":
        writer = writer.option("header", "true")
    try:
        if target.kind == "catalog":
            writer.saveAsTable(tmp)
        else:
            writer.save(tmp)
    except BaseException:
        _remove(spark, target.kind, tmp)
        raise
    return tmp


def _commit(spark: SparkSession, staged: list[tuple[Target, str]], mode: str) -> None:
    """Move every staged table into place, or none: a target that appeared meanwhile is an error
    unless ``mode`` is 'overwrite'; an overwritten table is moved aside and dropped only once
    every new one is in place; on a failure the moves are undone and the staged tables
    dropped."""
    if mode != "overwrite":
        appeared = [t for t, _ in staged if _exists(spark, t.kind, t.location)]
        if appeared:
            for t, tmp in staged:
                _remove(spark, t.kind, tmp)
            raise OutputExistsError(
                "output appeared while it was being generated for table(s) "
                + ", ".join(f"{t.table!r} at {t.location!r}" for t in appeared)
                + "; nothing was written (use mode='overwrite' to replace them)")
    moved: list[Target] = []
    aside: list[tuple[Target, str]] = []
    try:
        for target, tmp in staged:
            if mode == "overwrite" and _exists(spark, target.kind, target.location):
                old = _beside(target, "_old")
                _move(spark, target.kind, target.location, old)
                aside.append((target, old))
            _move(spark, target.kind, tmp, target.location)
            moved.append(target)
    except BaseException:
        undo = [(_remove, (t.kind, t.location)) for t in reversed(moved)]
        undo += [(_move, (t.kind, old, t.location)) for t, old in reversed(aside)]
        undo += [(_remove, (t.kind, tmp)) for t, tmp in staged]
        for step, args in undo:
            try:
                step(spark, *args)
            except Exception as exc:  # keep undoing; the first failure is the one raised
                logger.error("could not undo a partial write (%s %s): %s", step.__name__,
                             args, exc)
        raise
    for target, old in aside:
        _remove(spark, target.kind, old)
    for target in moved:
        logger.info("wrote table %s to %s", target.table, target.location)


def write_table(df: DataFrame, target: Target, fmt: str = "parquet",
                mode: str = "errorifexists", note: Optional[str] = None) -> Optional[int]:
    """Write ``df`` to ``target`` so that it appears complete or not at all. A Delta table is
    one commit (``note``: its user metadata) and its version is returned; other formats: None."""
    spark = df.sparkSession
    if fmt == "delta":
        return _write_delta(df, target, mode, note or f"synthohive-spark {uuid.uuid4().hex}")
    if _stageable(spark, target):
        _commit(spark, [(target, _stage(df, target, fmt))], mode)
        return None
    # Spark Connect: a path in place; _SUCCESS is written last by the job commit
    writer = df.write.format(fmt)
    if fmt == "csv":
        writer = writer.option("header", "true")
    writer.mode("overwrite" if mode == "overwrite" else _ERROR_IF_EXISTS).save(target.location)
    return None


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
    checks every target before anything is generated and writes each table when asked. Delta:
    each table is one commit, and the manifest (when one is there from an earlier write) says
    'writing' before the first table and 'complete' with each table's version after the last
    (:meth:`finish`). Other formats: each
    table is written under a temporary name and :meth:`finish` moves them all into place (on
    Spark Connect a path is written in place). A caller that fails between writes calls
    :meth:`abort`; a failed :meth:`write` aborts by itself."""

    def __init__(self, spark: SparkSession, output: str, tables: list[str], fmt: str = "parquet",
                 mode: str = "errorifexists") -> None:
        self.spark, self.output, self.fmt, self.mode = spark, output, fmt, mode
        self.targets = {t: resolve_target(output, t) for t in tables}
        if MANIFEST in self.targets:
            raise ValueError(f"a table cannot be named {MANIFEST!r}: the manifest of the output")
        check_targets(spark, list(self.targets.values()), mode, fmt)
        # Delta: a manifest from an earlier write says 'writing' before this one changes any
        # table, or a failure half way would leave it saying 'complete' over tables of two
        # writes. Without one (a first write), a failure half way leaves no manifest, which
        # read_output reports the same way, and the 'writing' commit is skipped.
        self._had_manifest = False
        if fmt == "delta":
            manifest = resolve_target(output, MANIFEST)
            state = _delta_state(spark, manifest)
            if state == "other":
                raise OutputExistsError(
                    f"output {output!r}: {manifest.location} exists and is not a Delta table; "
                    f"the manifest of a database written as Delta goes there, and nothing is "
                    f"deleted to make room: remove it or choose another output")
            self._had_manifest = state == "delta"
        self.run_id = uuid.uuid4().hex
        self.versions: dict[str, Optional[int]] = {}
        self._started = False
        self._staged: list[tuple[Target, str]] = []

    def _note(self, status: str) -> str:
        return f"synthohive-spark {status} {self.run_id}"

    def write(self, table: str, df: DataFrame) -> None:
        if self.fmt == "delta" and not self._started and self._had_manifest:
            self._manifest("writing")
        self._started = True
        target = self.targets[table]
        if self.fmt == "delta" or not _stageable(self.spark, target):
            self.versions[table] = write_table(df, target, self.fmt, self.mode,
                                               note=self._note("table"))
            return
        try:
            self._staged.append((target, _stage(df, target, self.fmt)))
        except BaseException:
            self.abort()
            raise
        self.versions[table] = None

    def finish(self) -> None:
        """Mark the database complete (Delta: the manifest, written last; other formats: every
        table moved into place)."""
        missing = [t for t in self.targets if t not in self.versions]
        if missing:
            self.abort()
            raise RuntimeError(f"output {self.output!r}: table(s) {missing} were not written")
        if self.fmt == "delta":
            self._manifest("complete")
        elif self._staged:
            staged, self._staged = self._staged, []
            _commit(self.spark, staged, self.mode)

    def abort(self) -> None:
        """Drop the tables written under temporary names and not yet moved into place (Delta:
        nothing to drop; the manifest still says 'writing', or there is none yet)."""
        staged, self._staged = self._staged, []
        for target, tmp in staged:
            try:
                _remove(self.spark, target.kind, tmp)
            except Exception as exc:
                logger.error("could not drop the temporary table %s: %s", tmp, exc)

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
        _write_delta(df, resolve_target(self.output, MANIFEST), "append", self._note(status),
                     version=False)


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
                                    f"was not written as Delta by synthohive-spark, or its first "
                                    f"write did not finish")
    # the manifest's commits by this library: version -> (status, write); each appended the
    # rows of its write (a manifest of an earlier release, overwritten each time, holds the
    # newest write's rows alone); a commit of anyone else (OPTIMIZE) names no write
    ours = {}
    for r in spark.sql(f"DESCRIBE HISTORY {_delta_ref(target)}").select(
            "version", "userMetadata").collect():
        note = str(r[1] or "").split()
        if len(note) == 3 and note[0] == "synthohive-spark":
            ours[int(r[0])] = (note[1], note[2])
    upto = [v for v in ours if version is None or v <= version]
    rows = read_back(spark, target, "delta", version=version).collect()
    if upto:
        status, run = ours[max(upto)]
        rows = [r for r in rows if r["run_id"] == run and r["status"] == status]
    else:
        statuses = {str(r["status"]) for r in rows}
        status = statuses.pop() if len(statuses) == 1 else ", ".join(sorted(statuses)) or "empty"
    if status != "complete" or not rows:
        done = sorted(v for v, (st, _) in ours.items() if st == "complete")
        earlier = [v for v in done if version is None or v < version]
        hint = (f"; the last complete one is manifest version {earlier[-1]} "
                f"(read_output({output!r}, version={earlier[-1]}))" if earlier else "")
        raise IncompleteOutputError(
            f"output {output!r}: its write did not finish (manifest status {status}, tables "
            f"{sorted(r['table'] for r in rows)}){hint}")
    return {r["table"]: read_back(spark, Target(r["table"], target.kind, r["location"]), "delta",
                                  version=int(r["version"])) for r in rows}
