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
table, never a deletion of its files), and a database written as Delta has a manifest, a small
Delta table beside the tables (``_synthohive_manifest``) whose commits hold no data: each is a
change of its table property ``synthohive.manifest`` (JSON: the write, its status and every
table's location and version; a first write creates the table with it, later writes ``ALTER
TABLE ... SET TBLPROPERTIES``), so the manifest's history is the list of writes. It says
'complete' only once the last table is written (an overwrite first says 'writing'; a first
write has no manifest until then), so a write that failed half way leaves no set of tables that
looks complete. Metadata-only commits, not rows: a commit that writes rows runs a Spark job and
cost two to three times as much (0.9 s against 0.3 s on 2 cores, which is a third of a
million-row write). Manifests of earlier releases (a row per table, the status in the commit's
user metadata) still read. :func:`read_output` reads a database through it;
:func:`read_manifest` returns the manifest itself.
"""
from __future__ import annotations

import datetime as _dt
import json
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
           "IncompleteOutputError", "read_manifest"]

#: The manifest of a database written as Delta: a Delta table beside its tables
MANIFEST = "_synthohive_manifest"
#: The manifest's table property that each write sets (its history: one commit per change)
MANIFEST_PROPERTY = "synthohive.manifest"
#: The columns of a manifest of an earlier release, whose rows were the manifest (still read)
_MANIFEST_SCHEMA = ("run_id string, status string, table string, location string, "
                    "format string, version long, written_at timestamp")
#: The manifest's column now: it holds no rows (a table has at least one column)
_MANIFEST_COLUMNS = (f"note string COMMENT 'no rows: the manifest is the table property "
                     f"{MANIFEST_PROPERTY}, each write a commit of it (DESCRIBE HISTORY)'")

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
    log = target.location.rstrip("/") + "/_delta_log"
    # a Delta table without data files (the manifest) holds only _delta_log, which a listing
    # through a read (Spark Connect's path_exists) skips as a hidden folder
    if not path_exists(spark, target.location) and not path_exists(spark, log):
        return "missing"
    try:
        spark.sql(f"DESCRIBE HISTORY {_delta_ref(target)} LIMIT 1").collect()
        return "delta"
    except Exception as exc:  # AnalysisException: no Delta table (no commit) at the path
        if not any(m in str(exc) for m in ("DELTA_", "not a Delta table")):
            raise
    return "missing" if path_exists(spark, log) else "other"


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


def _write_delta(df: DataFrame, target: Target, mode: str, note: str) -> int:
    """One Delta commit (``note`` as its user metadata); an overwrite is Delta's own transaction,
    a new version of the table. Returns the version committed."""
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
        """One metadata-only commit of the manifest: its property set to this write's ``status``
        (a first write creates the manifest with it)."""
        entry = {"run_id": self.run_id, "status": status,
                 "written_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                 "tables": [{"table": t, "location": self.targets[t].location,
                             "format": self.fmt,
                             "version": self.versions.get(t) if status == "complete" else None}
                            for t in self.targets]}
        prop = f"'{MANIFEST_PROPERTY}' = {_sql_string(self.spark, _json_text(entry))}"
        target = resolve_target(self.output, MANIFEST)
        if self._had_manifest:
            self.spark.sql(f"ALTER TABLE {_delta_ref(target)} SET TBLPROPERTIES ({prop})")
            return
        try:
            self.spark.sql(f"CREATE TABLE {_delta_ref(target)} ({_MANIFEST_COLUMNS}) USING delta "
                           f"TBLPROPERTIES ({prop})")
        except Exception as exc:  # AnalysisException: Delta's own check that nothing is there
            if any(m in str(exc) for m in ("ALREADY_EXISTS", "DELTA_PATH_EXISTS",
                                           "DELTA_CREATE_TABLE_")):
                raise OutputExistsError(
                    f"output {self.output!r}: its manifest {target.location} appeared while the "
                    f"tables were written (another write to the same output?); the tables are "
                    f"written, but this write is not marked complete") from exc
            raise
        self._had_manifest = True


def _json_text(entry: dict) -> str:
    """``entry`` as JSON text with no quote character (a single quote is written ``\\u0027``):
    it goes into a SQL string literal."""
    return json.dumps(entry, ensure_ascii=True).replace("'", "\\u0027")


def _sql_string(spark: SparkSession, text: str) -> str:
    """``text`` (no single quote in it) as a Spark SQL string literal under the session's parser
    (backslashes doubled unless ``spark.sql.parser.escapedStringLiterals`` keeps them as
    written)."""
    verbatim = str(spark.conf.get("spark.sql.parser.escapedStringLiterals", "false")).lower()
    return "'" + (text if verbatim == "true" else text.replace("\\", "\\\\")) + "'"


def _manifest_commits(spark: SparkSession, target: Target) -> dict[int, tuple[str, str, Optional[dict]]]:
    """The manifest's commits by this library: version -> (status, write, entry). ``entry`` is
    the property's JSON (None for a manifest of an earlier release, whose rows hold the tables
    and whose commit's user metadata names status and write); a commit of anyone else (OPTIMIZE,
    another property) names no write and is left out."""
    ours: dict[int, tuple[str, str, Optional[dict]]] = {}
    for version, note, params in spark.sql(f"DESCRIBE HISTORY {_delta_ref(target)}").select(
            "version", "userMetadata", "operationParameters").collect():
        props = (params or {}).get("properties")
        entry = json.loads(props).get(MANIFEST_PROPERTY) if props else None
        if entry is not None:
            entry = json.loads(entry)
            ours[int(version)] = (str(entry["status"]), str(entry["run_id"]), entry)
            continue
        words = str(note or "").split()
        if len(words) == 3 and words[0] == "synthohive-spark":
            ours[int(version)] = (words[1], words[2], None)
    return ours


def read_manifest(output: str, spark: Optional[SparkSession] = None,
                  version: Optional[int] = None) -> dict:
    """The manifest of a database written as Delta to ``output`` (at manifest ``version`` when
    given): ``{"version", "run_id", "status", "written_at", "tables": [{"table", "location",
    "format", "version"}], "complete_versions"}``, the last listing the manifest versions whose
    write finished. Raises :class:`IncompleteOutputError` when there is no manifest."""
    spark = spark or SparkSession.active()
    require_delta(spark, f"read_manifest({output!r})")
    target = resolve_target(output, MANIFEST)
    if _delta_state(spark, target) != "delta":
        raise IncompleteOutputError(f"output {output!r} has no manifest ({target.location}): it "
                                    f"was not written as Delta by synthohive-spark, or its first "
                                    f"write did not finish")
    ours = _manifest_commits(spark, target)
    done = sorted(v for v, (status, _, _) in ours.items() if status == "complete")
    upto = [v for v in ours if version is None or v <= version]
    if upto and ours[max(upto)][2] is not None:
        at = max(upto)
        entry = ours[at][2]
        return {"version": at, "run_id": entry["run_id"], "status": entry["status"],
                "written_at": entry.get("written_at"), "complete_versions": done,
                "tables": [{"table": t["table"], "location": t["location"],
                            "format": t.get("format", "delta"),
                            "version": None if t.get("version") is None else int(t["version"])}
                           for t in entry["tables"]]}
    # a manifest of an earlier release: a row per table, each write appended (or, older still,
    # overwrote) its rows; the newest commit's user metadata says which count
    rows = read_back(spark, target, "delta", version=version).collect()
    at, written = (max(upto) if upto else version), None
    if upto:
        status, run, _ = ours[at]
        rows = [r for r in rows if r["run_id"] == run and r["status"] == status]
    else:
        statuses = {str(r["status"]) for r in rows}
        status = statuses.pop() if len(statuses) == 1 else ", ".join(sorted(statuses)) or "empty"
        run = rows[0]["run_id"] if rows else None
    if rows:
        written = str(rows[0]["written_at"])
    return {"version": at, "run_id": run, "status": status, "written_at": written,
            "complete_versions": done,
            "tables": [{"table": r["table"], "location": r["location"], "format": r["format"],
                        "version": None if r["version"] is None else int(r["version"])}
                       for r in rows]}


def read_output(output: str, spark: Optional[SparkSession] = None,
                version: Optional[int] = None) -> dict[str, DataFrame]:
    """The tables of a database written as Delta to ``output``, each at the version its manifest
    records: one consistent database. ``version`` reads an earlier manifest (Delta time travel).
    Raises :class:`IncompleteOutputError` when the manifest is missing or its write did not
    finish (the message names the last complete version, if any)."""
    spark = spark or SparkSession.active()
    manifest = read_manifest(output, spark, version)
    tables = manifest["tables"]
    if manifest["status"] != "complete" or not tables:
        earlier = [v for v in manifest["complete_versions"] if version is None or v < version]
        hint = (f"; the last complete one is manifest version {earlier[-1]} "
                f"(read_output({output!r}, version={earlier[-1]}))" if earlier else "")
        raise IncompleteOutputError(
            f"output {output!r}: its write did not finish (manifest status "
            f"{manifest['status']}, tables {sorted(t['table'] for t in tables)}){hint}")
    kind = resolve_target(output, MANIFEST).kind
    return {t["table"]: read_back(spark, Target(t["table"], kind, t["location"]), "delta",
                                  version=int(t["version"])) for t in tables}
