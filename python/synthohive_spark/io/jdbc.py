"""PostgreSQL through JDBC: read a schema with the keys its catalog declares, write a generated
database back whole or not at all.

Reading (:func:`read_jdbc_schema`) runs on any session, classic or Spark Connect: the catalog
(``pg_catalog``: tables, primary keys, unique and foreign key constraints) and each table are read
through Spark's JDBC reader. Primary and foreign keys come from the catalog, never from detection;
every other column (types, personal data, rules, sequences) goes through :meth:`Metadata.detect`.
A table whose primary key is a single numeric, date or timestamp column and that holds more than
``partition_rows`` rows is read in ranges of that key (``partitionColumn``, ``lowerBound`` /
``upperBound`` from the table's ``min`` / ``max``, ``numPartitions`` from its ``count``).
Composite keys, and foreign keys to tables that are not read, cannot be modelled: an error names
them, or ``unmodelled_keys='drop'`` leaves them out with a warning.

Writing (:class:`JdbcDatabaseWriter`, :func:`write_jdbc_tables`,
``RelationalSynthesizerModel.sample(output=JdbcOutput(...))``) needs a classic session: the DDL runs
on a ``java.sql`` connection of the driver JVM. Nothing reaches the target schema until every
table is there: the tables are loaded into a staging schema of their own (created by Spark's
JDBC writer, loaded from the executors with PostgreSQL's ``COPY ... FROM STDIN``, one statement per
partition, through the library's jar (:data:`COPY_CLASS`); ``bulk='insert'``, or a session without
that jar, loads with Spark's JDBC writer and the driver's rewritten multi-row inserts in batches of
``batchsize`` rows), their primary keys, unique and foreign key constraints are added there (one
validation per constraint, not one check per row), and one transaction moves them into the target
schema (PostgreSQL's DDL is transactional) and drops the staging schema. A failure at any step
rolls back and drops the staging schema: the target is as it was. Existing target tables are an
error unless ``mode='overwrite'``, which drops them in that same last transaction.

Errors: :class:`~synthohive_spark.errors.TableSourceError` for what cannot be read or reached
(an unknown table or schema, an unreachable server, a refused login, no JDBC driver: it says how
to add one), :class:`~synthohive_spark.errors.OutputExistsError` for existing targets, and
:class:`~synthohive_spark.errors.IncompleteOutputError` for a write that did not happen or did not
finish (the table, the step, the database's own words; nothing was written).

The JDBC driver is ``org.postgresql:postgresql`` (:func:`jdbc_package`), added to a session by
``get_or_create_session(jdbc=True)`` (``spark.jars.packages``, fetched from Maven Central into the
local ivy cache once).
"""
from __future__ import annotations

import logging
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional, Sequence, Union

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from synthohive_spark._spark import is_classic, jvm_class, qcol
from synthohive_spark.errors import (IncompleteOutputError, MetadataError, OutputExistsError,
                                     TableSourceError)
from synthohive_spark.metadata import Metadata

logger = logging.getLogger("synthohive_spark.io.jdbc")

__all__ = ["JDBC_DRIVER", "JDBC_DRIVER_VERSION", "JdbcOutput", "CatalogKeys",
           "ForeignKeyConstraint", "jdbc_package", "jdbc_help", "jdbc_available", "catalog_keys",
           "read_jdbc_table", "read_jdbc_schema", "metadata_with_keys", "JdbcDatabaseWriter",
           "write_jdbc_tables", "database_writer"]

#: The PostgreSQL JDBC driver: its class and the Maven Central release the library is tested with
JDBC_DRIVER = "org.postgresql.Driver"
JDBC_DRIVER_VERSION = "42.7.14"
#: Rows per batched INSERT (the driver rewrites a batch into multi-row INSERT statements)
WRITE_BATCH_ROWS = 50_000
#: The loader of the library's jar that runs ``COPY ... FROM STDIN`` on the executors
COPY_CLASS = "com.synthohive.spark.PostgresCopy"
#: How a written table's rows are loaded: 'copy' (PostgreSQL's COPY, needs the library's jar in
#: the session), 'insert' (Spark's JDBC writer, batched inserts), 'auto' (copy where the jar is)
BULK_METHODS = ("auto", "copy", "insert")
#: Rows per fetch of a read (without it the PostgreSQL driver holds a whole result in memory)
READ_FETCH_ROWS = 10_000
#: Spark's own JDBC options: not passed on as connection properties of the driver JVM's connection
_SPARK_OPTIONS = {"driver", "fetchsize", "batchsize", "numpartitions", "partitioncolumn",
                  "lowerbound", "upperbound", "isolationlevel", "truncate", "querytimeout",
                  "sessioninitstatement", "pushdownpredicate", "createtableoptions",
                  "createtablecolumntypes", "customschema", "url", "dbtable", "query"}
_PARTITION_TYPES = (T.IntegralType, T.DecimalType, T.DateType, T.TimestampType)


def jdbc_package(version: str = JDBC_DRIVER_VERSION) -> str:
    """The Maven coordinate of the PostgreSQL JDBC driver, for ``spark.jars.packages``."""
    return f"org.postgresql:postgresql:{version}"


def jdbc_help() -> str:
    """How to get the PostgreSQL JDBC driver into a session."""
    return (f"the PostgreSQL JDBC driver ({JDBC_DRIVER}) is not on this Spark session's "
            f"classpath: start the session with get_or_create_session(jdbc=True), or add "
            f"spark.jars.packages={jdbc_package()} (Maven Central, fetched into the ivy cache "
            f"on first use; without network access put the jar in spark.jars) to the session's "
            f"configuration before it starts")


