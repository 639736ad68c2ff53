"""A database with a reference table (a menu), a copied column (an item's price is its dish's
price) and derived columns (an order's item count and total), detected and generated end to end:
the rules hold in every synthetic copy, the reference table is kept as it is at any scale, the
model says which model each table got, and a saved model keeps all of it."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from conftest import shop_database
from synthohive_spark.metadata import Metadata
from synthohive_spark.ml._spark_schema import SchemaError
from synthohive_spark.ml.relational import RelationalSynthesizer, RelationalSynthesizerModel


@pytest.fixture(scope="module")
def real():
    return shop_database(seed=3, n_orders=300)


@pytest.fixture(scope="module")
def fitted(spark, real):
    md = Metadata.detect(real)
    frames = {t: spark.createDataFrame(df) for t, df in real.items()}
    return RelationalSynthesizer(metadata=md, seed=5).fit(frames)


def _pandas(out) -> dict[str, pd.DataFrame]:
    return {t: df.toPandas() for t, df in out.items()}


def _check_rules(real, synth) -> None:
    menu, orders, items = synth["menu"], synth["orders"], synth["items"]
    pd.testing.assert_frame_equal(menu.sort_values("dish_id").reset_index(drop=True),
                                  real["menu"].sort_values("dish_id").reset_index(drop=True),
                                  check_dtype=False)
    j = items.merge(menu[["dish_id", "price"]], on="dish_id", suffixes=("", "_menu"))
    assert len(j) == len(items)
    assert np.allclose(j["price"], j["price_menu"])
    line = items["price"] * items["quantity"]
    agg = pd.DataFrame({"n": items.groupby("order_id").size(),
                        "lines": line.groupby(items["order_id"]).sum().round(2)})
    o = orders.set_index("order_id").join(agg).fillna({"n": 0, "lines": 0.0})
    assert (o["n_items"] == o["n"]).all()
    assert np.allclose(o["total"], o["lines"], atol=0.005)


def test_rules_hold_and_the_reference_table_is_kept_at_any_scale(fitted, real):
    for scale in (1.0, 2.0):
        out = fitted.sample(scale=scale, seed=9)
        synth = _pandas(out)
        for df in out.values():
            df.unpersist()
        _check_rules(real, synth)
        assert len(synth["menu"]) == len(real["menu"])
        assert len(synth["orders"]) == round(len(real["orders"]) * scale)
    # the dish is learned jointly with the item: every dish of the menu occurs, no other
    assert set(synth["items"]["dish_id"]) <= set(real["menu"]["dish_id"])


def test_each_table_gets_a_model_and_the_fit_log_says_which_and_why(spark, real, caplog):
    md = Metadata.detect(real)
    frames = {t: spark.createDataFrame(df) for t, df in real.items()}
    with caplog.at_level(logging.INFO, logger="synthohive_spark.ml.relational"):
        m = RelationalSynthesizer(metadata=md, seed=5,
                                  tableParams={"items": {"model": "tvae", "epochs": 1}}).fit(frames)
    text = caplog.text
    assert "table orders: model gaussian_copula (auto:" in text
    assert "table items: model tvae (tableParams)" in text
    assert "table menu: reference table, 30 rows kept as they are" in text
    assert "fitted in" in text
    assert m.tableModel("items").getModel() == "tvae"


def test_a_saved_model_keeps_the_reference_rows_and_the_rules(fitted, real, tmp_path):
    path = str(tmp_path / "shop")
    fitted.save(path)
    loaded = RelationalSynthesizerModel.load(path)
    assert loaded.metadata.tables["menu"].reference
    a = _pandas(fitted.sample(seed=4))
    b = _pandas(loaded.sample(seed=4))
    for t in a:
        key = a[t].columns[0]
        pd.testing.assert_frame_equal(a[t].sort_values(key).reset_index(drop=True),
                                      b[t].sort_values(key).reset_index(drop=True))
    _check_rules(real, b)


def test_num_rows_of_a_reference_table_is_refused(fitted):
    with pytest.raises(ValueError, match="'menu', a reference table kept as it is"):
        fitted.sample(numRows={"menu": 100})


def test_a_declared_derived_rule_that_does_not_hold_fails_at_fit(spark, real):
    data = Metadata.detect(real).to_dict()
    data["tables"]["orders"]["columns"]["tip"]["derived"] = {
        "aggregate": "sum", "table": "items", "foreign_key": "order_id", "columns": ["price"]}
    frames = {t: spark.createDataFrame(df) for t, df in real.items()}
    with pytest.raises(SchemaError, match=r"Table 'orders', column 'tip': declared derived as the "
                                          r"sum of price .* \(100\.0%\) break the rule"):
        RelationalSynthesizer(metadata=Metadata.from_dict(data)).fit(frames)


def test_unique_labels_stay_unique_and_real(spark):
    rng = np.random.default_rng(0)
    first = ["Iron", "Led", "Pink", "Black", "Deep", "Blue", "Red", "Green", "Dead", "Gold"]
    second = ["Maiden", "Zeppelin", "Floyd", "Sabbath", "Purple", "Oyster", "Hot", "Day",
              "Kennedys", "Frapp", "Stones", "Wolves"]
    names = [f"{a} {b}" for a in first for b in second]  # 120 distinct names
    artists = pd.DataFrame({"artist_id": range(1, 121), "name": names,
                            "active_since": rng.integers(1960, 2015, 120)})
    albums = pd.DataFrame({"album_id": range(1, 361), "artist_id": rng.integers(1, 121, 360),
                           "tracks": rng.integers(5, 20, 360)})
    md = Metadata.detect({"artists": artists, "albums": albums})
    assert md.tables["artists"].columns["name"].unique and not md.tables["artists"].reference
    frames = {"artists": spark.createDataFrame(artists), "albums": spark.createDataFrame(albums)}
    m = RelationalSynthesizer(metadata=md, seed=1).fit(frames)
    one = m.sample(scale=1.0)["artists"].toPandas()
    assert one["name"].is_unique and set(one["name"]) == set(names)
    two = m.sample(scale=2.5)["artists"].toPandas()
    assert len(two) == 300 and two["name"].is_unique
    base = two["name"].str.replace(r" \((2|3)\)$", "", regex=True)
    assert set(base) == set(names)
