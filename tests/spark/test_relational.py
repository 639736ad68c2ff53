"""RelationalSynthesizer end to end on the retail schema: customers -> orders -> order_items,
products as a second parent of order_items, employees with a self-reference (reports_to) and a
nullable secondary foreign key orders.account_manager."""
from __future__ import annotations

import glob
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from pyspark.sql import functions as F
from scipy.stats import ks_2samp

from synthohive_spark.examples import retail_metadata, retail_spark
from synthohive_spark.io import OutputExistsError
from synthohive_spark.metadata import Metadata, MetadataError
from synthohive_spark.ml._spark_schema import SchemaError
from synthohive_spark.ml.relational import RelationalSynthesizer, RelationalSynthesizerModel

SEED = 11


def _metadata() -> Metadata:
    data = retail_metadata().to_dict()
    data["tables"]["orders"]["columns"]["account_manager"]["nullable"] = True
    return Metadata.from_dict(data)


@pytest.fixture(scope="module")
def real(spark):
    tables = retail_spark(spark, seed=1, scale=0.15)
    orders = tables["orders"].withColumn(
        "account_manager",
        F.when(F.col("order_id") % 10 == 3, F.lit(None)).otherwise(F.col("account_manager")))
    tables["orders"] = orders
    return {k: v.cache() for k, v in tables.items()}


@pytest.fixture(scope="module")
def fitted(real):
    rs = RelationalSynthesizer(metadata=_metadata(), model="gaussian_copula", epochs=1,
                               seed=SEED)
    return rs.fit(real)


@pytest.fixture(scope="module")
def synth(fitted):
    return fitted.sample(scale=2.0)


def _fks():
    md = _metadata()
    for child, cfg in md.tables.items():
        for fk in cfg.foreign_keys:
            yield child, fk


def _counts_per_parent(parent, child, pk, fk) -> np.ndarray:
    c = child.groupBy(F.col(fk).alias("__k")).count()
    j = parent.select(F.col(pk).alias("__k")).join(c, "__k", "left").fillna(0, ["count"])
    return np.array([r["count"] for r in j.collect()])


def test_every_table_is_generated_with_the_real_schema(real, synth, fitted):
    assert list(synth) == fitted.tables
    assert set(synth) == set(real)
    for name, df in synth.items():
        assert df.schema == real[name].schema, name
    assert synth["customers"].count() == 2 * real["customers"].count()
    assert synth["products"].count() == 2 * real["products"].count()


def test_referential_integrity_is_complete(synth):
    for child, fk in _fks():
        kids = synth[child].where(F.col(fk.column).isNotNull())
        parents = synth[fk.parent_table].select(F.col(fk.parent_column).alias("__pk"))
        orphans = kids.join(parents, kids[fk.column] == parents["__pk"], "left_anti").count()
        assert orphans == 0, f"{child}.{fk.column} -> {fk.parent_table}"
        assert kids.count() > 0


def test_primary_keys_are_unique_and_keep_their_format(synth):
    md = _metadata()
    for name, cfg in md.tables.items():
        df = synth[name]
        pk = cfg.primary_key
        assert df.where(F.col(pk).isNull()).count() == 0
        assert df.select(pk).distinct().count() == df.count(), name
    ids = [r[0] for r in synth["products"].select("product_id").collect()]
    assert all(len(v) == 9 and v.startswith("PRD-") and v[4:].isdigit() for v in ids)
    assert synth["customers"].agg(F.min("customer_id")).first()[0] == 1


def test_child_count_distribution_is_close_to_the_real_one(real, synth):
    for parent, child, key in [("customers", "orders", "customer_id"),
                               ("orders", "order_items", "order_id")]:
        r = _counts_per_parent(real[parent], real[child], key, key)
        s = _counts_per_parent(synth[parent], synth[child], key, key)
        stat = ks_2samp(r, s).statistic
        assert stat < 0.15, f"{parent}->{child}: KS {stat:.3f}"
        assert s.mean() == pytest.approx(r.mean(), rel=0.2)


