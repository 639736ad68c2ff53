"""Delta Lake as a store: real Delta tables read (also at a version or a time) and written (one
commit per table, an overwrite is Delta's own transaction, a manifest written last), the retail
example and pizzaplace round-tripped with their keys checked as read back from the store.

Delta needs its jars when the session starts, so the shared session carries them when this module
is in the run (tests/conftest.py) and the installed Spark has a Delta release; where none supports
it (Spark 4.3), these tests skip saying so, and the refusal itself is tested."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from pyspark.sql import functions as F

from synthohive_spark.errors import DeltaUnavailableError
from synthohive_spark.examples import retail_metadata, retail_spark
from synthohive_spark.io import (MANIFEST, DatabaseWriter, IncompleteOutputError,
                                 OutputExistsError, TableSourceError, read_manifest, read_output,
                                 read_table)
from synthohive_spark.metadata import Metadata
from synthohive_spark.ml.relational import RelationalSynthesizer
from synthohive_spark.session import delta_available, delta_package

from conftest import check_integrity  # noqa: E402

pytestmark = pytest.mark.delta


@pytest.fixture(scope="module")
def dspark(spark):
    """The shared session, which has Delta Lake on a Spark line that Delta supports."""
    if not delta_available(spark):
        try:
            delta_package()
            reason = "the shared session started without Delta Lake (its jar is not loaded)"
        except DeltaUnavailableError as exc:
            reason = str(exc)
        pytest.skip(reason)
    return spark


def _history(spark, path: str) -> list:
    return spark.sql(f"DESCRIBE HISTORY delta.`{path}`").orderBy("version").collect()


def _rows(df) -> list:
    """The rows of ``df`` in one order (None sorts beside values)."""
    return sorted(df.collect(), key=lambda r: repr(tuple(r)))


def _same_rows(a, b) -> bool:
    """Same schema and the same rows (as a multiset); one job per side."""
    return a.schema == b.schema and _rows(a) == _rows(b)


# ------------------------------------------------------------------ every line: the Spark line
def test_delta_package_follows_the_spark_line():
    assert delta_package("3.5.7", "3.3.3", "2.12") == "io.delta:delta-spark_2.12:3.3.3"
    assert delta_package("4.0.1", "4.0.1", "2.13") == "io.delta:delta-spark_2.13:4.0.1"
    # from Delta 4.1 on, the artifact names the Spark line
    assert delta_package("4.2.0", "4.4.0", "2.13") == "io.delta:delta-spark_4.2_2.13:4.4.0"
    with pytest.raises(DeltaUnavailableError, match=r"no Delta Lake release supports Spark 4\.3"):
        delta_package("4.3.0", "4.4.0", "2.13")
    with pytest.raises(DeltaUnavailableError, match="built for Spark 4.0, this is Spark 4.1"):
        delta_package("4.1.0", "4.0.1", "2.13")
    import pyspark

    if pyspark.__version__.startswith("3.5"):  # the CI line with delta-spark pinned
        from importlib.metadata import version
        assert delta_package() == f"io.delta:delta-spark_2.12:{version('delta-spark')}"
        # the installed delta-spark says which pyspark it is built for
        with pytest.raises(DeltaUnavailableError, match=r"is built for pyspark .*3\.6"):
            delta_package("4.1.1")
    elif pyspark.__version__.startswith("4.3"):
        with pytest.raises(DeltaUnavailableError, match="get_or_create_session"):
            delta_package()


def test_a_session_without_delta_refuses_delta_and_says_how_to_add_it(tmp_path):
    """In a process of its own: a plain local session (no Delta jars) asked for Delta."""
    code = textwrap.dedent(f"""
        import pytest
        from synthohive_spark.errors import DeltaUnavailableError
        from synthohive_spark.io import check_targets, read_table, resolve_target
        from synthohive_spark.session import delta_available, get_or_create_session
        spark = get_or_create_session(master="local[1]")
        assert not delta_available(spark)
        how = "get_or_create_session\\\\(delta=True\\\\)"
        with pytest.raises(DeltaUnavailableError, match=how):
            check_targets(spark, [resolve_target({str(tmp_path)!r}, "t")], "errorifexists", "delta")
        with pytest.raises(DeltaUnavailableError, match="spark.sql.extensions"):
            read_table("delta.`{tmp_path}/t`", spark)
        with pytest.raises(DeltaUnavailableError, match="active Spark session has no Delta"):
            get_or_create_session(delta=True)
        print("REFUSED")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "REFUSED" in done.stdout, done.stdout + done.stderr[-4000:]


