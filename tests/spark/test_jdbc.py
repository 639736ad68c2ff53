"""PostgreSQL as a store, through JDBC: a real server (a throwaway cluster this module starts with
initdb / pg_ctl on a free loopback port, password authentication) and the real JDBC driver in the
shared session (tests/conftest.py adds it for tests marked jdbc). The retail example and
pizzaplace are written with their keys declared and read back with the keys the catalog holds;
a relational model learned from the database writes a synthetic schema back, whose constraints
the database itself enforces; existing targets are refused; a write that fails half way leaves
nothing. What the database holds is checked with psql, not with the library."""
from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass

import pytest
from pyspark.sql import functions as F

from synthohive_spark.errors import (IncompleteOutputError, MetadataError, OutputExistsError,
                                     TableSourceError)
from synthohive_spark.examples import retail_metadata, retail_spark
from synthohive_spark.io import (JdbcOutput, catalog_keys, read_jdbc_schema, read_jdbc_table,
                                 write_jdbc_tables)
from synthohive_spark.io.jdbc import jdbc_available, jdbc_package, metadata_with_keys
from synthohive_spark.metadata import Metadata
from synthohive_spark.ml.relational import RelationalSynthesizer

from conftest import check_integrity  # noqa: E402

pytestmark = [pytest.mark.jdbc, pytest.mark.spark]


