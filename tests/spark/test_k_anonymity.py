"""k-anonymity in Spark (check, suppression, generalization, report, PII sanitizer) and the
membership-inference AUC of the validation report."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from synthohive_spark.metadata import ColumnConfig, Metadata, PrivacyConfig, TableConfig
from synthohive_spark.ml.pii import PIISanitizer
from synthohive_spark.validation import (ValidationInputError, enforce_k_anonymity, evaluate,
                                         k_anonymity)

pytestmark = pytest.mark.spark

# (zip, gender) -> rows: classes of 6, 3, 1, 2 (zip missing: null is a value) and 5
GROUPS = [(("10115", "F"), 6), (("10115", "M"), 3), (("10117", "F"), 1), ((None, "F"), 2),
          (("10117", "M"), 5)]


def _grouped(spark, groups=GROUPS):
    rows, i = [], 0
    for (z, g), n in groups:
        for _ in range(n):
            rows.append((i, z, g, float(i)))
            i += 1
    return spark.createDataFrame(rows, "id long, zip string, gender string, income double")


def _null_qi_rows(df, qi):
    cond = F.lit(True)
    for c in qi:
        cond = cond & F.col(c).isNull()
    return df.where(cond).count()


def test_check_reports_smallest_class_and_rows_below_k(spark):
    df = _grouped(spark)
    r = k_anonymity(df, ["zip", "gender"], 5)
    assert r["applicable"] and r["k"] == 5 and r["quasi_identifiers"] == ["zip", "gender"]
    assert r["rows"] == 17 and r["classes"] == 5
    assert r["smallest_class"] == 1
    assert r["classes_below_k"] == 3 and r["rows_below_k"] == 3 + 1 + 2
    assert not r["satisfied"]
    r3 = k_anonymity(df, ["zip", "gender"], 3)
    assert (r3["classes_below_k"], r3["rows_below_k"]) == (2, 3)
    r1 = k_anonymity(df, ["gender"], 5)
    assert r1["satisfied"] and r1["smallest_class"] == 8 and r1["classes"] == 2
    with pytest.raises(ValidationInputError, match="nope"):
        k_anonymity(df, ["zip", "nope"], 5)
    with pytest.raises(ValidationInputError, match="positive integer"):
        k_anonymity(df, ["zip"], 0)


def test_suppress_nulls_the_small_classes_only(spark):
    df = _grouped(spark)
    out = enforce_k_anonymity(df, ["zip", "gender"], 5, method="suppress")
    assert out.columns == df.columns and out.schema == df.schema
    assert k_anonymity(out, ["zip", "gender"], 5)["satisfied"]
    got = {r["id"]: (r["zip"], r["gender"]) for r in out.collect()}
    assert len(got) == 17
    assert sum(v == (None, None) for v in got.values()) == 6       # the rows of classes 3, 1, 2
    kept = {v for v in got.values() if v != (None, None)}
    assert kept == {("10115", "F"), ("10117", "M")}
    assert out.agg(F.sum("income")).first()[0] == df.agg(F.sum("income")).first()[0]


def test_suppress_tops_up_a_suppressed_class_below_k(spark):
    # 2 rows below k would form an all-null class of 2: 3 rows of the class of 10 join them
    df = _grouped(spark, [(("a", "F"), 10), (("b", "F"), 6), (("c", "M"), 2)])
    out = enforce_k_anonymity(df, ["zip", "gender"], 5, method="suppress")
    r = k_anonymity(out, ["zip", "gender"], 5)
    assert r["satisfied"] and r["smallest_class"] == 5 and r["classes"] == 3
    assert _null_qi_rows(out, ["zip", "gender"]) == 5
    assert out.where(F.col("zip") == "a").count() == 7
    assert out.where(F.col("zip") == "b").count() == 6


def _people(spark):
    # every (age, zip) pair unique; ages in bins of five and zips "1011*" give classes of 5
    rows = [(i, 20 + i, f"1011{i % 10}") for i in range(40)]
    return spark.createDataFrame(rows, "id long, age int, zip string")


def test_generalize_reaches_k_and_loses_less_than_suppress(spark):
    df = _people(spark)
    qi = ["age", "zip"]
    assert k_anonymity(df, qi, 5)["smallest_class"] == 1
    sup = enforce_k_anonymity(df, qi, 5, method="suppress")
    gen = enforce_k_anonymity(df, qi, 5, method="generalize")
    rs, rg = k_anonymity(sup, qi, 5), k_anonymity(gen, qi, 5)
    assert rs["satisfied"] and rg["satisfied"]
    assert _null_qi_rows(sup, qi) == 40                           # everything suppressed
    assert gen.where(F.col("age").isNull() | F.col("zip").isNull()).count() == 0
    assert rg["classes"] == 8 and rg["smallest_class"] == 5
    vals = {(r["age"], r["zip"]) for r in gen.collect()}
    assert ("[20, 25)", "1011*") in vals and ("[55, 60)", "1011*") in vals
    assert dict(gen.dtypes)["age"] == "string" and dict(gen.dtypes)["id"] == "bigint"


def test_generalize_dates_to_month_then_suppresses_what_remains(spark):
    days = [dt.date(2000, 1, d) for d in (3, 9, 17)] + [dt.date(2000, 2, d) for d in (1, 5, 28)]
    df = spark.createDataFrame([(i, d) for i, d in enumerate(days)], "id long, dob date")
    out = enforce_k_anonymity(df, ["dob"], 3, method="generalize")
    assert sorted(r["dob"] for r in out.collect()) == ["2000-01"] * 3 + ["2000-02"] * 3
    # an outlier within the allowed share is suppressed instead of coarsening everyone
    rows = [(i, 30 + i % 3) for i in range(300)] + [(300, 99)]
    big = spark.createDataFrame(rows, "id long, age int")
    out2 = enforce_k_anonymity(big, ["age"], 2, method="generalize", max_suppressed=0.01)
    r = k_anonymity(out2, ["age"], 2)
    assert r["satisfied"] and r["classes"] == 4 and r["smallest_class"] == 2
    assert dict(out2.dtypes)["age"] == "int"                     # not generalized
    assert out2.where(F.col("age").isNull()).count() == 2         # the outlier and one more
    assert out2.where(F.col("age") == 99).count() == 0


def _syn_people(spark):
    groups = [("10115", 30, "F", 12), ("10117", 40, "M", 15), ("20095", 50, "F", 3)]
    rows = [(f"p{i}", z, a, g, 1000.0 + i, "Berlin")
            for i, (z, a, g, n) in enumerate(x for x in groups for _ in range(x[3]))]
    return spark.createDataFrame(rows, "pid string, zip string, age int, gender string, "
                                       "income double, city string")


def _real_people(spark, n=60, seed=1):
    rng = np.random.default_rng(seed)
    pdf = pd.DataFrame({"pid": [f"r{seed}_{i}" for i in range(n)],
                        "zip": rng.choice(["10115", "10117", "20095"], n),
                        "age": rng.integers(20, 60, n).astype("int32"),
                        "gender": rng.choice(["F", "M"], n),
                        "income": rng.normal(2000, 300, n), "city": "Berlin"})
    return spark.createDataFrame(pdf)


def _meta(k):
    return Metadata(tables={"people": TableConfig(primary_key="pid", columns={
        "pid": ColumnConfig(sdtype="id"), "zip": ColumnConfig(sdtype="zip"),
        "age": ColumnConfig(sdtype="numerical"), "gender": ColumnConfig(sdtype="categorical"),
        "income": ColumnConfig(sdtype="numerical"),
        "city": ColumnConfig(sdtype="city", quasi_identifier=False)})},
        privacy=PrivacyConfig(k_anonymity=k))


def test_report_has_k_anonymity_when_set_and_not_when_unset(spark):
    real, syn = _real_people(spark), _syn_people(spark)
    rep = evaluate(real, syn, metadata=_meta(5))
    ka = rep.privacy["k_anonymity"]["people"]
    assert ka["quasi_identifiers"] == ["zip", "age", "gender"]      # city: flagged false
    assert (ka["smallest_class"], ka["rows_below_k"], ka["classes_below_k"]) == (3, 3, 1)
    assert ka["rows"] == 30 and not ka["satisfied"]
    html = rep.to_html()
    assert "k-anonymity of the synthetic data" in html and "zip, age, gender" in html
    assert "3 of 30" in html
    assert rep.to_dict()["privacy"]["k_anonymity"]["people"]["k"] == 5
    rep2 = evaluate(real, syn, metadata=_meta(None))
    assert "k_anonymity" not in rep2.privacy
    assert "k-anonymity" not in rep2.to_html()
    assert "k_anonymity" not in evaluate(real, syn, metadata=_meta(5), privacy=False).privacy


def test_pii_sanitizer_checks_its_output(spark):
    rows = [(f"user{i}@example.com", z, a, g, float(i))
            for i, (z, a, g) in enumerate([("10115", 30, "F")] * 4 + [("10117", 41, "M")] * 3
                                          + [("10119", 52, "F")] * 1)]
    df = spark.createDataFrame(rows * 5, "email string, zip_code string, age int, gender string, "
                                         "amount double")
    model = PIISanitizer(sampleFraction=1.0, defaultStrategy="mask",
                         strategies={"zip": "keep"}).fit(df)
    out = model.transform(df)
    r = model.k_anonymity(out, 10)
    assert r["quasi_identifiers"] == ["zip_code", "age", "gender"]
    assert (r["smallest_class"], r["rows_below_k"], r["classes_below_k"]) == (5, 5, 1)
    assert model.k_anonymity(out, 10, quasi_identifiers=["gender"])["satisfied"]


def test_a_sanitizer_from_metadata_checks_the_metadatas_k_and_fakes_in_its_locale(spark):
    import unicodedata

    from synthohive_spark.metadata import Metadata

    rows = [(f"{n} Smith", z, a, g) for n, (z, a, g) in zip(
        ["Anna", "James", "Maria", "Peter", "Linda", "David", "Sarah", "Tom"] * 5,
        ([("10115", 30, "F")] * 4 + [("10117", 41, "M")] * 3 + [("10119", 52, "F")]) * 5)]
    df = spark.createDataFrame(rows, "full_name string, zip_code string, age int, gender string")
    md = Metadata.detect({"people": df.toPandas()})
    md.tables["people"].columns["full_name"].pii = True
    md.privacy.k_anonymity = 10
    md.privacy.locale = "ja_JP"
    model = PIISanitizer.fromMetadata(md, "people", sampleFraction=1.0,
                                      key="a-long-random-test-secret").fit(df)
    out = model.transform(df)
    r = model.k_anonymity(out)  # k from the metadata
    assert r["k"] == 10 and (r["smallest_class"], r["rows_below_k"]) == (5, 5)
    names = [x[0] for x in out.select("full_name").collect()]
    assert all(any(unicodedata.name(ch, "").startswith("CJK") for ch in v) for v in names)
    with pytest.raises(ValueError, match="no k passed and none set"):
        PIISanitizer(sampleFraction=1.0, defaultStrategy="mask").fit(df).k_anonymity(out)


def _members(n, seed):
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n).round()
    return pd.DataFrame({"age": age, "income": 1000 * age + rng.normal(0, 4000, n),
                         "segment": rng.choice(["a", "b", "c"], n, p=[.6, .3, .1])})


def test_membership_inference_auc(spark):
    train, hold = spark.createDataFrame(_members(400, 1)), spark.createDataFrame(_members(400, 2))
    copy = evaluate(train, train, holdout=hold, dcr_synthetic_rows=400, dcr_reference_rows=400)
    p = copy.privacy["table"]
    assert p["membership_inference_auc"] > 0.97
    assert p["membership_inference_member_rows"] == 400
    assert p["membership_inference_non_member_rows"] == 400
    assert copy.privacy["membership_inference_auc"] == {"table": p["membership_inference_auc"]}
    assert "Membership inference AUC" in copy.to_html()
    fresh = spark.createDataFrame(_members(400, 3))
    ind = evaluate(train, fresh, holdout=hold, dcr_synthetic_rows=400, dcr_reference_rows=400)
    assert 0.42 < ind.privacy["table"]["membership_inference_auc"] < 0.58
