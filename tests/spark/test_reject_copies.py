"""rejectCopies / minDCR (and the metadata's exact_copy_tolerance / min_dcr): generated rows that
copy a real row, or come too close to one, are generated again on the executors against the real
rows given at sample time; the report checks the settings."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from synthohive_spark.metadata import Metadata
from synthohive_spark.ml.relational import RelationalSynthesizer
from synthohive_spark.ml.table import TableSynthesizer
from synthohive_spark.validation import evaluate

pytestmark = pytest.mark.spark

COLS = ["c1", "c2", "c3", "v"]
#: six of the 27 (c1, c2, c3) combinations, each with v in 0, 1, 2: a copula that draws the
#: columns nearly independently reproduces real rows often, and can also avoid them
COMBOS = [("a", "x", "p"), ("a", "y", "q"), ("b", "x", "q"), ("b", "z", "p"), ("c", "y", "r"),
          ("c", "z", "q")]


def _few_rows(n: int = 300) -> pd.DataFrame:
    # v is mostly its combination's, not always (on every real row, v would be a number its row's
    # key determines, set from the key after sampling: transform/row_lookup.py)
    return pd.DataFrame([COMBOS[i % 6] + (float((i + (i % 10 == 0)) % 3),) for i in range(n)],
                        columns=COLS)


def _dcr(rows: pd.DataFrame, real: pd.DataFrame) -> np.ndarray:
    """Each row's DCR to the real rows, written out here (3 categories, v over its range 2)."""
    distinct = real.drop_duplicates().to_numpy(dtype=object)
    out = []
    for r in rows[COLS].to_numpy(dtype=object):
        terms = (distinct[:, :3] != r[:3]).sum(axis=1) + np.minimum(
            np.abs(distinct[:, 3].astype(float) - float(r[3])) / 2.0, 1.0)
        out.append(float(terms.min()) / 4.0)
    return np.array(out)


@pytest.fixture(scope="module")
def real(spark):
    return spark.createDataFrame(_few_rows()).cache()


@pytest.fixture(scope="module")
def model(real):
    return TableSynthesizer(model="gaussian_copula", seed=3, tableName="few").fit(real)


def test_copies_without_rejection_and_none_with_it(model, real):
    real_pdf = real.toPandas()
    plain = model.sample(2000, numPartitions=2).toPandas()
    assert (_dcr(plain, real_pdf) == 0).mean() > 0.2            # the model copies real rows
    strict = model.copy().setRejectCopies(True)
    out = strict.sample(2000, numPartitions=2, reference=real)
    assert out.count() == 2000 and out.schema == model.schema
    # no generated row equals a real row (checked by Spark, null-safe on every column)
    cond = [out[c].eqNullSafe(real[c]) for c in COLS]
    assert out.join(real, on=cond, how="left_semi").count() == 0
    # deterministic: the same seed and partitions give the same rows, in the same order
    rows = out.collect()
    assert rows == strict.sample(2000, numPartitions=2, reference=real).collect()
    assert rows != strict.sample(2000, numPartitions=2, reference=real, seed=4).collect()
    # rows that were not copies are kept: most rows equal the plain sample's
    same = (out.toPandas()[COLS].to_numpy() == plain[COLS].to_numpy()).all(axis=1)
    assert same.mean() > 0.4 and not same.all()


def test_a_dp_model_that_rejects_copies_says_the_check_is_outside_its_epsilon(real, caplog):
    pytest.importorskip("opacus")
    dp = TableSynthesizer(model="gaussian_copula", seed=3, tableName="few", epsilon=5.0).fit(real)
    with caplog.at_level(logging.WARNING, logger="synthohive_spark.ml.copies"):
        dp.copy().setRejectCopies(True).sample(200, reference=real).count()
    assert "outside the model's differential privacy" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="synthohive_spark.ml.copies"):
        dp.sample(200).count()  # no check, nothing to say
    assert "outside the model's differential privacy" not in caplog.text


def test_min_dcr_keeps_every_row_that_far_from_the_real_rows(model, real):
    real_pdf = real.toPandas()
    d = _dcr(model.sample(2000, numPartitions=2).toPandas(), real_pdf)
    assert ((d > 0) & (d < 0.2)).sum() > 20                     # close, not copies
    out = model.copy().setMinDCR(0.2).sample(2000, numPartitions=2, reference=real).toPandas()
    assert len(out) == 2000 and _dcr(out, real_pdf).min() >= 0.2