@pytest.mark.connect
def test_delta_on_a_spark_connect_session(tmp_path):
    """In a process of its own: get_or_create_session(delta=True, connect=True) gives the local
    Connect server Delta; a database is written, overwritten and read back through Connect."""
    try:
        delta_package()
    except DeltaUnavailableError as exc:
        pytest.skip(str(exc))
    out = str(tmp_path / "db")
    code = textwrap.dedent(f"""
        from synthohive_spark.io import DatabaseWriter, read_output, read_table
        from synthohive_spark.session import delta_available, get_or_create_session
        spark = get_or_create_session(master="local[1]", delta=True, connect=True, conf={{
            "spark.sql.shuffle.partitions": "1",
            "spark.databricks.delta.snapshotPartitions": "1"}})
        assert "connect" in type(spark).__module__ and delta_available(spark)
        for mode, n in (("errorifexists", 5), ("overwrite", 9)):
            writer = DatabaseWriter(spark, {out!r}, ["a", "b"], "delta", mode)
            writer.write("a", spark.range(n))
            writer.write("b", spark.range(3))
            writer.finish()
        assert read_output({out!r}, spark)["a"].count() == 9
        assert read_table({out!r} + "/a", spark, options={{"versionAsOf": 0}}).count() == 5
        print("CONNECT-DELTA")
    """)
    env = {**os.environ, "SPARK_TESTING": "1"}  # the local Connect server takes a free port
    env.pop("SPARK_REMOTE", None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=400)
    assert done.returncode == 0 and "CONNECT-DELTA" in done.stdout, \
        done.stdout[-2000:] + done.stderr[-4000:]


# ------------------------------------------------------------------ with Delta
@pytest.fixture(scope="module")
def retail(dspark):
    return {k: v.cache() for k, v in retail_spark(dspark, seed=1, scale=0.15).items()}


@pytest.fixture(scope="module")
def pizzaplace(dspark, realdata):
    tables, _ = realdata.pizzaplace()
    return {k: dspark.createDataFrame(v).cache() for k, v in tables.items()}


@pytest.fixture(scope="module")
def retail_store(dspark, retail, tmp_path_factory):
    """The real retail tables written as a Delta database."""
    out = str(tmp_path_factory.mktemp("delta") / "retail")
    writer = DatabaseWriter(dspark, out, list(retail), "delta")
    for name, df in retail.items():
        writer.write(name, df)
    writer.finish()
    return out


def test_retail_round_trips_through_delta(dspark, retail, retail_store):
    back = read_output(retail_store, dspark)
    for name, df in retail.items():
        assert _same_rows(back[name], df), name
        assert len(_history(dspark, os.path.join(retail_store, name))) == 1  # one commit
    check_integrity(retail_metadata(), back)
    # a table read by path as delta.`path`, and found as Delta by its _delta_log
    path = os.path.join(retail_store, "orders")
    assert _same_rows(read_table(f"delta.`{path}`", dspark), retail["orders"])
    assert read_table(path, dspark).inputFiles() == back["orders"].inputFiles()
    manifest = read_manifest(retail_store, dspark)
    assert manifest["status"] == "complete" and manifest["complete_versions"] == [0]
    assert {t["table"]: t["version"] for t in manifest["tables"]} == {t: 0 for t in retail}
    assert {t["location"] for t in manifest["tables"]} == {os.path.join(retail_store, t)
                                                           for t in retail}
    # a first write: the manifest's one commit creates it saying 'complete' (an overwrite says
    # 'writing' first); no data: the manifest is its table property
    history = _history(dspark, os.path.join(retail_store, MANIFEST))
    assert [h["operation"] for h in history] == ["CREATE TABLE"]
    assert dspark.read.format("delta").load(os.path.join(retail_store, MANIFEST)).count() == 0


