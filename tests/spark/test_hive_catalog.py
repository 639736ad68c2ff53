"""A real local Hive metastore (embedded Derby) as the store: the retail example and realdata's
pizzaplace saved as managed tables, RelationalSynthesizer fitted from their catalog names (db.table
and spark_catalog.db.table), the synthetic databases written with sample(output=...) as managed
parquet tables (and Delta tables on a Spark line that Delta supports), an existing output refused
and left as it was, overwritten on request, writes that fail half way, and everything read back
through the metastore by another application with its keys checked.

A session's catalog is fixed when it starts and the shared test session has none, so the journey
runs as applications of its own (hive_scenario.py), its warehouse and Derby metastore in a
temporary folder and its working directory an empty one that must stay empty."""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import textwrap

import pytest

SCENARIO = os.path.join(os.path.dirname(__file__), "hive_scenario.py")
sys.path.insert(0, os.path.dirname(SCENARIO))
import hive_scenario as sc  # noqa: E402

sys.path.remove(os.path.dirname(SCENARIO))


def _delta_reason() -> str | None:
    """Why this line writes no Delta tables, or None when it does."""
    from synthohive_spark.errors import DeltaUnavailableError
    from synthohive_spark.session import delta_package

    try:
        delta_package()
    except DeltaUnavailableError as exc:
        return str(exc)
    return None


