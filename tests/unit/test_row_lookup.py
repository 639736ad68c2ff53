"""Numbers that one or two category columns of their row determine (transform/row_lookup.py), and
the models that set them from the real value of the generated row's key."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthohive_spark.models import create_model
from synthohive_spark.models.base import GenerativeModel
from synthohive_spark.transform.row_lookup import MIN_KEY_ROWS, apply_lookups, plan_row_lookups

AIRPORTS = ["EWR", "JFK", "LGA"]
DESTS = ["ATL", "BOS", "DEN", "MIA", "ORD", "SFO", "LAX", "SEA"]


def _flights(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Flights whose distance is their route's (origin and destination: neither alone), an order
    line's price its product's, a delay that nothing determines, a flag that is nearly always 0."""
    rng = np.random.default_rng(seed)
    distance = {(o, d): int(rng.integers(150, 2600)) for o in AIRPORTS for d in DESTS}
    origin = rng.choice(AIRPORTS, n)
    dest = rng.choice(DESTS, n, p=np.linspace(2, 1, len(DESTS)) / np.linspace(2, 1, len(DESTS)).sum())
    products = [f"p{i:03d}" for i in range(40)]
    price = {p: round(float(rng.gamma(3.0, 4.0)), 2) for p in products}
    product = rng.choice(products, n)
    qty = rng.integers(1, 6, n)
    return pd.DataFrame({
        "origin": origin, "dest": dest,
        "distance": [distance[(o, d)] for o, d in zip(origin, dest)],
        "delay": np.round(rng.normal(10, 30, n), 1),
        "product": product, "qty": qty,
        "price": [price[p] for p in product],
        "amount": np.round(np.array([price[p] for p in product]) * qty, 2),
        "rare_flag": (rng.random(n) < 0.004).astype(int),
        "ticket": np.arange(n),  # one-off values: a key of nothing
    })


def test_a_route_determines_its_distance_and_a_product_its_price():
    found = {lk.column: lk.keys for lk in plan_row_lookups(_flights(), None, 0)}
    # (the amount, too, is one per product and quantity; a model computes it as their product
    # before looking for lookups: see below)
    assert found == {"distance": ["dest", "origin"], "price": ["product"],
                     "amount": ["product", "qty"]}


def test_no_lookup_by_chance_nor_from_one_off_keys():
    rng = np.random.default_rng(3)
    n = 2000
    frame = pd.DataFrame({"city": rng.choice(["a", "b", "c", "d"], n),
                          "size": rng.integers(0, 4, n),
                          "income": np.round(rng.lognormal(10, 1, n)),
                          "mostly_zero": (rng.random(n) < 0.003).astype(int),  # any column "determines" it
                          "person": [f"id{i}" for i in range(n)],
                          "score": np.round(rng.normal(size=n), 3)})
    frame["same_score"] = frame["score"]  # a person's score is one-off: nothing repeats
    # a label present only where the number is missing: no row to read
    frame["note"] = np.where(frame["mostly_zero"] == 1, "x", None)
    frame["score"] = frame["score"].where(frame["note"].isna())
    assert plan_row_lookups(frame, None, 0) == []


def test_overridden_columns_are_neither_keys_nor_set():
    data = _flights().drop(columns=["amount"])
    specs = {"price": {"overridden": True}, "origin": {"overridden": True}}
    assert plan_row_lookups(data, specs, 0) == []
    found = plan_row_lookups(data, {"product": {"sdtype": "text"}}, 0)
    assert [lk.column for lk in found] == ["distance"]


@pytest.mark.parametrize("model", ["gaussian_copula", "tvae"])
def test_a_model_sets_each_row_to_its_keys_real_value_and_keeps_it_through_its_state(model):
    data = _flights()
    params = {"epochs": 2} if model == "tvae" else {}
    fitted = create_model(model, seed=0, **params).fit(data)
    assert sorted(lk.column for lk in fitted.row_lookups) == ["distance", "price"]
    assert "distance" in fitted.transformer.columns  # still learned: unseen keys keep its value
    out = fitted.sample(2000, seed=5)
    assert list(out.columns) == list(data.columns)
    real = data.groupby(["origin", "dest"])["distance"].first()
    routes = pd.MultiIndex.from_frame(out[["origin", "dest"]])
    assert (out["distance"].to_numpy() == real.reindex(routes).to_numpy()).all()
    prices = data.groupby("product")["price"].first()
    assert np.allclose(out["price"], prices.reindex(out["product"]).to_numpy())
    # the amount is computed after the price is set: it is the set price times the quantity
    assert [f.column for f in fitted.row_formulas] == ["amount"]
    assert np.allclose(out["amount"], np.round(out["price"] * out["qty"], 2))
    assert out["distance"].dtype == data["distance"].dtype
    again = GenerativeModel.from_state(*fitted.to_state())
    pd.testing.assert_frame_equal(again.sample(500, seed=9), fitted.sample(500, seed=9))