def test_transform_keeps_the_twins_away_from_its_input(model, real):
    twins = model.copy().setRejectCopies(True).transform(real)
    assert twins.count() == real.count()
    assert twins.join(real, on=[twins[c].eqNullSafe(real[c]) for c in COLS],
                      how="left_semi").count() == 0


def test_conditioned_rows_are_generated_again_under_their_own_condition(real):
    cond = TableSynthesizer(model="gaussian_copula", seed=3, conditionCols=["c1"]).fit(real)
    learned = ["c2", "c3", "v"]                  # the condition is given, not compared
    twins = cond.copy().setRejectCopies(True).transform(real)
    got = twins.select(F.col("c1").alias("t1"), *learned).toPandas()
    assert (got["t1"].to_numpy() == real.toPandas()["c1"].to_numpy()).all()
    out = cond.copy().setRejectCopies(True).sample(500, reference=real)
    ref = real.select(*learned).distinct()
    for df in (twins, out):
        assert df.join(ref, on=[df[c].eqNullSafe(ref[c]) for c in learned],
                       how="left_semi").count() == 0


def test_without_real_rows_the_setting_is_refused(model, real):
    with pytest.raises(ValueError, match=r"rejectCopies .* pass them as sample\(n, "
                                         r"reference=real_df\)"):
        model.copy().setRejectCopies(True).sample(10)
    with pytest.raises(ValueError, match="minDCR=0.2"):
        model.copy().setMinDCR(0.2).sample(10)
    with pytest.raises(ValueError, match=r"minDCR must be in \[0, 1\]"):
        model.copy().setMinDCR(1.5).sample(10, reference=real)
    with pytest.raises(ValueError, match="lack learned column"):
        model.copy().setRejectCopies(True).sample(10, reference=real.drop("c2"))
    with pytest.raises(ValueError, match="minDCR"):
        TableSynthesizer(minDCR=2.0)


def test_rows_that_cannot_be_made_far_enough_fail_the_task(model, real):
    # every category the model draws is a real one: no row is at distance 1 from every real row
    with pytest.raises(Exception, match=r"Table 'few': \d+ of \d+ generated rows of a chunk are "
                                        r"still closer than minDCR=1 to a real row after 10"):
        model.copy().setMinDCR(1.0).sample(200, reference=real).count()


def test_params_set_on_the_estimator_reach_the_model_and_its_quality_gate(real):
    fitted = TableSynthesizer(model="gaussian_copula", seed=3, rejectCopies=True,
                              minQuality=0.3).fit(real)   # the gate samples against real: no error
    assert fitted.getRejectCopies() and fitted.getMinDCR() == 0.0
    out = fitted.sample(500, reference=real)
    assert out.join(real, on=[out[c].eqNullSafe(real[c]) for c in COLS],
                    how="left_semi").count() == 0


def _copy_metadata(min_dcr=None, tolerance=None) -> Metadata:
    cols = {"c1": {"sdtype": "categorical"}, "c2": {"sdtype": "categorical"},
            "c3": {"sdtype": "categorical"}, "v": {"sdtype": "numerical"}}
    return Metadata.from_dict({"tables": {"few": {"columns": cols}},
                               "privacy": {"min_dcr": min_dcr, "exact_copy_tolerance": tolerance}})


def test_the_report_says_whether_the_settings_hold(spark, model, real):
    md = _copy_metadata(min_dcr=0.2, tolerance=0.05)
    plain = model.sample(600, numPartitions=2)
    report = evaluate(real, plain, metadata=md)
    bad = report.privacy["copy_settings"]["few"]
    page = report.to_html()
    assert "Distance settings of the metadata" in page and '<span class="bad">no</span>' in page
    assert bad["exact_copy_rate"] > 0.2 and not bad["exact_copy_tolerance_holds"]
    assert bad["share_below_min_dcr"] > 0.2 and bad["min_dcr_holds"] is False
    assert not bad["holds"] and bad["min_dcr"] == 0.2 and bad["exact_copy_tolerance"] == 0.05
    far = model.copy().setMinDCR(0.2).sample(600, numPartitions=2, reference=real)
    good = evaluate(real, far, metadata=md).privacy["copy_settings"]["few"]
    assert good["exact_copy_rate"] == 0.0 and good["share_below_min_dcr"] == 0.0
    assert good["holds"] and good["synthetic_sample_rows"] == 600
    # not set in the metadata: not checked; set to 0 (no copy at all): checked
    assert "copy_settings" not in evaluate(real, plain, metadata=_copy_metadata()).privacy
    zero = evaluate(real, plain, metadata=_copy_metadata(tolerance=0.0)).privacy
    assert zero["copy_settings"]["few"]["exact_copy_tolerance"] == 0.0
    assert not zero["copy_settings"]["few"]["exact_copy_tolerance_holds"]


