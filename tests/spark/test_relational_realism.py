"""A database with a reference table (a menu), a copied column (an item's price is its dish's
price) and derived columns (an order's item count and total), detected and generated end to end:
the rules hold in every synthetic copy, the reference table is kept as it is at any scale, the
model says which model each table got, and a saved model keeps all of it."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from conftest import members_database, shop_database
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


def test_children_are_not_conditioned_on_a_total_computed_from_them(fitted, real):
    items = fitted._state["tables"]["items"]
    # the count model reads the order's item count (it decides how many items an order has) ...
    assert {"n_items", "total"} <= set(items["driver"]["contextCols"])
    # ... the items' own model does not: those columns are sums over the siblings, recomputed
    # after them, and a sibling drawn alone cannot aim at them
    assert not any(c.endswith(("n_items", "total")) for c in items["conditionCols"])
    assert any(c.endswith("channel") for c in items["conditionCols"])
    synth = _pandas(fitted.sample(scale=1.0, seed=2))
    share = real["items"]["dish_id"].value_counts(normalize=True)
    fake = synth["items"]["dish_id"].value_counts(normalize=True).reindex(share.index).fillna(0)
    assert (share - fake).abs().sum() / 2 < 0.15  # dish shares: sampling noise of ~900 rows


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


def test_under_dp_the_kept_reference_rows_and_the_rules_are_stated_as_not_covered(spark, real):
    """The menu is kept as it is and the order's total is a rule read from the real rows: under
    epsilon neither is differentially private, and the statement says so."""
    md = Metadata.detect(real)
    assert md.tables["menu"].reference
    assert any(c.derived is not None or c.copy_of is not None
               for t in md.tables.values() for c in t.columns.values())
    frames = {t: spark.createDataFrame(df) for t, df in real.items()}
    p = RelationalSynthesizer(metadata=md, seed=5, epsilon=5.0).fit(frames).privacy
    assert p["epsilon"] <= 5.0 and "menu" not in p["tables"]
    assert "reference tables ['menu']: their real rows are kept as they are" in p["not_covered"]
    assert any("copied, derived and relative column rules" in c for c in p["not_covered"])
    assert any("a name key's syllables" in c for c in p["not_covered"])


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


def test_a_least_time_and_a_greatest_number_are_their_generated_childrens(spark):
    real = members_database(seed=2, n_members=150)
    later = real["visits"]["member_id"] % 3 == 0  # a third of the members two years later
    real["visits"].loc[later, "at"] += pd.Timedelta(days=730)
    members = real["members"]
    members.loc[members["member_id"] % 3 == 0, "first_visit"] += pd.Timedelta(days=730)
    members["since"] = members["first_visit"].dt.year.astype("Int64")  # 2021 to 2024
    md = Metadata.detect(real)
    assert md.tables["members"].columns["first_visit"].derived.aggregate == "min"
    assert md.tables["members"].columns["since"].derived.part == "year"
    frames = {t: spark.createDataFrame(df) for t, df in real.items()}
    m = RelationalSynthesizer(metadata=md, seed=3,
                              tableParams={"visits": {"model": "gaussian_copula"}}).fit(frames)
    # the visits are drawn under the member's best score and first visit (kept as context: a
    # least or greatest value is not a sum that siblings drawn alone would have to add up to)
    cond = m._state["tables"]["visits"]["conditionCols"]
    assert any(c.endswith("best_score") for c in cond)
    assert any(c.endswith("first_visit") for c in cond)
    for seed in (1, 2):
        out = _pandas(m.sample(scale=1.5, seed=seed))
        members, visits = out["members"], out["visits"]
        g = visits.groupby("member_id")
        j = members.set_index("member_id").join(
            pd.DataFrame({"first": g["at"].min(), "best": g["score"].max(), "n": g.size()}))
        has = j["n"].notna()
        assert 0.5 < has.mean() < 1.0                  # some members got no visit
        assert (j.loc[has, "first_visit"] == j.loc[has, "first"]).all()
        assert (j.loc[has, "best_score"] == j.loc[has, "best"]).all()
        assert (j.loc[has, "since"] == j.loc[has, "first"].dt.year).all()  # the first's year
        # a member without visits keeps the value generated for it
        assert j.loc[~has, "best_score"].notna().all()
        # the members' own columns still look like the real ones
        real_best = real["members"]["best_score"]
        assert abs(j["best_score"].mean() - real_best.mean()) < 0.15 * real_best.mean()
    data = md.to_dict()
    data["tables"]["members"]["columns"]["best_score"]["derived"]["aggregate"] = "min"
    with pytest.raises(SchemaError, match=r"Table 'members', column 'best_score': declared "
                                          r"derived as the least score"):
        RelationalSynthesizer(metadata=Metadata.from_dict(data)).fit(frames)
    data = md.to_dict()
    data["tables"]["members"]["columns"]["since"]["derived"]["aggregate"] = "max"
    with pytest.raises(SchemaError, match=r"Table 'members', column 'since': declared derived "
                                          r"as the year of the greatest at in 'visits' .*, but \d+ of"):
        RelationalSynthesizer(metadata=Metadata.from_dict(data)).fit(frames)


@pytest.mark.parametrize("as_dates", [False, True])
def test_a_declared_least_or_greatest_rule_is_checked_on_times_and_dates(spark, as_dates):
    from synthohive_spark.ml._relational_fit import check_derived_rules

    real = members_database(seed=4, n_members=80)
    if as_dates:  # the day of each visit, and of the first one
        real["visits"]["at"] = real["visits"]["at"].dt.date
        real["members"]["first_visit"] = real["members"]["first_visit"].dt.date
    md = Metadata.detect(real)
    assert md.tables["members"].columns["first_visit"].derived.aggregate == "min"
    frames = {t: spark.createDataFrame(df) for t, df in real.items()}
    check_derived_rules(md, frames)   # holds
    data = md.to_dict()
    data["tables"]["members"]["columns"]["first_visit"]["derived"]["aggregate"] = "max"
    with pytest.raises(SchemaError, match=r"Table 'members', column 'first_visit': declared "
                                          r"derived as the greatest at .* break the rule"):
        check_derived_rules(Metadata.from_dict(data), frames)


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
    # under differential privacy the labels are still the real values: the statement says so
    dp = RelationalSynthesizer(metadata=md, seed=1, epsilon=3.0).fit(frames)
    assert "unique labels {'artists': ['name']}: their real values are kept" in dp.privacy["not_covered"]


def test_an_address_copied_from_the_parent_takes_the_generated_parent_value(spark):
    rng = np.random.default_rng(4)
    n = 200
    cities = {"Brazil": ["Sao Paulo", "Rio de Janeiro", "Brasilia"],
              "Germany": ["Berlin", "Hamburg", "Munich", "Stuttgart"],
              "USA": ["Chicago", "Boston", "Seattle", "Austin"]}
    country = rng.choice(list(cities), n)
    customers = pd.DataFrame({
        "customer_id": range(1, n + 1),
        "first_name": rng.choice(["Ana", "Luis", "Eva", "Tom", "Ida", "Max", "Lea", "Ben"], n),
        "last_name": rng.choice(["Silva", "Meyer", "Smith", "Costa", "Weber", "Brown"], n),
        "city": [rng.choice(cities[c]) for c in country], "country": country})
    m = 1200
    owner = rng.integers(1, n + 1, m)
    moved = rng.random(m) < 0.05
    invoices = pd.DataFrame({
        "invoice_id": range(1, m + 1), "customer_id": owner,
        "billing_city": np.where(moved, "Lisbon", customers["city"].to_numpy()[owner - 1]),
        "billing_country": customers["country"].to_numpy()[owner - 1],
        "total": np.round(rng.uniform(1, 30, m), 2)})
    md = Metadata.detect({"customers": customers, "invoices": invoices})
    rule = md.tables["invoices"].columns["billing_city"].copy_of
    assert rule is not None and rule.column == "city"
    assert rule.agreement == pytest.approx(1 - moved.mean(), abs=1e-3)
    assert md.tables["invoices"].columns["billing_city"].pii
    frames = {t: spark.createDataFrame(df) for t, df in
              {"customers": customers, "invoices": invoices}.items()}
    model = RelationalSynthesizer(metadata=md, seed=2).fit(frames)
    out = _pandas(model.sample(scale=2.0, seed=3))
    j = out["invoices"].merge(out["customers"], on="customer_id")
    same_city = (j["billing_city"] == j["city"]).mean()
    assert same_city == pytest.approx(1 - moved.mean(), abs=0.03)
    assert (j["billing_country"] == j["country"]).mean() > 0.97


def test_rows_without_a_driver_parent_keep_their_share_and_the_table_its_size(spark):
    rng = np.random.default_rng(8)
    planes = pd.DataFrame({"tailnum": [f"N{100 + i}UA" for i in range(150)],
                           "seats": rng.integers(20, 300, 150)})
    n = 3000
    tail = rng.choice(planes["tailnum"], n).astype(object)
    unknown = rng.random(n) < 0.18
    tail[unknown] = None
    flights = pd.DataFrame({"flight_id": range(1, n + 1), "tailnum": tail,
                            "delay": np.where(unknown, rng.normal(40, 5, n),
                                              rng.normal(5, 5, n)).round(1)})
    md = Metadata.detect({"planes": planes, "flights": flights})
    assert md.tables["flights"].driver.parent_table == "planes"
    frames = {"planes": spark.createDataFrame(planes), "flights": spark.createDataFrame(flights)}
    model = RelationalSynthesizer(metadata=md, seed=1).fit(frames)
    out = _pandas(model.sample(scale=1.0))
    synth = out["flights"]
    assert len(synth) == pytest.approx(n, rel=0.06)
    assert synth["tailnum"].isna().mean() == pytest.approx(unknown.mean(), abs=0.03)
    assert synth["flight_id"].is_unique
    # rows without a plane are generated under a null parent context, as they were learned:
    # their delays stay apart (real: 40 against 5; the copula keeps part of the gap)
    no_plane = synth["tailnum"].isna()
    assert synth.loc[no_plane, "delay"].mean() > synth.loc[~no_plane, "delay"].mean() + 8
    assert set(synth["tailnum"].dropna()) <= set(out["planes"]["tailnum"])


def test_a_model_saved_before_the_realism_work_still_loads_and_samples(spark):
    """tests/data/models/relational_before_realism: a RelationalSynthesizerModel (copula, shops ->
    sales) saved by the version before reference tables, rules, labels and category orders."""
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "data", "models",
                        "relational_before_realism")
    model = RelationalSynthesizerModel.load(path)
    assert not any(t.reference for t in model.metadata.tables.values())
    out = _pandas(model.sample(scale=2.0, seed=1))
    shops, sales = out["shops"], out["sales"]
    assert len(shops) == 60 and shops["shop_id"].is_unique
    assert shops["shop_id"].str.fullmatch(r"S-\d{3}").all()
    assert set(sales["shop_id"]) <= set(shops["shop_id"])
    assert 250 < len(sales) < 550 and set(sales["channel"]) <= {"web", "store"}
