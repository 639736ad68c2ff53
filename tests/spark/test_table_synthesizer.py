"""TableSynthesizer -> TableSynthesizerModel on a real local Spark session."""
from __future__ import annotations

import datetime as dt
import decimal
import glob
import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.feature import SQLTransformer
from pyspark.sql import functions as F
from pyspark.sql import types as T

from synthohive_spark.ml._persist import ModelLoadError
from synthohive_spark.ml._spark_schema import SchemaError
from synthohive_spark.ml.table import TableSynthesizer, TableSynthesizerModel

SCHEMA = T.StructType([
    T.StructField("cust_id", T.StringType(), False),
    T.StructField("age", T.IntegerType(), True),
    T.StructField("income", T.DoubleType(), True),
    T.StructField("segment", T.StringType(), True),
    T.StructField("vip", T.BooleanType(), True),
    T.StructField("signup", T.DateType(), True),
    T.StructField("last_seen", T.TimestampType(), True),
    T.StructField("balance", T.DecimalType(10, 2), True),
    T.StructField("visits", T.LongType(), False),
    T.StructField("region", T.StringType(), True),
])


def _rows(n: int, seed: int = 0) -> list[tuple]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        seg = rng.choice(["consumer", "corporate", "home"], p=[0.7, 0.2, 0.1])
        age = int(rng.integers(18, 80))
        income = float(rng.lognormal(10 + (seg == "corporate"), 0.4))
        rows.append((
            f"CUST-{i + 1:06d}",
            None if rng.random() < 0.1 else age,
            income,
            str(seg),
            bool(rng.random() < 0.2),
            dt.date(2020, 1, 1) + dt.timedelta(days=int(rng.integers(0, 1500))),
            dt.datetime(2024, 1, 1) + dt.timedelta(seconds=int(rng.integers(0, 3e7))),
            decimal.Decimal(f"{rng.normal(500, 100):.2f}"),
            int(rng.poisson(5 if seg == "corporate" else 2)),
            str(rng.choice(["north", "south", "east", "west"])),
        ))
    return rows


@pytest.fixture(scope="module")
def real_df(spark):
    return spark.createDataFrame(_rows(600), SCHEMA).repartition(3).cache()


@pytest.fixture(scope="module")
def fitted(real_df):
    synth = TableSynthesizer(model="ctgan", epochs=2, batchSize=200, seed=7, tableName="customers",
                             keyCols=["cust_id"])
    return synth.fit(real_df)


def _collect(df) -> list[tuple]:
    return [tuple(r) for r in df.collect()]


def test_params_follow_spark_ml_conventions():
    synth = TableSynthesizer(epochs=3, conditionCols=["segment"])
    assert synth.getEpochs() == 3 and synth.getConditionCols() == ["segment"]
    assert synth.getModel() == "auto" and synth.getBatchSize() == 500
    synth.setEpochs(5).setModel("tvae")
    assert synth.getEpochs() == 5 and synth.getModel() == "tvae"
    text = synth.explainParams()
    assert "maxTrainingRows" in text and "conditionCols" in text and "numProcesses" in text
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        TableSynthesizer(epochs=0)
    with pytest.raises(ValueError, match="modelParams"):
        TableSynthesizer(modelParams="{not json")
    with pytest.raises(ValueError, match=r"modelParams \['embedding_dim'\].*model='auto' picks"):
        TableSynthesizer(modelParams={"embedding_dim": 8})


def test_default_model_is_picked_per_table_and_recorded(real_df, tmp_path, caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="synthohive_spark.ml.table"):
        m = TableSynthesizer(tableName="cust", keyCols=["cust_id"], seed=3).fit(real_df)
    assert m._state["model"] == "gaussian_copula" and m.generative_model().name == "gaussian_copula"
    assert "auto:" in m._state["modelChoice"]
    assert any("model gaussian_copula (auto:" in r.getMessage() for r in caplog.records)
    assert any("fitted in" in r.getMessage() for r in caplog.records)
    m.save(str(tmp_path / "m"))
    assert type(m).load(str(tmp_path / "m"))._state["modelChoice"] == m._state["modelChoice"]