def _run(cwd: str, *args: str, env: dict | None = None, timeout: int = 900) -> dict:
    env = dict(env or os.environ, PYSPARK_PYTHON=sys.executable, OMP_NUM_THREADS="1")
    env.pop("SPARK_REMOTE", None)
    proc = subprocess.run([sys.executable, SCENARIO, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-6000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="module")
def journey(tmp_path_factory, realdata):
    """(what the writing application saw, what a second application read, formats, folders)."""
    work = tmp_path_factory.mktemp("hive")
    cwd, warehouse = work / "cwd", work / "warehouse"
    cwd.mkdir()
    formats = ["parquet"] + ([] if _delta_reason() else ["delta"])
    datasets = os.path.dirname(realdata.__file__)
    wrote = _run(str(cwd), "write", str(warehouse), str(work), ",".join(formats), datasets)
    read = _run(str(cwd), "check", str(warehouse), str(work), ",".join(formats))
    return wrote, read, formats, {"cwd": cwd, "warehouse": warehouse, "work": work}


def _metadata(journey, ds: str):
    from synthohive_spark.metadata import Metadata

    with open(journey[3]["work"] / f"{ds}.metadata.json") as fh:
        return Metadata.from_dict(json.load(fh))


def _intact(state: dict, md, provider: str) -> None:
    """Every table of ``md`` is there, a managed table of ``provider``, with rows, unique primary
    keys and every foreign key resolving, as read back from the store."""
    assert set(md.tables) <= set(state["tables"]), state["tables"]
    assert not [t for t in state["tables"] if t.startswith(("_tmp_", "_old_"))], state["tables"]
    assert set(state["rows"]) == set(md.tables)
    assert all(n > 0 for n in state["rows"].values()), state["rows"]
    assert all(v == 0 for v in state["duplicate_keys"].values()), state["duplicate_keys"]
    assert all(v == 0 for v in state["orphans"].values()), state["orphans"]
    fks = {f"{t}.{fk.column}" for t, c in md.tables.items() for fk in c.foreign_keys}
    assert set(state["fk_rows"]) == fks and all(state["fk_rows"][k] > 0 for k in fks)
    assert {k["provider"] for k in state["kinds"].values()} == {provider}
    assert {k["type"] for k in state["kinds"].values()} == {"MANAGED"}


def _roots_as_asked(state: dict, rows: dict) -> None:
    assert {t: state["rows"][t] for t in rows} == rows


def test_the_metastore_and_warehouse_live_in_the_given_folder(journey):
    wrote, read, _, where = journey
    assert wrote["catalog"] == "hive"
    assert wrote["warehouse"].replace("file:", "", 1).rstrip("/") == str(where["warehouse"])
    assert os.path.isdir(where["warehouse"] / "metastore_db")
    assert os.path.isfile(where["warehouse"] / "derby.log")
    assert os.path.isdir(where["warehouse"] / "retail_synth.db" / "orders")
    assert os.listdir(where["cwd"]) == []  # no metastore_db, derby.log or spark-warehouse here
    # a second application on the same metastore sees every database
    assert {"retail", "pizza", "retail_synth", "pizza_synth"} <= set(read["databases"])
    # and an active session's warehouse cannot change
    assert read["other_warehouse"].startswith("ValueError") \
        and "cannot change while it runs" in read["other_warehouse"]


def test_fit_reads_db_table_and_catalog_db_table_names(journey):
    wrote = journey[0]
    assert wrote["real_rows"]["pizza"] == {"menu": 91, "orders": 21_350, "order_items": 49_574}
    # the keys detected on the tables read through the metastore are pizzaplace's true keys
    assert wrote["pizza_keys"] == wrote["pizza_true_keys"]


@pytest.mark.parametrize("ds", ["retail", "pizza"])
def test_sample_writes_managed_parquet_tables_that_another_application_reads(journey, ds):
    _store_round_trip(journey, ds, "parquet")


def _store_round_trip(journey, ds: str, fmt: str) -> None:
    """The database sampled to the store (retail: refused, then overwritten), intact, and read
    the same through the metastore by another application."""
    wrote, read, _, _ = journey
    md = _metadata(journey, ds)
    rec = wrote[f"{ds}_{fmt}"]
    assert rec["output"] == sc.output_of(ds, fmt)  # retail_synth / spark_catalog.pizza_synth
    first, second = sc.ROWS[ds]
    _intact(rec["first"], md, fmt)
    _roots_as_asked(rec["first"], first)
    extra = {"_synthohive_manifest"} if fmt == "delta" else set()
    assert set(rec["first"]["tables"]) == set(md.tables) | extra
    final = rec["first"]
    if second is not None:
        # an existing output is refused, naming the tables, and left as it was
        assert rec["refused"].startswith("OutputExistsError")
        assert "customers" in rec["refused"] and "mode='overwrite'" in rec["refused"]
        assert rec["after_refusal"]["digests"] == rec["first"]["digests"]
        # overwrite replaces the database: its roots have the rows asked for the second time
        final = rec["second"]
        _intact(final, md, fmt)
        _roots_as_asked(final, second)
    # another application reads the same database through the metastore (Delta: read_output)
    again = read[f"{ds}_{fmt}"]
    _intact(again, md, fmt)
    assert again["digests"] == final["digests"] and again["rows"] == final["rows"]


def test_a_parquet_write_that_fails_half_way_leaves_no_table_in_place(journey):
    wrote, read, _, _ = journey
    md = _metadata(journey, "retail")
    fail, before = wrote["fail_parquet"], wrote["retail_parquet"]["second"]
    # a stray folder where the warehouse puts order_items: the last move fails, the tables
    # already moved into place are dropped again, the stray folder is left alone
    assert "LOCATION_ALREADY_EXISTS" in fail["stray"], fail["stray"]
    assert fail["stray_tables"] == [] and fail["stray_files"] == ["stray.txt"]
    assert read["all_tables"]["retail_fail_parquet"] == []
    # an overwrite whose second table fails while computed: the old database, whole
    assert "generation failed half way" in fail["computed"]
    _intact(fail["computed_state"], md, "parquet")
    assert fail["computed_state"]["digests"] == before["digests"]
    # an overwrite whose staged table vanished before the commit: the moves are undone
    assert len(fail["staged"]) == 1 and fail["staged"][0] in fail["vanished"]
    _intact(fail["vanished_state"], md, "parquet")
    assert fail["vanished_state"]["digests"] == before["digests"]
    # no temporary or moved-aside table is left in any database
    left = {db: [t for t in ts if t.startswith(("_tmp_", "_old_"))]
            for db, ts in read["all_tables"].items()}
    assert not any(left.values()), left


def test_names_of_a_catalog_the_session_does_not_have_are_refused(journey):
    refused = journey[0]["unknown_catalog"]
    assert refused["fit"].startswith("TableSourceError")
    assert "'nocat.retail." in refused["fit"] and "no catalog of that name" in refused["fit"]
    assert refused["sample"].startswith("ValueError")
    assert "'nocat.retail_synth'" in refused["sample"] and "spark_catalog" in refused["sample"]


@pytest.mark.parametrize("ds", ["retail", "pizza"])
def test_sample_writes_managed_delta_tables_with_a_manifest(journey, ds):
    if "delta" not in journey[2]:
        pytest.skip(f"no Delta on this Spark line: {_delta_reason()}")
    _store_round_trip(journey, ds, "delta")


def test_a_delta_write_that_fails_half_way_is_not_complete(journey):
    wrote, read, formats, _ = journey
    if "delta" not in formats:
        pytest.skip(f"no Delta on this Spark line: {_delta_reason()}")
    md = _metadata(journey, "retail")
    fail = wrote["fail_delta"]
    assert fail["stray"], "a stray folder at a managed table's location must fail its write"
    assert fail["stray_read"].startswith("IncompleteOutputError")
    assert read["fail_delta_read"].startswith("IncompleteOutputError")
    assert "generation failed half way" in fail["computed"]
    assert fail["computed_read"].startswith("IncompleteOutputError") \
        and "last complete one is manifest version" in fail["computed_read"]
    _intact(fail["computed_state"], md, "delta")
    assert fail["computed_state"]["digests"] == wrote["retail_delta"]["second"]["digests"]


def test_session_settings_that_cannot_apply_are_refused():
    from synthohive_spark.session import get_or_create_session

    with pytest.raises(ValueError, match="pass hive=True"):
        get_or_create_session(warehouse="/tmp/wh")
    with pytest.raises(ValueError, match="hive=True, connect=True"):
        get_or_create_session(hive=True, connect=True)
    with pytest.raises(ValueError, match="a local folder"):
        get_or_create_session(hive=True, warehouse="hdfs://nn/warehouse")


def test_a_spark_without_hive_classes_is_refused(tmp_path):
    """In a process of its own, on a SPARK_HOME that is this pyspark without its spark-hive jar:
    a plain session refuses hive=True (its catalog cannot change), and a new one says Hive is
    missing instead of failing at the first query."""
    import pyspark

    home = os.path.dirname(pyspark.__file__)
    fake = tmp_path / "spark-home"
    (fake / "jars").mkdir(parents=True)
    for entry in os.listdir(home):
        if entry != "jars":
            os.symlink(os.path.join(home, entry), fake / entry)
    hive_jars = [j for j in glob.glob(os.path.join(home, "jars", "*.jar"))
                 if os.path.basename(j).startswith("spark-hive_")]
    assert hive_jars, "this pyspark has no spark-hive jar to leave out"
    for jar in glob.glob(os.path.join(home, "jars", "*.jar")):
        if jar not in hive_jars:
            os.symlink(jar, fake / "jars" / os.path.basename(jar))
    code = textwrap.dedent(f"""
        import pytest
        from synthohive_spark.errors import HiveUnavailableError
        from synthohive_spark.session import get_or_create_session
        spark = get_or_create_session(master="local[1]")
        with pytest.raises(ValueError, match="catalog is 'in-memory'"):
            get_or_create_session(hive=True)
        spark.stop()
        with pytest.raises(HiveUnavailableError, match="no Hive support"):
            get_or_create_session(master="local[1]", hive=True, warehouse={str(tmp_path / 'wh')!r})
        from pyspark.sql import SparkSession
        assert SparkSession.getActiveSession() is None  # the session it started is stopped
        print("REFUSED")
    """)
    env = dict(os.environ, SPARK_HOME=str(fake), PYSPARK_PYTHON=sys.executable)
    env.pop("SPARK_REMOTE", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0 and "REFUSED" in done.stdout, done.stdout + done.stderr[-4000:]
