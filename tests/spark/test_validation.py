"""evaluate(): multi-table metrics, privacy, the quality gate, bad input, inference, reports."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from synthohive_spark.metadata import ColumnConfig, ForeignKey, Metadata, TableConfig
from synthohive_spark.validation import (QualityGateError, ValidationInputError, ValidationReport,
                                         evaluate, quality_gate)

pytestmark = pytest.mark.spark

ODD = '<script>alert("x")</script> & \u00fcml\u00e4ut'


def _customers(n: int, seed: int, drift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(40 + 10 * drift, 10, n).round()
    return pd.DataFrame({
        "cid": [f"c{seed}_{i}" for i in range(n)],
        "age": age,
        "income": 1000 * age + rng.normal(0, 4000, n),
        ODD: rng.choice(["a", "b", "c"], n, p=[.6, .3, .1] if not drift else [.2, .3, .5]),
        "email": [f"user{i}@example.com" for i in range(n)],
    })


def _orders(customers: pd.DataFrame, seed: int, rate: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rate, len(customers))
    cid = np.repeat(customers["cid"].to_numpy(), counts)
    n = len(cid)
    return pd.DataFrame({"oid": np.arange(n), "cid": cid, "amount": rng.gamma(2.0, 30.0, n),
                         "channel": rng.choice(["web", "store"], n)})


META = Metadata(tables={
    "customers": TableConfig(columns={
        "cid": ColumnConfig(sdtype="id"), "age": ColumnConfig(sdtype="numerical"),
        "income": ColumnConfig(sdtype="numerical"), ODD: ColumnConfig(sdtype="categorical"),
        "email": ColumnConfig(sdtype="email", pii=True)}, primary_key="cid"),
    "orders": TableConfig(columns={
        "oid": ColumnConfig(sdtype="id"), "cid": ColumnConfig(sdtype="id"),
        "amount": ColumnConfig(sdtype="numerical"), "channel": ColumnConfig(sdtype="categorical")},
        primary_key="oid",
        foreign_keys=[ForeignKey(column="cid", parent_table="customers", parent_column="cid", driver=True)]),
})


def _sdf(spark, pdf):
    return spark.createDataFrame(pdf)


@pytest.fixture(scope="module")
def multi(spark):
    rc = _customers(300, 1)
    ro = _orders(rc, 11, 2.0)
    hc = _customers(300, 2)
    ho = _orders(hc, 12, 2.0)
    sc = _customers(250, 3, drift=0.5)
    so = _orders(sc, 13, 3.5)
    so.loc[:9, "cid"] = "no-such-parent"          # ten orphans
    real = {"customers": _sdf(spark, rc), "orders": _sdf(spark, ro)}
    syn = {"customers": _sdf(spark, sc), "orders": _sdf(spark, so)}
    hold = {"customers": _sdf(spark, hc)}
    rep = evaluate(real, syn, metadata=META, holdout=hold, dcr_synthetic_rows=200,
                   dcr_reference_rows=300)
    return rep, (rc, ro, sc, so)


def test_multi_table_properties_and_details(multi):
    rep, (rc, ro, sc, so) = multi
    assert set(rep.properties) >= {"Column Shapes", "Column Pair Trends", "Cardinality", "Intertable Trends"}
    ri = rep.details["referential_integrity"][0]
    assert ri["synthetic_orphans"] == 10
    assert ri["synthetic_foreign_keys"] == len(so)
    assert ri["score"] == pytest.approx(1 - 10 / len(so))
    assert ri["real_score"] == 1.0
    # cardinality: real vs synthetic child-count distributions differ (rate 2 vs 3.5)
    card = rep.details["cardinality"][0]
    assert 0.0 < card["score"] < 0.9
    # parents without children count as 0 (the Poisson(2) data has some)
    cplot = rep.to_dict()["plots"]["cardinality"][0]
    zero_parents = int((ro.groupby("cid").size().reindex(rc["cid"], fill_value=0) == 0).sum())
    assert zero_parents > 0
    assert cplot["real"]["0"] == zero_parents
    assert sum(cplot["real"].values()) == len(rc)
    # keys and PII are reported as not applicable, with the reason
    na = {(r["table"], r["column"]): r["reason"] for r in rep.details["not_applicable"]}
    assert "primary key" in na[("customers", "cid")]
    assert "foreign key to customers.cid" in na[("orders", "cid")]
    assert "PII" in na[("customers", "email")]
    shaped = {(r["table"], r["column"]) for r in rep.details["column_shapes"]}
    assert ("customers", "email") not in shaped and ("orders", "oid") not in shaped
    # intertable pairs are parent column x child column
    pairs = {(r["column_1"], r["column_2"]) for r in rep.details["intertable_trends"]}
    assert pairs == {(p, c) for p in ("age", "income", ODD) for c in ("amount", "channel")}


def test_privacy_section(multi):
    rep, _ = multi
    p = rep.privacy["customers"]
    assert p["applicable"]
    assert p["synthetic_sample_rows"] == 200 and p["reference_sample_rows_each"] == 300
    assert 0.0 <= p["share_closer_to_train"] <= 1.0
    assert p["exact_copy_rate"] == 0.0
    assert "orders" not in rep.privacy      # no holdout for orders


def test_privacy_detects_copies(spark):
    train = _customers(400, 5)
    hold = _customers(400, 6)
    copies = train.sample(300, random_state=0)          # memorised rows
    rep = evaluate(_sdf(spark, train), _sdf(spark, copies), metadata=META.tables["customers"],
                   holdout=_sdf(spark, hold), dcr_synthetic_rows=300, dcr_reference_rows=400)
    p = rep.privacy["table"]
    assert p["exact_copy_rate"] == pytest.approx(1.0)
    assert p["share_closer_to_train"] > 0.95
    assert p["dcr_train_median"] == 0.0 and p["dcr_holdout_median"] > 0.0
    assert p["overfitting_protection_score"] < 0.1
    fresh = _customers(300, 7)                           # same distribution, new people
    rep2 = evaluate(_sdf(spark, train), _sdf(spark, fresh), metadata=META.tables["customers"],
                    holdout=_sdf(spark, hold), dcr_synthetic_rows=300, dcr_reference_rows=400)
    p2 = rep2.privacy["table"]
    assert p2["exact_copy_rate"] == 0.0
    assert 0.3 < p2["share_closer_to_train"] < 0.7
    assert p2["overfitting_protection_score"] > 0.6


def test_check_names_what_fell_short(multi):
    rep, _ = multi
    with pytest.raises(QualityGateError) as ei:
        rep.check(min_score=0.99)
    msg = str(ei.value)
    assert "below 0.990" in msg
    assert "referential integrity orders.cid -> customers.cid: 10 of" in msg
    assert ei.value.failures and ei.value.score == rep.score
    # the lowest-scoring property is named
    worst = min((v, k) for k, v in rep.properties.items()
                if v is not None and k in ("Column Shapes", "Column Pair Trends", "Cardinality", "Intertable Trends"))
    assert worst[1] in msg
    # without the integrity requirement and with a low bar, it passes
    assert rep.check(min_score=0.1, require_referential_integrity=False) is rep


def test_quality_gate_helper(spark):
    real = _sdf(spark, _customers(400, 21))
    good = _sdf(spark, _customers(400, 22))
    bad = _sdf(spark, _customers(400, 23, drift=3.0))
    meta = META.tables["customers"]
    rep = quality_gate(real, good, 0.8, metadata=meta, sample_rows=300)
    assert rep.score >= 0.8
    assert all(r for r in [rep.settings["privacy"] is False])
    with pytest.raises(QualityGateError) as ei:
        quality_gate(real, bad, 0.8, metadata=meta, sample_rows=300)
    assert "age (KSComplement)" in str(ei.value)
    with pytest.raises(ValueError, match="min_quality"):
        quality_gate(real, good, 1.5)


def test_no_metadata_inference(spark):
    rng = np.random.default_rng(0)
    n = 500
    pdf = pd.DataFrame({
        "customer_id": np.arange(n),                         # key by name + uniqueness
        "note": [f"free text {i} {rng.integers(1e9)}" for i in range(n)],   # high-cardinality string
        "x": rng.normal(size=n), "when": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 99, n), unit="D"),
        "ok": rng.random(n) < 0.5, "cat": rng.choice(["p", "q"], n)})
    rep = evaluate(_sdf(spark, pdf), _sdf(spark, pdf.sample(frac=1.0, random_state=1)))
    kinds = {r["column"]: (r["sdtype"], r["metric"]) for r in rep.details["column_shapes"]}
    assert kinds == {"x": ("numerical", "KSComplement"), "when": ("datetime", "KSComplement"),
                     "ok": ("boolean", "TVComplement"), "cat": ("categorical", "TVComplement")}
    na = {r["column"]: r["reason"] for r in rep.details["not_applicable"]}
    assert "inferred key" in na["customer_id"] and "free text" in na["note"]
    # identical data (shuffled) scores 1 everywhere
    assert rep.properties["Column Shapes"] == pytest.approx(1.0)
    assert all(r["score"] == pytest.approx(1.0) for r in rep.details["column_pair_trends"])


def test_bad_input_errors_name_the_problem(spark):
    a = _sdf(spark, _customers(50, 1))
    with pytest.raises(ValidationInputError, match=r"Table 'customers'.*lacks real column\(s\) \['income'\]"):
        evaluate({"customers": a}, {"customers": a.drop("income")})
    with pytest.raises(ValidationInputError, match=r"missing from synthetic: \['orders'\]"):
        evaluate({"customers": a, "orders": a}, {"customers": a})
    with pytest.raises(ValidationInputError, match=r"missing from real: \['extra'\]"):
        evaluate({"customers": a}, {"customers": a, "extra": a})
    with pytest.raises(ValidationInputError, match=r"column 'age'.*synthetic type string"):
        evaluate(a, a.withColumn("age", a["age"].cast("string")), table_name="customers")
    with pytest.raises(ValidationInputError, match=r"Table 'customers': the synthetic data has no rows"):
        evaluate(a, a.limit(0), table_name="customers")
    with pytest.raises(ValidationInputError, match=r"Table 'table': the real data has no rows"):
        evaluate(a.limit(0), a)
    with pytest.raises(ValidationInputError, match=r"Table 'customers': the holdout data lacks column\(s\) \['age'\]"):
        evaluate(a, a, holdout=a.drop("age"), table_name="customers")
    with pytest.raises(ValidationInputError, match=r"column 'income'.*holdout type string"):
        evaluate(a, a, holdout=a.withColumn("income", a["income"].cast("string")), table_name="customers")
    with pytest.raises(ValidationInputError, match="must be a Spark DataFrame"):
        evaluate({"t": a}, {"t": _customers(5, 1)})
    with pytest.raises(ValidationInputError, match="refers to table 'customers'"):
        evaluate({"orders": a}, {"orders": a}, metadata=Metadata(tables={
            "customers": META.tables["customers"],
            "orders": TableConfig(columns={"cid": ColumnConfig(sdtype="id")},
                                  foreign_keys=[ForeignKey(column="cid", parent_table="customers",
                                                           parent_column="cid")])}))


def test_all_null_columns_not_applicable(spark):
    from pyspark.sql import functions as F

    real = _sdf(spark, _customers(200, 1))
    syn = _sdf(spark, _customers(200, 2))
    real_null = real.withColumn("age", F.lit(None).cast("double"))
    rep = evaluate(real_null, syn, metadata=META.tables["customers"])
    row = {r["column"]: r for r in rep.details["column_shapes"]}["age"]
    assert row["score"] is None and row["reason"] == "all values are missing in the real data"
    miss = {r["column"]: r for r in rep.details["missing_values"]}["age"]
    assert miss["real_missing"] == 1.0 and miss["score"] == 0.0
    rep.check(min_score=0.5)   # a column the real data never fills does not fail the gate

    syn_null = syn.withColumn("income", F.lit(None).cast("double"))
    rep2 = evaluate(real, syn_null, metadata=META.tables["customers"])
    row2 = {r["column"]: r for r in rep2.details["column_shapes"]}["income"]
    assert row2["score"] is None and "synthetic" in row2["reason"]
    with pytest.raises(QualityGateError, match=r"table.income: every synthetic value is missing"):
        rep2.check(min_score=0.5)


def test_constant_column_pair_not_applicable(spark):
    from pyspark.sql import functions as F

    real = _sdf(spark, _customers(200, 1)).withColumn("income", F.lit(5.0))
    rep = evaluate(real, real, metadata=META.tables["customers"], real_correlation_threshold=0.0)
    pair = {(r["column_1"], r["column_2"]): r for r in rep.details["column_pair_trends"]}[("age", "income")]
    assert pair["score"] is None and "constant" in pair["reason"]


def test_high_cardinality_categories_lumped_in_pairs(spark):
    rng = np.random.default_rng(3)
    n = 3000
    cat = rng.integers(0, 400, n).astype(str)
    pdf = pd.DataFrame({"big": cat, "small": rng.choice(["u", "v"], n)})
    df = _sdf(spark, pdf)
    meta = TableConfig(columns={"big": ColumnConfig(sdtype="categorical"),
                                "small": ColumnConfig(sdtype="categorical")})
    rep = evaluate(df, df, metadata=meta, max_categories=20, real_association_threshold=0.0)
    pair = rep.details["column_pair_trends"][0]
    assert "lumped" in pair["note"] and pair["score"] == pytest.approx(1.0)


def test_json_and_html_outputs(multi, tmp_path):
    rep, _ = multi
    jp, hp = tmp_path / "r.json", tmp_path / "sub" / "r.html"
    rep.save_json(str(jp))
    rep.save_html(str(hp))
    data = json.loads(jp.read_text(encoding="utf-8"))
    assert data["score"] == rep.score
    assert data["details"]["cardinality"] == rep.details["cardinality"]
    back = ValidationReport.load_json(str(jp))
    assert back.score == rep.score and back.properties == rep.properties
    text = hp.read_text(encoding="utf-8")
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; \u00fcml\u00e4ut" in text
    for needle in ('id="privacy"', 'id="relationships"', 'id="settings"', "Correlations", "<svg"):
        assert needle in text
    assert "src=" not in text and "<link" not in text and "@import" not in text
    assert not math.isnan(rep.score)


def test_bucket_fallback_agrees_with_bucketizer(spark):
    """The KS buckets of Spark Connect before Spark 4 (a pandas UDF: pyspark.ml does not run
    there) are Bucketizer's, edges, infinities and NaN included."""
    from pyspark.ml.feature import Bucketizer

    from synthohive_spark.validation._shapes import bucket_of

    inner = [-1.5, 0.0, 0.0 + 1e-12, 2.0, 10.0]
    values = [-math.inf, -7.0, -1.5, -1.0, 0.0, 1e-12, 1.0, 2.0, 9.99, 10.0, 11.0, math.inf,
              math.nan, None]
    df = spark.createDataFrame([(v,) for v in values], "v double")
    want = Bucketizer(splits=[-math.inf, *inner, math.inf], inputCol="v", outputCol="b",
                      handleInvalid="keep").transform(df).collect()
    got = bucket_of(np.array([math.nan if v is None else v for v in values]), np.array(inner))
    for row, b in zip(want, got):
        if row["v"] is not None:  # a null value's bucket is never read (nulls are dropped first)
            assert row["b"] == b, (row["v"], row["b"], b)


def test_binning_for_pair_trends_is_numpys_digitize(spark):
    """The SQL expression that bins a continuous column agrees with numpy.digitize on edges of
    any magnitude and sign (tiny, huge, negative, in exponent notation), on every edge itself and
    between them, and puts a missing value in the last bin."""
    from synthohive_spark.validation._pairs import bin_edges, digitize

    rng = np.random.default_rng(0)
    for lo, hi in ((0.0, 1.0), (-3e-7, 1e-5), (-1.5e22, 7.25e21), (1e300, 1.5e300), (2.0, 2.0)):
        edges = bin_edges(lo, hi)
        values = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf),
                                 rng.uniform(edges[0], edges[-1], 50), [lo - abs(lo) - 1]])
        df = spark.createDataFrame(pd.DataFrame({"v w": np.append(values, np.nan)}))
        got = [int(r[0]) for r in df.select(digitize("v w", edges)).collect()]
        # the missing value (NaN in pandas) lands past the last edge, as numpy puts NaN
        assert got == np.digitize(np.append(values, np.nan), edges).tolist(), (lo, hi)