def test_sample_has_training_schema_and_unique_keys(fitted, real_df, spark):
    fake = fitted.sample(5000, numPartitions=3)
    assert fake.schema == real_df.schema  # names, types and nullability
    assert fake.rdd.getNumPartitions() == 3
    stats = fake.agg(F.count("*").alias("n"), F.countDistinct("cust_id").alias("k"),
                     F.sum(F.col("cust_id").rlike(r"^CUST-\d{6}$").cast("int")).alias("fmt")).first()
    assert stats["n"] == 5000 and stats["k"] == 5000 and stats["fmt"] == 5000
    # generated categories come from the real ones
    segs = {r[0] for r in fake.select("segment").distinct().collect()} - {None}
    assert segs <= {"consumer", "corporate", "home"}


def test_sample_is_deterministic_per_seed_and_partitioning(fitted):
    a = _collect(fitted.sample(3000, numPartitions=2))
    b = _collect(fitted.sample(3000, numPartitions=2))
    c = _collect(fitted.sample(3000, numPartitions=2, seed=8))
    assert a == b
    assert a != c


def test_use_gpu_generates_on_the_gpu_or_on_the_cpu_without_one(fitted):
    """useGpu=True on executors: CUDA where there is one (then the rows are the GPU's own, still
    reproducible), the CPU where there is none (then the very rows of useGpu=False)."""
    import torch

    on_gpu = fitted.copy({fitted.useGpu: True})
    a = _collect(on_gpu.sample(3000, numPartitions=2))
    assert a == _collect(on_gpu.sample(3000, numPartitions=2))
    cpu = _collect(fitted.sample(3000, numPartitions=2))
    assert (a == cpu) is (not torch.cuda.is_available())
    assert len({r[0] for r in a}) == 3000  # keys stay unique whatever the device


def test_recomputed_partition_gives_same_rows(fitted):
    fake = fitted.sample(2000, numPartitions=2)
    first = sorted(_collect(fake), key=str)
    # force a recompute of every partition through a different plan
    again = sorted(_collect(fake.select("*").filter(F.lit(True))), key=str)
    assert first == again


def test_transform_makes_one_twin_per_row(fitted, real_df):
    twin = fitted.transform(real_df)
    assert twin.schema == real_df.schema
    assert twin.count() == real_df.count()
    # twins' keys are dense and keep the real format across the input's 3 partitions
    keys = sorted(r[0] for r in twin.select("cust_id").collect())
    assert keys == [f"CUST-{i:06d}" for i in range(1, real_df.count() + 1)]
    # nothing copied: generated incomes are not the real ones
    real_income = {r[0] for r in real_df.select("income").collect()}
    fake_income = {r[0] for r in twin.select("income").collect()}
    assert len(real_income & fake_income) < 5


def test_condition_columns_are_taken_from_input(real_df):
    synth = TableSynthesizer(model="gaussian_copula", seed=3, conditionCols=["segment"],
                             keyCols=["cust_id"], tableName="customers")
    model = synth.fit(real_df)
    twin = model.transform(real_df)
    joined = real_df.select("segment").collect(), twin.select("segment").collect()
    assert [r[0] for r in joined[0]] == [r[0] for r in joined[1]]
    # sample() draws conditions from its own model of them: only real categories appear
    fake = model.sample(2000)
    assert fake.count() == 2000
    assert {r[0] for r in fake.select("segment").distinct().collect()} <= {"consumer", "corporate", "home"}
    # the condition drives the generated columns: corporate incomes stay higher
    means = {r[0]: r[1] for r in twin.groupBy("segment").agg(F.avg("income")).collect()}
    assert means["corporate"] > means["consumer"]


