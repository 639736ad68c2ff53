"""Child tables generated as sequences (a parent's history, in the order of its sequence index),
on the executors: steps as in the real data, whole sequences per chunk, determinism, persistence,
and the table stage's own sequenceKey."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthohive_spark.metadata import Metadata
from synthohive_spark.ml.relational import RelationalSynthesizer, RelationalSynthesizerModel
from synthohive_spark.ml.table import SchemaError, TableSynthesizer

from test_determinism import assert_same_in_both_branches


def _tracks(n_parents: int = 150, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Vessels (a kind, a home port) and their six-hourly positions: a time every 6 hours, a
    position that moves by small steps, a speed that starts low (kind a) or high (kind b) and
    mostly stays, a status that follows the speed."""
    rng = np.random.default_rng(seed)
    parents, rows = [], []
    for p in range(1, n_parents + 1):
        kind = "a" if p % 2 else "b"
        parents.append({"vessel_id": p, "kind": kind, "port": ["Oslo", "Riga", "Kiel"][p % 3]})
        n = int(rng.integers(3, 15))
        t = pd.Timestamp("2021-01-01") + pd.Timedelta(hours=int(rng.integers(0, 1500)) * 6)
        x = float(rng.normal(50, 10))
        speed = (5 if kind == "a" else 20) + int(rng.integers(0, 3))
        for _ in range(n):
            rows.append({"fix_id": len(rows) + 1, "vessel_id": p, "at": t, "x": round(x, 2),
                         "speed": speed, "status": "fast" if speed >= 12 else "slow"})
            t += pd.Timedelta(hours=6)
            x += float(rng.normal(0, 0.3))
            speed = max(0, speed + int(rng.choice([0, 0, 0, 1, -1])))
    return pd.DataFrame(parents), pd.DataFrame(rows)


def _metadata() -> Metadata:
    return Metadata.from_dict({"tables": {
        "vessels": {"primary_key": "vessel_id", "columns": {
            "vessel_id": {"sdtype": "id"}, "kind": {"sdtype": "categorical"},
            "port": {"sdtype": "categorical"}}},
        "fixes": {"primary_key": "fix_id", "sequence_index": "at", "columns": {
            "fix_id": {"sdtype": "id"}, "vessel_id": {"sdtype": "id"},
            "at": {"sdtype": "datetime"}, "x": {"sdtype": "numerical"},
            "speed": {"sdtype": "numerical"}, "status": {"sdtype": "categorical"}},
            "foreign_keys": [{"column": "vessel_id", "parent_table": "vessels",
                              "parent_column": "vessel_id"}]}}})


@pytest.fixture(scope="module")
def real(spark):
    vessels, fixes = _tracks()
    return {"vessels": spark.createDataFrame(vessels), "fixes": spark.createDataFrame(fixes)}


@pytest.fixture(scope="module")
def fitted(real):
    # epochs not given: the sequence model trains its own default (about 3,000 steps)
    return RelationalSynthesizer(metadata=_metadata(), seed=11, chunkSize=16).fit(real)


def _steps(fixes: pd.DataFrame) -> pd.DataFrame:
    fixes = fixes.sort_values(["vessel_id", "at"], kind="stable")
    g = fixes.groupby("vessel_id")
    return pd.DataFrame({"hours": g["at"].diff().dt.total_seconds() / 3600,
                         "dx": g["x"].diff().abs()}).dropna()


def test_children_are_generated_as_sequences_of_their_parent(fitted, real):
    assert fitted.tableModel("fixes").getSequenceKey() == "vessel_id"
    assert fitted.tableModel("fixes").generative_model().name == "sequence"
    out = fitted.sample(seed=3)
    fixes, vessels = out["fixes"].toPandas(), out["vessels"].toPandas()
    assert set(fixes["vessel_id"]) <= set(vessels["vessel_id"])
    steps = _steps(fixes)
    # real: every step 6 hours, |N(0, 0.3)| moves (median 0.2); children drawn one by one under
    # their parent give a median hour step of days and moves of several units
    assert (steps["hours"] == 6).mean() > 0.8
    assert steps["dx"].median() < 1.0
    per_kind = fixes.merge(vessels, on="vessel_id").groupby("kind")["speed"].mean()
    assert per_kind["a"] < 12 < per_kind["b"]
    assert (fixes["status"] == np.where(fixes["speed"] >= 12, "fast", "slow")).mean() > 0.85


def test_a_sequence_is_never_split_between_chunks(fitted, monkeypatch):
    # chunkSize=16 (64 rows a call: a sequential table's call takes 4x) is smaller than many
    # parents' histories together: a chunk ends where a parent's children end, or the next chunk
    # would restart the sequence from a new first row
    out = fitted.sample(scale=3.0, seed=5, numPartitions=3)
    fixes = out["fixes"].toPandas()
    steps = _steps(fixes)
    assert (steps["hours"] == 6).mean() > 0.8
    runs = fixes["vessel_id"].ne(fixes["vessel_id"].shift()).cumsum()
    assert runs.nunique() == fixes["vessel_id"].nunique()  # each parent's rows together
    # drawn in the task that generates them, or over a persisted skeleton frame (the path of a
    # table with rows outside a parent): the same sequences, row for row
    import synthohive_spark.ml.relational as rel

    monkeypatch.setattr(rel, "draws_secondary_first", lambda ts: True)
    over_skeleton = fitted.sample(scale=3.0, seed=5, numPartitions=3)["fixes"].toPandas()
    pd.testing.assert_frame_equal(fixes, over_skeleton)