def test_pizzaplace_round_trips_through_delta(dspark, pizzaplace, tmp_path):
    out = str(tmp_path / "pizzaplace")
    writer = DatabaseWriter(dspark, out, list(pizzaplace), "delta")
    for name, df in pizzaplace.items():
        writer.write(name, df)
    writer.finish()
    back = read_output(out, dspark)
    for name, df in pizzaplace.items():
        assert _same_rows(back[name], df), name
    assert back["order_items"].count() == 49_574
    md = Metadata.from_dict({"tables": {
        "menu": {"primary_key": "pizza_id", "columns": {"pizza_id": {"sdtype": "id"}}},
        "orders": {"primary_key": "order_id", "columns": {"order_id": {"sdtype": "id"}}},
        "order_items": {"primary_key": "item_id", "columns": {
            "item_id": {"sdtype": "id"}, "order_id": {"sdtype": "id"},
            "pizza_id": {"sdtype": "id"}},
            "foreign_keys": [{"column": "order_id", "parent_table": "orders",
                              "parent_column": "order_id"},
                             {"column": "pizza_id", "parent_table": "menu",
                              "parent_column": "pizza_id"}]}}})
    check_integrity(md, back)


def test_synthetic_retail_is_learned_from_delta_and_written_as_delta(dspark, retail_store,
                                                                     tmp_path):
    sources = {name: f"delta.`{os.path.join(retail_store, name)}`" for name in retail_metadata().tables}
    sources["customers"] = os.path.join(retail_store, "customers")  # found by its _delta_log
    model = RelationalSynthesizer(metadata=retail_metadata(), model="gaussian_copula", epochs=1,
                                  seed=3).fit(sources)
    out = str(tmp_path / "synth")
    rows = {"customers": 40, "products": 10, "employees": 5}
    returned = model.sample(numRows=rows, output=out, format="delta")
    back = read_output(out, dspark)
    check_integrity(retail_metadata(), back)
    assert back["customers"].count() == returned["customers"].count() == 40

    # an existing output is refused by default, and nothing is committed
    before = {name: len(_history(dspark, os.path.join(out, name))) for name in model.tables}
    with pytest.raises(OutputExistsError, match="customers"):
        model.sample(numRows=rows, output=out, format="delta")
    assert before == {name: len(_history(dspark, os.path.join(out, name)))
                      for name in model.tables}

    # overwrite is Delta's own transaction: a new version; the first one stays readable
    first = {name: _rows(back[name]) for name in ("orders", "order_items")}
    files_v0 = dspark.read.format("delta").load(os.path.join(out, "orders")).inputFiles()
    again = model.sample(numRows={**rows, "customers": 25}, output=out, format="delta",
                         mode="overwrite", seed=99)
    assert again["customers"].count() == 25
    history = _history(dspark, os.path.join(out, "orders"))
    assert [h["version"] for h in history] == [0, 1]
    assert history[1]["operation"] == "WRITE"
    assert history[1]["operationParameters"]["mode"] == "Overwrite"
    assert all(os.path.exists(f.replace("file:", "", 1)) for f in files_v0)  # nothing deleted
    old = read_table(os.path.join(out, "orders"), dspark, options={"versionAsOf": 0})
    assert _rows(old) == first["orders"]
    # the manifest's first version is the first database, whole (then 1 'writing', 2 complete),
    # each a change of its property, no data written
    manifest_history = _history(dspark, os.path.join(out, MANIFEST))
    assert [h["operation"] for h in manifest_history] == ["CREATE TABLE", "SET TBLPROPERTIES",
                                                          "SET TBLPROPERTIES"]
    states = [read_manifest(out, dspark, version=v) for v in (0, 1, 2)]
    assert [m["status"] for m in states] == ["complete", "writing", "complete"]
    assert states[1]["run_id"] == states[2]["run_id"] != states[0]["run_id"]
    assert {t["version"] for t in states[1]["tables"]} == {None}
    assert {t["table"]: t["version"] for t in states[2]["tables"]} == {t: 1 for t in model.tables}
    # commits naming no write: another property, an OPTIMIZE
    dspark.sql(f"ALTER TABLE delta.`{os.path.join(out, MANIFEST)}` "
               f"SET TBLPROPERTIES ('delta.logRetentionDuration' = 'interval 60 days')")
    dspark.sql(f"OPTIMIZE delta.`{os.path.join(out, MANIFEST)}`")
    assert read_manifest(out, dspark)["version"] == 2
    latest = read_output(out, dspark)
    assert latest["customers"].count() == 25
    assert _rows(latest["order_items"]) == _rows(again["order_items"])
    earlier = read_output(out, dspark, version=0)
    assert _rows(earlier["order_items"]) == first["order_items"]
    assert earlier["customers"].count() == 40


