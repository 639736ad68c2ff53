"""The determinism harness: a generated DataFrame used twice in one query (union, exceptAll,
self-join on its key) is the same rows in both branches, for inputs in 1, 2 and 7 partitions,
local and file inputs, AQE on and off; and a twin's keys are unique whatever Spark does with a
local input. A row depends on (seed, table, the data's own partition and position), never on the
partition number Spark gives the task that computes it."""
from __future__ import annotations

import contextlib

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


def test_relational_tables_are_the_same_in_both_branches(spark):
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
    model = RelationalSynthesizer(metadata=md, model="gaussian_copula", seed=6,
                                  rowsPerPartition=400).fit(frames)
    out = model.sample(scale=1.0, seed=1)
    for df in out.values():
        df.unpersist()  # computed again in each branch, as a user's query over them would be
    for name, df in out.items():
        assert df.rdd.getNumPartitions() > 1
        assert_same_in_both_branches(df, md.tables[name].primary_key, f"relational table {name}")