def test_save_load_samples_the_same_rows(fitted, tmp_path):
    path = str(tmp_path / "model")
    fitted.write().save(path)
    loaded = TableSynthesizerModel.load(path)
    assert loaded.uid == fitted.uid
    assert loaded.getEpochs() == fitted.getEpochs()
    assert _collect(loaded.sample(1500, numPartitions=2)) == _collect(fitted.sample(1500, numPartitions=2))
    with pytest.raises(FileExistsError, match="already exists"):
        fitted.write().save(path)
    fitted.write().overwrite().save(path)
    assert TableSynthesizerModel.load(path).sample(10).count() == 10
    # saved state is JSON + tensors: no pickle anywhere in the files
    for f in glob.glob(path + "/**/*", recursive=True):
        if os.path.isfile(f) and f.endswith(".parquet"):
            assert b"cpickle" not in open(f, "rb").read().lower()


def test_pipeline_with_spark_stages_saves_and_loads(real_df, tmp_path):
    sql = SQLTransformer(statement="SELECT cust_id, age, income, segment FROM __THIS__ WHERE age IS NOT NULL")
    synth = TableSynthesizer(model="gaussian_copula", seed=11, keyCols=["cust_id"])
    pm = Pipeline(stages=[sql, synth]).fit(real_df)
    path = str(tmp_path / "pipeline")
    pm.write().overwrite().save(path)
    loaded = PipelineModel.load(path)
    assert isinstance(loaded.stages[1], TableSynthesizerModel)
    twin = loaded.transform(real_df)
    assert twin.columns == ["cust_id", "age", "income", "segment"]
    assert twin.count() == real_df.filter("age IS NOT NULL").count()
    assert _collect(loaded.stages[1].sample(500)) == _collect(pm.stages[1].sample(500))
    # and in a new session (its own process and JVM): the same rows, written where we can read them
    out = str(tmp_path / "from-new-session")
    code = textwrap.dedent(f"""
        from pyspark.ml import PipelineModel
        from synthohive_spark.session import get_or_create_session
        spark = get_or_create_session(app_name="pipeline-reload", master="local[1]")
        PipelineModel.load({path!r}).stages[1].sample(500, numPartitions=2).write.parquet({out!r})
        spark.stop()
    """)
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    again = real_df.sparkSession.read.parquet(out)
    assert sorted(_collect(again)) == sorted(_collect(pm.stages[1].sample(500, numPartitions=2)))


def test_a_save_that_fails_half_way_leaves_nothing_loadable(fitted, tmp_path, monkeypatch):
    from pyspark.ml.util import DefaultParamsWriter

    path = str(tmp_path / "m")

    def boom(*args, **kwargs):
        raise OSError("disk full while writing metadata")

    monkeypatch.setattr(DefaultParamsWriter, "_get_metadata_to_save", boom)
    with pytest.raises(OSError, match="disk full"):
        fitted.write().save(path)
    assert os.path.isdir(os.path.join(path, "data"))  # the blobs were written, the marker was not
    with pytest.raises(ModelLoadError, match="did not finish"):
        TableSynthesizerModel.load(path)
    monkeypatch.undo()
    fitted.write().save(path + "-ok")
    monkeypatch.setattr(DefaultParamsWriter, "_get_metadata_to_save", boom)
    with pytest.raises(OSError, match="disk full"):  # overwriting a good model, failing half way
        fitted.write().overwrite().save(path + "-ok")
    with pytest.raises(ModelLoadError, match="did not finish"):
        TableSynthesizerModel.load(path + "-ok")


def test_bad_input_errors(spark, real_df, tmp_path):
    empty = spark.createDataFrame([], SCHEMA)
    with pytest.raises(SchemaError, match="'t'.*empty"):
        TableSynthesizer(tableName="t").fit(empty)
    bad = spark.createDataFrame([(1, {"a": 1})], "id int, attrs map<string,int>")
    with pytest.raises(SchemaError, match=r"attrs \(map<string,int>\)"):
        TableSynthesizer(tableName="t").fit(bad)
    with pytest.raises(SchemaError, match=r"conditionCols \['nope'\]"):
        TableSynthesizer(tableName="t", conditionCols=["nope"]).fit(real_df)
    with pytest.raises(ValueError, match="numProcesses=64"):
        TableSynthesizer(tableName="t", numProcesses=64).fit(real_df)
    with pytest.raises(ModelLoadError, match="No saved synthohive-spark model"):
        TableSynthesizerModel.load(str(tmp_path / "nothing-here"))
    ratios = spark.createDataFrame([(float("inf") if i % 9 == 0 else i / 7, i % 3) for i in range(90)],
                                   "ratio double, g int")
    with pytest.raises(SchemaError, match="'ratios'.*'ratio'.*infinite"):
        TableSynthesizer(model="gaussian_copula", tableName="ratios").fit(ratios)
    sentinel = spark.createDataFrame(
        [(dt.datetime(2024, 1, 1) + dt.timedelta(days=i) if i % 10 else dt.datetime(9999, 12, 31), i % 3)
         for i in range(90)], "valid_to timestamp, g int")
    with pytest.raises(SchemaError, match=r"'contracts'.*'valid_to'.*9999-12-31.*null"):
        TableSynthesizer(model="gaussian_copula", tableName="contracts").fit(sentinel)