# ------------------------------------------------------------------ the server
def _pg_bin(name: str):
    """A PostgreSQL server binary: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    cands = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    return max(cands, key=lambda p: int(re.sub(r"\D", "", p.split("/")[4]) or 0)) if cands else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Postgres:
    url: str
    props: dict
    port: int
    psql_bin: str

    def psql(self, sql: str, check: bool = True) -> subprocess.CompletedProcess:
        """``sql`` through psql (the database's own client), unaligned rows on stdout."""
        done = subprocess.run(
            [self.psql_bin, "-h", "127.0.0.1", "-p", str(self.port), "-U", self.props["user"],
             "-d", "postgres", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
            env={**os.environ, "PGPASSWORD": self.props["password"]}, capture_output=True,
            text=True, timeout=60)
        if check and done.returncode != 0:
            raise AssertionError(f"psql failed: {done.stderr}")
        return done

    def value(self, sql: str) -> str:
        return self.psql(sql).stdout.strip()


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL cluster: initdb in a temporary folder, pg_ctl start on a free port
    of 127.0.0.1, stopped and removed at the end. As root, the server runs as the postgres user
    (initdb and postgres refuse root)."""
    initdb, pg_ctl, psql = _pg_bin("initdb"), _pg_bin("pg_ctl"), _pg_bin("psql")
    if not (initdb and pg_ctl and psql):
        pytest.skip("PostgreSQL is not installed (no initdb / pg_ctl / psql on PATH or under "
                    "/usr/lib/postgresql/*/bin): apt-get install postgresql")
    root = tempfile.mkdtemp(prefix="synthohive-pg-")
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            pytest.skip("the postgres system user is not installed (Debian's postgresql "
                        "package creates it): the server cannot run as root")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    password = "pw-" + os.urandom(6).hex()
    pwfile = os.path.join(root, "pw")
    with open(pwfile, "w") as fh:
        fh.write(password + "\n")
    if as_user:
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    data = os.path.join(root, "data")
    subprocess.run(as_user + [initdb, "-D", data, "-U", "synthohive", "--auth=scram-sha-256",
                              f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C", "--no-sync"],
                   check=True, capture_output=True, timeout=120)
    port = _free_port()
    opts = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c synchronous_commit=off -c full_page_writes=off")
    started = subprocess.run(as_user + [pg_ctl, "-D", data, "-l", os.path.join(root, "log"), "-w",
                                        "-t", "60", "-o", opts, "start"],
                             capture_output=True, text=True, timeout=120)
    if started.returncode != 0:
        log = open(os.path.join(root, "log")).read() if os.path.exists(
            os.path.join(root, "log")) else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr}\n{log[-2000:]}")
    try:
        yield Postgres(f"jdbc:postgresql://127.0.0.1:{port}/postgres",
                       {"user": "synthohive", "password": password}, port, psql)
    finally:
        subprocess.run(as_user + [pg_ctl, "-D", data, "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def jspark(spark):
    """The shared session, which carries the PostgreSQL JDBC driver."""
    if not jdbc_available(spark):
        pytest.skip("the shared session started without the PostgreSQL JDBC driver (its jar is "
                    "not loaded)")
    return spark


# ------------------------------------------------------------------ helpers
def _rows(df) -> list:
    return sorted(df.collect(), key=lambda r: repr(tuple(r)))


def _same_rows(a, b) -> bool:
    """Same columns with the same types, and the same rows (as a multiset)."""
    types = lambda df: [(f.name, f.dataType) for f in df.schema.fields]  # noqa: E731
    return types(a) == types(b) and _rows(a) == _rows(b)


def _keys(md: Metadata) -> tuple[dict, set]:
    pks = {t: cfg.primary_key for t, cfg in md.tables.items()}
    fks = {(t, fk.column, fk.parent_table, fk.parent_column) for t, cfg in md.tables.items()
           for fk in cfg.foreign_keys}
    return pks, fks


def _constraints(pg: Postgres, schema: str) -> set:
    """(kind, table, columns, parent table) of every constraint in ``schema``, from pg_catalog."""
    out = pg.value(
        f"SELECT con.contype, cl.relname, array_to_string(array(SELECT a.attname FROM "
        f"pg_attribute a WHERE a.attrelid = con.conrelid AND a.attnum = ANY(con.conkey)), ','), "
        f"coalesce(f.relname, '') FROM pg_constraint con JOIN pg_class cl ON cl.oid = "
        f"con.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace LEFT JOIN pg_class f ON "
        f"f.oid = con.confrelid WHERE n.nspname = '{schema}' AND con.contype IN ('p', 'f')")
    return {tuple(line.split("|")) for line in out.splitlines() if line}


def _declared(md: Metadata) -> set:
    pks, fks = _keys(md)
    return ({("p", t, pk, "") for t, pk in pks.items() if pk}
            | {("f", t, c, p) for t, c, p, _ in fks})


def _tables_in(pg: Postgres, schema: str) -> set:
    return set(pg.value(f"SELECT tablename FROM pg_tables WHERE schemaname = '{schema}'")
               .split())


def _staging_schemas(pg: Postgres) -> list:
    return pg.value("SELECT nspname FROM pg_namespace WHERE nspname LIKE "
                    "'synthohive_stage_%'").split()


# ------------------------------------------------------------------ the data
@pytest.fixture(scope="module")
def retail(jspark):
    return {k: v.cache() for k, v in retail_spark(jspark, seed=1, scale=0.1).items()}


@pytest.fixture(scope="module")
def retail_db(jspark, postgres, retail):
    """The real retail tables in schema retail, with their keys declared."""
    write_jdbc_tables(retail, JdbcOutput(postgres.url, "retail", postgres.props),
                      retail_metadata())
    return "retail"


@pytest.fixture(scope="module")
def retail_read(jspark, postgres, retail_db):
    """The retail schema as read_jdbc_schema reads it: (tables, metadata)."""
    return read_jdbc_schema(jspark, postgres.url, retail_db, properties=postgres.props)


PIZZA_KEYS = {"menu": ("pizza_id", {}), "orders": ("order_id", {}),
              "order_items": ("item_id", {"order_id": "orders", "pizza_id": "menu"})}


def _keys_metadata(keys: dict) -> Metadata:
    """Metadata holding only the keys of realdata's ``(pk, {fk column: parent})`` form."""
    return Metadata.from_dict({"tables": {t: {
        "primary_key": pk, "columns": {c: {"sdtype": "id"} for c in [pk, *fks]},
        "foreign_keys": [{"column": c, "parent_table": p, "parent_column": keys[p][0]}
                         for c, p in fks.items()]} for t, (pk, fks) in keys.items()}})


# ------------------------------------------------------------------ round trips
def test_retail_round_trips_with_its_keys_from_the_catalog(jspark, postgres, retail, retail_db,
                                                           retail_read):
    md = retail_metadata()
    assert _constraints(postgres, retail_db) == _declared(md)  # the database holds the keys
    assert _staging_schemas(postgres) == []
    keys = catalog_keys(jspark, postgres.url, retail_db, postgres.props)
    assert set(keys.tables) == set(md.tables)
    tables, read_md = retail_read
    assert _keys(read_md) == _keys(md)
    for name, df in retail.items():
        assert _same_rows(tables[name], df), name
    check_integrity(read_md, tables, linked=False)
    # key columns are identifiers; the other columns were detected from the data
    assert str(read_md.tables["orders"].columns["account_manager"].sdtype) == "id"
    assert str(read_md.tables["customers"].columns["email"].sdtype) == "email"
    assert str(read_md.tables["orders"].columns["channel"].sdtype) == "categorical"


def test_pizzaplace_round_trips_with_its_keys_from_the_catalog(jspark, postgres, realdata):
    frames, keys = realdata.pizzaplace()
    assert keys == PIZZA_KEYS
    pizza = {k: jspark.createDataFrame(v) for k, v in frames.items()}
    md = _keys_metadata(keys)
    write_jdbc_tables(pizza, JdbcOutput(postgres.url, "pizzaplace", postgres.props), md)
    assert _constraints(postgres, "pizzaplace") == _declared(md)
    tables, read_md = read_jdbc_schema(jspark, postgres.url, "pizzaplace",
                                       properties=postgres.props)
    assert _keys(read_md) == _keys(md)
    assert tables["order_items"].count() == 49_574
    for name, df in pizza.items():
        assert _same_rows(tables[name], df), name
    check_integrity(read_md, tables, linked=False)


def test_a_jdbc_catalogs_tables_are_read_by_three_part_names(jspark, postgres, retail, retail_db,
                                                             tmp_path):
    """A catalog other than the session's (Spark's JDBC catalog over this server): the fit reads
    catalog.schema.table names; an output there is refused before anything is generated (that
    catalog creates no table with a format and declares no keys)."""
    from synthohive_spark.io import read_table

    conf = {"spark.sql.catalog.pgcat":
            "org.apache.spark.sql.execution.datasources.v2.jdbc.JDBCTableCatalog",
            "spark.sql.catalog.pgcat.url": postgres.url,
            "spark.sql.catalog.pgcat.user": postgres.props["user"],
            "spark.sql.catalog.pgcat.password": postgres.props["password"],
            "spark.sql.catalog.pgcat.driver": "org.postgresql.Driver"}
    for k, v in conf.items():
        jspark.conf.set(k, v)
    try:
        for name, df in retail.items():
            assert _same_rows(read_table(f"pgcat.{retail_db}.{name}", jspark), df), name
        model = RelationalSynthesizer(metadata=retail_metadata(), model="gaussian_copula",
                                      seed=2).fit({t: f"pgcat.{retail_db}.{t}" for t in retail})
        out = str(tmp_path / "from_catalog")
        model.sample(scale=1.0, output=out)
        back = {t: jspark.read.parquet(os.path.join(out, t)) for t in retail}
        check_integrity(retail_metadata(), back)
        postgres.value("CREATE SCHEMA synth_cat")
        with pytest.raises(ValueError, match=r"'pgcat.synth_cat': catalog 'pgcat' is Spark's "
                                             r"JDBC catalog.*output='jdbc:postgresql"):
            model.sample(scale=1.0, output="pgcat.synth_cat")
        assert _tables_in(postgres, "synth_cat") == set()
        with pytest.raises(ValueError, match="names catalog 'nocat'"):
            model.sample(scale=1.0, output="nocat.synth_cat")
    finally:
        for k in conf:
            jspark.conf.unset(k)


def test_keys_come_from_the_catalog_not_from_detection(jspark, postgres):
    """A declared foreign key that nothing in the data names, and a column that detection takes
    for a foreign key but the database does not declare."""
    postgres.psql("""
        CREATE SCHEMA keys;
        CREATE TABLE keys.customers (customer_id bigint PRIMARY KEY, city text);
        CREATE TABLE keys.orders (order_id bigint PRIMARY KEY, buyer bigint REFERENCES
            keys.customers (customer_id), customer_id bigint, amount double precision);
        INSERT INTO keys.customers SELECT g, 'city ' || (g % 7) FROM generate_series(1, 300) g;
        INSERT INTO keys.orders SELECT g, 1 + g % 5, 1 + (g * 13) % 300, g * 1.5
            FROM generate_series(1, 3000) g;""")
    tables, md = read_jdbc_schema(jspark, postgres.url, "keys", properties=postgres.props)
    assert _keys(md) == ({"customers": "customer_id", "orders": "order_id"},
                         {("orders", "buyer", "customers", "customer_id")})
    detected = Metadata.detect(tables)  # what detection alone makes of the same tables
    assert ("orders", "customer_id", "customers", "customer_id") in _keys(detected)[1]
    assert ("orders", "buyer", "customers", "customer_id") not in _keys(detected)[1]
    # a composite key cannot be modelled: an error names it, or it is dropped when asked
    postgres.psql("CREATE TABLE keys.pairs (a bigint, b bigint, PRIMARY KEY (a, b)); "
                  "INSERT INTO keys.pairs VALUES (1, 2), (2, 3);")
    with pytest.raises(MetadataError, match=r"'pairs': composite primary key \(a, b\)"):
        read_jdbc_schema(jspark, postgres.url, "keys", properties=postgres.props)
    _, md = read_jdbc_schema(jspark, postgres.url, "keys", properties=postgres.props,
                             unmodelled_keys="drop", persist=False)
    assert md.tables["pairs"].primary_key is None
    # a foreign key to a table that is not read
    with pytest.raises(MetadataError, match="parent table is not among the tables read"):
        read_jdbc_schema(jspark, postgres.url, "keys", tables=["orders"],
                         properties=postgres.props)


def test_partitioned_read_gives_the_rows_of_a_single_read(jspark, postgres, retail_db):
    one = read_jdbc_table(jspark, postgres.url, "order_items", retail_db, postgres.props)
    parts = read_jdbc_table(jspark, postgres.url, "order_items", retail_db, postgres.props,
                            partition_column="item_id", partition_rows=100, max_partitions=5)
    n = one.count()
    assert n > 300
    assert parts.rdd.getNumPartitions() == min(5, -(-n // 100)) > 1
    assert _same_rows(parts, one)
    # read_jdbc_schema partitions by the primary key on its own; a date key too
    tables, _ = read_jdbc_schema(jspark, postgres.url, retail_db, ["customers", "orders"],
                                 postgres.props, partition_rows=50, persist=False,
                                 unmodelled_keys="drop")  # orders -> employees, not read
    assert tables["orders"].rdd.getNumPartitions() > 1
    assert _same_rows(tables["orders"], read_jdbc_table(jspark, postgres.url, "orders",
                                                          retail_db, postgres.props))
    postgres.psql("CREATE TABLE public.days (day date PRIMARY KEY, n int); INSERT INTO "
                  "public.days SELECT d::date, 1 FROM generate_series('2020-01-01'::date, "
                  "'2020-12-31', '1 day') d;")
    days = read_jdbc_table(jspark, postgres.url, "days", "public", postgres.props,
                           partition_column="day", partition_rows=100)
    assert days.rdd.getNumPartitions() == 4 and days.count() == 366
    with pytest.raises(TableSourceError, match="expected a numeric, date or timestamp"):
        read_jdbc_table(jspark, postgres.url, "customers", retail_db, postgres.props,
                        partition_column="city")


# ------------------------------------------------------------------ a synthetic schema
def test_synthetic_retail_is_learned_from_postgres_and_written_back(jspark, postgres,
                                                                    retail_read):
    tables, md = retail_read
    assert md.tables["products"].reference  # detected as a lookup: kept as it is
    model = RelationalSynthesizer(metadata=md, model="gaussian_copula", epochs=1,
                                  seed=3).fit(tables)
    out = JdbcOutput(postgres.url, "synth", postgres.props)
    rows = {"customers": 40, "employees": 5}
    returned = model.sample(numRows=rows, output=out)
    assert _tables_in(postgres, "synth") == set(md.tables)
    assert _staging_schemas(postgres) == []
    assert _constraints(postgres, "synth") == _declared(md)
    keys = catalog_keys(jspark, postgres.url, "synth", postgres.props)
    assert {t: k[0] for t, k in keys.primary_keys.items()} == _keys(md)[0]
    back = {t: read_jdbc_table(jspark, postgres.url, t, "synth", postgres.props)
            for t in md.tables}
    check_integrity(md, back, linked=False)
    counts = {t: int(postgres.value(f'SELECT count(*) FROM synth."{t}"')) for t in md.tables}
    assert counts == {t: df.count() for t, df in returned.items()}
    assert counts["customers"] == 40 and counts["employees"] == 5
    # the database enforces the keys itself
    orphan = postgres.psql("INSERT INTO synth.orders (order_id, customer_id, account_manager) "
                           "VALUES (-1, -12345, NULL)", check=False)
    assert orphan.returncode != 0 and "foreign key constraint" in orphan.stderr

    # an existing target is refused and left as it was
    before = {t: _rows(back[t]) for t in ("customers", "orders")}  # read now, compared later
    with pytest.raises(OutputExistsError, match=r"'customers' at synth\.customers"):
        model.sample(numRows=rows, output=out)
    for t, r in before.items():
        assert _rows(read_jdbc_table(jspark, postgres.url, t, "synth", postgres.props)) == r
    # overwrite replaces the whole schema's tables in one transaction
    again = model.sample(numRows={**rows, "customers": 25}, output=out, mode="overwrite", seed=9)
    assert int(postgres.value("SELECT count(*) FROM synth.customers")) == 25
    assert again["customers"].count() == 25
    assert _constraints(postgres, "synth") == _declared(md)
    assert _staging_schemas(postgres) == []


def test_a_write_that_fails_half_way_leaves_nothing(jspark, postgres, retail):
    md = retail_metadata()
    out = JdbcOutput(postgres.url, "halfway", postgres.props)
    spec = md.to_dict()["tables"]  # customers and their orders (no employees)
    small = Metadata.from_dict({"tables": {"customers": spec["customers"], "orders": {
        **spec["orders"], "foreign_keys": [spec["orders"]["foreign_keys"][0]]}}})
    good = {"customers": retail["customers"], "orders": retail["orders"]}

    # 1. the 2nd table breaks its primary key: the constraint fails after both loads
    dup = retail["orders"].withColumn("order_id", F.lit(7).cast("bigint"))
    with pytest.raises(IncompleteOutputError, match=r"table 'orders': adding the constraints "
                                                    r"failed: ERROR: could not create unique"):
        write_jdbc_tables({"customers": retail["customers"], "orders": dup}, out, small)
    assert _tables_in(postgres, "halfway") == set() and _staging_schemas(postgres) == []

    # 2. the 2nd table's load fails half way through its rows (an executor error)
    @F.udf("bigint")
    def explode(v):
        if v > 50:
            raise ValueError("generation failed half way")
        return v

    broken = retail["orders"].withColumn("order_id", explode("order_id"))
    with pytest.raises(IncompleteOutputError, match="table 'orders': loading its rows failed"):
        write_jdbc_tables({"customers": retail["customers"], "orders": broken}, out, small)
    assert _tables_in(postgres, "halfway") == set() and _staging_schemas(postgres) == []

    # 3. over an existing database: the hook fails before the 2nd load; the old tables stay
    write_jdbc_tables(good, out, small)
    before = int(postgres.value("SELECT count(*) FROM halfway.orders"))
    with pytest.raises(IncompleteOutputError, match="fail_before='orders'"):
        write_jdbc_tables({"customers": retail["customers"].limit(5), "orders": dup}, out, small,
                          mode="overwrite", fail_before="orders")
    assert int(postgres.value("SELECT count(*) FROM halfway.orders")) == before
    assert int(postgres.value("SELECT count(*) FROM halfway.customers")) == \
        retail["customers"].count()
    assert _staging_schemas(postgres) == []
    # a child that has no parent row breaks its foreign key: nothing changes either
    orphans = retail["orders"].withColumn("customer_id", F.col("customer_id") + 10_000)
    with pytest.raises(IncompleteOutputError, match="violates foreign key constraint"):
        write_jdbc_tables({"customers": retail["customers"], "orders": orphans}, out, small,
                          mode="overwrite")
    assert int(postgres.value("SELECT count(*) FROM halfway.orders")) == before
    assert _staging_schemas(postgres) == []


# ------------------------------------------------------------------ COPY
_AWKWARD = ['plain', '', None, 'with "quotes", commas', 'two\nlines\r\nand a CR', '\\.',
            'back\\slash', '  spaces  ', 'Müller 中文 🙂', 'NULL', '"', ',']


def _awkward_frame(spark):
    """Every column type a synthetic table has, with the values a text format gets wrong."""
    import datetime as dt
    from decimal import Decimal

    from pyspark.sql import types as T

    schema = T.StructType([
        T.StructField("id", T.LongType()), T.StructField("s", T.StringType()),
        T.StructField("i", T.IntegerType()), T.StructField("b", T.BooleanType()),
        T.StructField("x", T.DoubleType()), T.StructField("f", T.FloatType()),
        T.StructField("d", T.DecimalType(18, 4)), T.StructField("day", T.DateType()),
        T.StructField("at", T.TimestampType()), T.StructField("wall", T.TimestampNTZType()),
        T.StructField("raw", T.BinaryType())])
    doubles = [0.1, -2.5e-300, 1.7976931348623157e308, float("nan"), float("inf"),
               float("-inf"), None, 123456789.123456789]
    days = [dt.date(2024, 2, 29), dt.date(1900, 1, 1), None, dt.date(2038, 1, 19)]
    times = [dt.datetime(2024, 3, 31, 1, 59, 59, 999999), dt.datetime(1970, 1, 1),
             None, dt.datetime(2021, 10, 31, 2, 30, 0, 123), dt.datetime(1901, 12, 13, 20, 45)]
    rows = []
    for k in range(60):
        rows.append((k, _AWKWARD[k % len(_AWKWARD)], None if k % 7 == 3 else (-1) ** k * k * 10**7,
                     None if k % 5 == 4 else k % 2 == 0, doubles[k % len(doubles)],
                     None if k % 6 == 5 else float(k) / 3,
                     None if k % 9 == 8 else Decimal(k * 1234567) / Decimal(10000) * (-1) ** k,
                     days[k % len(days)], times[k % len(times)], times[(k + 1) % len(times)],
                     None if k % 4 == 3 else bytes([0, 255, k % 256, 10, 34, 44])))
    return spark.createDataFrame(rows, schema).repartition(3)


def _loaded(df) -> list:
    """:func:`_rows` as comparable values (NaN as a string: NaN != NaN)."""
    return [tuple("nan" if isinstance(v, float) and v != v else v for v in r) for r in _rows(df)]


def test_copy_loads_the_values_spark_inserts_would(jspark, postgres):
    """COPY (the library's jar, on the executors) and Spark's batched inserts write the same
    table: every type, and the values a CSV stream gets wrong (quotes, separators, line breaks,
    empty against missing strings, NaN and infinities, binary, times around clock changes)."""
    from synthohive_spark.io.jdbc import JdbcDatabaseWriter

    df = _awkward_frame(jspark)
    back = {}
    for bulk in ("copy", "insert"):
        writer = JdbcDatabaseWriter(jspark, JdbcOutput(postgres.url, f"bulk_{bulk}",
                                                       postgres.props, bulk=bulk), ["t"])
        assert writer.bulk == bulk
        writer.write("t", df)
        writer.finish()
        back[bulk] = writer.read_back("t", df.schema)
    assert _loaded(back["copy"]) == _loaded(back["insert"]) == _loaded(df)
    # the database holds what a reader sees: empty and missing strings apart, bytes exact
    assert postgres.value("SELECT count(*) FROM bulk_copy.t WHERE s = ''") == "5"
    assert postgres.value("SELECT count(*) FROM bulk_copy.t WHERE s IS NULL") == "5"
    assert postgres.value("SELECT encode(raw, 'hex') FROM bulk_copy.t WHERE id = 1") == \
        "00ff010a222c"
    assert postgres.value("SELECT count(*) FROM bulk_copy.t WHERE x = 'NaN'") == "8"
    types = "SELECT string_agg(data_type, ',' ORDER BY ordinal_position) FROM " \
            "information_schema.columns WHERE table_schema = '{}' AND table_name = 't'"
    assert postgres.value(types.format("bulk_copy")) == postgres.value(types.format("bulk_insert"))
    # auto takes COPY where the jar is (this session has it)
    auto = JdbcDatabaseWriter(jspark, JdbcOutput(postgres.url, "bulk_auto", postgres.props),
                              ["t"])
    assert auto.bulk == "copy"
    with pytest.raises(ValueError, match="bulk must be one of"):
        JdbcOutput(postgres.url, "x", bulk="fast")


def test_copy_writes_the_wall_times_of_a_zone_with_clock_changes(postgres):
    """In a process of its own, on a local cluster (an executor in a JVM of its own: the JDBC
    driver's jar reaches it from spark.jars.packages) whose JVMs run in New York (clock changes
    twice a year, local mean time before 1883): COPY and batched inserts store the same
    instants and read back the timestamps that were written."""
    code = textwrap.dedent(f"""
        import datetime as dt, os
        from pyspark.sql import types as T
        from synthohive_spark.io import JdbcOutput
        from synthohive_spark.io.jdbc import JdbcDatabaseWriter
        from synthohive_spark.session import get_or_create_session
        zone = "-Duser.timezone=America/New_York"
        spark = get_or_create_session(master="local-cluster[1,1,1024]", jdbc=True, conf={{
            "spark.driver.extraJavaOptions": zone, "spark.executor.extraJavaOptions": zone,
            "spark.sql.session.timeZone": "America/New_York"}})
        assert spark.sparkContext._jvm.java.util.TimeZone.getDefault().getID() == \
            "America/New_York"
        props = {{"user": {postgres.props["user"]!r}, "password": os.environ["PGPW"]}}
        url = {postgres.url!r}
        # (naive datetimes are read in this Python process's zone: UTC under CI)
        start = dt.datetime(2021, 3, 14, 0, 0)   # New York springs forward at 07:00 UTC
        times = [(k, start + dt.timedelta(minutes=17 * k)) for k in range(400)]
        times += [(1000, dt.datetime(2021, 11, 7, 5, 30)), (1001, dt.datetime(2021, 11, 7, 6, 30)),
                  (1002, dt.datetime(1883, 1, 1, 12)), (1003, None)]  # 01:30 twice; before 1883
        df = spark.createDataFrame(times, "id long, at timestamp")
        back = {{}}
        for bulk in ("copy", "insert"):
            writer = JdbcDatabaseWriter(spark, JdbcOutput(url, "ny_" + bulk, props, bulk=bulk),
                                        ["t"])
            assert writer.bulk == bulk
            writer.write("t", df)
            writer.finish()
            back[bulk] = sorted(map(tuple, writer.read_back("t", df.schema).collect()))
        assert back["copy"] == back["insert"]
        # Spark 3.5 declares a timestamp column without zone: the repeated 01:30 (row 1000)
        # folds into one wall time there, through Spark's own writer as through COPY
        assert [r for r in back["copy"] if r[0] != 1000] == \
            [r for r in sorted(map(tuple, df.collect())) if r[0] != 1000]
        print("SAME TIMES")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PGPW": postgres.props["password"]})
    assert done.returncode == 0 and "SAME TIMES" in done.stdout, \
        done.stdout + done.stderr[-4000:]
    assert postgres.value("SELECT count(*) FROM ny_copy.t c JOIN ny_insert.t i USING (id) "
                          "WHERE c.at IS NOT DISTINCT FROM i.at") == "404"


def test_a_session_without_the_librarys_jar_loads_with_inserts_or_refuses_copy(postgres):
    """In a process of its own: a session with the JDBC driver but not the library's jar. 'auto'
    loads with batched inserts (the same rows); 'copy' is refused and says how to add the jar."""
    code = textwrap.dedent(f"""
        import os, pytest
        from pyspark.sql import SparkSession
        from synthohive_spark.errors import TableSourceError
        from synthohive_spark.io import JdbcOutput, read_jdbc_table
        from synthohive_spark.io.jdbc import JdbcDatabaseWriter, jdbc_package
        spark = (SparkSession.builder.master("local[1]")
                 .config("spark.jars.packages", jdbc_package()).getOrCreate())
        props = {{"user": {postgres.props["user"]!r}, "password": os.environ["PGPW"]}}
        url = {postgres.url!r}
        with pytest.raises(TableSourceError, match=r"bulk='copy'.*spark.jars=.*synthohive-spark_"):
            JdbcDatabaseWriter(spark, JdbcOutput(url, "nojar", props, bulk="copy"), ["t"])
        writer = JdbcDatabaseWriter(spark, JdbcOutput(url, "nojar", props), ["t"])
        assert writer.bulk == "insert", writer.bulk
        writer.write("t", spark.range(1000).selectExpr("id", "cast(id * 3 as string) AS s"))
        writer.finish()
        back = read_jdbc_table(spark, url, "t", "nojar", props)
        assert sorted(map(tuple, back.collect())) == [(i, str(i * 3)) for i in range(1000)]
        print("INSERTED")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PGPW": postgres.props["password"]})
    assert done.returncode == 0 and "INSERTED" in done.stdout, done.stdout + done.stderr[-4000:]


# ------------------------------------------------------------------ errors
def test_errors_name_the_table_and_the_problem(jspark, postgres, retail_db):
    with pytest.raises(TableSourceError, match=r"\['nope'\] are not tables of schema 'retail'"):
        read_jdbc_schema(jspark, postgres.url, retail_db, ["nope"], postgres.props)
    with pytest.raises(TableSourceError, match="table 'nope' .*does not exist"):
        read_jdbc_table(jspark, postgres.url, "nope", retail_db, postgres.props)
    with pytest.raises(TableSourceError, match="schema 'empty' .* has no tables"):
        read_jdbc_schema(jspark, postgres.url, "empty", properties=postgres.props)
    closed = f"jdbc:postgresql://127.0.0.1:{_free_port()}/postgres"
    with pytest.raises(TableSourceError, match="cannot reach the database server at"):
        read_jdbc_schema(jspark, closed, properties=postgres.props)
    wrong = {**postgres.props, "password": "wrong"}
    with pytest.raises(TableSourceError, match="refused the login.*password authentication"):
        read_jdbc_schema(jspark, postgres.url, retail_db, properties=wrong)
    with pytest.raises(TableSourceError, match="expected a PostgreSQL JDBC URL"):
        JdbcOutput("jdbc:mysql://db/shop")
    secret = JdbcOutput(postgres.url + "?password=hunter2", "x")
    assert "hunter2" not in repr(secret) and "hunter2" not in secret.location("t")


def test_a_session_without_the_driver_says_how_to_add_it():
    """In a process of its own: a plain local session, without the JDBC driver's jar."""
    code = textwrap.dedent("""
        import pytest
        from synthohive_spark.errors import TableSourceError
        from synthohive_spark.io import read_jdbc_schema, write_jdbc_tables
        from synthohive_spark.session import get_or_create_session
        spark = get_or_create_session(master="local[1]")
        url = "jdbc:postgresql://127.0.0.1:1/postgres"
        with pytest.raises(TableSourceError, match=r"get_or_create_session\\(jdbc=True\\)"):
            read_jdbc_schema(spark, url)
        with pytest.raises(TableSourceError, match="spark.jars.packages=org.postgresql"):
            write_jdbc_tables({"t": spark.range(3)}, url)
        with pytest.raises(TableSourceError, match="lacks the JDBC driver"):
            get_or_create_session(jdbc=True)
        print("REFUSED")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "REFUSED" in done.stdout, done.stdout + done.stderr[-4000:]
    assert jdbc_package() == "org.postgresql:postgresql:42.7.14"


def test_declared_keys_replace_detected_ones_in_metadata():
    """metadata_with_keys on pandas frames: detection's keys out, the declared ones in."""
    import pandas as pd

    parent = pd.DataFrame({"pid": range(1, 41), "label": [f"l{i % 4}" for i in range(40)]})
    child = pd.DataFrame({"cid": range(1, 401), "pid": [1 + i % 40 for i in range(400)],
                          "other": [1 + (i * 3) % 40 for i in range(400)],
                          "x": [i * 0.5 for i in range(400)]})
    detected = Metadata.detect({"parent": parent, "child": child})
    assert ("child", "pid", "parent", "pid") in _keys(detected)[1]
    md = metadata_with_keys(detected, {"parent": "pid", "child": "cid"},
                            [("child", "other", "parent", "pid")])
    assert _keys(md) == ({"parent": "pid", "child": "cid"}, {("child", "other", "parent", "pid")})
    assert str(md.tables["child"].columns["other"].sdtype) == "id"
    with pytest.raises(MetadataError, match="'nope' is not a table"):
        metadata_with_keys(detected, {}, [("child", "pid", "nope", "pid")])


# ------------------------------------------------------------------ the command line
def test_cli_fits_from_and_samples_into_postgres(jspark, postgres, retail_db, tmp_path,
                                                 monkeypatch, capsys):
    from synthohive_spark.cli import main

    monkeypatch.setenv("SYNTHO_PG_PASSWORD", postgres.props["password"])
    creds = ["--jdbc-user", postgres.props["user"], "--jdbc-password-env", "SYNTHO_PG_PASSWORD"]
    model_dir = str(tmp_path / "model")
    # a bare URL is every table of --jdbc-schema; its password comes from the environment only
    code = main(["fit", postgres.url, "--jdbc-schema", retail_db, "--jdbc-user", "synthohive",
                 "--jdbc-password-env", "NO_SUCH_VARIABLE_SET", "--model-dir", model_dir])
    assert code == 2 and "NO_SUCH_VARIABLE_SET is not set" in capsys.readouterr().err
    code = main(["fit", f"a={postgres.url}", "b=x.parquet", "--model-dir", model_dir])
    assert code == 2 and "not mixed with paths" in capsys.readouterr().err
    two = [f"{t}={postgres.url}" for t in ("customers", "employees")]  # NAME=URL: a table each
    code = main(["fit", *two, "--jdbc-schema", retail_db, *creds, "--model-dir",
                 model_dir, "--model", "gaussian_copula", "--epochs", "1",
                 "--metadata-out", str(tmp_path / "md.yaml"), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    md = Metadata.from_yaml(str(tmp_path / "md.yaml"))
    full = _keys(retail_metadata())
    assert _keys(md) == ({t: full[0][t] for t in ("customers", "employees")},
                         {fk for fk in full[1] if fk[0] == "employees"})  # reports_to
    code = main(["sample", "--model-dir", model_dir, "--output", postgres.url, "--jdbc-schema",
                 "cli_synth", *creds, "--rows", "customers=30", "--rows", "employees=4",
                 "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "customers: 30 rows -> cli_synth.customers at jdbc:postgresql://" in out
    assert "(jdbc)" in out
    assert _constraints(postgres, "cli_synth") == _declared(md)
    code = main(["sample", "--model-dir", model_dir, "--output", postgres.url, "--jdbc-schema",
                 "cli_synth", *creds, "--no-progress"])
    assert code == 2 and "already exists" in capsys.readouterr().err
