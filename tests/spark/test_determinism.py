"""The determinism harness: a generated DataFrame used twice in one query (union, exceptAll,
self-join on its key) is the same rows in both branches, for inputs in 1, 2 and 7 partitions,
local and file inputs, AQE on and off; and a twin's keys are unique whatever Spark does with a
local input. A row depends on (seed, table, the data's own partition and position), never on the
partition number Spark gives the task that computes it."""
from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from synthohive_spark.examples import retail_spark
from synthohive_spark.metadata import Metadata
from synthohive_spark.ml.cardinality import CardinalityEstimator
from synthohive_spark.ml.relational import RelationalSynthesizer
from synthohive_spark.ml.table import TableSynthesizer


def assert_same_in_both_branches(df, key: str | None, what: str) -> None:
    """``df`` used twice in one query gives the same rows: ``exceptAll`` with itself is empty,
    ``union`` with itself has no row that differs between the branches, and a self-join on
    ``key`` pairs every row with an equal one."""
    n = df.count()
    assert df.exceptAll(df).count() == 0, f"{what}: exceptAll with itself is not empty"
    both = df.union(df)
    assert both.count() == 2 * n, f"{what}: a union with itself has {both.count()} rows, not {2 * n}"
    assert both.distinct().count() == df.distinct().count(), \
        f"{what}: the branches of a union hold different rows"
    if key is not None:
        a, b = df.alias("a"), df.alias("b")
        others = [c for c in df.columns if c != key]
        differ = None
        for c in others:
            cond = ~F.col(f"a.{c}").eqNullSafe(F.col(f"b.{c}"))
            differ = cond if differ is None else differ | cond
        joined = a.join(b, F.col(f"a.{key}") == F.col(f"b.{key}"))
        if differ is not None:
            assert joined.where(differ).count() == 0, f"{what}: a self-join on {key} pairs different rows"


@contextlib.contextmanager
def aqe(spark, on: bool):
    old = spark.conf.get("spark.sql.adaptive.enabled")
    spark.conf.set("spark.sql.adaptive.enabled", str(on).lower())
    try:
        yield
    finally:
        spark.conf.set("spark.sql.adaptive.enabled", old)


@pytest.fixture(scope="module")
def retail(spark):
    return retail_spark(spark, seed=0, scale=0.25)


@pytest.fixture(scope="module")
def customer_model(retail):
    customers = retail["customers"]
    return TableSynthesizer(model="gaussian_copula", tableName="customers", seed=3,
                            keyCols=["customer_id"]).fit(customers)


def _inputs(spark, df, tmp_path):
    """The same rows as a local relation, a parquet file, and in 1, 2 and 7 partitions."""
    path = str(tmp_path / "input.parquet")
    df.write.parquet(path)
    files = spark.read.parquet(path)
    return {"local": df, "parquet": files, "1 partition": files.coalesce(1),
            "2 partitions": files.repartition(2), "7 partitions": df.repartition(7)}


def test_twins_of_a_local_input_have_unique_keys(customer_model, retail):
    # the README's own input: a local DataFrame; its twins' keys are 1..N once each
    tw = customer_model.transform(retail["customers"]).toPandas()
    assert len(tw) == retail["customers"].count()
    assert tw["customer_id"].is_unique
    assert sorted(tw["customer_id"]) == list(range(1, len(tw) + 1))


@pytest.mark.parametrize("adaptive", [True, False])
def test_transform_is_the_same_rows_in_both_branches(spark, customer_model, retail, tmp_path,
                                                     adaptive):
    with aqe(spark, adaptive):
        for name, df in _inputs(spark, retail["customers"], tmp_path).items():
            tw = customer_model.transform(df)
            assert_same_in_both_branches(tw, "customer_id", f"transform of {name} input")
            keys = tw.select("customer_id").toPandas()["customer_id"]
            assert keys.is_unique, f"transform of {name} input: duplicate keys"


def test_sample_with_condition_columns_is_the_same_rows_in_both_branches(spark, retail):
    orders = retail["orders"].select("order_id", "channel", "status", "shipping_cost")
    m = TableSynthesizer(model="gaussian_copula", tableName="orders", seed=2,
                         keyCols=["order_id"], conditionCols=["channel"]).fit(orders)
    with aqe(spark, True):
        assert_same_in_both_branches(m.sample(3000, numPartitions=3), "order_id",
                                     "sample with conditionCols")


def test_child_counts_are_the_same_in_both_branches(spark):
    parents = spark.range(1, 2001).select(F.col("id").alias("pid"),
                                          (F.col("id") % 5).cast("double").alias("size"))
    children = parents.select(F.col("pid").alias("parent"),
                              F.explode(F.sequence(F.lit(1), (F.col("pid") % 4 + 1).cast("int")))
                              .alias("k"))
    from synthohive_spark.ml.cardinality import with_child_counts

    cm = CardinalityEstimator(parentTable="p", childTable="c", foreignKey="parent",
                              parentKey="pid", contextCols=["size"], seed=4).fit(
        with_child_counts(parents, children, "pid", "parent"))
    for parts in (1, 2, 7):
        out = cm.transform(parents.repartition(parts))
        assert_same_in_both_branches(out, None, f"child rows of {parts} partitions")