def test_incompatible_or_tampered_model_is_refused(fitted, tmp_path):
    path = str(tmp_path / "m")
    fitted.write().save(path)
    meta_file = glob.glob(path + "/metadata/part-*")[0]
    original = open(meta_file).read()
    meta = json.loads(original)
    meta["synthohiveFormat"] = 99
    open(meta_file, "w").write(json.dumps(meta))
    for crc in glob.glob(path + "/metadata/.*.crc"):
        os.remove(crc)
    with pytest.raises(ModelLoadError, match="format 99"):
        TableSynthesizerModel.load(path)
    meta["synthohiveFormat"] = 1
    meta["blobDigests"]["state.json"] = "0" * 64
    open(meta_file, "w").write(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="state.json"):
        TableSynthesizerModel.load(path)


def test_distributed_training_with_two_processes(spark, real_df, tmp_path):
    synth = TableSynthesizer(model="ctgan", epochs=1, batchSize=100, seed=5, numProcesses=2,
                             keyCols=["cust_id"], tableName="customers")
    model = synth.fit(real_df)
    fake = model.sample(1000)
    assert fake.schema == real_df.schema and fake.count() == 1000
    path = str(tmp_path / "ddp")
    model.write().save(path)
    assert _collect(TableSynthesizerModel.load(path).sample(300)) == _collect(model.sample(300))


def test_pii_columns_are_never_learned(spark):
    from synthohive_spark import examples
    from synthohive_spark.metadata import Metadata

    customers = examples.retail_spark(spark, seed=3, scale=0.3)["customers"]
    meta = Metadata.detect({"customers": customers})
    cfg = meta.tables["customers"]
    pii = [c for c, cc in cfg.columns.items() if cc.pii]
    assert {"email", "phone", "first_name"} <= set(pii)
    model = TableSynthesizer(model="gaussian_copula", seed=2, tableName="customers",
                             tableMetadata=cfg).fit(customers)
    # the fitted core model has no PII column in it
    assert not set(pii) & set(model.generative_model().data_columns)
    fake = model.sample(2000, numPartitions=2)
    assert fake.schema == customers.schema
    for col in ("email", "phone"):  # names repeat in any population; emails and phones must not
        real_vals = {r[0] for r in customers.select(col).collect()} - {None}
        fake_vals = [r[0] for r in fake.select(col).collect() if r[0] is not None]
        assert len(fake_vals) > 1000 and not real_vals & set(fake_vals), col
    names = [r[0] for r in fake.select("first_name").collect()]
    assert all(isinstance(v, str) and v[:1].isupper() for v in names if v is not None)
    emails = [r[0] for r in fake.select("email").collect() if r[0] is not None]
    assert all("@" in e and "." in e.split("@")[1] for e in emails)
    assert _collect(model.sample(300, numPartitions=2)) == _collect(model.sample(300, numPartitions=2))


def test_quality_gate_on_fit_and_sample(real_df):
    from synthohive_spark.validation import QualityGateError

    cols = ["cust_id", "age", "income", "segment", "vip"]
    small = real_df.select(*cols)
    with pytest.raises(QualityGateError):
        # one epoch of CTGAN cannot reach a near-perfect score: the gate must say so at fit
        TableSynthesizer(model="ctgan", epochs=1, batchSize=100, seed=1, keyCols=["cust_id"],
                         minQuality=0.99).fit(small)
    model = TableSynthesizer(model="gaussian_copula", seed=1, keyCols=["cust_id"],
                             minQuality=0.5).fit(small)
    assert model.sample(100).count() == 100  # passed at fit
    with pytest.raises(QualityGateError):
        model.sample(100, minQuality=0.999, reference=small)


