"""Reliability on real-world inputs: timestamps in a session time zone with daylight saving,
orphan references in the real data (kept at their share, as the metadata asks, and said at fit)."""
from __future__ import annotations

import contextlib
import datetime as dt
import logging

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import types as T

from synthohive_spark.metadata import Metadata
from synthohive_spark.ml.relational import RelationalSynthesizer
from synthohive_spark.ml.table import TableSynthesizer


@contextlib.contextmanager
def session_zone(spark, zone: str):
    old = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", zone)
    try:
        yield
    finally:
        spark.conf.set("spark.sql.session.timeZone", old)


def test_timestamps_in_a_daylight_saving_gap_are_generated_not_refused(spark):
    """America/New_York, 2024-03-10: 02:00-03:00 does not exist. Real events crowd the night around
    it; the model draws times inside the gap, which must move forward, not kill the job."""
    rng = np.random.default_rng(0)
    start = dt.datetime(2024, 3, 9, 20, 0)
    minutes = np.sort(rng.integers(0, 12 * 60, 3000))
    stamps = [start + dt.timedelta(minutes=int(m)) for m in minutes]
    stamps = [s for s in stamps if not (dt.datetime(2024, 3, 10, 2) <= s
                                        < dt.datetime(2024, 3, 10, 3))]
    schema = T.StructType([T.StructField("event_id", T.LongType()),
                           T.StructField("at", T.TimestampType()),
                           T.StructField("kind", T.StringType())])
    with session_zone(spark, "America/New_York"):
        df = spark.createDataFrame([(i + 1, s, ["a", "b"][i % 2]) for i, s in enumerate(stamps)],
                                   schema=schema)
        model = TableSynthesizer(model="gaussian_copula", tableName="events", seed=1,
                                 keyCols=["event_id"]).fit(df)
        fake = model.sample(20_000, numPartitions=2).toPandas()
        twins = model.transform(df).toPandas()
    assert len(fake) == 20_000 and fake["at"].notna().all() and len(twins) == len(stamps)
    # wall-clock times read back in the session's zone: none inside the gap, and the night
    # around it is populated as in the real data
    local = pd.to_datetime(fake["at"])
    gap = (local >= "2024-03-10 02:00") & (local < "2024-03-10 03:00")
    assert not gap.any()
    assert ((local >= "2024-03-10 00:00") & (local < "2024-03-10 05:00")).mean() > 0.2


def _orphan_database(seed: int = 0) -> dict[str, pd.DataFrame]:
    """100 customers; 800 orders, 180 of which point at customers that are not in the table
    (deleted accounts); each order's shop is one of 5 shops, or one that closed (60 orders)."""
    rng = np.random.default_rng(seed)
    customers = pd.DataFrame({"customer_id": np.arange(1, 101),
                              "segment": rng.choice(["retail", "b2b"], 100)})
    shops = pd.DataFrame({"shop_id": np.arange(1, 6), "city": ["Lyon", "Graz", "Porto",
                                                               "Turku", "Gent"],
                          "floor_m2": rng.integers(80, 400, 5)})
    cust = rng.integers(1, 101, 800)
    cust[:180] = rng.integers(1000, 1100, 180)  # not in customers
    shop = rng.integers(1, 6, 800)
    shop[rng.permutation(800)[:60]] = 9  # a closed shop
    orders = pd.DataFrame({"order_id": np.arange(1, 801), "customer_id": cust, "shop_id": shop,
                           "amount": np.round(rng.lognormal(3, 0.5, 800), 2)})
    return {"customers": customers, "shops": shops, "orders": orders}


def _metadata(orphans: str) -> Metadata:
    return Metadata.from_dict({"tables": {
        "customers": {"primary_key": "customer_id", "columns": {
            "customer_id": {"sdtype": "id", "dtype": "bigint"},
            "segment": {"sdtype": "categorical", "dtype": "string"}}},
        "shops": {"primary_key": "shop_id", "columns": {
            "shop_id": {"sdtype": "id", "dtype": "bigint"},
            "city": {"sdtype": "categorical", "dtype": "string"},
            "floor_m2": {"sdtype": "numerical", "dtype": "bigint"}}},
        "orders": {"primary_key": "order_id", "columns": {
            "order_id": {"sdtype": "id", "dtype": "bigint"},
            "customer_id": {"sdtype": "id", "dtype": "bigint"},
            "shop_id": {"sdtype": "id", "dtype": "bigint"},
            "amount": {"sdtype": "numerical", "dtype": "double"}},
            "foreign_keys": [
                {"column": "customer_id", "parent_table": "customers",
                 "parent_column": "customer_id", "driver": True, "orphans": orphans},
                {"column": "shop_id", "parent_table": "shops", "parent_column": "shop_id",
                 "orphans": orphans}]}}})


