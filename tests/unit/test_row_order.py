"""Columns never before another of their row, learned as the gap (transform/row_order.py)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from synthohive_spark.models import create_model, model_from_blobs, model_to_blobs
from synthohive_spark.transform.row_order import from_gaps, plan_row_orders, to_gaps


def projects(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Projects over ten years: a start, an end a few days to months later (none yet for a
    fifth), a delivery after the end; a low and a high estimate; a budget unrelated to both."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2014-01-01") + pd.to_timedelta(rng.integers(0, 3650, n), unit="D")
    length = pd.to_timedelta(rng.gamma(1.5, 20, n).round(), unit="D")
    end = pd.Series(start + length).where(rng.random(n) > 0.2)
    delivered = end + pd.to_timedelta(rng.integers(1, 30, n), unit="D")
    low = np.round(rng.lognormal(8, 1, n), 2)
    return pd.DataFrame({"start": start, "end": end, "delivered": delivered, "low": low,
                         "high": np.round(low * rng.uniform(1.0, 1.6, n), 2),
                         "budget": np.round(rng.lognormal(8, 1, n), 2),
                         "team": rng.choice(["a", "b", "c"], n)})


def _violations(df: pd.DataFrame, a: str, b: str) -> float:
    both = df[a].notna() & df[b].notna()
    return float((df.loc[both, b] < df.loc[both, a]).mean())


def test_plan_finds_the_orders_of_a_row_and_no_chance_ones():
    real = projects()
    plan = {(o.after, o.column) for o in plan_row_orders(real, None, seed=0)}
    assert plan == {("start", "end"), ("end", "delivered"), ("low", "high")}
    # disjoint ranges (ordered by the marginals alone), a value where the other has none, a
    # single violation, a copy: no order
    other = pd.DataFrame({"small": real["low"] / 1e6, "big": real["low"] * 1e6})
    assert plan_row_orders(other, None, 0) == []
    late = real[["start", "end"]].assign(start=real["start"].where(real.index % 10 != 0))
    assert plan_row_orders(late, None, 0) == []
    broken = real[["low", "high"]].copy()
    broken.loc[5, "high"] = broken.loc[5, "low"] - 1
    assert plan_row_orders(broken, None, 0) == []
    assert plan_row_orders(real[["low"]].assign(copy=real["low"]), None, 0) == []
    assert plan_row_orders(real[["low", "high"]], {"high": {"sdtype": "categorical"}}, 0) == []


def test_gaps_give_back_the_exact_values_and_dtypes():
    real = projects(500)
    real["day0"] = [dt.date(2020, 1, 1) + dt.timedelta(days=int(d)) for d in range(500)]
    real["day1"] = [d + dt.timedelta(days=int(k)) for d, k in
                    zip(real["day0"], np.random.default_rng(1).integers(0, 40, 500))]
    real["start_tz"] = real["start"].dt.tz_localize("Europe/Paris")
    real["end_tz"] = real["end"].dt.tz_localize("Europe/Paris")
    plan = plan_row_orders(real, None, seed=0)
    assert {("day0", "day1"), ("start_tz", "end_tz")} <= {(o.after, o.column) for o in plan}
    gaps = to_gaps(real, plan)
    assert (gaps["high"] >= 0).all() and gaps["end"].dropna().dt.days.min() >= 0
    back = from_gaps(gaps, plan)
    for c in real.columns:
        pd.testing.assert_series_equal(back[c], real[c], check_exact=c != "high")
        assert back[c].dtype == real[c].dtype


@pytest.mark.parametrize("name,hp", [("gaussian_copula", {}),
                                     ("tvae", {"epochs": 3, "batch_size": 200})])
def test_no_synthetic_row_contradicts_itself(name, hp, monkeypatch):
    real = projects()
    m = create_model(name, seed=0, **hp).fit(real)
    fake = m.sample(3000, seed=1)
    for a, b in (("start", "end"), ("end", "delivered"), ("low", "high")):
        assert _violations(fake, a, b) == 0, (a, b)
    assert list(fake.columns) == list(real.columns)
    assert all(fake[c].dtype == real[c].dtype for c in real.columns)
    restored = model_from_blobs(model_to_blobs(m))
    pd.testing.assert_frame_equal(restored.sample(500, seed=2), m.sample(500, seed=2))
    assert list(restored.sample(0).columns) == list(real.columns)
    if name == "gaussian_copula":
        # the gap's own shape is learned (a project's length), the open ones stay open
        gap = (fake["end"] - fake["start"]).dt.days.dropna()
        real_gap = (real["end"] - real["start"]).dt.days.dropna()
        assert abs(gap.median() - real_gap.median()) < 0.15 * real_gap.median()
        assert 0.15 < fake["end"].isna().mean() < 0.25
        # learned as two columns apart, many rows would end before they start
        import synthohive_spark.models.base as base
        monkeypatch.setattr(base, "plan_row_orders", lambda *a, **k: [])
        apart = create_model(name, seed=0).fit(real).sample(3000, seed=1)
        assert _violations(apart, "start", "end") > 0.05

def test_no_gap_under_differential_privacy_or_for_a_model_saved_without():
    real = projects(1500)
    dp = create_model("gaussian_copula", seed=0, epsilon=5.0).fit(real)
    assert dp.row_orders == []
    plain = create_model("gaussian_copula", seed=0).fit(real[["budget", "team"]])
    assert plain.row_orders == [] and b"row_orders" not in model_to_blobs(plain)["meta.json"]


def test_a_child_never_before_its_parent_learns_the_gap_over_the_context():
    """Orders (timestamps) placed after their customer's signup (a date, in the context): each
    order's time is learned as its gap after its own customer's signup."""
    rng = np.random.default_rng(5)
    n = 4000
    signup = [dt.date(2018, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 2000, n)]
    ctx = pd.DataFrame({"customers__signup": signup,
                        "customers__tier": rng.choice(["gold", "basic"], n)})
    placed = (pd.to_datetime(pd.Series(signup)) + pd.to_timedelta(rng.gamma(1.2, 60, n), unit="D"))
    data = pd.DataFrame({"placed_at": placed.dt.floor("s"),
                         "amount": np.round(rng.lognormal(3, 1, n), 2)})
    m = create_model("gaussian_copula", seed=0).fit(data, ctx)
    assert [(o.after, o.column, o.in_context) for o in m.row_orders] == [
        ("customers__signup", "placed_at", True)]
    new_ctx = ctx.sample(frac=1.0, random_state=1).reset_index(drop=True)  # other parents
    fake = m.sample(n, new_ctx, seed=2)
    start = pd.to_datetime(new_ctx["customers__signup"])
    assert (fake["placed_at"] >= start).all()
    gap = (fake["placed_at"] - start).dt.days
    real_gap = (data["placed_at"] - pd.to_datetime(ctx["customers__signup"])).dt.days
    assert abs(gap.median() - real_gap.median()) < 0.2 * real_gap.median()
    restored = model_from_blobs(model_to_blobs(m))
    pd.testing.assert_frame_equal(restored.sample(100, new_ctx.iloc[:100], seed=3),
                                  m.sample(100, new_ctx.iloc[:100], seed=3))
    with pytest.raises(ValueError, match="customers__signup"):
        from_gaps(fake, m.row_orders, new_ctx.drop(columns=["customers__signup"]))


def test_a_child_of_a_parent_generated_without_its_value_keeps_one():
    """Every real order has its customer's signup; a generated customer may come without one.
    Its orders still get a time (its gap after a typical customer's signup), not a missing one."""
    rng = np.random.default_rng(6)
    n = 2000
    signup = pd.Timestamp("2018-01-01") + pd.to_timedelta(rng.integers(0, 2000, n), unit="D")
    ctx = pd.DataFrame({"customers__signup": signup})
    placed = pd.Series(signup + pd.to_timedelta(rng.gamma(1.2, 60, n), unit="D")).dt.floor("s")
    data = pd.DataFrame({"placed_at": placed, "amount": np.round(rng.lognormal(3, 1, n), 2)})
    m = create_model("gaussian_copula", seed=0).fit(data, ctx)
    assert [o.in_context for o in m.row_orders] == [True]
    holes = ctx.copy()
    holes.loc[holes.index % 4 == 0, "customers__signup"] = pd.NaT
    fake = m.sample(n, holes, seed=2)
    assert fake["placed_at"].notna().all()
    lo, hi = data["placed_at"].min(), data["placed_at"].max()
    assert fake["placed_at"].between(lo, hi).all()
    has = holes["customers__signup"].notna()
    assert (fake.loc[has, "placed_at"] >= holes.loc[has, "customers__signup"]).all()
    # those rows are spread like the others, not piled up at one end of the range
    days = (fake.loc[~has, "placed_at"] - lo).dt.days
    assert 0.25 < days.median() / (hi - lo).days < 0.75
