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


def _stays(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Hotel stays as a warehouse table keeps them: the booking's time, its check-in and
    check-out dates, the nights between, the booking's year, month (a category of twelve values)
    and day of the week, the guest's birth date and age at check-in in whole years."""
    import datetime as dt

    rng = np.random.default_rng(seed)
    booked = (pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 700 * 24 * 60, n),
                                                          unit="min"))
    lead = rng.integers(0, 90, n)
    nights = rng.integers(1, 15, n)
    checkin = [(b + pd.Timedelta(days=int(d))).date() for b, d in zip(booked, lead)]
    checkout = [c + dt.timedelta(days=int(k)) for c, k in zip(checkin, nights)]
    born = [dt.date(1950, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 18000, n)]
    age = [c.year - b.year - ((c.month, c.day) < (b.month, b.day)) for c, b in zip(checkin, born)]
    return pd.DataFrame({
        "booked_at": booked.as_unit("us"), "checkin": checkin, "checkout": checkout,
        "nights": nights, "booked_year": booked.year.astype("int64"),
        "booked_month": booked.month.astype("int64"),
        "booked_weekday": booked.day_of_week.astype("int64"),
        "rate": np.round(rng.gamma(3.0, 40.0, n), 2), "born": born,
        "age": np.asarray(age, dtype="int64"),
        "hours_to_checkin": [((pd.Timestamp(c) - b) / pd.Timedelta(hours=1))
                             for c, b in zip(checkin, booked)]})


def test_numbers_of_a_date_of_their_row_are_found_as_parts_and_spans():
    data = _stays()
    specs = {"booked_month": {"sdtype": "categorical"}}
    found = {f.column: (f.op, f.unit, f.left, f.right) for f in plan_row_formulas(data, specs, 0)}
    assert found == {
        "nights": ("span", "days", "checkout", "checkin"),
        "booked_year": ("part", "year", "booked_at", ""),
        "booked_month": ("part", "month", "booked_at", ""),  # learned as a category: counts
        "booked_weekday": ("part", "weekday", "booked_at", ""),
        "age": ("span", "whole years", "checkin", "born"),
        "hours_to_checkin": ("span", "hours", "checkin", "booked_at")}


def test_no_date_formula_by_chance_nor_where_a_tenth_of_the_rows_disagree():
    data = _stays()
    rng = np.random.default_rng(5)
    n = len(data)
    off = rng.random(n) < 0.1
    frame = pd.DataFrame({
        "booked_at": data["booked_at"], "checkin": data["checkin"],
        # a month that is the booking's in nine rows of ten: not computed (it would lose the
        # tenth); a number of the same range drawn on its own: nothing to compute
        "month_mostly": np.where(off, rng.integers(1, 13, n), data["booked_month"]),
        "score": rng.integers(1, 13, n), "weekday_noise": rng.integers(0, 7, n),
        # a near constant that a shuffled date gives as well: says nothing
        "era": np.where(rng.random(n) < 0.999, 2000, 1999)})
    assert plan_row_formulas(frame, None, 0) == []


def test_a_model_computes_the_numbers_of_its_dates_and_keeps_them_through_its_state():
    data = _stays()
    fitted = create_model("gaussian_copula", seed=0).fit(data)
    assert {f.column for f in fitted.row_formulas} >= {"nights", "booked_month", "age"}
    assert "nights" not in fitted.transformer.columns
    out = fitted.sample(600, seed=2)
    assert list(out.columns) == list(data.columns)
    checkin, checkout = pd.to_datetime(out["checkin"]), pd.to_datetime(out["checkout"])
    assert ((checkout - checkin).dt.days == out["nights"]).all()
    booked = out["booked_at"]
    assert (booked.dt.month == out["booked_month"]).all()
    assert (booked.dt.year == out["booked_year"]).all()
    assert (booked.dt.day_of_week == out["booked_weekday"]).all()
    born = pd.to_datetime(out["born"])
    age = (checkin.dt.year - born.dt.year
           - ((checkin.dt.month * 100 + checkin.dt.day) < (born.dt.month * 100 + born.dt.day)))
    assert (age == out["age"]).all()
    assert np.allclose(out["hours_to_checkin"], (checkin - booked) / pd.Timedelta(hours=1))
    for c in data.columns:
        assert out[c].dtype == data[c].dtype, c
    again = GenerativeModel.from_state(*fitted.to_state())
    pd.testing.assert_frame_equal(again.sample(600, seed=2), out)


def test_the_parts_of_a_timestamp_with_a_time_zone_are_its_local_ones():
    rng = np.random.default_rng(3)
    n = 800
    utc = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 10**6, n),
                                                                 unit="min")
    local = pd.Series(utc).dt.tz_convert("America/New_York")
    frame = pd.DataFrame({"at": local, "hour": local.dt.hour.astype("int64"),
                          "utc_hour": pd.Series(utc).dt.hour.astype("int64")})
    found = {f.column: f.unit for f in plan_row_formulas(frame, None, 0)}
    assert found == {"hour": "hour"}  # the hour in UTC is no part of the New York time
    from synthohive_spark.transform.row_formula import RowFormula

    old = RowFormula("total", "+", "a", "b", {"family": "int", "dtype": "int64"}, 2, 0).to_state()
    old.pop("unit")  # a model saved before the dates' formulas loads as it was
    assert RowFormula.from_state(old).unit is None