@pytest.mark.parametrize("orphans", ["null", "keep"])
def test_orphan_references_keep_their_share_as_the_metadata_asks(spark, caplog, orphans):
    real = _orphan_database()
    frames = {t: spark.createDataFrame(df) for t, df in real.items()}
    md = _metadata(orphans)
    assert Metadata.from_yaml(md.to_yaml()).tables["orders"].foreign_keys[0].orphans == orphans
    with caplog.at_level(logging.INFO, logger="synthohive_spark"):
        model = RelationalSynthesizer(metadata=md, model="gaussian_copula", seed=2).fit(frames)
    # the fit log says how many rows point nowhere and what generation makes of them
    assert "180 of 800 rows (22.5%) have a customer_id that matches no customers row" in caplog.text
    assert "60 of 800 rows (7.5%) have a shop_id that matches no shops row" in caplog.text
    out = {t: df.toPandas() for t, df in model.sample(scale=2.0, seed=3).items()}
    orders = out["orders"]
    # the table keeps its size: the orphans are generated, not dropped (real: 800 at scale 1)
    assert abs(len(orders) - 1600) / 1600 < 0.06
    cust_known = orders["customer_id"].isin(out["customers"]["customer_id"])
    shop_known = orders["shop_id"].isin(out["shops"]["shop_id"])
    if orphans == "null":
        assert orders["customer_id"].isna().mean() == pytest.approx(0.225, abs=0.04)
        assert cust_known[orders["customer_id"].notna()].all()
        assert orders["shop_id"].isna().mean() == pytest.approx(0.075, abs=0.03)
        assert shop_known[orders["shop_id"].notna()].all()
    else:
        assert orders["customer_id"].notna().all() and orders["shop_id"].notna().all()
        assert (~cust_known).mean() == pytest.approx(0.225, abs=0.04)
        assert (~shop_known).mean() == pytest.approx(0.075, abs=0.03)


def test_sizes_that_cannot_be_planned_are_refused_before_any_job(spark):
    df = spark.createDataFrame(pd.DataFrame({"k": np.arange(1, 201), "x": np.arange(200) * 0.5,
                                             "c": ["a", "b"] * 100}))
    model = TableSynthesizer(model="gaussian_copula", tableName="t", seed=1,
                             keyCols=["k"]).fit(df)
    with pytest.raises(ValueError, match=r"Table 't': sample: 1,000,000,000,000,000 rows .*"
                                         r"need 2,000,000,000 partitions; at most 200,000"):
        model.sample(10**15)
    with pytest.raises(ValueError, match=r"at most 2\*\*53"):
        model.sample(2**62)
    with pytest.raises(ValueError, match="numPartitions must be a positive int, got 0"):
        model.sample(10, numPartitions=0)
    assert model.sample(10**6, numPartitions=2).rdd.getNumPartitions() == 2  # planned lazily

    real = _orphan_database()
    frames = {t: spark.createDataFrame(d) for t, d in real.items()}
    rel = RelationalSynthesizer(metadata=_metadata("null"), model="gaussian_copula",
                                seed=2).fit(frames)
    with pytest.raises(ValueError, match=r"sample: table 'customers' and the tables under it: "
                                         r".* partitions; at most 200,000"):
        rel.sample(scale=1e9)
    with pytest.raises(ValueError, match="numPartitions must be a positive int"):
        rel.sample(numPartitions=0)


def test_column_names_equal_but_for_case_are_refused_clearly_or_work_case_sensitively(spark):
    from synthohive_spark.metadata import MetadataError

    pdf = pd.DataFrame({"id": np.arange(1, 101), "x": np.arange(100) * 1.0,
                        "X": np.arange(100) % 3})
    df = spark.createDataFrame(pdf)
    with pytest.raises(MetadataError, match=r"Table 't': columns 'x' and 'X' differ only in case"):
        Metadata.detect({"t": df})
    md = Metadata.detect({"t": pdf})  # pandas names are case-sensitive
    with pytest.raises(MetadataError, match=r"spark.sql.caseSensitive=true"):
        RelationalSynthesizer(metadata=md, model="gaussian_copula").fit({"t": df})
    spark.conf.set("spark.sql.caseSensitive", "true")
    try:
        out = RelationalSynthesizer(metadata=Metadata.detect({"t": df}), model="gaussian_copula",
                                    seed=1).fit({"t": df}).sample(scale=1.0)["t"].toPandas()
    finally:
        spark.conf.set("spark.sql.caseSensitive", "false")
    assert list(out.columns) == ["id", "x", "X"] and len(out) == 100
    assert set(out["X"]) <= {0, 1, 2}


