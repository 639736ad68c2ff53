"""Metadata detection on Spark DataFrames agrees with pandas detection and rejects nested types."""
from __future__ import annotations

import pytest

from synthohive_spark.examples import RETAIL_SCHEMAS, retail_metadata, retail_spark, retail_tables
from synthohive_spark.metadata import Metadata, MetadataError

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark_db(spark):
    tables = retail_spark(spark, seed=0, scale=1.0)
    for df in tables.values():
        df.cache()
    yield tables
    for df in tables.values():
        df.unpersist()


@pytest.fixture(scope="module")
def pandas_db():
    return retail_tables(seed=0, scale=1.0)


def _keys(md: Metadata) -> dict:
    return {t: (cfg.primary_key,
                sorted((fk.column, fk.parent_table, fk.parent_column, fk.driver)
                       for fk in cfg.foreign_keys))
            for t, cfg in md.tables.items()}


def test_retail_spark_matches_pandas_tables(spark_db, pandas_db):
    for name, df in spark_db.items():
        assert df.schema.simpleString() == "struct<" + ",".join(
            part.strip().replace(" ", ":") for part in RETAIL_SCHEMAS[name].split(",")) + ">"
        assert df.count() == len(pandas_db[name])
    nulls = spark_db["orders"].where("shipping_cost IS NULL").count()
    assert nulls == int(pandas_db["orders"]["shipping_cost"].isna().sum()) > 0
    assert spark_db["orders"].where("isnan(shipping_cost)").count() == 0


def test_spark_detection_equals_pandas_detection(spark_db, pandas_db):
    on_spark = Metadata.detect(spark_db)
    on_pandas = Metadata.detect(pandas_db)
    assert on_spark.to_dict() == on_pandas.to_dict()
    assert _keys(on_spark) == _keys(retail_metadata())


def test_spark_detection_with_a_sample_keeps_exact_keys(spark_db):
    md = Metadata.detect(spark_db, sample_rows=400, seed=11)
    assert _keys(md) == _keys(retail_metadata())
    # bounds and nullability come from Spark aggregations over the whole table
    assert md.tables["customers"].columns["birth_year"].nullable is True
    row = spark_db["order_items"].agg({"unit_price": "max"}).collect()[0]
    assert md.tables["order_items"].columns["unit_price"].max == row[0]


@pytest.mark.parametrize("ddl,value,label", [
    ("payload map<string,int>", ({"a": 1},), "map<string,int>"),
    ("payload struct<a:int,b:string>", ((1, "x"),), "struct<a:int,b:string>"),
    ("payload binary", (bytearray(b"\x00\x01"),), "binary"),
    ("payload array<int>", ([1, 2],), "array<int>"),
])
def test_unsupported_spark_columns_are_rejected(spark, ddl, value, label):
    df = spark.createDataFrame([(1,) + value, (2,) + value], schema="id bigint, " + ddl)
    with pytest.raises(MetadataError) as err:
        Metadata.detect({"events": df})
    msg = str(err.value)
    assert "table 'events', column 'payload'" in msg and label in msg and "not supported" in msg


def test_detection_takes_sentinel_timestamps_outside_pandas_range(spark):
    import datetime as dt

    df = spark.createDataFrame(
        [(i, dt.datetime(2024, 1, 1) + dt.timedelta(hours=i) if i % 10 else dt.datetime(9999, 12, 31))
         for i in range(60)], "contract_id int, valid_to timestamp")
    meta = Metadata.detect({"contracts": df})
    col = meta.tables["contracts"].columns["valid_to"]
    assert str(col.sdtype) == "datetime"
    assert meta.tables["contracts"].primary_key == "contract_id"


@pytest.fixture(scope="module")
def storms(realdata):
    return realdata.storms()[0]


def test_spark_detection_finds_the_sequence_index_pandas_finds(spark, storms):
    on_pandas = Metadata.detect(storms)
    frames = {t: spark.createDataFrame(df) for t, df in storms.items()}
    # the tables fit the sample: read whole; with a small sample the child rows of the sampled
    # parents are read through a filter in Spark
    whole = Metadata.detect(frames)
    sampled = Metadata.detect(frames, sample_rows=2000)
    assert on_pandas.tables["observations"].sequence_index == "observed_at"
    for md in (whole, sampled):
        assert md.tables["observations"].sequence_index == "observed_at"
        assert not md.tables["storms"].reference
        assert _keys(md) == _keys(on_pandas)
    assert whole.to_dict() == on_pandas.to_dict()
    # the order of the rows decides: obs_id numbered backwards in time within each storm
    obs = frames["observations"].selectExpr(
        "20000 - obs_id AS obs_id", *[c for c in storms["observations"].columns if c != "obs_id"])
    md = Metadata.detect({"storms": frames["storms"], "observations": obs}, sample_rows=2000)
    assert md.tables["observations"].sequence_index is None