def jdbc_available(spark: SparkSession) -> bool:
    """Whether a classic session's driver JVM can load the PostgreSQL JDBC driver (a Spark
    Connect session: unknown from the client, True)."""
    if not is_classic(spark):
        return True
    return jvm_class(spark, JDBC_DRIVER) is not None


# ------------------------------------------------------------------ URLs, properties, errors
def _check_url(url: Any) -> str:
    if not isinstance(url, str) or not url.lower().startswith("jdbc:postgresql:"):
        raise TableSourceError(f"expected a PostgreSQL JDBC URL (jdbc:postgresql://host:port/"
                               f"database), got {_redact(str(url))!r}; other databases are not "
                               f"supported")
    return url


def _redact(url: str) -> str:
    """``url`` without the value of a password parameter."""
    return re.sub(r"(?i)(password=)[^&;]*", r"\1***", url)


def _props(properties: Optional[Mapping[str, Any]], **defaults: str) -> dict[str, str]:
    """Spark JDBC options: ``properties`` as strings, the driver class, then ``defaults`` where
    not given (case-insensitively, as Spark reads them)."""
    out = {str(k): str(v) for k, v in (properties or {}).items() if v is not None}
    given = {k.lower() for k in out}
    for k, v in {"driver": JDBC_DRIVER, **defaults}.items():
        if k.lower() not in given:
            out[k] = v
    return out


def _connection_props(properties: Optional[Mapping[str, Any]]) -> dict[str, str]:
    """The properties of a connection the driver opens itself: ``properties`` without Spark's
    own JDBC options."""
    return {str(k): str(v) for k, v in (properties or {}).items()
            if str(k).lower() not in _SPARK_OPTIONS and v is not None}


def _ident(name: str) -> str:
    """A PostgreSQL identifier, double-quoted (case and any character kept)."""
    return '"' + str(name).replace('"', '""') + '"'


def _literal(text: str) -> str:
    """A PostgreSQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def _qualified(schema: str, table: str) -> str:
    return f"{_ident(schema)}.{_ident(table)}"


def _error_text(exc: BaseException) -> str:
    """The messages of ``exc`` and of its causes: Python's, pyspark's captured JVM causes (Spark 4
    says only 'Couldn't connect to the database' and keeps the driver's words in a cause) and the
    JVM's own chain behind a py4j error."""
    parts: list[str] = []
    seen: set[int] = set()
    e: Optional[BaseException] = exc
    while e is not None and id(e) not in seen and len(parts) < 20:
        seen.add(id(e))
        parts.append(str(e))
        e = getattr(e, "_cause", None) or e.__cause__
    j = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    for _ in range(10):
        if j is None:
            break
        try:
            parts.append(str(j.toString()))
            j = j.getCause()
        except Exception:  # the JVM object is gone: what was said is enough
            break
    return "\n".join(parts)


def _database_words(exc: BaseException) -> str:
    """The database's (or the JDBC driver's) own message inside a Spark / py4j error: the first
    ``ERROR:`` line with its ``Detail:``, a PSQLException, or the first line."""
    text = _error_text(exc)
    m = re.search(r"(ERROR: [^\n]*(?:\n\s*(?:Detail|Hint|Where): [^\n]*)*)", text)
    if m:
        return re.sub(r"\s*\n\s*", " ", m.group(1)).strip()
    m = re.search(r"(?:PSQLException|SQLException)\s*:\s*([^\n]*)", text)
    if m:
        return m.group(1).strip()
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def _source_error(exc: BaseException, url: str, what: str) -> TableSourceError:
    """A read failure as a :class:`TableSourceError` that says what was being read and why."""
    text = _error_text(exc)
    where = _redact(url)
    if "No suitable driver" in text or ("ClassNotFoundException" in text and "postgresql" in text):
        return TableSourceError(f"{what} from {where}: {jdbc_help()}")
    if "authentication failed" in text or "no password was provided" in text.lower() \
            or "no pg_hba.conf entry" in text:
        return TableSourceError(f"{what}: the database at {where} refused the login: "
                                f"{_database_words(exc)} (give user and password in properties)")
    if any(m in text for m in ("Connection to ", "Connection refused", "UnknownHost",
                               "connect timed out", "The connection attempt failed")):
        return TableSourceError(f"{what}: cannot reach the database server at {where}: "
                                f"{_database_words(exc)}")
    return TableSourceError(f"{what} from {where}: {_database_words(exc)}")


def _query(spark: SparkSession, url: str, sql: str, properties: Mapping[str, Any],
           what: str) -> list:
    """The rows of ``sql``, read through Spark's JDBC reader (classic and Connect alike)."""
    try:
        return (spark.read.format("jdbc").options(**_props(properties, fetchsize="1000"))
                .option("url", url).option("query", sql).load().collect())
    except Exception as exc:
        raise _source_error(exc, url, what) from exc


# ------------------------------------------------------------------ the catalog
@dataclass(frozen=True)
class ForeignKeyConstraint:
    """A foreign key constraint as the catalog declares it."""

    table: str
    columns: tuple[str, ...]
    parent_schema: str
    parent_table: str
    parent_columns: tuple[str, ...]
    name: str


@dataclass
class CatalogKeys:
    """The tables of a schema (catalog order) and the keys their constraints declare."""

    schema: str
    tables: list[str]
    primary_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unique: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    foreign_keys: list[ForeignKeyConstraint] = field(default_factory=list)