def _damaged_copies(src: str, tmp_path) -> dict[str, str]:
    """Copies of the saved model at ``src``, each damaged one way."""
    import glob
    import hashlib
    import json
    import os
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    out = {}

    def copy(name: str) -> str:
        dst = str(tmp_path / name)
        shutil.copytree(src, dst)
        out[name] = dst
        return dst

    shutil.rmtree(os.path.join(copy("no_data"), "data"))
    for f in glob.glob(os.path.join(copy("empty_data"), "data", "*")):
        os.remove(f)
    for f in glob.glob(os.path.join(copy("truncated"), "data", "*.parquet")):
        with open(f, "r+b") as fh:
            fh.truncate(os.path.getsize(f) // 2)
    # blobs replaced by another (valid) model's, and the stage's checksums recomputed to match
    dst = copy("swapped")
    files = glob.glob(os.path.join(dst, "data", "*.parquet"))
    table = pq.read_table(files).to_pandas()
    other = pq.read_table(glob.glob(os.path.join(src + "_other", "data", "*.parquet"))).to_pandas()
    swap = dict(zip(other["name"], other["blob"]))
    table["blob"] = [swap.get(n, b) if n.startswith("model/") else b
                     for n, b in zip(table["name"], table["blob"])]
    for f in files:
        os.remove(f)
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False),
                   os.path.join(dst, "data", "part-00000.parquet"))
    meta_file = [f for f in glob.glob(os.path.join(dst, "metadata", "part-*"))][0]
    meta = json.loads(open(meta_file).read())
    meta["blobDigests"] = {n: hashlib.sha256(bytes(b)).hexdigest()
                           for n, b in zip(table["name"], table["blob"])}
    with open(meta_file, "w") as fh:
        fh.write(json.dumps(meta))
    for crc in glob.glob(os.path.join(dst, "*", ".*.crc")):
        os.remove(crc)
    return out


def test_damaged_model_directories_fail_at_load_naming_path_and_damage(spark, tmp_path):
    from synthohive_spark.ml._persist import ModelLoadError
    from synthohive_spark.ml.table import TableSynthesizerModel

    rng = np.random.default_rng(0)
    df = spark.createDataFrame(pd.DataFrame({"a": rng.normal(size=300), "b": rng.integers(0, 5, 300),
                                             "c": rng.choice(["x", "y"], 300)}))
    src = str(tmp_path / "good")
    TableSynthesizer(model="gaussian_copula", seed=1).fit(df).write().save(src)
    TableSynthesizer(model="gaussian_copula", seed=1).fit(df.select("a", "c")).write().save(
        src + "_other")
    TableSynthesizerModel.load(src).sample(5).count()  # the intact one loads and samples
    expected = {"no_data": "has no data/ folder", "empty_data": "data/ folder cannot be read",
                "truncated": "data/ folder cannot be read",
                "swapped": "its model model generates columns"}
    for name, path in _damaged_copies(src, tmp_path).items():
        with pytest.raises(ModelLoadError) as err:
            TableSynthesizerModel.load(path)
        assert path in str(err.value) and expected[name] in str(err.value), (name, err.value)


def test_unique_tokens_are_identifiers_generated_fresh_unique_and_in_their_shape(spark):
    import secrets

    rng = np.random.default_rng(3)
    n = 2000
    sessions = ["s" + secrets.token_hex(6) for _ in range(n)]  # s + 12 hex characters
    pdf = pd.DataFrame({"event_id": np.arange(1, n + 1), "session": sessions,
                        "kind": rng.choice(["view", "buy"], n), "ms": rng.integers(5, 900, n)})
    col = Metadata.detect({"events": pdf}).tables["events"].columns["session"]
    assert str(col.sdtype) == "id" and col.unique  # not a category, not free text
    df = spark.createDataFrame(pdf)
    fake = TableSynthesizer(model="gaussian_copula", tableName="events", seed=1).fit(df) \
        .sample(5000, numPartitions=3).toPandas()
    assert fake["session"].is_unique and not set(fake["session"]) & set(sessions)
    assert fake["session"].str.fullmatch(r"s[0-9a-z]{12}").mean() > 0.95
    md = Metadata.detect({"events": df})
    out = RelationalSynthesizer(metadata=md, model="gaussian_copula", seed=1).fit(
        {"events": df}).sample(scale=2.0)["events"].toPandas()
    assert len(out) == 2 * n and out["session"].is_unique
    assert not set(out["session"]) & set(sessions)


def test_nan_in_a_double_column_is_said_to_come_back_as_null(spark, caplog):
    rows = list(zip([1.0, float("nan"), 2.0, None, 3.0] * 40, ["a", "b", "c", "d", "e"] * 40))
    df = spark.createDataFrame(rows, schema="x double, c string")
    assert df.where("isnan(x)").count() == 40 and df.where("x is null").count() == 40
    with caplog.at_level(logging.WARNING, logger="synthohive_spark"):
        fake = TableSynthesizer(model="gaussian_copula", tableName="t", seed=1).fit(df) \
            .sample(400).toPandas()
    assert "column 'x' holds 40 NaN values (not NULL); they are learned and generated as NULL" \
        in caplog.text
    assert fake["x"].isna().mean() == pytest.approx(0.4, abs=0.08)
