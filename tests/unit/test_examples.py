"""The retail example database: reproducible, consistent with its metadata, shaped as promised."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from synthohive_spark.examples import RETAIL_SCHEMAS, retail_metadata, retail_tables
from synthohive_spark.metadata import dtype_family


@pytest.fixture(scope="module")
def db() -> dict[str, pd.DataFrame]:
    return retail_tables(seed=0, scale=1.0)


def test_same_seed_same_rows_other_seed_other_rows(db):
    again = retail_tables(seed=0, scale=1.0)
    for name, df in db.items():
        pd.testing.assert_frame_equal(df, again[name])
    other = retail_tables(seed=1, scale=1.0)
    assert not db["customers"]["first_name"].equals(other["customers"]["first_name"])
    assert not db["orders"]["customer_id"].equals(other["orders"]["customer_id"].iloc[
        :len(db["orders"])].reset_index(drop=True))


def test_sizes_and_scale(db):
    sizes = {k: len(v) for k, v in db.items()}
    assert sizes["customers"] == 1000 and sizes["products"] == 200 and sizes["employees"] == 50
    assert 3400 <= sizes["orders"] <= 4600
    assert 8500 <= sizes["order_items"] <= 12500
    half = retail_tables(seed=0, scale=0.5)
    assert len(half["customers"]) == 500 and len(half["products"]) == 100
    assert 0.4 < len(half["orders"]) / sizes["orders"] < 0.6
    with pytest.raises(ValueError, match="scale"):
        retail_tables(scale=0)


def test_columns_and_types_match_the_metadata(db):
    md = retail_metadata()
    assert list(md.tables) == list(db) == list(RETAIL_SCHEMAS)
    for name, df in db.items():
        cfg = md.tables[name]
        assert list(df.columns) == list(cfg.columns), name
        ddl = [part.strip().split(" ") for part in RETAIL_SCHEMAS[name].split(",")]
        assert [(c, t) for c, t in ddl] == [(c, col.dtype) for c, col in cfg.columns.items()]
        for column, col in cfg.columns.items():
            s = df[column]
            assert bool(s.isna().any()) == col.nullable, (name, column)
            fam = dtype_family(col.dtype)
            if fam == "integer":
                assert pd.api.types.is_integer_dtype(s.dtype), (name, column, s.dtype)
            elif fam == "float":
                assert pd.api.types.is_float_dtype(s.dtype), (name, column)
            elif fam == "boolean":
                assert pd.api.types.is_bool_dtype(s.dtype), (name, column)
            elif fam == "timestamp":
                assert pd.api.types.is_datetime64_dtype(s.dtype), (name, column)
            if col.regex:
                assert s.dropna().map(lambda v: re.fullmatch(col.regex, v) is not None).all()
            if col.decimals is not None:
                v = s.dropna().to_numpy()
                assert np.allclose(v, np.round(v, col.decimals))


def test_keys_are_unique_and_references_resolve(db):
    md = retail_metadata()
    for name, cfg in md.tables.items():
        pk = db[name][cfg.primary_key]
        assert pk.is_unique and pk.notna().all(), name
    for parent, child, fk in md.relationships():
        values = db[child][fk.column].dropna()
        keys = set(db[parent][fk.parent_column])
        assert values.isin(keys).all(), (child, fk.column)


def test_employee_hierarchy(db):
    emp = db["employees"]
    top = emp[emp["reports_to"].isna()]
    assert list(top["employee_id"]) == [1]
    rest = emp.dropna(subset=["reports_to"])
    assert (rest["reports_to"].astype("int64") < rest["employee_id"]).all()  # no cycles
    managers = set(rest["reports_to"].astype("int64"))
    assert 3 <= len(managers) < len(emp) / 2


def test_account_managers_are_sales_staff_spread_over_the_ids(db):
    emp = db["employees"].set_index("employee_id")
    managers = db["orders"]["account_manager"].unique()
    assert (emp.loc[managers, "department"] == "sales").all()
    assert len(managers) >= 5
    # surrogate ids overlap on purpose: every employee id is also a customer and an order id
    assert set(db["employees"]["employee_id"]) <= set(db["customers"]["customer_id"])
    assert set(db["customers"]["customer_id"]) <= set(db["orders"]["order_id"])
    # a customer always deals with the same account manager
    assert (db["orders"].groupby("customer_id")["account_manager"].nunique() == 1).all()


def test_skews_and_parent_driven_child_counts(db):
    cust, orders, items = db["customers"], db["orders"], db["order_items"]
    share = cust["segment"].value_counts(normalize=True)
    assert abs(share["consumer"] - 0.7) < 0.05
    assert abs(share["corporate"] - 0.2) < 0.05
    assert abs(share["home_office"] - 0.1) < 0.04
    per_customer = orders.groupby("customer_id").size().reindex(cust["customer_id"],
                                                                 fill_value=0)
    by_segment = per_customer.groupby(cust.set_index("customer_id")["segment"]).mean()
    assert by_segment["corporate"] > by_segment["home_office"] > by_segment["consumer"]
    per_order = items.groupby("order_id").size().reindex(orders["order_id"], fill_value=0)
    by_channel = per_order.groupby(orders.set_index("order_id")["channel"]).mean()
    assert by_channel["web"] > by_channel["store"] > by_channel["mobile"]
    assert (per_order >= 1).all()
    popularity = items["product_id"].value_counts()
    top_tenth = popularity.iloc[:len(db["products"]) // 10].sum() / len(items)
    assert top_tenth > 0.3  # Zipf: a few products sell most
    assert db["products"]["category"].value_counts(normalize=True).iloc[0] > 0.25


def test_values_and_nulls_are_plausible(db):
    cust, orders, items = db["customers"], db["orders"], db["order_items"]
    assert 0.02 < cust["birth_year"].isna().mean() < 0.15
    assert cust["email"].str.contains("@").all()
    assert (pd.to_datetime(cust["signup_date"]) <= pd.Timestamp("2024-12-31")).all()
    assert orders.loc[orders["channel"] == "store", "shipping_cost"].isna().all()
    assert orders["notes"].isna().mean() > 0.5 and orders["notes"].notna().any()
    assert items["quantity"].between(1, 10).all()
    assert 0.4 < items["discount"].isna().mean() < 0.8
    signup = pd.to_datetime(cust.set_index("customer_id")["signup_date"])
    assert (orders["order_ts"] >= signup.loc[orders["customer_id"]].to_numpy()).all()
    assert orders["order_ts"].is_monotonic_increasing  # ids follow time
