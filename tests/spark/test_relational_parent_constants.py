"""A child column that holds one value per parent (each plane flies for one airline): detected
at fit, drawn once per generated parent (from the real frequencies among the parents of the same
model and about as many flights), and the siblings' other columns generated under it, not
overwritten; a column that varies within the parents is left alone; a saved model keeps it."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from conftest import fleet_database
from synthohive_spark.metadata import Metadata
from synthohive_spark.ml.relational import RelationalSynthesizer, RelationalSynthesizerModel


@pytest.fixture(scope="module")
def real():
    return fleet_database()


@pytest.fixture(scope="module")
def fitted(spark, real):
    md = Metadata.detect(real)
    assert md.tables["flights"].foreign_keys[0].parent_table == "planes"
    frames = {t: spark.createDataFrame(df) for t, df in real.items()}
    logger = logging.getLogger("synthohive_spark.ml.relational")
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Keep(level=logging.INFO)
    logger.addHandler(handler)
    old = logger.level
    logger.setLevel(logging.INFO)
    try:
        model = RelationalSynthesizer(metadata=md, seed=5, model="gaussian_copula").fit(frames)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    return model, records


def _sample(model, seed: int) -> dict[str, pd.DataFrame]:
    out = model.sample(scale=1.0, seed=seed)
    frames = {t: df.toPandas() for t, df in out.items()}
    for df in out.values():
        df.unpersist()
    return frames


def test_a_column_with_one_value_per_parent_is_found_and_the_fit_log_says_so(fitted):
    model, records = fitted
    spec = model._state["tables"]["flights"]["parentConstants"]
    assert spec["columns"] == ["carrier"]  # not origin: it varies within a plane
    assert spec["given"].endswith("model")  # the plane's model says most about its airline
    assert any("column carrier is one value per planes" in r for r in records)
    assert not any("column origin is one value" in r for r in records)
    # the flights' model learned the rows under it: one more column of the parent's context
    assert spec["conditioned"] is True
    assert "carrier" in model._table_models["flights"].getConditionCols()
    assert "carrier" not in model._state["tables"]["flights"]["conditionCols"]  # not the parent's


def test_each_generated_parent_has_one_value_and_its_children_are_generated_under_it(
        fitted, real):
    model, _ = fitted
    synth = _sample(model, seed=9)
    flights, planes = synth["flights"], synth["planes"]
    assert flights.groupby("plane_id")["carrier"].nunique().max() == 1
    # the other columns follow the parent's value (a route of its airline), as in the real data
    routes = set(zip(real["flights"]["carrier"], real["flights"]["route"]))
    assert np.mean([p in routes for p in zip(flights["carrier"], flights["route"])]) > 0.97
    # and the value follows the parent's model as in the real data (90% the model's airline)
    per_plane = flights.groupby("plane_id")["carrier"].first().rename("carrier")
    joined = planes.merge(per_plane, left_on="plane_id", right_index=True)
    main = joined.groupby("model")["carrier"].agg(lambda s: s.value_counts().iloc[0]).sum()
    assert main / len(joined) > 0.8
    # a column that varies within parents still does
    assert flights.groupby("plane_id")["origin"].nunique().max() > 1
    shares = flights["carrier"].value_counts(normalize=True)
    real_shares = real["flights"]["carrier"].value_counts(normalize=True)
    assert (shares.reindex(real_shares.index).fillna(0) - real_shares).abs().max() < 0.08


def test_a_saved_model_draws_the_same_parent_values(fitted, tmp_path):
    model, _ = fitted
    path = str(tmp_path / "fleet")
    model.save(path)
    loaded = RelationalSynthesizerModel.load(path)
    assert loaded._state["tables"]["flights"]["parentConstants"] == \
        model._state["tables"]["flights"]["parentConstants"]
    a, b = _sample(model, seed=11), _sample(loaded, seed=11)
    for t in ("planes", "flights"):
        pd.testing.assert_frame_equal(a[t], b[t])


def test_a_value_that_is_one_per_parent_only_by_chance_is_left_to_the_rows(spark, caplog):
    """A flag that is "a" on 99% of the rows is one value for 99.4% of the children (most
    parents' four children are all "a"), about what shuffled values give: not taken for a
    parent's value; an airline one per parent is."""
    from synthohive_spark.ml._relational_fit import fit_parent_constants, parent_values

    rng = np.random.default_rng(0)
    pid = np.repeat(np.arange(500), 4)
    flag = np.array(["a"] * len(pid), dtype=object)
    flag[np.isin(pid, [1, 2, 3])] = "b"  # three parents all "b"
    flag[[41, 85, 130]] = "b"  # three lone "b"s among others' children
    df = spark.createDataFrame(pd.DataFrame({
        "pid": pid, "flag": flag,
        "carrier": np.repeat(rng.choice(["AA", "DL", "UA"], 500), 4)}))
    with caplog.at_level(logging.INFO, logger="synthohive_spark.ml.relational"):
        cols = ["flag", "carrier"]
        found = fit_parent_constants("t", df, "pid", "parents", cols, parent_values(df, "pid", cols))
    assert found == ["carrier"]
    assert "column flag is one value per parents on 99.4%" in caplog.text
    assert "about what chance gives" in caplog.text


def test_a_model_saved_before_the_siblings_were_generated_under_their_value_still_samples(
        spark, real):
    """tests/data/models/relational_fleet_732a091: the fleet fitted by 732a091, whose flights'
    model did not learn the rows under the airline (its state has no "conditioned"): it loads,
    and each generated plane's flights still share one airline (set on the rows)."""
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "data", "models",
                        "relational_fleet_732a091")
    model = RelationalSynthesizerModel.load(path)
    spec = model._state["tables"]["flights"]["parentConstants"]
    assert spec["columns"] == ["carrier"] and "conditioned" not in spec
    synth = _sample(model, seed=3)
    flights, planes = synth["flights"], synth["planes"]
    assert flights.groupby("plane_id")["carrier"].nunique().max() == 1
    assert set(flights["plane_id"]) <= set(planes["plane_id"])
    assert set(flights["carrier"]) <= set(real["flights"]["carrier"])
    assert 0.7 * len(real["flights"]) < len(flights) < 1.3 * len(real["flights"])