@pytest.fixture(scope="module")
def orders_model(spark):
    rng = np.random.default_rng(1)
    customers = pd.DataFrame({"customer_id": np.arange(1, 301),
                              "segment": rng.choice(["retail", "b2b", "vip"], 300)})
    orders = pd.DataFrame({"order_id": np.arange(1, 1201),
                           "customer_id": rng.integers(1, 301, 1200),
                           "amount": np.round(rng.lognormal(3, 0.6, 1200), 2)})
    md = Metadata.from_dict({"tables": {
        "customers": {"primary_key": "customer_id", "columns": {
            "customer_id": {"sdtype": "id", "dtype": "bigint"},
            "segment": {"sdtype": "categorical", "dtype": "string"}}},
        "orders": {"primary_key": "order_id", "columns": {
            "order_id": {"sdtype": "id", "dtype": "bigint"},
            "customer_id": {"sdtype": "id", "dtype": "bigint"},
            "amount": {"sdtype": "numerical", "dtype": "double"}},
            "foreign_keys": [{"column": "customer_id", "parent_table": "customers",
                              "parent_column": "customer_id"}]}}})
    frames = {"customers": spark.createDataFrame(customers), "orders": spark.createDataFrame(orders)}
    return md, RelationalSynthesizer(metadata=md, model="gaussian_copula", seed=6,
                                     rowsPerPartition=400).fit(frames)


def test_relational_tables_are_the_same_in_both_branches(orders_model):
    md, model = orders_model
    out = model.sample(scale=1.0, seed=1)
    for df in out.values():
        df.unpersist()  # computed again in each branch, as a user's query over them would be
    for name, df in out.items():
        assert df.rdd.getNumPartitions() > 1
        assert_same_in_both_branches(df, md.tables[name].primary_key, f"relational table {name}")


@pytest.mark.parametrize("adaptive", [True, False])
def test_sanitized_and_pseudonymized_rows_are_the_same_in_both_branches(spark, retail, tmp_path,
                                                                        adaptive):
    from synthohive_spark.ml.pii import PIISanitizer
    from synthohive_spark.ml.pseudonymizer import HmacPseudonymizer

    customers = retail["customers"]
    key = "determinism-harness-key-7d1e"
    sanitizer = PIISanitizer(key=key, seed=5, defaultStrategy="fake",
                             strategies={"phone": "mask", "email": "hash"}).fit(customers)
    pseudo = HmacPseudonymizer(inputCols=["customer_id", "email"], key=key)
    with aqe(spark, adaptive):
        for name, df in _inputs(spark, customers, tmp_path / f"aqe{adaptive}").items():
            clean = sanitizer.transform(df)
            kept = clean.alias("c").join(df.alias("r"), "customer_id").where(
                (F.col("c.email") == F.col("r.email")) | (F.col("c.phone") == F.col("r.phone")))
            assert kept.count() == 0, f"PIISanitizer on {name} input kept real values"
            assert_same_in_both_branches(clean, "customer_id", f"PIISanitizer on {name} input")
            assert_same_in_both_branches(pseudo.transform(df), None,
                                         f"HmacPseudonymizer on {name} input")


@contextlib.contextmanager
def arrow_batch(spark, rows: int):
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    old = spark.conf.get(key)
    spark.conf.set(key, str(rows))
    try:
        yield
    finally:
        spark.conf.set(key, old)


def test_rows_do_not_depend_on_the_arrow_batch_size(spark, customer_model, retail, orders_model):
    """Rows reach a task's Python worker in Arrow batches of maxRecordsPerBatch rows; the chunks a
    task generates (and their seeds) follow the rows' own positions, not where a batch ends."""
    md, model = orders_model

    def rows(df) -> list[str]:
        return sorted(repr(tuple(r)) for r in df.collect())

    def run() -> dict[str, list[str]]:
        spark.catalog.clearCache()  # nothing reused from the other run
        out = {"twins": rows(customer_model.transform(retail["customers"].repartition(2)))}
        db = model.sample(scale=1.0, seed=1, numPartitions=2)
        out.update({t: rows(df) for t, df in db.items()})
        for df in db.values():
            df.unpersist()
        return out

    default = run()
    with arrow_batch(spark, 37):
        small = run()
    assert set(small) == {"twins", "customers", "orders"}
    for what in default:
        assert small[what] == default[what], f"{what}: other rows with Arrow batches of 37 rows"


def test_siblings_that_share_a_value_are_the_same_rows_in_both_branches_and_any_batches(spark):
    """A child table whose airline is drawn once per plane (its flights generated in one chunk
    per plane, under it): the same rows in both branches of a query and with Arrow batches of 37
    rows."""
    from conftest import fleet_database

    real = fleet_database(n_planes=200, seed=2)
    md = Metadata.detect(real)

    def fit() -> Any:
        return RelationalSynthesizer(metadata=md, model="gaussian_copula", seed=6,
                                     rowsPerPartition=300).fit(
            {t: spark.createDataFrame(df).repartition(3) for t, df in real.items()})

    model = fit()
    assert model._state["tables"]["flights"]["parentConstants"]["columns"] == ["carrier"]

    def run(model: Any = model) -> list[str]:
        spark.catalog.clearCache()
        out = model.sample(scale=1.0, seed=2, numPartitions=2)
        rows = sorted(repr(tuple(r)) for r in out["flights"].collect())
        for df in out.values():
            df.unpersist()
        return rows

    out = model.sample(scale=1.0, seed=2, numPartitions=2)
    for df in out.values():
        df.unpersist()
    assert out["flights"].rdd.getNumPartitions() > 1
    assert_same_in_both_branches(out["flights"], "flight_id", "flights under their planes' airline")
    default = run()
    with arrow_batch(spark, 37):
        assert run() == default
    # a second fit of the same seed (its per-parent tables collected in another order) is the
    # same model: the same rows
    assert run(fit()) == default