def _catalog_sql(schema: str) -> tuple[str, str]:
    cols = ("array(SELECT a.attname::text FROM unnest({key}) WITH ORDINALITY k(n, i) "
            "JOIN pg_attribute a ON a.attrelid = {rel} AND a.attnum = k.n ORDER BY k.i)")
    tables = (f"SELECT c.relname::text AS table_name FROM pg_class c JOIN pg_namespace n "
              f"ON n.oid = c.relnamespace WHERE n.nspname = {_literal(schema)} "
              f"AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.oid")
    keys = (f"SELECT con.contype::text AS kind, con.conname::text AS name, "
            f"cl.relname::text AS table_name, {cols.format(key='con.conkey', rel='con.conrelid')} "
            f"AS columns, fn.nspname::text AS parent_schema, fcl.relname::text AS parent_table, "
            f"{cols.format(key='con.confkey', rel='con.confrelid')} AS parent_columns "
            f"FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid "
            f"JOIN pg_namespace n ON n.oid = cl.relnamespace "
            f"LEFT JOIN pg_class fcl ON fcl.oid = con.confrelid "
            f"LEFT JOIN pg_namespace fn ON fn.oid = fcl.relnamespace "
            f"WHERE n.nspname = {_literal(schema)} AND con.contype IN ('p', 'u', 'f') "
            f"AND con.conparentid = 0 ORDER BY con.oid")
    return tables, keys


def catalog_keys(spark: SparkSession, url: str, schema: str = "public",
                 properties: Optional[Mapping[str, Any]] = None) -> CatalogKeys:
    """The tables of ``schema`` and their primary key, unique and foreign key constraints, read
    from PostgreSQL's ``pg_catalog`` (which, unlike ``information_schema``, shows the constraints
    of tables the user may only read)."""
    _check_url(url)
    tables_sql, keys_sql = _catalog_sql(schema)
    props = dict(properties or {})
    names = [r["table_name"] for r in _query(spark, url, tables_sql, props,
                                             f"the tables of schema {schema!r}")]
    out = CatalogKeys(schema, names)
    for r in _query(spark, url, keys_sql, props, f"the constraints of schema {schema!r}"):
        cols = tuple(r["columns"] or ())
        if r["kind"] == "p":
            out.primary_keys[r["table_name"]] = cols
        elif r["kind"] == "u":
            out.unique.setdefault(r["table_name"], []).append(cols)
        else:
            out.foreign_keys.append(ForeignKeyConstraint(
                r["table_name"], cols, r["parent_schema"], r["parent_table"],
                tuple(r["parent_columns"] or ()), r["name"]))
    return out


# ------------------------------------------------------------------ reading
def read_jdbc_table(spark: SparkSession, url: str, table: str, schema: str = "public",
                    properties: Optional[Mapping[str, Any]] = None,
                    partition_column: Optional[str] = None, partition_rows: int = 1_000_000,
                    max_partitions: int = 64) -> DataFrame:
    """``schema.table`` as a DataFrame. With ``partition_column`` (a numeric, date or timestamp
    column, e.g. the primary key) a table of more than ``partition_rows`` rows is read in
    ``ceil(rows / partition_rows)`` ranges of it (at most ``max_partitions``), bounded by its
    ``min`` and ``max`` as the database gives them; otherwise in one query."""
    _check_url(url)
    if not isinstance(partition_rows, int) or partition_rows < 1 or \
            not isinstance(max_partitions, int) or max_partitions < 1:
        raise ValueError(f"partition_rows and max_partitions must be positive ints, got "
                         f"{partition_rows!r} and {max_partitions!r}")
    name = _qualified(schema, table)
    what = f"table {table!r} (schema {schema!r})"
    props = _props(properties, fetchsize=str(READ_FETCH_ROWS))
    reader = spark.read.format("jdbc").options(**props).option("url", url)
    try:
        df = reader.option("dbtable", name).load()
        df.schema  # noqa: B018: resolved now, so a missing table is said here
    except Exception as exc:
        if "does not exist" in _error_text(exc):
            raise TableSourceError(f"{what} does not exist in the database at "
                                   f"{_redact(url)}") from exc
        raise _source_error(exc, url, f"reading {what}") from exc
    if partition_column is None:
        return df
    if partition_column not in df.columns:
        raise TableSourceError(f"{what}: partition column {partition_column!r} is not a column "
                               f"(columns: {df.columns})")
    dtype = df.schema[partition_column].dataType
    if not isinstance(dtype, _PARTITION_TYPES):
        raise TableSourceError(f"{what}: partition column {partition_column!r} is "
                               f"{dtype.simpleString()}; expected a numeric, date or timestamp "
                               f"column")
    col = _ident(partition_column)
    row = _query(spark, url, f"SELECT count(*) AS n, min({col})::text AS lo, max({col})::text "
                             f"AS hi FROM {name}", properties or {}, f"the size of {what}")[0]
    n = int(row["n"])
    parts = min(max_partitions, math.ceil(n / partition_rows)) if n else 1
    if parts <= 1 or row["lo"] is None or row["lo"] == row["hi"]:
        return df
    logger.info("reading table %s in %d partitions of %s (%d rows, %s to %s)", table, parts,
                partition_column, n, row["lo"], row["hi"])
    lo, hi = row["lo"], row["hi"]
    if isinstance(dtype, T.DecimalType):  # Spark reads the bounds of a decimal as longs
        lo, hi = str(math.floor(float(lo))), str(math.ceil(float(hi)))
    return (reader.option("dbtable", name).option("partitionColumn", partition_column)
            .option("lowerBound", lo).option("upperBound", hi)
            .option("numPartitions", str(parts)).load())