def test_time_travel_by_version_and_timestamp(dspark, tmp_path):
    path = str(tmp_path / "t")
    v0 = dspark.createDataFrame(pd.DataFrame({"id": [1, 2, 3], "x": ["a", "b", "c"]}))
    v1 = dspark.createDataFrame(pd.DataFrame({"id": [4, 5], "x": ["d", "e"]}))
    v0.write.format("delta").save(path)
    v1.write.format("delta").mode("overwrite").save(path)
    assert _same_rows(read_table(path, dspark), v1)
    assert _same_rows(read_table(f"delta.`{path}`", dspark, options={"versionAsOf": 0}), v0)
    ts0 = str(_history(dspark, path)[0]["timestamp"])
    assert _same_rows(read_table(path, dspark, fmt="delta", options={"timestampAsOf": ts0}), v0)
    with pytest.raises(TableSourceError, match="no such version"):
        read_table(path, dspark, options={"versionAsOf": 7}).collect()
    with pytest.raises(TableSourceError, match="earlier version of a Delta table"):
        read_table(path, dspark, fmt="parquet", options={"versionAsOf": 0})
    v0.write.parquet(str(tmp_path / "plain"))
    with pytest.raises(TableSourceError, match="not a Delta table"):
        read_table(f"delta.`{tmp_path}/plain`", dspark)


def test_a_failed_write_leaves_no_complete_looking_database(dspark, retail, tmp_path):
    out = str(tmp_path / "db")
    names = ["customers", "orders"]

    @F.udf("long")
    def explode(v):
        raise ValueError("generation failed half way")

    def attempt(mode: str, orders):
        writer = DatabaseWriter(dspark, out, names, "delta", mode)
        writer.write("customers", retail["customers"])
        writer.write("orders", orders)
        writer.finish()

    broken = retail["orders"].withColumn("order_id", explode("order_id"))
    with pytest.raises(Exception, match="generation failed half way"):
        attempt("errorifexists", broken)
    with pytest.raises(IncompleteOutputError, match="no manifest .* first write did not finish"):
        read_output(out, dspark)  # a first write writes its manifest last
    assert not os.path.exists(os.path.join(out, MANIFEST))
    with pytest.raises(TableSourceError, match="not a Delta table"):  # no commit: no table
        read_table(os.path.join(out, "orders"), dspark, fmt="delta")

    attempt("overwrite", retail["orders"])  # a whole database
    complete = read_output(out, dspark)
    with pytest.raises(Exception, match="generation failed half way"):
        attempt("overwrite", broken)
    # manifest versions: 0 complete, 1 writing (the overwrite that failed)
    with pytest.raises(IncompleteOutputError,
                       match=r"did not finish .* last complete one is manifest version 0"):
        read_output(out, dspark)
    whole = read_output(out, dspark, version=0)
    for name in names:
        assert _same_rows(whole[name], complete[name]), name