def test_sequences_are_the_same_rows_in_both_branches_and_after_loading(fitted, tmp_path, spark):
    out = fitted.sample(seed=7)
    assert_same_in_both_branches(out["fixes"], "fix_id", "sequential child table")
    path = str(tmp_path / "model")
    fitted.save(path)
    again = RelationalSynthesizerModel.load(path).sample(seed=7)
    a = out["fixes"].toPandas().sort_values("fix_id").reset_index(drop=True)
    b = again["fixes"].toPandas().sort_values("fix_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_a_model_that_does_not_learn_sequences_generates_rows_one_by_one(real):
    m = RelationalSynthesizer(metadata=_metadata(), seed=11, epochs=2,
                              tableParams={"fixes": {"model": "gaussian_copula"}}).fit(real)
    assert m.tableModel("fixes").getSequenceKey() == ""
    assert m.tableModel("fixes").generative_model().name == "gaussian_copula"


def test_table_stage_learns_sequences_by_key_and_transform_generates_them(spark, real):
    fixes = real["fixes"].drop("fix_id")
    stage = TableSynthesizer(sequenceKey="vessel_id", sequenceIndex="at", epochs=40, seed=2,
                             tableName="fixes")
    model = stage.fit(fixes)
    assert model.generative_model().name == "sequence"
    skeleton = fixes.select("vessel_id").orderBy("vessel_id").coalesce(1)
    twin = model.transform(skeleton).toPandas()
    assert sorted(twin["vessel_id"]) == sorted(fixes.toPandas()["vessel_id"])
    assert (_steps(twin)["hours"] == 6).mean() > 0.8
    with pytest.raises(SchemaError, match="sample\\(n\\) cannot generate sequences"):
        model.sample(10)
    with pytest.raises(SchemaError, match="does not learn sequences"):
        TableSynthesizer(sequenceKey="vessel_id", model="ctgan", epochs=1).fit(fixes)
    with pytest.raises(SchemaError, match="expected a number, a date or a timestamp"):
        TableSynthesizer(sequenceKey="vessel_id", sequenceIndex="status", epochs=1).fit(fixes)


def _regions(seed: int = 0) -> dict[str, pd.DataFrame]:
    """regions (a climate) -> customers (an age, unrelated to the climate) -> orders (what they
    buy: fans where it is hot, heaters where it is cold, whatever the customer's age)."""
    rng = np.random.default_rng(seed)
    regions = pd.DataFrame({"region_id": np.arange(1, 41),
                            "climate": np.where(np.arange(40) % 2 == 0, "hot", "cold")})
    customers = pd.DataFrame({"customer_id": np.arange(1, 801),
                              "region_id": rng.integers(1, 41, 800),
                              "age": rng.integers(18, 80, 800)})
    n = rng.integers(1, 6, 800)
    cust = np.repeat(customers["customer_id"].to_numpy(), n)
    hot = regions.set_index("region_id").loc[customers.set_index("customer_id").loc[cust, "region_id"],
                                             "climate"].to_numpy() == "hot"
    right = rng.random(len(cust)) < 0.95
    product = np.where(hot == right, "fan", "heater")
    orders = pd.DataFrame({"order_id": np.arange(1, len(cust) + 1), "customer_id": cust,
                           "product": product, "amount": np.round(rng.gamma(2, 20, len(cust)), 2)})
    return {"regions": regions, "customers": customers, "orders": orders}


def test_a_child_is_generated_under_its_grandparent_too(spark, tmp_path):
    tables = _regions()
    md = Metadata.from_dict({"tables": {
        "regions": {"primary_key": "region_id", "columns": {
            "region_id": {"sdtype": "id"}, "climate": {"sdtype": "categorical"}}},
        "customers": {"primary_key": "customer_id", "columns": {
            "customer_id": {"sdtype": "id"}, "region_id": {"sdtype": "id"},
            "age": {"sdtype": "numerical"}},
            "foreign_keys": [{"column": "region_id", "parent_table": "regions",
                              "parent_column": "region_id"}]},
        "orders": {"primary_key": "order_id", "columns": {
            "order_id": {"sdtype": "id"}, "customer_id": {"sdtype": "id"},
            "product": {"sdtype": "categorical"}, "amount": {"sdtype": "numerical"}},
            "foreign_keys": [{"column": "customer_id", "parent_table": "customers",
                              "parent_column": "customer_id"}]}}})
    frames = {t: spark.createDataFrame(df) for t, df in tables.items()}
    model = RelationalSynthesizer(metadata=md, seed=4, model="gaussian_copula").fit(frames)
    drv = model._state["tables"]["orders"]["driver"]
    assert drv["ancestors"] == {"regions__climate": ["regions", "climate"]}
    assert "regions__climate" in drv["contextCols"]

    def agreement(out: dict) -> float:
        o, c, r = (out[t].toPandas() for t in ("orders", "customers", "regions"))
        j = o.merge(c, on="customer_id").merge(r, on="region_id")
        return float(((j["product"] == "fan") == (j["climate"] == "hot")).mean())

    out = model.sample(seed=2)
    assert agreement(out) > 0.85              # real 0.95; under the customer alone about 0.5
    assert_same_in_both_branches(out["orders"], "order_id", "child under its grandparent")
    path = str(tmp_path / "m")
    model.save(path)
    again = RelationalSynthesizerModel.load(path).sample(seed=2)
    pd.testing.assert_frame_equal(
        out["orders"].toPandas().sort_values("order_id").reset_index(drop=True),
        again["orders"].toPandas().sort_values("order_id").reset_index(drop=True))