def _modelled(keys: CatalogKeys, names: Sequence[str],
              unmodelled: str) -> tuple[dict[str, Optional[str]], list[tuple[str, str, str, str]]]:
    """The single-column primary keys and foreign keys among ``names``; the others raise a
    MetadataError naming them, or (``unmodelled='drop'``) are left out with a warning."""
    problems: list[str] = []
    pks: dict[str, Optional[str]] = {}
    for t in names:
        pk = keys.primary_keys.get(t)
        if pk and len(pk) > 1:
            problems.append(f"table {t!r}: composite primary key ({', '.join(pk)})")
            pks[t] = None
        else:
            pks[t] = pk[0] if pk else None
    fks: list[tuple[str, str, str, str]] = []
    for fk in keys.foreign_keys:
        if fk.table not in names:
            continue
        where = (f"table {fk.table!r}: foreign key {fk.name} ({', '.join(fk.columns)}) -> "
                 f"{fk.parent_schema}.{fk.parent_table}")
        if len(fk.columns) > 1:
            problems.append(f"{where}: composite foreign key")
        elif fk.parent_schema != keys.schema or fk.parent_table not in names:
            problems.append(f"{where}: its parent table is not among the tables read")
        elif any(f[1] == fk.columns[0] for f in fks if f[0] == fk.table):
            problems.append(f"{where}: a second foreign key on the same column")
        else:
            fks.append((fk.table, fk.columns[0], fk.parent_table, fk.parent_columns[0]))
    if problems and unmodelled != "drop":
        raise MetadataError(
            "keys the metadata cannot model (a key is one column, and a foreign key points at a "
            "table that is read): " + "; ".join(problems) + ". Pass unmodelled_keys='drop' to "
            "leave them out, or read the parent tables too.", problems)
    for p in problems:
        logger.warning("%s: left out of the metadata (unmodelled_keys='drop')", p)
    return pks, fks


def read_jdbc_schema(spark: SparkSession, url: str, schema: str = "public",
                     tables: Optional[Sequence[str]] = None,
                     properties: Optional[Mapping[str, Any]] = None, *,
                     partition_rows: int = 1_000_000, max_partitions: int = 64,
                     persist: bool = True, unmodelled_keys: Literal["error", "drop"] = "error",
                     sample_rows: int = 100_000) -> tuple[dict[str, DataFrame], Metadata]:
    """Every table of ``schema`` (or ``tables`` of it) as a DataFrame, and their
    :class:`Metadata`: primary and foreign keys as the catalog declares them, everything else
    detected from the data (:meth:`Metadata.detect`, on at most ``sample_rows`` rows a table).

    ``properties``: JDBC connection properties (``user``, ``password``, ``ssl``...) and Spark
    JDBC options. A table with a single-column numeric, date or timestamp primary key is read in
    ranges of it when it holds more than ``partition_rows`` rows (:func:`read_jdbc_table`).
    ``persist``: each table is kept on the executors (memory and disk) once read, so detection
    and fitting read the database once and see the same rows. ``unmodelled_keys``: what becomes
    of composite keys and of foreign keys to tables that are not read ('error' or 'drop').

    Example (not run here)::

        tables, metadata = read_jdbc_schema(spark, "jdbc:postgresql://db:5432/shop",
            properties={"user": "reader", "password": os.environ["PGPASSWORD"]})
        model = RelationalSynthesizer(metadata=metadata).fit(tables)
    """
    _check_url(url)
    if unmodelled_keys not in ("error", "drop"):
        raise ValueError(f"unmodelled_keys must be 'error' or 'drop', got {unmodelled_keys!r}")
    keys = catalog_keys(spark, url, schema, properties)
    if tables is None:
        names = list(keys.tables)
        if not names:
            raise TableSourceError(f"schema {schema!r} of the database at {_redact(url)} has no "
                                   f"tables (or does not exist)")
    else:
        names = list(tables)
        unknown = [t for t in names if t not in keys.tables]
        if unknown:
            raise TableSourceError(f"table(s) {unknown} are not tables of schema {schema!r} in "
                                   f"the database at {_redact(url)} (its tables: "
                                   f"{keys.tables})")
    pks, fks = _modelled(keys, names, unmodelled_keys)
    frames: dict[str, DataFrame] = {}
    for t in names:
        df = read_jdbc_table(spark, url, t, schema, properties, None, partition_rows,
                             max_partitions)
        pk = pks[t]
        if pk is not None and isinstance(df.schema[pk].dataType, _PARTITION_TYPES):
            df = read_jdbc_table(spark, url, t, schema, properties, pk, partition_rows,
                                 max_partitions)
        frames[t] = df.persist(StorageLevel.MEMORY_AND_DISK) if persist else df
    unique = {t: [u[0] for u in keys.unique.get(t, []) if len(u) == 1] for t in names}
    detected = Metadata.detect(frames, sample_rows=sample_rows)
    return frames, metadata_with_keys(detected, pks, fks, unique=unique, tables=frames)


# ------------------------------------------------------------------ declared keys
def _key_column(cfg: Mapping[str, Any], regex: Optional[str]) -> dict[str, Any]:
    """A key column as detection describes one: an identifier of the column's physical type."""
    from synthohive_spark.metadata import dtype_family

    out = {"sdtype": "id", "dtype": cfg.get("dtype"), "nullable": cfg.get("nullable", True),
           "integer": dtype_family(cfg.get("dtype")) == "integer"}
    if regex:
        out["regex"] = regex
    if cfg.get("unique"):
        out["unique"] = True
    return {k: v for k, v in out.items() if v is not None}