def test_a_manifest_of_an_earlier_release_still_reads(dspark, retail, tmp_path):
    """A manifest whose rows name the tables (each commit's user metadata the status and the
    write), as earlier releases wrote it: read as before, and a new write on top of it is read
    through its property while the old version stays readable."""
    from synthohive_spark.io.writers import _MANIFEST_SCHEMA

    out = str(tmp_path / "older")
    names = ["customers", "products"]
    for name in names:
        retail[name].write.format("delta").save(os.path.join(out, name))
    rows = pd.DataFrame({"run_id": ["r0"] * 2, "status": ["complete"] * 2, "table": names,
                         "location": [os.path.join(out, n) for n in names],
                         "format": ["delta"] * 2, "version": [0, 0],
                         "written_at": [pd.Timestamp("2026-11-01")] * 2})
    (dspark.createDataFrame(rows, _MANIFEST_SCHEMA).write.format("delta")
     .option("userMetadata", "synthohive-spark complete r0").save(os.path.join(out, MANIFEST)))
    old = read_manifest(out, dspark)
    assert (old["status"], old["run_id"], old["complete_versions"]) == ("complete", "r0", [0])
    for name, df in read_output(out, dspark).items():
        assert _same_rows(df, retail[name]), name

    writer = DatabaseWriter(dspark, out, names, "delta", "overwrite")
    writer.write("customers", retail["customers"].limit(7))
    writer.write("products", retail["products"].limit(3))
    writer.finish()
    assert read_manifest(out, dspark)["complete_versions"] == [0, 2]
    new = read_output(out, dspark)
    assert (new["customers"].count(), new["products"].count()) == (7, 3)
    assert _same_rows(read_output(out, dspark, version=0)["customers"], retail["customers"])


def test_the_manifest_holds_any_table_location(dspark, retail, tmp_path):
    """Quotes, backslashes and letters beyond ASCII in the output's path go through the SQL
    literal of the manifest's property unchanged."""
    out = str(tmp_path / "it's a \\ \"db\" für Zoë")
    writer = DatabaseWriter(dspark, out, ["products"], "delta")
    writer.write("products", retail["products"])
    writer.finish()
    manifest = read_manifest(out, dspark)
    assert [t["location"] for t in manifest["tables"]] == [os.path.join(out, "products")]
    assert _same_rows(read_output(out, dspark)["products"], retail["products"])


def test_the_cli_fits_from_delta_and_catalog_tables_and_writes_delta(dspark, retail,
                                                                    retail_store, tmp_path):
    """`synthohive fit` from a catalog table (Delta, managed) and a Delta path as delta.`/path`,
    then `sample --format delta` to a folder and to a catalog database: the manifest says
    complete and the keys hold as read back from Delta."""
    from synthohive_spark.cli import main

    dspark.sql("CREATE DATABASE IF NOT EXISTS cli_delta_in")
    dspark.sql("CREATE DATABASE IF NOT EXISTS cli_delta_out")
    try:
        retail["customers"].write.format("delta").saveAsTable("cli_delta_in.customers")
        model_dir, meta = str(tmp_path / "model"), str(tmp_path / "meta.yaml")
        orders = os.path.join(retail_store, "orders")
        assert main(["fit", "customers=cli_delta_in.customers", f"orders=delta.`{orders}`",
                     "--model-dir", model_dir, "--metadata-out", meta, "--epochs", "1",
                     "--seed", "2"]) == 0
        md = Metadata.from_yaml(meta)
        for output in (str(tmp_path / "synth"), "cli_delta_out"):
            assert main(["sample", "--model-dir", model_dir, "--scale", "0.5", "--output",
                         output, "--format", "delta", "--seed", "1"]) == 0
            manifest = read_manifest(output, dspark)
            assert manifest["status"] == "complete"
            assert {t["table"] for t in manifest["tables"]} == {"customers", "orders"}
            back = read_output(output, dspark)
            assert back["customers"].count() == round(retail["customers"].count() * 0.5)
            check_integrity(md, back)
        assert dspark.sql("DESCRIBE DETAIL cli_delta_out.orders").first()["format"] == "delta"
    finally:
        dspark.sql("DROP DATABASE IF EXISTS cli_delta_in CASCADE")
        dspark.sql("DROP DATABASE IF EXISTS cli_delta_out CASCADE")