def test_parent_attribute_still_drives_child_counts(real, synth):
    def means(tables):
        c = tables["orders"].groupBy("customer_id").count()
        j = (tables["customers"].join(c, "customer_id", "left").fillna(0, ["count"])
             .groupBy("segment").agg(F.avg("count").alias("m")).collect())
        return {r["segment"]: r["m"] for r in j}

    rm, sm = means(real), means(synth)
    assert rm["corporate"] > 1.5 * rm["consumer"]        # the real driver
    assert sm["corporate"] > 1.5 * sm["consumer"], sm
    # per-customer count vs a corporate flag: the correlation is kept
    def corr(tables):
        c = tables["orders"].groupBy("customer_id").count()
        j = tables["customers"].join(c, "customer_id", "left").fillna(0, ["count"])
        return j.select(F.corr((F.col("segment") == "corporate").cast("double"),
                               F.col("count"))).first()[0]
    assert corr(synth) == pytest.approx(corr(real), abs=0.2)


def test_secondary_parent_popularity_is_kept(real, synth):
    def top_share(tables):
        c = _counts_per_parent(tables["products"], tables["order_items"], "product_id",
                               "product_id")
        c = np.sort(c)[::-1]
        return c[: max(1, len(c) // 10)].sum() / c.sum()

    rs, ss = top_share(real), top_share(synth)
    assert rs > 0.25                           # Zipf popularity in the real data
    assert ss == pytest.approx(rs, abs=0.1)
    # the lines are dealt, not drawn: twice the products, and each real product's count shared
    # by two generated ones (the real total scaled to the generated lines)
    args = ("product_id", "product_id")
    r = np.sort(_counts_per_parent(real["products"], real["order_items"], *args))[::-1]
    s = np.sort(_counts_per_parent(synth["products"], synth["order_items"], *args))[::-1]
    assert len(s) == 2 * len(r)
    pairs = s.reshape(-1, 2).sum(axis=1)
    want = r * s.sum() / r.sum()
    assert np.abs(pairs - want).max() <= 3, (pairs.tolist(), want.round(1).tolist())


def test_nullable_foreign_keys_are_null_at_the_real_rate(real, synth):
    def share(df):
        return df.where(F.col("account_manager").isNull()).count() / df.count()
    assert share(real["orders"]) == pytest.approx(0.1, abs=0.02)
    assert share(synth["orders"]) == pytest.approx(share(real["orders"]), abs=0.05)
    # a driver key is never null here
    assert synth["order_items"].where(F.col("order_id").isNull()).count() == 0


def test_self_reference_points_at_earlier_generated_rows(real, synth):
    emp = synth["employees"].select("employee_id", "reports_to").collect()
    ids = {r["employee_id"] for r in emp}
    nulls = [r for r in emp if r["reports_to"] is None]
    assert 1 <= len(nulls) <= max(2, len(emp) // 4)
    for r in emp:
        if r["reports_to"] is not None:
            assert r["reports_to"] in ids and r["reports_to"] < r["employee_id"]
    # a hierarchy: a few managers get most reports, as in the real table
    counts = np.bincount([r["reports_to"] for r in emp if r["reports_to"] is not None])
    assert counts.max() >= 3


def test_personal_data_is_never_copied(real, synth):
    # not one whole e-mail, phone number or full name of a real person comes back
    for table, col in [("customers", "email"), ("customers", "phone"),
                       ("employees", "full_name"), ("employees", "email")]:
        real_values = {r[0] for r in real[table].select(col).collect()}
        fake = [r[0] for r in synth[table].select(col).collect()]
        assert fake and all(v is not None for v in fake)
        assert not set(fake) & real_values, (table, col, sorted(set(fake) & real_values)[:5])


def test_personal_data_keeps_the_real_format(real, synth):
    import re

    def shape(v: str) -> str:
        return re.sub(r"[0-9]", "9", v)

    real_shapes = {shape(r[0]) for r in real["customers"].select("phone").collect() if r[0]}
    fake = [r[0] for r in synth["customers"].select("phone").collect()]
    assert fake and sum(shape(v) in real_shapes for v in fake) >= 0.8 * len(fake)
    for table in ("customers", "employees"):
        emails = [r[0] for r in synth[table].select("email").collect()]
        assert emails and all(re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]+", v) for v in emails), table


def test_same_seed_same_database_and_recomputation_keeps_keys(fitted, synth):
    again = fitted.sample(scale=2.0)
    for name in ("orders", "order_items", "employees"):
        assert sorted(again[name].collect()) == sorted(synth[name].collect()), name
    other = fitted.sample(scale=2.0, seed=SEED + 1)
    assert sorted(other["orders"].collect()) != sorted(synth["orders"].collect())
    # a parent recomputed by Spark (cache dropped) yields the same keys and rows
    before = sorted(again["customers"].collect())
    again["customers"].unpersist(blocking=True)
    assert sorted(again["customers"].collect()) == before
    for df in list(again.values()) + list(other.values()):
        df.unpersist()


def _accounts_and_payments(spark):
    """Accounts (a date, a timestamp, a decimal, an integer and a label with nulls, a flag) and
    their payments, in several partitions."""
    import datetime as dt
    from decimal import Decimal

    from pyspark.sql import types as T

    rng = np.random.default_rng(5)
    accounts, payments = [], []
    for a in range(1, 301):
        accounts.append((a, dt.date(2015, 1, 1) + dt.timedelta(days=int(rng.integers(0, 3000))),
                         dt.datetime(2020, 1, 1) + dt.timedelta(minutes=int(rng.integers(0, 10**6))),
                         Decimal(f"{rng.uniform(0, 900):.2f}"),
                         None if a % 7 == 0 else int(rng.integers(18, 90)),
                         None if a % 5 == 0 else ["gold", "silver", "basic"][a % 3], bool(a % 2)))
        for _ in range(int(rng.poisson(1 + 4 * (a % 3)))):
            payments.append((len(payments) + 1, a, float(round(rng.gamma(2, 30), 2)),
                             ["card", "wire"][int(rng.integers(0, 2))]))
    acc_schema = T.StructType([
        T.StructField("account_id", T.LongType()), T.StructField("opened", T.DateType()),
        T.StructField("last_login", T.TimestampType()),
        T.StructField("limit", T.DecimalType(8, 2)), T.StructField("age", T.LongType()),
        T.StructField("tier", T.StringType()), T.StructField("active", T.BooleanType())])
    pay_schema = "payment_id long, account_id long, amount double, method string"
    md = Metadata.from_dict({"tables": {
        "accounts": {"primary_key": "account_id", "columns": {
            "account_id": {"sdtype": "id"}, "opened": {"sdtype": "datetime"},
            "last_login": {"sdtype": "datetime"}, "limit": {"sdtype": "numerical"},
            "age": {"sdtype": "numerical"}, "tier": {"sdtype": "categorical"},
            "active": {"sdtype": "boolean"}}},
        "payments": {"primary_key": "payment_id", "columns": {
            "payment_id": {"sdtype": "id"}, "account_id": {"sdtype": "id"},
            "amount": {"sdtype": "numerical"}, "method": {"sdtype": "categorical"}},
            "foreign_keys": [{"column": "account_id", "parent_table": "accounts",
                              "parent_column": "account_id"}]}}})
    return md, {"accounts": spark.createDataFrame(accounts, acc_schema).repartition(3),
                "payments": spark.createDataFrame(payments, pay_schema)}


def test_children_drawn_in_their_generation_task_are_the_skeleton_paths_rows(spark, monkeypatch):
    """A child table without rows outside a parent and without secondary keys drawn first is
    generated in the tasks that draw its parents' children, with no skeleton frame: its rows
    are, row for row, those generated over the persisted skeleton (the path the other tables
    take), whatever the types of the parent's context (dates, timestamps, decimals, nulls)."""
    import synthohive_spark.ml.relational as rel
    from synthohive_spark.ml.cardinality import CardinalityModel

    md, real = _accounts_and_payments(spark)
    model = RelationalSynthesizer(metadata=md, model="gaussian_copula", seed=SEED,
                                  chunkSize=64).fit(real)
    assert set(model.cardinalityModel("payments").getContextCols()) == {
        "opened", "last_login", "limit", "age", "tier", "active"}
    in_task: list[str] = []
    drawn = CardinalityModel.in_task_skeleton

    def spy(self, dataset):
        in_task.append(self.getChildTable())
        return drawn(self, dataset)

    monkeypatch.setattr(CardinalityModel, "in_task_skeleton", spy)
    fused = model.sample(scale=3.0, numPartitions=4)
    assert in_task == ["payments"]
    monkeypatch.setattr(rel, "draws_secondary_first", lambda ts: True)  # every child: a skeleton
    over_skeleton = model.sample(scale=3.0, numPartitions=4)
    assert in_task == ["payments"]
    rows = fused["payments"].collect()
    assert len(rows) > 500
    assert rows == over_skeleton["payments"].collect()
    keys = [r["payment_id"] for r in rows]
    assert len(set(keys)) == len(keys)
    for df in list(fused.values()) + list(over_skeleton.values()):
        df.unpersist()


def test_num_rows_of_a_root_table(fitted):
    out = fitted.sample(numRows={"customers": 40, "products": 7, "employees": 5})
    assert out["customers"].count() == 40 and out["products"].count() == 7
    assert out["orders"].select("customer_id").distinct().count() <= 40
    assert out["order_items"].where(F.col("product_id") > "PRD-00007").count() == 0
    for df in out.values():
        df.unpersist()


def test_bad_sample_arguments(fitted):
    with pytest.raises(ValueError, match=r"numRows names table 'orders'.*customers"):
        fitted.sample(numRows={"orders": 10})
    with pytest.raises(KeyError, match="not in the fitted schema"):
        fitted.sample(numRows={"nope": 10})
    with pytest.raises(ValueError, match="scale must be a positive number"):
        fitted.sample(scale=0)
    with pytest.raises(ValueError, match="mode must be one of"):
        fitted.sample(output="/tmp/x-synthohive-never", mode="append")


def test_save_load_samples_the_same_database(fitted, synth, tmp_path, spark):
    path = str(tmp_path / "model")
    fitted.save(path)
    assert os.path.isdir(os.path.join(path, "tables", "orders"))
    assert os.path.isdir(os.path.join(path, "cardinality", "order_items"))
    with pytest.raises(FileExistsError, match="already exists"):
        fitted.save(path)
    fitted.save(path, overwrite=True)
    loaded = RelationalSynthesizerModel.load(path)
    assert loaded.tables == fitted.tables
    assert loaded.metadata.to_dict() == fitted.metadata.to_dict()
    out = loaded.sample(scale=2.0)
    for name in fitted.tables:
        assert sorted(out[name].collect()) == sorted(synth[name].collect()), name
        out[name].unpersist()


def test_loaded_in_a_new_session_samples_the_same_database(fitted, synth, tmp_path, spark):
    path, out = str(tmp_path / "model"), str(tmp_path / "out")
    fitted.save(path)
    code = textwrap.dedent(f"""
        from synthohive_spark.session import get_or_create_session
        from synthohive_spark.ml.relational import RelationalSynthesizerModel
        spark = get_or_create_session(app_name="relational-reload", master="local[1]")
        RelationalSynthesizerModel.load({path!r}).sample(scale=2.0, output={out!r})
        spark.stop()
    """)
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in fitted.tables:
        again = spark.read.parquet(os.path.join(out, name))
        assert sorted(again.collect()) == sorted(synth[name].collect()), name


def test_output_to_paths_is_written_table_by_table(fitted, tmp_path, spark):
    target = str(tmp_path / "db")
    rows = {"customers": 20, "products": 6, "employees": 5}
    out = fitted.sample(numRows=rows, output=target)
    for name in fitted.tables:
        assert os.path.exists(os.path.join(target, name, "_SUCCESS")), name
    assert not glob.glob(os.path.join(target, ".*"))   # no temporary folder left behind
    assert out["customers"].count() == 20
    on_disk = spark.read.parquet(os.path.join(target, "orders"))
    assert on_disk.count() == out["orders"].count() > 0
    before = os.path.getmtime(os.path.join(target, "orders", "_SUCCESS"))
    with pytest.raises(OutputExistsError, match="customers"):
        fitted.sample(numRows=rows, output=target)
    assert os.path.getmtime(os.path.join(target, "orders", "_SUCCESS")) == before
    out2 = fitted.sample(numRows={**rows, "customers": 30}, output=target, mode="overwrite")
    assert out2["customers"].count() == 30
    assert spark.read.parquet(os.path.join(target, "customers")).count() == 30


def test_a_written_sample_leaves_nothing_cached(fitted, real, tmp_path, spark):
    """The children's skeletons (persisted: counted, then generated from) and the generated tables
    are unpersisted once the database is written, and when it fails after every table was
    generated (its quality gate)."""
    from synthohive_spark.validation import QualityGateError

    def cached() -> set[int]:
        return set(spark.sparkContext._jsc.getPersistentRDDs().keySet())

    before = cached()
    out = fitted.sample(numRows={"customers": 40, "products": 6, "employees": 5},
                        output=str(tmp_path / "db"))
    assert out["orders"].count() > 0
    assert cached() == before
    with pytest.raises(QualityGateError):
        fitted.sample(scale=1.0, output=str(tmp_path / "gated"), minQuality=0.999, reference=real)
    assert cached() == before


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_path_output_that_fails_half_way_leaves_no_table_and_keeps_the_old_ones(real, tmp_path,
                                                                                    spark, fmt):
    """A folder of tables whose second table fails while it is written: on a first write no
    table is in place, on an overwrite every old table is as it was; no staging folder stays."""
    from synthohive_spark.io import DatabaseWriter

    out = str(tmp_path / "db")
    names = ["customers", "orders"]

    @F.udf("string")
    def explode(v):
        raise ValueError("generation failed half way")

    broken = real["orders"].withColumn("channel", explode("channel"))

    def attempt(mode, orders):
        writer = DatabaseWriter(spark, out, names, fmt, mode)
        try:
            writer.write("customers", real["customers"].limit(9 if mode == "overwrite" else 7))
            writer.write("orders", orders)
        except BaseException:
            writer.abort()
            raise
        writer.finish()

    def tables():
        return sorted(os.listdir(out)) if os.path.exists(out) else []

    def read(name):
        reader = spark.read.format(fmt)
        if fmt == "csv":
            reader = reader.option("header", "true")
        return sorted(map(tuple, reader.load(os.path.join(out, name)).collect()))

    with pytest.raises(Exception, match="generation failed half way"):
        attempt("errorifexists", broken)
    assert tables() == []   # neither the written first table nor any staging folder
    attempt("errorifexists", real["orders"])
    assert tables() == names
    before = {name: read(name) for name in names}
    assert len(before["customers"]) == 7
    with pytest.raises(Exception, match="generation failed half way"):
        attempt("overwrite", broken)
    assert tables() == names
    assert {name: read(name) for name in names} == before
    attempt("overwrite", real["orders"])
    assert len(read("customers")) == 9 and tables() == names


def test_output_to_a_catalog_database(fitted, spark):
    spark.sql("CREATE DATABASE IF NOT EXISTS synth_rel_test")
    try:
        out = fitted.sample(numRows={"customers": 15, "products": 5, "employees": 4},
                            output="synth_rel_test")
        assert spark.table("synth_rel_test.customers").count() == 15
        assert spark.table("synth_rel_test.order_items").count() == out["order_items"].count()
        names = {t.name for t in spark.catalog.listTables("synth_rel_test")}
        assert names == set(fitted.tables)
    finally:
        spark.sql("DROP DATABASE IF EXISTS synth_rel_test CASCADE")
    with pytest.raises(ValueError, match="database 'no_such_db' does not exist"):
        fitted.sample(output="no_such_db")


# --------------------------------------------------------------------------- fit errors
def test_fit_rejects_tables_that_do_not_match_the_metadata(real):
    rs = RelationalSynthesizer(metadata=_metadata(), model="gaussian_copula", seed=1)
    partial = {k: v for k, v in real.items() if k != "products"}
    with pytest.raises(MetadataError, match=r"missing \['products'\]"):
        rs.fit(partial)
    broken = dict(real, orders=real["orders"].drop("channel"))
    with pytest.raises(SchemaError, match=r"Table 'orders': columns \['channel'\]"):
        rs.fit(broken)
    with pytest.raises(ValueError, match="tableParams has unknown keys"):
        RelationalSynthesizer(metadata=_metadata(), tableParams={"orders": {"colour": 1}})
    # hyperparameters belong to a named model; 'auto' would not know where they go
    with pytest.raises(ValueError, match=r"modelParams \['stratify'\].*model='auto'"):
        RelationalSynthesizer(metadata=_metadata(), modelParams={"stratify": "none"})
    with pytest.raises(ValueError, match=r"tableParams\['orders'\] has modelParams"):
        RelationalSynthesizer(metadata=_metadata(), tableParams={"orders": {"modelParams": {"nest": False}}})
    RelationalSynthesizer(metadata=_metadata(), tableParams={  # named: accepted
        "orders": {"model": "gaussian_copula", "modelParams": {"nest": False}}})


def test_bad_metadata_is_rejected_before_fitting():
    data = retail_metadata().to_dict()
    data["tables"]["order_items"]["foreign_keys"][1]["parent_table"] = "catalogue"
    with pytest.raises(MetadataError, match=r"order_items.*'catalogue', which is not in the metadata"):
        RelationalSynthesizer(metadata=data)
    data = retail_metadata().to_dict()
    data["tables"]["customers"]["columns"]["fav_order"] = {"sdtype": "id", "dtype": "bigint"}
    data["tables"]["customers"]["foreign_keys"] = [
        {"column": "fav_order", "parent_table": "orders", "parent_column": "order_id"}]
    with pytest.raises(MetadataError, match="cycle across tables: customers -> orders -> customers"):
        RelationalSynthesizer(metadata=data)


def test_several_partitions_keep_keys_unique_and_joined(fitted, synth):
    out = fitted.sample(scale=2.0, numPartitions=3)
    assert out["customers"].rdd.getNumPartitions() == 3
    assert out["order_items"].rdd.getNumPartitions() == 3
    for name in ("customers", "orders", "order_items"):
        df = out[name]
        pk = fitted.metadata.tables[name].primary_key
        n = df.count()
        assert df.select(pk).distinct().count() == n
        lo, hi = df.agg(F.min(pk), F.max(pk)).first()
        assert (lo, hi) == (1, n)            # dense keys: per-partition offsets add up
    items = out["order_items"]
    orders = out["orders"].select(F.col("order_id").alias("__o"))
    assert items.join(orders, items["order_id"] == orders["__o"], "left_anti").count() == 0
    # the partitioning follows from the row counts, not the cluster: rowsPerPartition splits too
    small = fitted.copy({fitted.rowsPerPartition: 1000})
    split = small.sample(scale=2.0)
    assert split["customers"].rdd.getNumPartitions() > 1
    again = small.sample(scale=2.0)
    assert sorted(split["order_items"].collect()) == sorted(again["order_items"].collect())
    for df in list(out.values()) + list(split.values()) + list(again.values()):
        df.unpersist()


def test_quality_gate_on_the_sample_path(fitted, real, tmp_path):
    from synthohive_spark.validation import QualityGateError

    target = str(tmp_path / "gated")
    with pytest.raises(QualityGateError):
        fitted.sample(scale=1.0, output=target, minQuality=0.999, reference=real)
    assert not os.path.exists(target)  # below the gate nothing is written
    with pytest.raises(ValueError, match="reference"):
        fitted.sample(scale=1.0, minQuality=0.5)
    out = fitted.sample(scale=1.0, output=target, minQuality=0.5, reference=real)
    assert os.path.exists(os.path.join(target, "orders", "_SUCCESS"))
    assert out["orders"].count() > 0


def test_distinct_secondary_parents_per_driver_parent_across_chunks():
    from synthohive_spark.ml._relational_gen import distinct_per_group

    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), 6).astype(object)
    idx = rng.integers(0, 8, len(groups))  # 6 children of 8 possible parents: many repeats
    ok = np.ones(len(groups), bool)
    ok[5] = False  # a null reference is left alone
    first, carried = distinct_per_group(groups[:100], idx[:100], ok[:100], 8,
                                        lambda k: rng.integers(0, 8, k), rng, (None, set()))
    assert carried[0] == str(groups[99])
    second, _ = distinct_per_group(groups[100:], idx[100:], ok[100:], 8,
                                   lambda k: rng.integers(0, 8, k), rng, carried)
    out = np.concatenate([first, second])
    for g in range(40):  # group 16 straddles the two chunks
        rows = np.flatnonzero((groups == g) & ok)
        assert len(set(out[rows].tolist())) == len(rows), g
    assert out[5] == idx[5]
    crowded, _ = distinct_per_group(np.zeros(5, object), np.zeros(5, np.int64), np.ones(5, bool), 3,
                                    lambda k: np.zeros(k, np.int64), rng, (None, set()))
    assert sorted(set(crowded.tolist())) == [0, 1, 2]  # 5 rows, 3 parents: repeats only as needed


def test_junction_table_pairs_stay_unique(spark):
    rng = np.random.default_rng(2)
    students = spark.createDataFrame([(i, str(rng.choice(["A", "B"]))) for i in range(80)],
                                     "student_id int, cohort string")
    courses = spark.createDataFrame([(100 + i, int(rng.integers(3, 7))) for i in range(20)],
                                    "course_id int, credits int")
    pairs = set()
    while len(pairs) < 400:  # popular courses: an exponential share
        pairs.add((int(rng.integers(0, 80)), 100 + min(int(rng.exponential(5)), 19)))
    enroll = spark.createDataFrame([(s, c, str(rng.choice(["A", "B", "F"]))) for s, c in sorted(pairs)],
                                   "student_id int, course_id int, grade string")
    model = RelationalSynthesizer(model="gaussian_copula", seed=3).fit(
        {"students": students, "courses": courses, "enrollments": enroll})
    assert model._state["tables"]["enrollments"]["secondary"]["course_id"]["uniqueWithDriver"]
    out = model.sample(scale=1.0, numPartitions=3)
    rows = [(r.student_id, r.course_id) for r in out["enrollments"].collect()]
    assert len(rows) == len(set(rows)) > 300

    def top_share(pairs_):
        c = np.sort(np.bincount([p[1] - 100 for p in pairs_], minlength=20))[::-1]
        return c[:4].sum() / c.sum()
    assert top_share(rows) == pytest.approx(top_share(pairs), abs=0.1)


def test_keys_that_are_names_are_new_names_and_their_children_join(spark):
    from conftest import COUNTRY_NAMES

    rng = np.random.default_rng(4)
    regions = ["north", "south", "east", "west"]
    countries = spark.createDataFrame(
        [(c, str(rng.choice(regions))) for c in COUNTRY_NAMES], "country string, region string")
    years = spark.createDataFrame(
        [(i, str(rng.choice(COUNTRY_NAMES)), 1990 + int(rng.integers(0, 30)),
          float(rng.normal(60, 8))) for i in range(600)],
        "row_id int, country string, year int, life_exp double")
    model = RelationalSynthesizer(model="gaussian_copula", seed=5).fit(
        {"countries": countries, "years": years})
    assert model._state["tables"]["countries"]["pkSpec"]["kind"] == "name"
    out = model.sample(scale=2.0, numPartitions=3)
    names = [r.country for r in out["countries"].collect()]
    assert len(names) == len(set(names)) == 2 * len(COUNTRY_NAMES)
    assert all(n[:1].isupper() and n.isalpha() for n in names), names[:10]
    assert not any(n.startswith("Aaa") for n in names)
    assert len(set(names) & set(COUNTRY_NAMES)) < 0.05 * len(names)
    kids = out["years"]
    assert kids.count() > 900
    assert kids.join(out["countries"], "country", "left_anti").count() == 0