def metadata_with_keys(metadata: Metadata, primary_keys: Mapping[str, Optional[str]],
                       foreign_keys: Sequence[Sequence[str]],
                       unique: Optional[Mapping[str, Sequence[str]]] = None,
                       tables: Optional[Mapping[str, Any]] = None) -> Metadata:
    """``metadata`` (as detected) with exactly the declared keys: ``primary_keys`` (table ->
    column or None) and ``foreign_keys`` ((table, column, parent table, parent column) each)
    replace the detected ones; ``unique``: other columns with a unique constraint.

    Key columns become identifiers of their type. A detected driver, copy or derived rule, or
    sequence index stays where its foreign key is declared and goes where it is not; a detected
    reference table stays one while it is a parent of declared keys and has none of its own.
    With ``tables`` (the frames), the sequence index of a child whose driver changed is
    detected again. A key column that detection found but the catalog does not declare keeps
    the column type detection gave it."""
    data = metadata.to_dict()
    specs = data["tables"]
    errors: list[str] = []
    for t, pk in primary_keys.items():
        if t not in specs:
            errors.append(f"primary key of table {t!r}: not a table of the metadata")
        elif pk is not None and pk not in specs[t]["columns"]:
            errors.append(f"table {t!r}: primary key {pk!r} is not a column")
    declared: dict[str, list[tuple[str, str, str]]] = {t: [] for t in specs}
    for fk in foreign_keys:
        child, column, parent, pcol = (str(v) for v in fk)
        if child not in specs or parent not in specs:
            errors.append(f"foreign key {child}.{column} -> {parent}.{pcol}: "
                          f"{child if child not in specs else parent!r} is not a table")
        elif column not in specs[child]["columns"] or pcol not in specs[parent]["columns"]:
            errors.append(f"foreign key {child}.{column} -> {parent}.{pcol}: not a column")
        else:
            declared[child].append((column, parent, pcol))
    for t, cols in (unique or {}).items():
        for c in cols:
            if t in specs and c in specs[t]["columns"]:
                specs[t]["columns"][c]["unique"] = True
    if errors:
        raise MetadataError("declared keys do not match the tables: " + "; ".join(errors), errors)

    regex = {t: {c: col.get("regex") for c, col in cfg["columns"].items()}
             for t, cfg in specs.items()}
    before = {t: [(f["column"], f["parent_table"], f["parent_column"])
                  for f in cfg.get("foreign_keys", [])] for t, cfg in specs.items()}
    drivers = {t: next(((f["column"], f["parent_table"], f["parent_column"])
                        for f in cfg.get("foreign_keys", []) if f.get("driver")), None)
               for t, cfg in specs.items()}
    children = {t: {c for c, fks in declared.items() for f in fks if f[1] == t and c != t}
                for t in specs}
    changed: set[str] = set()
    for t, cfg in specs.items():
        pk = primary_keys.get(t) if t in primary_keys else None
        cols = cfg["columns"]
        if pk is not None:
            cols[pk] = _key_column(cols[pk], regex[t][pk])
        for column, parent, pcol in declared[t]:
            cols[column] = _key_column(cols[column], regex[parent][pcol] or regex[t][column])
            if pcol != primary_keys.get(parent):
                specs[parent]["columns"][pcol]["unique"] = True
        stale = ({cfg.get("primary_key")} | {f[0] for f in before[t]}) - {None, pk} \
            - {f[0] for f in declared[t]}
        if stale:
            logger.info("table %s: %s detected as key column(s) but not declared keys of the "
                        "database; kept as detected columns", t, sorted(stale))
        if pk is None:
            cfg.pop("primary_key", None)
        else:
            cfg["primary_key"] = pk
        cfg["foreign_keys"] = [{"column": c, "parent_table": p, "parent_column": pc,
                                **({"driver": True} if drivers[t] == (c, p, pc) else {})}
                               for c, p, pc in declared[t]]
        if drivers[t] not in declared[t]:
            changed.add(t)
        if cfg.get("reference") and (not children[t] or any(p != t for _, p, _ in declared[t])):
            cfg.pop("reference")
    for t, cfg in specs.items():  # a reference parent drives no children
        for f in cfg["foreign_keys"]:
            if f.get("driver") and specs[f["parent_table"]].get("reference"):
                f.pop("driver")
                changed.add(t)
        if t in changed:
            cfg.pop("sequence_index", None)
        keys = {(c, p) for c, p, _ in declared[t]}
        for c, col in cfg["columns"].items():
            rule = col.get("copy_of")
            if rule and not any(k == rule["foreign_key"] and p != t for k, p in keys):
                col.pop("copy_of")
            rule = col.get("derived")
            if rule and (rule["table"] not in declared or
                         (rule["foreign_key"], t) not in {(k, p) for k, p, _ in
                                                          declared[rule["table"]]}):
                col.pop("derived")
    out = Metadata.from_dict(data)
    if tables is not None and changed:
        from synthohive_spark.metadata.detect import detect_sequences

        out = detect_sequences(out, tables)
    return out


# ------------------------------------------------------------------ writing
@dataclass(frozen=True)
class JdbcOutput:
    """Where a generated database goes: a schema of a PostgreSQL database. ``properties``: the
    connection properties (``user``, ``password``...) and Spark JDBC options (``numPartitions``:
    at most that many connections load a table; ``batchsize``: rows per batched insert, when
    rows are inserted). ``bulk``: how rows are loaded (:data:`BULK_METHODS`): 'copy' with
    PostgreSQL's COPY (the library's jar must be in the session: an error otherwise), 'insert'
    with batched inserts, 'auto' (the default) COPY where the jar is, else inserts."""

    url: str
    schema: str = "public"
    properties: Mapping[str, Any] = field(default_factory=dict)
    bulk: str = "auto"

    def __post_init__(self) -> None:
        _check_url(self.url)
        if not isinstance(self.schema, str) or not self.schema:
            raise ValueError(f"JdbcOutput: schema must be a non-empty name, got {self.schema!r}")
        if self.bulk not in BULK_METHODS:
            raise ValueError(f"JdbcOutput: bulk must be one of {BULK_METHODS}, got {self.bulk!r}")

    def __repr__(self) -> str:  # never the password
        return f"JdbcOutput({_redact(self.url)!r}, schema={self.schema!r})"

    def location(self, table: str) -> str:
        """``schema.table at url`` (no password), as logs and messages say it."""
        return f"{self.schema}.{table} at {_redact(self.url)}"


