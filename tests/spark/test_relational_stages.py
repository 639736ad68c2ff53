"""CardinalityEstimator/CardinalityModel as Spark ML stages, and the table readers."""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.sql import functions as F
from scipy.stats import ks_2samp

from synthohive_spark.examples import retail_spark
from synthohive_spark.io import TableSourceError, read_table
from synthohive_spark.ml._persist import ModelLoadError
from synthohive_spark.ml._spark_schema import SchemaError
from synthohive_spark.ml.cardinality import CardinalityEstimator, CardinalityModel, with_child_counts


@pytest.fixture(scope="module")
def retail(spark):
    return {k: v.cache() for k, v in retail_spark(spark, seed=2, scale=0.3).items()}


@pytest.fixture(scope="module")
def counted(retail):
    return with_child_counts(retail["customers"], retail["orders"], "customer_id", "customer_id")


@pytest.fixture(scope="module")
def card_model(counted):
    est = CardinalityEstimator(parentTable="customers", childTable="orders",
                               foreignKey="customer_id", parentKey="customer_id",
                               contextCols=["segment", "loyalty_tier", "lifetime_value"],
                               contextPrefix="p_", seed=5)
    return est.fit(counted)


def test_child_counts_include_parents_without_children(retail, counted):
    rows = counted.select("customer_id", "childCount").collect()
    assert len(rows) == retail["customers"].count()
    assert sum(r["childCount"] for r in rows) == retail["orders"].count()
    assert any(r["childCount"] == 0 for r in rows)       # Poisson(3) leaves some customers out
    with pytest.raises(SchemaError, match="already has a column 'childCount'"):
        with_child_counts(counted, retail["orders"], "customer_id", "customer_id")


def test_transform_emits_one_skeleton_row_per_child(card_model, retail, counted):
    customers = retail["customers"]
    skeleton = card_model.transform(customers)
    assert skeleton.columns == ["customer_id", "p_segment", "p_loyalty_tier", "p_lifetime_value"]
    assert skeleton.schema["customer_id"].dataType == customers.schema["customer_id"].dataType
    # context columns are the parent's values, row for row
    joined = skeleton.join(customers.select("customer_id", "segment"), "customer_id")
    assert joined.where(F.col("segment") != F.col("p_segment")).count() == 0
    real = np.array([r[0] for r in counted.select("childCount").collect()])
    got = skeleton.groupBy("customer_id").count()
    synth = np.array([r["count"] for r in customers.select("customer_id").join(
        got, "customer_id", "left").fillna(0, ["count"]).collect()])
    assert ks_2samp(real, synth).statistic < 0.12
    assert (synth == 0).mean() == pytest.approx((real == 0).mean(), abs=0.05)
    # the segment still drives the count
    seg = {r["p_segment"]: r["count"] for r in skeleton.groupBy("p_segment").count().collect()}
    n_seg = {r["segment"]: r["count"] for r in customers.groupBy("segment").count().collect()}
    assert seg["corporate"] / n_seg["corporate"] > 1.5 * seg["consumer"] / n_seg["consumer"]


def test_transform_is_deterministic_and_seeded(card_model, retail):
    customers = retail["customers"].repartition(3, "customer_id")
    a = sorted(card_model.transform(customers).collect())
    b = sorted(card_model.transform(customers).collect())
    assert a == b
    other = card_model.copy({card_model.seed: 99})
    assert sorted(other.transform(customers).collect()) != a


def test_stage_persistence_and_pipelines(card_model, retail, counted, tmp_path):
    path = str(tmp_path / "card")
    card_model.write().save(path)
    loaded = CardinalityModel.load(path)
    assert loaded.getContextCols() == card_model.getContextCols()
    assert loaded.stats == card_model.stats
    customers = retail["customers"]
    assert sorted(loaded.transform(customers).collect()) == \
        sorted(card_model.transform(customers).collect())
    pm = Pipeline(stages=[CardinalityEstimator(parentTable="customers", childTable="orders",
                                               foreignKey="customer_id",
                                               parentKey="customer_id",
                                               contextCols=["segment"], seed=5)]).fit(counted)
    pm.write().save(str(tmp_path / "pipe"))
    again = PipelineModel.load(str(tmp_path / "pipe"))
    assert sorted(again.transform(customers).collect()) == sorted(pm.transform(customers).collect())
    with pytest.raises(ModelLoadError):
        CardinalityModel.load(str(tmp_path / "nothing-here"))


def test_default_context_and_fit_errors(retail, counted):
    est = CardinalityEstimator(parentTable="customers", childTable="orders",
                               foreignKey="customer_id", parentKey="customer_id",
                               maxContextCols=3)
    m = est.fit(counted.select("customer_id", "segment", "loyalty_tier", "birth_year",
                               "lifetime_value", "childCount"))
    assert m.getContextCols() == ["segment", "loyalty_tier", "birth_year"]
    with pytest.raises(SchemaError, match=r"customers -> orders.customer_id.*no 'childCount'"):
        est.fit(retail["customers"])
    with pytest.raises(SchemaError, match="expected an integer child count"):
        est.fit(counted.withColumn("childCount", F.col("childCount").cast("double")))
    with pytest.raises(ValueError, match="maxLeaves must be >= 1"):
        CardinalityEstimator(maxLeaves=0)


def test_read_table_from_dataframe_path_and_catalog(spark, retail, tmp_path):
    products = retail["products"]
    assert read_table(products, spark) is products
    path = str(tmp_path / "products")
    products.write.parquet(path)
    assert read_table(path, spark).count() == products.count()
    products.write.option("header", "true").csv(str(tmp_path / "products_csv"))
    csv = read_table(str(tmp_path / "products_csv"), spark, fmt="csv")
    assert csv.count() == products.count() and "price" in csv.columns
    products.createOrReplaceTempView("synth_products_view")
    assert read_table("synth_products_view", spark).count() == products.count()
    with pytest.raises(TableSourceError, match=r"table 'p': path .* does not exist"):
        read_table(str(tmp_path / "missing"), spark, name="p")
    with pytest.raises(TableSourceError, match="catalog table 'no_such_table' does not exist"):
        read_table("no_such_table", spark)
    with pytest.raises(TableSourceError, match="expected a Spark DataFrame"):
        read_table(42, spark)
