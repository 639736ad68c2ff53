"""A child generated under its secondary parent too (an order line under its product, not only
its order): the secondary key is drawn first, the generated product's columns are joined to the
line's skeleton, and the line is generated under them; a number that follows a parent's number
(the line's price, its product's list price) is learned as a factor to it. The rows are the same
whichever way the product is joined (broadcast or shuffle), in both branches of the harness and
after loading."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthohive_spark.metadata import Metadata
from synthohive_spark.ml import relational as rel
from synthohive_spark.ml._spark_schema import SchemaError
from synthohive_spark.ml.relational import RelationalSynthesizer, RelationalSynthesizerModel

from test_determinism import assert_same_in_both_branches

CATEGORIES = ("clothing", "garden", "books")


def _shop(seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_p, n_c = 60, 150
    category = rng.choice(CATEGORIES, n_p)
    products = pd.DataFrame({
        "product_id": np.arange(1, n_p + 1),
        "category": category,
        "list_price": np.round(rng.lognormal(3.0, 0.9, n_p), 2)})
    customers = pd.DataFrame({"customer_id": np.arange(1, n_c + 1),
                              "age": rng.integers(18, 80, n_c)})
    n_orders = rng.poisson(4, n_c) + 1
    cust = np.repeat(customers["customer_id"].to_numpy(), n_orders)
    prod = rng.integers(0, n_p, len(cust))
    # a garment has a size, nothing else does; the price is the list price, sometimes discounted
    size = np.where(category[prod] == "clothing", rng.choice(["S", "M", "L"], len(cust)), "none")
    factor = rng.choice([1.0, 1.0, 1.0, 0.9], len(cust))
    orders = pd.DataFrame({
        "order_id": np.arange(1, len(cust) + 1), "customer_id": cust,
        "product_id": products["product_id"].to_numpy()[prod],
        "size": size,
        "unit_price": np.round(products["list_price"].to_numpy()[prod] * factor, 2)})
    return {"products": products, "customers": customers, "orders": orders}


def _metadata() -> Metadata:
    return Metadata.from_dict({"tables": {
        "products": {"primary_key": "product_id", "columns": {
            "product_id": {"sdtype": "id"}, "category": {"sdtype": "categorical"},
            "list_price": {"sdtype": "numerical", "decimals": 2}}},
        "customers": {"primary_key": "customer_id", "columns": {
            "customer_id": {"sdtype": "id"}, "age": {"sdtype": "numerical"}}},
        "orders": {"primary_key": "order_id", "columns": {
            "order_id": {"sdtype": "id"}, "customer_id": {"sdtype": "id"},
            "product_id": {"sdtype": "id"}, "size": {"sdtype": "categorical"},
            "unit_price": {"sdtype": "numerical", "decimals": 2}},
            "foreign_keys": [
                {"column": "customer_id", "parent_table": "customers",
                 "parent_column": "customer_id", "driver": True},
                {"column": "product_id", "parent_table": "products",
                 "parent_column": "product_id"}]}}})


@pytest.fixture(scope="module")
def real():
    return _shop()


@pytest.fixture(scope="module")
def fitted(spark, real):
    frames = {t: spark.createDataFrame(df) for t, df in real.items()}
    return RelationalSynthesizer(metadata=_metadata(), seed=3, model="gaussian_copula").fit(frames)


def _lines(out: dict) -> pd.DataFrame:
    o = out["orders"].toPandas()
    p = out["products"].toPandas()
    j = o.merge(p, on="product_id", how="left")
    assert len(j) == len(o) and j["category"].notna().all()
    return j


def test_the_state_records_the_secondary_context_and_the_relative_price(fitted):
    ts = fitted._state["tables"]["orders"]
    ctx = dict(ts["secondary"]["product_id"]["context"])
    assert ctx == {"product_id__category": "category", "product_id__list_price": "list_price"}
    assert set(ctx) <= set(ts["conditionCols"])
    assert ts["relative"]["unit_price"]["parent"] == "product_id__list_price"
    assert ts["relative"]["unit_price"]["kind"] == "ratio"
    assert ts["driver"]["contextCols"] == ["age"]  # the count model sees the driver's columns


def test_a_line_follows_its_generated_product(fitted):
    j = _lines(fitted.sample(seed=5))
    # only garments have a size (real: always); drawn without the product: about a third
    garment = j["category"] == "clothing"
    assert float(((j["size"] != "none") == garment).mean()) > 0.9
    # the price is the product's list price or its 10% discount, to the cent
    ratio = j["unit_price"] / j["list_price"]
    near = np.minimum(np.abs(ratio - 1.0), np.abs(ratio - 0.9))
    assert float((near < 0.01).mean()) > 0.95
    assert (j["unit_price"] == j["unit_price"].round(2)).all()


def test_the_same_rows_broadcast_or_shuffled_in_both_branches_and_after_loading(
        fitted, monkeypatch, tmp_path):
    out = fitted.sample(seed=8)
    a = out["orders"].toPandas().sort_values("order_id").reset_index(drop=True)
    assert_same_in_both_branches(out["orders"], "order_id", "child under a secondary parent")
    monkeypatch.setattr(rel, "SECONDARY_BROADCAST_ROWS", 0)  # the shuffle join and reorder
    shuffled = fitted.sample(seed=8, numPartitions=3)["orders"]
    unshuffled = (lambda m: m.sample(seed=8, numPartitions=3)["orders"])
    monkeypatch.undo()
    b = unshuffled(fitted).toPandas().sort_values("order_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(
        shuffled.toPandas().sort_values("order_id").reset_index(drop=True), b)
    path = str(tmp_path / "m")
    fitted.save(path)
    again = RelationalSynthesizerModel.load(path).sample(seed=8)
    pd.testing.assert_frame_equal(
        a, again["orders"].toPandas().sort_values("order_id").reset_index(drop=True))


def test_context_cols_can_name_a_secondary_parents_column(spark, real):
    frames = {t: spark.createDataFrame(df) for t, df in real.items()}
    m = RelationalSynthesizer(metadata=_metadata(), seed=3, model="gaussian_copula",
                              contextCols={"orders": ["age", "product_id__category"]}).fit(frames)
    ts = m._state["tables"]["orders"]
    assert ts["secondary"]["product_id"]["context"] == [["product_id__category", "category"]]
    assert "relative" not in ts  # the list price is not in the context: nothing to follow
    with pytest.raises(SchemaError, match=r"orders.*secondary parents \(product_id__category, "
                                          r"product_id__list_price\)"):
        RelationalSynthesizer(metadata=_metadata(), seed=3, model="gaussian_copula",
                              contextCols={"orders": ["product_id__colour"]}).fit(frames)