def as_jdbc_output(output: Any) -> Optional[JdbcOutput]:
    """``output`` as a :class:`JdbcOutput` (a ``jdbc:`` URL string: schema public), or None for
    any other output."""
    if isinstance(output, JdbcOutput):
        return output
    if isinstance(output, str) and output.lower().startswith("jdbc:"):
        return JdbcOutput(output)
    return None


class _Connection:
    """A ``java.sql`` connection of the driver JVM, through the session's class loader (where
    ``spark.jars.packages`` puts the driver; java.sql.DriverManager does not see it there)."""

    def __init__(self, spark: SparkSession, url: str, properties: Mapping[str, Any]) -> None:
        if not is_classic(spark):
            raise IncompleteOutputError(
                "nothing was written: writing to a database through JDBC needs a classic Spark "
                "session: the staging "
                "schema, the constraints and the final swap run on a JDBC connection of the "
                "driver JVM, which a Spark Connect client does not have. Write the tables to a "
                "path or catalog and load them, or run this from a classic session")
        jvm = spark.sparkContext._jvm
        cls = jvm_class(spark, JDBC_DRIVER, initialize=True)
        if cls is None:
            raise TableSourceError(f"writing to {_redact(url)}: {jdbc_help()}")
        props = jvm.java.util.Properties()
        for k, v in _connection_props(properties).items():
            props.setProperty(k, v)
        try:
            self.conn = cls.newInstance().connect(url, props)
        except Exception as exc:
            raise _source_error(exc, url, "connecting") from exc
        self.conn.setAutoCommit(False)

    def execute(self, sql: str) -> None:
        st = self.conn.createStatement()
        try:
            st.execute(sql)
        finally:
            st.close()

    def strings(self, sql: str) -> list[Optional[str]]:
        st = self.conn.createStatement()
        try:
            rs = st.executeQuery(sql)
            out = []
            while rs.next():
                out.append(rs.getString(1))
            return out
        finally:
            st.close()

    def commit(self) -> None:
        self.conn.commit()

    def rollback(self) -> None:
        try:
            self.conn.rollback()
        except Exception:  # the connection is gone: nothing was committed anyway
            logger.debug("rollback failed", exc_info=True)

    def close(self) -> None:
        try:
            self.conn.close()
        except Exception:
            logger.debug("close failed", exc_info=True)


