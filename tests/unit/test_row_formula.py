"""Columns computed from two others of their row (transform/row_formula.py) and the models that
compute them instead of learning them."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthohive_spark.models import create_model
from synthohive_spark.models.base import GenerativeModel
from synthohive_spark.transform.row_formula import apply_formulas, plan_row_formulas


def _lines(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    price = np.round(rng.gamma(2.0, 12.0, n), 2)
    qty = rng.integers(1, 12, n)
    amount = np.round(price * qty, 2)
    tax = np.round(amount * rng.choice([0.0, 0.07, 0.2], n), 2)
    discount = np.where(rng.random(n) < 0.2, np.nan, np.round(rng.uniform(0, 5, n), 2))
    return pd.DataFrame({"price": price, "qty": qty, "amount": amount, "tax": tax,
                         "total": np.round(amount + tax, 2), "discount": discount,
                         "net": np.round(amount + tax - discount, 2),
                         "weight_kg": np.round(rng.normal(3, 1, n), 3)})


def test_sums_and_products_of_a_row_are_found_in_the_direction_that_computes_them():
    found = {f.column: (f.left, f.op, f.right) for f in plan_row_formulas(_lines(), None, 0)}
    # the amount is the price times the quantity (not the price the amount over the quantity,
    # true as well to the cent), the total its amount plus the tax, a chain
    assert found["amount"] == ("price", "*", "qty")
    assert found["total"] == ("amount", "+", "tax")
    assert found["net"] == ("total", "-", "discount")  # missing where the discount is
    assert set(found) == {"amount", "total", "net"}


def test_no_formula_by_chance_nor_between_dummies():
    rng = np.random.default_rng(1)
    n = 2000
    region = rng.integers(0, 3, n)
    frame = pd.DataFrame({"east": (region == 0).astype(int), "west": (region == 1).astype(int),
                          "north": (region == 2).astype(int),
                          "a": np.round(rng.normal(size=n), 2), "b": np.round(rng.normal(size=n), 2),
                          "c": np.round(rng.normal(size=n), 2),
                          "small": rng.integers(0, 3, n), "other": rng.integers(0, 3, n)})
    frame["copy"] = frame["a"] * 1.0  # a times a neutral constant is a copy, no formula
    frame["ones"] = 1
    assert plan_row_formulas(frame, None, 0) == []


@pytest.mark.parametrize("model", ["gaussian_copula", "tvae"])
def test_a_model_computes_the_derived_columns_and_keeps_them_through_its_state(model):
    data = _lines()
    params = {"epochs": 2} if model == "tvae" else {}
    fitted = create_model(model, seed=0, **params).fit(data)
    assert [f.column for f in fitted.row_formulas] == ["amount", "total", "net"]
    assert "amount" not in fitted.transformer.columns  # not learned
    out = fitted.sample(800, seed=3)
    assert list(out.columns) == list(data.columns)
    assert np.allclose(out["amount"], np.round(out["price"] * out["qty"], 2))
    assert np.allclose(out["total"], np.round(out["amount"] + out["tax"], 2))
    net = np.round(out["total"] - out["discount"], 2)
    assert (out["net"].isna() == out["discount"].isna()).all()
    assert np.allclose(out["net"].dropna(), net.dropna())
    assert out["qty"].dtype == data["qty"].dtype and out["amount"].dtype == data["amount"].dtype
    again = GenerativeModel.from_state(*fitted.to_state())
    pd.testing.assert_frame_equal(again.sample(800, seed=3), out)


def test_not_under_differential_privacy():
    fitted = create_model("gaussian_copula", seed=0, epsilon=10.0).fit(_lines())
    assert fitted.row_formulas == []
    assert "amount" in fitted.transformer.columns


def test_an_integer_ratio_over_a_generated_zero_stays_an_integer():
    from synthohive_spark.transform.columns import describe_dtype
    from synthohive_spark.transform.row_formula import RowFormula

    per = RowFormula("per_unit", "/", "total", "units",
                     describe_dtype("per_unit", pd.Series([1, 2], dtype="int64")), 2, 0)
    out = apply_formulas(pd.DataFrame({"total": [6, 6, 7], "units": [3, 0, 2]}), [per])
    assert list(out.columns) == ["total", "units", "per_unit"]
    assert out["per_unit"].dtype == np.int64 and out["per_unit"].tolist() == [2, 0, 4]


def test_a_column_the_relational_rules_set_after_sampling_is_in_no_formula():
    from synthohive_spark.ml._table_fit import column_specs_of

    table = {"columns": {
        "price": {"sdtype": "numerical", "copy_of": {"foreign_key": "product_id",
                                                      "column": "list_price", "agreement": 1.0}},
        "qty": {"sdtype": "numerical"}, "amount": {"sdtype": "numerical"},
        "tax": {"sdtype": "numerical"},
        "total": {"sdtype": "numerical", "derived": {"aggregate": "sum", "table": "items",
                                                      "columns": ["amount"]}}}}
    specs = column_specs_of(table, ["price", "qty", "amount", "tax", "total"])
    assert specs["price"]["overridden"] and specs["total"]["overridden"]
    assert "overridden" not in specs["qty"]
    # the copied price is replaced after sampling: an amount computed from the model's price
    # would not be the copied price times the quantity, so the amount stays learned
    data = _lines()[["price", "qty", "amount", "tax", "total"]]
    assert {f.column for f in plan_row_formulas(data, None, 0)} == {"amount", "total"}
    assert plan_row_formulas(data, specs, 0) == []
    fitted = create_model("gaussian_copula", seed=0, column_specs=specs).fit(data)
    assert fitted.row_formulas == [] and "amount" in fitted.transformer.columns