def test_free_text_is_never_copied(spark):
    rng = np.random.default_rng(5)
    words = ["deliver", "back", "door", "gift", "wrap", "call", "before", "fragile", "leave",
             "porch", "ring", "bell", "neighbour", "office", "hours", "weekend", "only"]
    rows = [(i, " ".join(rng.choice(words, rng.integers(3, 12))) if rng.random() > 0.2 else None,
             float(rng.normal())) for i in range(400)]
    df = spark.createDataFrame(rows, "id long, notes string, x double")
    meta = {"columns": {"id": {"sdtype": "id"}, "notes": {"sdtype": "text"},
                        "x": {"sdtype": "numerical"}}, "primary_key": "id"}
    model = TableSynthesizer(model="gaussian_copula", seed=1, tableMetadata=meta).fit(df)
    assert "notes" not in model.generative_model().data_columns
    fake = model.sample(1000)
    real_notes = {r[0] for r in df.select("notes").collect()} - {None}
    fake_notes = [r[0] for r in fake.select("notes").collect()]
    present = [v for v in fake_notes if v is not None]
    assert not real_notes & set(present)
    assert 0.1 < 1 - len(present) / len(fake_notes) < 0.3  # the real null share (~0.2)
    lengths = [len(v.split()) for v in present]
    assert 2 <= np.median(lengths) <= 12


def test_dates_decimals_and_keys_keep_types_and_format(fitted, real_df):
    from synthohive_spark.ml import _generation as gen

    rows = fitted.sample(700, numPartitions=2).collect()
    lo, hi = real_df.agg(F.min("balance"), F.max("balance")).first()
    for r in rows:
        assert isinstance(r.signup, dt.date) and not isinstance(r.signup, dt.datetime)
        assert r.balance is None or (isinstance(r.balance, decimal.Decimal) and
                                     r.balance.as_tuple().exponent == -2 and lo <= r.balance <= hi)
    assert sorted(r.cust_id for r in rows) == [f"CUST-{i:06d}" for i in range(1, 701)]
    # the executors' Arrow-backed output holds exactly the values of the plain pandas output
    plan = fitted.generation_plan("customers")
    request = pd.DataFrame({"part": [0], "start": [0], "count": [300]})
    arrow = next(gen.sample_partitions(plan, iter([request])))
    seed = gen.row_seed(plan.seed, plan.stream, 0, 0)
    plain = gen._assemble(plan, gen.generate_rows(plan, 300, None, seed, arrow=False), None,
                          {c: gen.key_values(s, 0, 300) for c, s in plan.key_specs.items()}, seed,
                          np.arange(300))
    if gen.arrow_columns_ok():
        assert isinstance(arrow["balance"].dtype, pd.ArrowDtype) and isinstance(arrow["signup"].dtype, pd.ArrowDtype)
        assert isinstance(arrow["segment"].dtype, pd.ArrowDtype)  # string categories: an Arrow take
    assert plain["balance"].dtype == object and isinstance(plain["balance"].dropna().iloc[0], decimal.Decimal)
    for c in plan.columns:
        assert arrow[c].astype(object).where(arrow[c].notna(), None).tolist() == \
            plain[c].astype(object).where(plain[c].notna(), None).tolist(), c


def test_key_formats():
    from synthohive_spark.ml import _generation as gen

    spec = {"kind": "pattern", "prefix": "ORD-", "suffix": "/X", "width": 5, "offset": 1}
    assert gen.key_values(spec, 0, 3).tolist() == ["ORD-00001/X", "ORD-00002/X", "ORD-00003/X"]
    assert gen.key_values(spec, 123455, 1, arrow=True).tolist() == ["ORD-123456/X"]
    assert gen.key_values({"kind": "pattern", "width": 3, "offset": -2}, 0, 3).tolist() == ["-02", "-01", "000"]
    assert gen.key_values({"kind": "int", "offset": 10}, 5, 2).tolist() == [15, 16]