class JdbcDatabaseWriter:
    """Writes the tables of one generated database into a schema of a PostgreSQL database, whole
    or not at all (see the module's notes): checks the targets when made, takes each table with
    :meth:`write`, and writes them all in :meth:`finish` (staging schema, bulk load, constraints,
    one swap transaction). The same interface as :class:`~synthohive_spark.io.DatabaseWriter`.

    ``metadata`` gives the primary keys and foreign keys to declare. A foreign key whose orphans
    are kept (``orphans: keep``: references to no parent, on purpose) gets no constraint, with a
    warning; a non-key parent column a foreign key points at gets a unique constraint.
    ``bulk``: how the rows are loaded (:data:`BULK_METHODS`; default the output's own, see
    :class:`JdbcOutput`); :attr:`bulk` says the method chosen. ``batchsize``: rows per batched
    insert. ``fail_before``: a test hook, the name of a table whose load raises before it starts
    (to show that a failure half way changes nothing).
    """

    def __init__(self, spark: SparkSession, output: Union[JdbcOutput, str], tables: Sequence[str],
                 mode: str = "errorifexists", metadata: Optional[Metadata] = None,
                 batchsize: int = WRITE_BATCH_ROWS, fail_before: Optional[str] = None,
                 bulk: Optional[str] = None) -> None:
        from synthohive_spark.io.writers import MODES

        target = as_jdbc_output(output)
        if target is None:
            raise ValueError(f"expected a JdbcOutput or a jdbc: URL, got {output!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if metadata is not None:
            missing = [t for t in tables if t not in metadata.tables]
            if missing:
                raise MetadataError(f"tables {missing} are not in the metadata (tables: "
                                    f"{list(metadata.tables)})")
            order = [t for t in metadata.topological_order() if t in tables]
            tables = order + [t for t in tables if t not in order]
        self.spark, self.target, self.mode, self.metadata = spark, target, mode, metadata
        self.tables = list(tables)
        self.batchsize, self.fail_before = int(batchsize), fail_before
        self.run_id = uuid.uuid4().hex[:12]
        self.staging = f"synthohive_stage_{self.run_id}"
        self.frames: dict[str, DataFrame] = {}
        self.loaded: dict[str, float] = {}
        conn = _Connection(spark, target.url, target.properties)
        try:
            existing = self._existing(conn)
        finally:
            conn.close()
        if existing and mode != "overwrite":
            raise OutputExistsError(
                "output already exists for table(s) "
                + ", ".join(f"{t!r} at {target.location(t)}" for t in existing)
                + "; use mode='overwrite' to replace them")
        self.bulk = _bulk_method(spark, target.bulk if bulk is None else bulk)

    # ------------------------------------------------------------------ the steps
    def _existing(self, conn: _Connection) -> list[str]:
        found = []
        for t in self.tables:
            if conn.strings(f"SELECT to_regclass({_literal(_qualified(self.target.schema, t))})"
                            f"::text")[0] is not None:
                found.append(t)
        conn.rollback()
        return found

    def write(self, table: str, df: DataFrame) -> None:
        """Take ``table``; it is written with the others by :meth:`finish`."""
        if table not in self.tables:
            raise ValueError(f"table {table!r} is not one of this writer's tables "
                             f"({self.tables})")
        bad = [f"{f.name} ({f.dataType.simpleString()})" for f in df.schema.fields
               if isinstance(f.dataType, (T.ArrayType, T.MapType, T.StructType))]
        if bad:
            raise IncompleteOutputError(f"table {table!r}: column(s) {bad} have no PostgreSQL "
                                        f"column type here; expected numbers, strings, booleans, "
                                        f"dates, timestamps or binary (nothing was written)")
        self.frames[table] = df

    def _options(self) -> dict[str, str]:
        return _props(self.target.properties, reWriteBatchedInserts="true",
                      batchsize=str(self.batchsize))

    def _load(self, table: str) -> None:
        if table == self.fail_before:
            raise RuntimeError(f"fail_before={table!r}: failing before the load of {table!r}")
        df = self.frames[table]
        start = time.time()
        name = _qualified(self.staging, table)
        if self.bulk == "copy":  # Spark's JDBC writer creates the table (its column types)
            df.limit(0).write.format("jdbc").options(**self._options()).option(
                "url", self.target.url).option("dbtable", name).mode("error").save()
            how = f"COPY ({_copy_rows(self.spark, df, self.target, name)} rows)"
        else:
            (df.write.format("jdbc").options(**self._options()).option("url", self.target.url)
             .option("dbtable", name).mode("error").save())
            how = "batched inserts"
        self.loaded[table] = time.time() - start
        logger.info("loaded table %s into %s with %s (%.1fs)", table,
                    f"{self.staging}.{table}", how, self.loaded[table])

    def _constraints(self) -> list[tuple[str, str]]:
        """(table, DDL) of every constraint, parents' keys before the foreign keys to them."""
        md, s = self.metadata, self.staging
        if md is None:
            return []
        keys, fks, unique = [], [], set()
        for t in self.tables:
            cfg = md.tables[t]
            if cfg.primary_key is not None:
                keys.append((t, f"ALTER TABLE {_qualified(s, t)} ADD CONSTRAINT "
                                f"{_ident(t + '_pkey')} PRIMARY KEY ({_ident(cfg.primary_key)})"))
            for fk in cfg.foreign_keys:
                if fk.parent_table not in self.tables:
                    logger.warning("table %s: foreign key %s -> %s.%s gets no constraint: %s is "
                                   "not written with it", t, fk.column, fk.parent_table,
                                   fk.parent_column, fk.parent_table)
                    continue
                if fk.orphans == "keep":
                    logger.warning("table %s: foreign key %s -> %s.%s gets no constraint: its "
                                   "orphans are kept (orphans: keep), so some of its values "
                                   "have no parent on purpose", t, fk.column, fk.parent_table,
                                   fk.parent_column)
                    continue
                parent = md.tables[fk.parent_table]
                if fk.parent_column != parent.primary_key and \
                        (fk.parent_table, fk.parent_column) not in unique:
                    unique.add((fk.parent_table, fk.parent_column))
                    name = _ident(f"{fk.parent_table}_{fk.parent_column}_key")
                    keys.append((fk.parent_table, f"ALTER TABLE {_qualified(s, fk.parent_table)} "
                                 f"ADD CONSTRAINT {name} UNIQUE ({_ident(fk.parent_column)})"))
                fks.append((t, f"ALTER TABLE {_qualified(s, t)} ADD CONSTRAINT "
                               f"{_ident(t + '_' + fk.column + '_fkey')} FOREIGN KEY "
                               f"({_ident(fk.column)}) REFERENCES "
                               f"{_qualified(s, fk.parent_table)} ({_ident(fk.parent_column)})"))
        return keys + fks

    def _swap(self, conn: _Connection) -> None:
        """One transaction: the old tables dropped (overwrite), the staged ones moved in, the
        staging schema dropped."""
        tgt = self.target.schema
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(tgt)}")
        existing = self._existing_in_tx(conn)
        if existing:
            if self.mode != "overwrite":
                raise OutputExistsError(
                    "table(s) " + ", ".join(f"{t!r} at {self.target.location(t)}"
                                            for t in existing)
                    + " appeared while the database was being generated; nothing was written")
            try:
                conn.execute("DROP TABLE " + ", ".join(_qualified(tgt, t) for t in existing))
            except Exception as exc:
                raise IncompleteOutputError(
                    f"overwrite: the existing table(s) {existing} in schema {tgt!r} cannot be "
                    f"dropped: {_database_words(exc)}; drop or change what depends on them "
                    f"first (nothing was changed)") from exc
        for t in self.tables:
            conn.execute(f"ALTER TABLE {_qualified(self.staging, t)} SET SCHEMA {_ident(tgt)}")
        conn.execute(f"DROP SCHEMA {_ident(self.staging)}")
        conn.commit()

    def _existing_in_tx(self, conn: _Connection) -> list[str]:
        return [t for t in self.tables
                if conn.strings(f"SELECT to_regclass("
                                f"{_literal(_qualified(self.target.schema, t))})::text")[0]
                is not None]

    def finish(self) -> None:
        """Write every table: staging schema, loads, constraints, then one transaction that
        moves them into the target schema. Any failure leaves the target as it was and drops the
        staging schema (:class:`IncompleteOutputError` names the table and the step)."""
        missing = [t for t in self.tables if t not in self.frames]
        if missing:
            raise RuntimeError(f"output {self.target!r}: table(s) {missing} were not written")
        conn = _Connection(self.spark, self.target.url, self.target.properties)
        step, table = "creating the staging schema", None
        try:
            conn.execute(f"CREATE SCHEMA {_ident(self.staging)}")
            conn.commit()
            for table in self.tables:
                step = "loading its rows"
                self._load(table)
            step = "adding the constraints"
            for table, ddl in self._constraints():
                conn.execute(ddl)
            conn.commit()
            table, step = None, "moving the tables into place"
            self._swap(conn)
        except BaseException as exc:
            conn.rollback()
            self._drop_staging(conn)
            conn.close()
            if isinstance(exc, (OutputExistsError, IncompleteOutputError, TableSourceError)) or \
                    not isinstance(exc, Exception):
                raise
            what = f"table {table!r}: " if table else ""
            raise IncompleteOutputError(f"writing to {self.target.location('*')}: {what}{step} "
                                 f"failed: {_database_words(exc)}; nothing was written (the "
                                 f"staging schema {self.staging} was dropped)") from exc
        conn.close()
        for t in self.tables:
            logger.info("wrote table %s to %s", t, self.target.location(t))

    def _drop_staging(self, conn: _Connection) -> None:
        try:
            conn.execute(f"DROP SCHEMA IF EXISTS {_ident(self.staging)} CASCADE")
            conn.commit()
        except Exception:
            conn.rollback()
            logger.error("could not drop the staging schema %s of a failed write; drop it by "
                         "hand (DROP SCHEMA %s CASCADE)", self.staging, self.staging,
                         exc_info=True)

    def read_back(self, table: str, schema: Optional[T.StructType] = None) -> DataFrame:
        """The written table, read through JDBC (columns cast to ``schema`` where given)."""
        df = read_jdbc_table(self.spark, self.target.url, table, self.target.schema,
                             self.target.properties)
        if schema is None:
            return df
        return df.select(*[qcol(f.name).cast(f.dataType).alias(f.name) if f.name in df.columns
                           else qcol(f.name) for f in schema.fields])