def test_a_folder_that_is_not_delta_is_never_overwritten(dspark, retail, tmp_path):
    out = str(tmp_path / "db")
    retail["customers"].write.parquet(os.path.join(out, "customers"))
    for mode in ("errorifexists", "overwrite"):
        with pytest.raises(OutputExistsError, match="not a Delta table"):
            DatabaseWriter(dspark, out, ["customers"], "delta", mode)
    assert dspark.read.parquet(os.path.join(out, "customers")).count() == retail["customers"].count()
    # nor is a folder where the manifest goes
    other = str(tmp_path / "db2")
    retail["customers"].write.parquet(os.path.join(other, MANIFEST))
    for mode in ("errorifexists", "overwrite"):
        with pytest.raises(OutputExistsError, match=f"{MANIFEST}.* not a Delta table"):
            DatabaseWriter(dspark, other, ["customers"], "delta", mode)
    assert len(os.listdir(other)) == 1
    assert dspark.read.parquet(os.path.join(other, MANIFEST)).count() == retail["customers"].count()


def test_catalog_database_as_delta(dspark, retail):
    dspark.sql("CREATE DATABASE IF NOT EXISTS synth_delta_test")
    try:
        names = ["products", "customers"]
        for mode, n in (("errorifexists", 30), ("overwrite", 12)):
            writer = DatabaseWriter(dspark, "synth_delta_test", names, "delta", mode)
            writer.write("products", retail["products"].limit(n))
            writer.write("customers", retail["customers"])
            writer.finish()
            with pytest.raises(OutputExistsError, match="products"):
                DatabaseWriter(dspark, "synth_delta_test", names, "delta")
        back = read_output("synth_delta_test", dspark)
        assert back["products"].count() == 12
        detail = dspark.sql("DESCRIBE DETAIL synth_delta_test.products").first()
        assert detail["format"] == "delta"
        ops = dspark.sql("DESCRIBE HISTORY synth_delta_test.products").orderBy("version").collect()
        assert [r["version"] for r in ops] == [0, 1]
        assert "REPLACE" in ops[1]["operation"]
        old = read_table("synth_delta_test.products", dspark, options={"versionAsOf": 0})
        assert old.count() == 30
        assert dspark.catalog.tableExists(f"synth_delta_test.{MANIFEST}")
    finally:
        dspark.sql("DROP DATABASE IF EXISTS synth_delta_test CASCADE")


def test_the_version_of_this_writes_commit_is_read_from_the_log(dspark, retail, tmp_path):
    """_delta_version finds a write's own commit: from the newest commit file when it is ours,
    through Delta's history when another commit came after it."""
    from synthohive_spark.io.writers import Target, _delta_version, _latest_commit, _write_delta

    target = Target("customers", "path", str(tmp_path / "customers"))
    df = retail["customers"]
    assert _write_delta(df, target, "errorifexists", "first") == 0
    assert _write_delta(df, target, "overwrite", "second") == 1
    assert _write_delta(df.limit(5), target, "overwrite", "third") == 2
    assert _latest_commit(dspark, target) == (2, "third")
    history = {r["userMetadata"]: r["version"] for r in
               dspark.sql(f"DESCRIBE HISTORY delta.`{target.location}`").collect()}
    assert history == {"first": 0, "second": 1, "third": 2}
    assert [_delta_version(dspark, target, n) for n in ("third", "second", "first")] == [2, 1, 0]
    assert _delta_version(dspark, target) == 2
    with pytest.raises(RuntimeError, match="no Delta commit 'fourth'"):
        _delta_version(dspark, target, "fourth")
    assert _latest_commit(dspark, Target("t", "path", str(tmp_path / "none"))) is None