# ------------------------------------------------------------------ a database
REL = {
    "tables": {
        "shops": {"primary_key": "shop_id",
                  "columns": {"shop_id": {"sdtype": "id", "dtype": "bigint"},
                              "region": {"sdtype": "categorical"},
                              "tier": {"sdtype": "categorical"}}},
        "sales": {"primary_key": "sale_id",
                  "columns": {"sale_id": {"sdtype": "id", "dtype": "bigint"},
                              "shop_id": {"sdtype": "id", "dtype": "bigint"},
                              "item": {"sdtype": "categorical"},
                              "channel": {"sdtype": "categorical"},
                              "size": {"sdtype": "categorical"}},
                  "foreign_keys": [{"column": "shop_id", "parent_table": "shops",
                                    "parent_column": "shop_id"}]}},
    "privacy": {"exact_copy_tolerance": 0.01},
}


@pytest.fixture(scope="module")
def database(spark):
    # four of the six (region, tier) pairs, neither column a function of the other
    pairs = [("n", "gold"), ("n", "basic"), ("s", "gold"), ("e", "basic")]
    shops = pd.DataFrame([(i,) + pairs[i % 4] for i in range(60)],
                         columns=["shop_id", "region", "tier"])
    combos = [("a", "web", "S"), ("a", "store", "M"), ("b", "web", "M"), ("b", "store", "L"),
              ("c", "web", "L"), ("c", "store", "S")]
    sales = pd.DataFrame([(i, i % 60) + combos[i % len(combos)] for i in range(600)],
                         columns=["sale_id", "shop_id", "item", "channel", "size"])
    return {"shops": spark.createDataFrame(shops).cache(),
            "sales": spark.createDataFrame(sales).cache()}


def _copy_share(out, real, cols) -> float:
    ref = real.select(*cols).distinct()
    on = [out[c].eqNullSafe(ref[c]) for c in cols]
    return out.join(ref, on=on, how="left_semi").count() / out.count()


def test_relational_sample_rejects_copies_per_table_from_the_metadata(database):
    model = RelationalSynthesizer(metadata=Metadata.from_dict(REL), model="gaussian_copula",
                                  seed=5).fit(database)
    learned = {"shops": ["region", "tier"], "sales": ["item", "channel", "size"]}
    # the tolerance above 0 turns rejection on: real rows are needed
    with pytest.raises(ValueError, match=r"exact_copy_tolerance=0.01.*reference=\{table"):
        model.sample()
    with pytest.raises(ValueError, match=r"reference lacks table\(s\) \['sales'\]"):
        model.sample(reference={"shops": database["shops"]})
    plain = model.copy().setRejectCopies(False).sample()
    assert _copy_share(plain["sales"], database["sales"], learned["sales"]) > 0.2
    out = model.sample(reference=database)
    for t, cols in learned.items():
        assert out[t].count() == plain[t].count()
        assert _copy_share(out[t], database[t], cols) <= 0.01, t
    # keys still hold, and the same seed gives the same rows
    sales, shops = out["sales"], out["shops"]
    assert sales.join(shops, "shop_id", "left_anti").count() == 0
    again = model.sample(reference=database)["sales"]
    assert sorted(sales.collect()) == sorted(again.collect())


def test_relational_sample_keeps_the_metadatas_min_dcr(database):
    """privacy.min_dcr alone (no exact_copy_tolerance) drives generation: refused without the
    real rows, and every generated sale at least that far from the closest real one."""
    md = Metadata.from_dict({**REL, "privacy": {"min_dcr": 0.3}})
    model = RelationalSynthesizer(metadata=md, model="gaussian_copula", seed=5).fit(database)
    with pytest.raises(ValueError, match=r"minDCR=0.3 rejects"):
        model.sample()
    out = model.sample(reference=database)
    # three categories per sale: 0.3 means at least one differs from every real sale
    assert _copy_share(out["sales"], database["sales"], ["item", "channel", "size"]) == 0
    plain = model.copy().setMinDCR(0.0).sample()
    assert _copy_share(plain["sales"], database["sales"], ["item", "channel", "size"]) > 0.2