def _bulk_method(spark: SparkSession, bulk: str) -> str:
    """'copy' or 'insert': how a writer of ``spark`` loads rows when asked for ``bulk``."""
    if bulk not in BULK_METHODS:
        raise ValueError(f"bulk must be one of {BULK_METHODS}, got {bulk!r}")
    if bulk == "insert":
        return "insert"
    if jvm_class(spark, COPY_CLASS) is not None:
        return "copy"
    from synthohive_spark.session import bundled_jar

    jar = bundled_jar()
    how = (f"add the library's jar to the session before it starts (spark.jars={jar}), or "
           f"start it with get_or_create_session()" if jar else
           "build the library's jar (python jvm/build_jar.py) and start the session with "
           "get_or_create_session()")
    if bulk == "copy":
        raise TableSourceError(f"bulk='copy': PostgreSQL's COPY runs through the library's jar "
                               f"({COPY_CLASS}), which this session does not have: {how}; or "
                               f"load with batched inserts (bulk='insert')")
    logger.info("loading rows with batched inserts: COPY, several times faster, needs the "
                "library's jar (%s) in the session: %s", COPY_CLASS, how)
    return "insert"


def _copy_rows(spark: SparkSession, df: DataFrame, target: JdbcOutput, table: str) -> int:
    """Load ``df`` into the existing ``table`` (qualified) with COPY on the executors
    (:data:`COPY_CLASS`), one statement per partition (at most ``numPartitions`` of the
    properties, as Spark's writer); returns the rows loaded."""
    props = _props(target.properties)
    parts = next((v for k, v in props.items() if k.lower() == "numpartitions"), None)
    if parts is not None:
        if not str(parts).isdigit() or int(parts) < 1:
            raise ValueError(f"JDBC option numPartitions must be a positive integer, got "
                             f"{parts!r}")
        if df.rdd.getNumPartitions() > int(parts):
            df = df.coalesce(int(parts))
    jvm = spark.sparkContext._jvm
    jprops = jvm.java.util.HashMap()
    for k, v in _connection_props(target.properties).items():
        jprops.put(k, v)
    driver = next(v for k, v in props.items() if k.lower() == "driver")
    columns = ", ".join(_ident(c) for c in df.columns)
    sql = f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)"
    return int(jvm.com.synthohive.spark.PostgresCopy.load(df._jdf, target.url, jprops, driver,
                                                          sql))


def write_jdbc_tables(tables: Mapping[str, DataFrame], output: Union[JdbcOutput, str],
                      metadata: Optional[Metadata] = None, mode: str = "errorifexists",
                      spark: Optional[SparkSession] = None,
                      **options: Any) -> dict[str, DataFrame]:
    """Write ``tables`` into a PostgreSQL schema, whole or not at all, with the primary and
    foreign keys of ``metadata`` declared (:class:`JdbcDatabaseWriter`); returns the tables as
    read back through JDBC."""
    if not tables:
        raise ValueError("write_jdbc_tables: no tables given")
    spark = spark or next(iter(tables.values())).sparkSession
    writer = JdbcDatabaseWriter(spark, output, list(tables), mode, metadata, **options)
    for name, df in tables.items():
        writer.write(name, df)
    writer.finish()
    return {t: writer.read_back(t) for t in writer.tables}


def database_writer(spark: SparkSession, output: Any, tables: Sequence[str], fmt: str,
                    mode: str, metadata: Optional[Metadata] = None):
    """The writer of a generated database: :class:`JdbcDatabaseWriter` for a
    :class:`JdbcOutput` or ``jdbc:`` URL (``fmt`` 'jdbc', or the default 'parquet' that a
    database output does not use), else :class:`~synthohive_spark.io.DatabaseWriter`."""
    from synthohive_spark.io.writers import DatabaseWriter

    target = as_jdbc_output(output)
    if target is None:
        return DatabaseWriter(spark, output, list(tables), fmt, mode)
    if fmt not in ("jdbc", "parquet"):
        raise ValueError(f"format {fmt!r} does not apply to a database output "
                         f"({target!r}); leave it out or give 'jdbc'")
    return JdbcDatabaseWriter(spark, target, tables, mode, metadata)


# ------------------------------------------------------------------ throughput