def test_tables_with_nothing_to_learn_still_generate(spark, tmp_path):
    """Only a key, free text and e-mails (generated fresh, never learned): no model, the rows come
    anyway; every column constant or missing: the network has no outputs and is not trained."""
    notes = spark.createDataFrame(
        [(i, f"free text number {i} with some words in it", f"user{i}@example.com") for i in range(120)],
        "id int, note string, email string")
    model = TableSynthesizer(model="ctgan", epochs=1, seed=3, tableName="notes").fit(notes)
    rows = model.sample(250, numPartitions=2).collect()
    assert len(rows) == 250 and len({r.id for r in rows}) == 250
    real_notes = {r.note for r in notes.collect()}
    assert not any(r.note in real_notes for r in rows)
    assert all(re.match(r"^[^@\s]+@[a-z]+\.[a-z]+$", r.email) and len(r.email) <= 19 for r in rows)
    model.write().overwrite().save(str(tmp_path / "notes"))
    assert TableSynthesizerModel.load(str(tmp_path / "notes")).sample(250, numPartitions=2).collect() == rows
    with pytest.raises(SchemaError, match="nothing to validate"):
        TableSynthesizer(model="ctgan", epochs=1, tableName="notes", minQuality=0.5).fit(notes)

    consts = spark.createDataFrame([(i, None, "k", 2.5) for i in range(120)], "a int, b string, c string, d double")
    for name in ("ctgan", "tvae"):
        out = TableSynthesizer(model=name, epochs=1, seed=3, tableName="consts").fit(consts).sample(50).collect()
        assert [(r.b, r.c, r.d) for r in out] == [(None, "k", 2.5)] * 50


def test_timestamps_keep_their_calendar_step(spark):
    hourly = spark.createDataFrame(
        [(dt.datetime(2024, 1, 1) + dt.timedelta(hours=int(h)), float(h % 7))
         for h in np.random.default_rng(0).integers(0, 2000, 300)], "ts timestamp_ntz, x double")
    rows = TableSynthesizer(model="gaussian_copula", seed=1, tableName="hourly").fit(hourly).sample(300).collect()
    assert all(r.ts.minute == r.ts.second == r.ts.microsecond == 0 for r in rows)
    assert len({r.ts for r in rows}) > 50


def test_timestamps_keep_their_daily_cycle(spark, tmp_path):
    """A shop open 11:00-23:00 over four months: the timestamps (with and without a time zone)
    are learned as a day and a time of day, so no synthetic order comes at night."""
    rng = np.random.default_rng(3)
    day = rng.integers(0, 120, 3000)
    secs = (rng.uniform(11, 23, 3000) * 3600).astype(int)
    rows = [(dt.datetime(2024, 1, 1) + dt.timedelta(days=int(d), seconds=int(s)),) * 2
            + (float(s % 11),) for d, s in zip(day, secs)]
    real = spark.createDataFrame(rows, "at timestamp, at_ntz timestamp_ntz, x double")
    model = TableSynthesizer(model="gaussian_copula", seed=1, tableName="orders").fit(real)
    model.write().save(str(tmp_path / "m"))
    fake = TableSynthesizerModel.load(str(tmp_path / "m")).sample(3000, seed=2)
    assert fake.schema == real.schema
    hours = fake.select(F.hour("at").alias("h"), F.hour("at_ntz").alias("h2"),
                        F.to_date("at").alias("d")).toPandas()
    for h in (hours.h, hours.h2):
        assert ((h >= 11) & (h <= 22)).mean() > 0.995  # as one number: a third of them at night
    assert hours.d.nunique() > 100 and hours.d.min() >= dt.date(2024, 1, 1)