def test_keys_of_few_rows_and_unseen_keys_keep_the_models_value():
    data = _flights(n=1500)
    rare = data.index[:MIN_KEY_ROWS - 1]
    data.loc[rare, "product"] = "rare"  # fewer rows than a key needs: not in the table
    data.loc[rare, "price"] = 99.0
    data.loc[rare, "amount"] = np.round(99.0 * data.loc[rare, "qty"], 2)
    lookup = next(lk for lk in plan_row_lookups(data, None, 0) if lk.column == "price")
    assert "rare" not in {row[0] for row in lookup.table}
    assert {row[2] for row in lookup.table} == {0.0}  # no key of it has missing prices
    rows = pd.DataFrame({"product": ["rare", "unseen", "p001", None],
                         "price": [1.5, 2.5, 3.5, 4.5]})
    out = apply_lookups(rows, [lookup])
    assert out["price"].tolist()[:2] == [1.5, 2.5] and out["price"].tolist()[3] == 4.5
    assert out["price"].tolist()[2] == data.loc[data["product"] == "p001", "price"].iloc[0]
    # a price missing now and then among a product's real rows: the model's missing value stays;
    # never missing there: the product's price
    data.loc[data.index[data["product"] == "p001"][:2], "price"] = np.nan
    sometimes = next(lk for lk in plan_row_lookups(data, None, 0) if lk.column == "price")
    gaps = pd.DataFrame({"product": ["p001", "p002"], "price": [np.nan, np.nan]})
    out = apply_lookups(gaps, [sometimes])
    assert np.isnan(out["price"].iloc[0])
    assert out["price"].iloc[1] == data.loc[data["product"] == "p002", "price"].iloc[0]


def test_not_under_differential_privacy():
    fitted = create_model("gaussian_copula", seed=0, epsilon=10.0).fit(_flights())
    assert fitted.row_lookups == []


def test_a_sequence_model_sets_them_too():
    rng = np.random.default_rng(2)
    rows = []
    for storm in range(60):
        wind = 30
        for step in range(int(rng.integers(6, 14))):
            wind = int(np.clip(wind + 5 * rng.integers(-1, 3), 20, 120))
            # no category below hurricane strength
            rows.append({"storm": storm, "step": step, "wind": wind,
                         "category": None if wind < 64 else 1 if wind < 83 else 2 if wind < 96
                         else 3})
    data = pd.DataFrame(rows)
    fitted = create_model("sequence", seed=0, epochs=2).fit(
        data[["step", "wind", "category"]], groups=data["storm"].to_numpy())
    assert [(lk.column, lk.keys) for lk in fitted.row_lookups] == [("category", ["wind"])]
    out = fitted.sample(len(data), seed=1, groups=data["storm"].to_numpy())
    table = {row[0]: row[1] for row in fitted.row_lookups[0].table}
    assert all(row[2] in (0.0, 1.0) for row in fitted.row_lookups[0].table)
    assert table[30.0] is None and table[70.0] == 1.0
    wind = out["wind"].astype(float)
    storm, hurricane = wind.isin([w for w, c in table.items() if c is None]), wind.isin(
        [w for w, c in table.items() if c is not None])
    assert storm.mean() > 0.3 and hurricane.mean() > 0.05
    assert out.loc[storm, "category"].isna().all()
    assert (out.loc[hurricane, "category"] == wind[hurricane].map(table)).all()


def test_a_number_learned_as_categories_is_set_too():
    data = _flights()
    data["rating"] = data["product"].str[-1].astype(int) % 4  # a product's rating, 0 to 3
    found = plan_row_lookups(data, {"rating": {"sdtype": "categorical"}}, 0)
    assert ("rating", ["product"]) in [(lk.column, lk.keys) for lk in found]
    text = plan_row_lookups(data, {"rating": {"sdtype": "text"}}, 0)  # not a number: never set
    assert "rating" not in [lk.column for lk in text]


def test_an_integer_learned_as_a_number_is_a_key_a_fraction_is_not():
    from synthohive_spark.transform.row_lookup import _key_columns

    data = _flights()
    rng = np.random.default_rng(4)
    data["gate"] = rng.integers(0, 40, len(data))  # a whole number, declared numerical
    data["share"] = data["gate"] / 7.0  # a fraction: a measure, never a key
    data["band"] = (data["gate"] % 3).astype(float)  # what the gate determines
    specs = {c: {"sdtype": "numerical"} for c in ("gate", "share", "delay")}
    assert "gate" in _key_columns(data, specs) and "share" not in _key_columns(data, specs)
    found = {lk.column: lk.keys for lk in plan_row_lookups(data, specs, 0)}
    assert found["band"] == ["gate"]


def test_a_rare_value_only_under_small_keys_is_no_lookup():
    # 30 sites of 10 rows or more without the motif, and the motif at a few sites of 2 rows:
    # every site that repeats "determines" it, but every kept site gives 0
    rng = np.random.default_rng(5)
    big = np.repeat([f"s{i}" for i in range(30)], rng.integers(10, 20, 30))
    small = np.repeat([f"t{i}" for i in range(6)], 2)
    frame = pd.DataFrame({"site": np.r_[big, small],
                          "motif": np.r_[np.zeros(len(big), int), np.ones(len(small), int)],
                          "height": np.round(rng.normal(size=len(big) + len(small)), 2)})
    assert plan_row_lookups(frame, None, 0) == []