def test_no_row_ends_before_it_starts(spark):
    """Start and end timestamps, a low and a high estimate (bounded by the detected metadata):
    each end is learned as its gap after the start, so no synthetic row contradicts itself."""
    rng = np.random.default_rng(4)
    n = 2000
    rows = []
    for d, g, low, f in zip(rng.integers(0, 2000, n), rng.gamma(1.5, 20, n),
                            np.round(rng.lognormal(6, 1, n), 2), rng.uniform(1, 1.5, n)):
        start = dt.datetime(2019, 1, 1) + dt.timedelta(days=int(d))
        rows.append((start, start + dt.timedelta(days=float(g)), float(low),
                     float(round(low * f, 2))))
    real = spark.createDataFrame(rows, "started timestamp, ended timestamp, low double, high double")
    fake = TableSynthesizer(model="gaussian_copula", seed=1, tableName="jobs").fit(real).sample(n)
    assert fake.filter("ended < started OR high < low").count() == 0
    assert fake.filter("ended > started AND high > low").count() > 0.9 * n


def test_numbers_of_a_rows_dates_agree_with_them(spark, tmp_path):
    """An order's date, its shipping date, the days between, its month and the hour of its
    timestamp, as a warehouse table keeps them: the days, the month and the hour are computed from
    the generated dates (also after a save and load), so no row says March beside a February
    date or two days beside a week."""
    rng = np.random.default_rng(6)
    n = 2000
    rows = []
    for d, m, wait in zip(rng.integers(0, 900, n), rng.integers(6 * 60, 22 * 60, n),
                          rng.integers(0, 12, n)):
        at = dt.datetime(2022, 1, 1) + dt.timedelta(days=int(d), minutes=int(m))
        rows.append((at, at.date(), at.date() + dt.timedelta(days=int(wait)), int(wait),
                     at.month, at.hour, float(round(rng.gamma(2.0, 30.0), 2))))
    real = spark.createDataFrame(rows, "ordered_at timestamp, ordered date, shipped date, "
                                       "days_to_ship int, order_month int, order_hour int, "
                                       "amount double")
    model = TableSynthesizer(model="gaussian_copula", seed=1, tableName="orders").fit(real)
    model.write().save(str(tmp_path / "m"))
    for m in (model, TableSynthesizerModel.load(str(tmp_path / "m"))):
        fake = m.sample(n, seed=3).cache()
        assert fake.schema == real.schema
        assert fake.filter("datediff(shipped, ordered) != days_to_ship OR month(ordered_at) "
                           "!= order_month OR hour(ordered_at) != order_hour").count() == 0
        assert fake.select("days_to_ship").distinct().count() > 5
        fake.unpersist()


def test_a_fake_birth_date_agrees_with_the_age_and_birth_year_of_its_row(spark):
    """A birth date is PII (faked, never learned); the age at the visit and the birth year are
    learned. Each fake is drawn within what its row's age and birth year allow, so that no row
    says 1970 beside a 30-year-old seen in 1990."""
    rng = np.random.default_rng(8)
    n = 1500
    rows = []
    for b, v, w in zip(rng.integers(0, 25_000, n), rng.integers(0, 3_000, n),
                       rng.normal(75, 12, n)):
        born = dt.date(1930, 1, 1) + dt.timedelta(days=int(b))
        seen = dt.date(2015, 1, 1) + dt.timedelta(days=int(v))
        age = seen.year - born.year - ((seen.month, seen.day) < (born.month, born.day))
        rows.append((born, seen, age, born.year, float(round(w, 1))))
    real = spark.createDataFrame(rows, "date_of_birth date, visit date, age int, birth_year int, "
                                       "weight double")
    model = TableSynthesizer(model="gaussian_copula", seed=1, tableName="visits").fit(real)
    assert model._state["piiSpecs"]["date_of_birth"]["anchors"]
    fake = model.sample(n, seed=2).cache()
    assert fake.schema == real.schema
    wrong = fake.filter("""year(date_of_birth) != birth_year OR age != year(visit)
        - year(date_of_birth) - CASE WHEN month(visit) * 100 + dayofmonth(visit)
        < month(date_of_birth) * 100 + dayofmonth(date_of_birth) THEN 1 ELSE 0 END""").count()
    assert wrong == 0
    real_keys = {r[0] for r in real.select("date_of_birth").collect()}
    made = [r[0] for r in fake.select("date_of_birth").collect()]
    assert len(set(made)) > 0.5 * n and len(set(made) & real_keys) < 0.2 * n  # drawn, not copied
    fake.unpersist()


def test_free_text_is_fresh_text_of_the_columns_common_words(spark):
    """A review (free text) is never learned as values: fresh text of the reviews' common words
    (a vote count is no word; no real review comes back); under differential privacy filler
    words (the length profile only)."""
    rng = np.random.default_rng(5)
    n = 300
    phrases = ["a slow start", "the ending surprised me", "great acting all round",
               "too long by half", "the music stays with you", "worth seeing twice"]
    genre = rng.choice(["drama", "comedy", "horror", "documentary"], n)
    pdf = pd.DataFrame({
        "film_id": range(1, n + 1), "genre": genre,
        "rating": np.round(np.where(genre == "documentary", 7.5, 6.0) + rng.normal(0, 0.5, n), 1),
        "review": [f"{phrases[a].capitalize()}, {phrases[b]} ({i} votes)."
                   for i, (a, b) in enumerate(rng.integers(0, len(phrases), (n, 2)))]})
    df = spark.createDataFrame(pdf).repartition(3)
    model = TableSynthesizer(model="gaussian_copula", tableName="films", seed=2,
                             keyCols=["film_id"]).fit(df)
    assert model._state["tableConfig"]["columns"]["review"]["sdtype"] == "text"
    assert "review" not in model._state["learnedCols"]
    words = set(model._state["piiSpecs"]["review"]["fmt"]["words"])
    assert {"ending", "surprised", "music", "twice"} <= words and not any(w.isdigit() for w in words)
    fake = model.sample(n, numPartitions=3).toPandas()
    assert fake["review"].str.findall(r"[^\W\d_]+").map(lambda ws: {w.lower() for w in ws} <= words).all()
    assert not fake["review"].isin(pdf["review"]).any()
    dp = TableSynthesizer(model="gaussian_copula", tableName="films", seed=2, epsilon=5.0,
                          keyCols=["film_id"]).fit(df)
    assert "words" not in dp._state["piiSpecs"]["review"]["fmt"]   # the length profile only
    dp_words = set(" ".join(dp.sample(n).toPandas()["review"]).lower().replace(".", "").split())
    assert len(dp_words - words) > 0.8 * len(dp_words)


def test_a_unique_label_column_stays_unique_and_real_in_a_single_table(spark, tmp_path):
    """A product catalogue: every name is distinct (detected unique); the synthetic catalogue
    uses each real name once, then numbered ones, never a repeat, saved and loaded alike."""
    rng = np.random.default_rng(4)
    names = [f"{a} {b}" for a in ("Oak", "Pine", "Birch", "Maple", "Cedar", "Elm")
             for b in ("Desk", "Chair", "Shelf", "Table", "Bench", "Stool", "Cabinet")]  # 42
    shuffled = [names[i] for i in rng.permutation(len(names))]
    pdf = pd.DataFrame({"product_id": range(1, 43), "name": shuffled,
                        "category": rng.choice(["office", "home"], 42),
                        "price": np.round(rng.uniform(20, 400, 42), 2)})
    df = spark.createDataFrame(pdf).repartition(3)
    model = TableSynthesizer(model="gaussian_copula", tableName="products", seed=2,
                             keyCols=["product_id"]).fit(df)
    assert model._state["tableConfig"]["columns"]["name"]["unique"]
    assert "name" not in model._state["learnedCols"]
    one = model.sample(42, numPartitions=3).toPandas()
    assert one["name"].is_unique and set(one["name"]) == set(names)
    many = model.sample(100, numPartitions=4).toPandas()
    assert many["name"].is_unique
    assert set(many["name"].str.replace(r" \((2|3)\)$", "", regex=True)) == set(names)
    path = str(tmp_path / "labels")
    model.write().save(path)
    again = TableSynthesizerModel.load(path).sample(100, numPartitions=4).toPandas()
    pd.testing.assert_frame_equal(many, again)
