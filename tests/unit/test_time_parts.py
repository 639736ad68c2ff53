"""A timestamp learned as its day and its time of day (transform/time_parts.py, models/base.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from synthohive_spark.models import create_model, model_from_blobs, model_to_blobs
from synthohive_spark.transform.time_parts import (MIN_DAYS, join_times, plan_time_splits,
                                                  split_times)

FAST = {
    "ctgan": {"epochs": 2, "batch_size": 100, "generator_dim": [64, 64],
              "discriminator_dim": [64, 64], "embedding_dim": 32},
    "tvae": {"epochs": 2, "batch_size": 100, "compress_dims": [64, 64],
             "decompress_dims": [64, 64], "embedding_dim": 32},
    "gaussian_copula": {},
}


def orders(n: int = 6000, seed: int = 0, unit: str = "us", tz: str | None = None,
           days: int = 120) -> pd.DataFrame:
    """A shop open 11:00-23:00 (lunch and dinner peaks) over ``days`` days; bigger orders at
    dinner; the busy days grow with the date."""
    rng = np.random.default_rng(seed)
    day = np.floor(days * np.sqrt(rng.random(n))).astype(np.int64)
    dinner = rng.random(n) < 0.55
    hour = np.where(dinner, rng.normal(18.5, 1.2, n), rng.normal(12.7, 0.8, n)).clip(11, 22.99)
    secs = (hour * 3600).astype(np.int64)
    ts = pd.Timestamp("2024-01-01") + pd.to_timedelta(day, unit="D") + pd.to_timedelta(secs, unit="s")
    ts = pd.Series(ts).dt.as_unit(unit)
    if tz is not None:  # the shop's wall-clock hours, in its zone
        ts = ts.dt.tz_localize(tz, ambiguous=np.zeros(n, dtype=bool), nonexistent="shift_forward")
    items = np.where(dinner, rng.integers(2, 6, n), rng.integers(1, 3, n))
    return pd.DataFrame({"ordered_at": ts, "items": items})


def _hours(s: pd.Series, tz: str | None = None) -> np.ndarray:
    return s.dt.hour.to_numpy() + s.dt.minute.to_numpy() / 60


def test_plan_splits_timestamps_with_a_daily_cycle_and_nothing_else():
    real = orders(500)
    real["midnight"] = real["ordered_at"].dt.normalize()  # whole days: nothing to split
    real["few"] = pd.Timestamp("2024-02-01 10:00") + pd.to_timedelta(np.arange(500) % 5, unit="D")
    real["short"] = pd.Timestamp("2024-02-01") + pd.to_timedelta(np.arange(500) % 300, unit="min")
    real["label"] = "x"
    plan = plan_time_splits(real, None)
    assert [s.column for s in plan] == ["ordered_at"]
    # the metadata's own spec (column_specs_of)
    assert plan_time_splits(real, {"ordered_at": {"sdtype": "datetime", "integer": False}})
    for spec in ({"sdtype": "categorical"}, {"sdtype": "datetime", "min": 0}, {"max": 9},
                 {"decimals": 0}):
        assert plan_time_splits(real[["ordered_at"]], {"ordered_at": spec}) == []
    # a table that already has a column of the part's name keeps the timestamp whole
    assert plan_time_splits(real.assign(**{"ordered_at[day]": 1}), None) == []
    assert MIN_DAYS > 5  # "few": five days


@pytest.mark.parametrize("unit,tz", [("us", None), ("ns", None), ("s", "Europe/Berlin")])
def test_split_and_join_give_back_the_exact_values_nulls_and_dtype(unit: str, tz: str | None):
    real = orders(800, unit=unit, tz=tz, days=400)  # over both clock changes
    real.loc[real.index % 9 == 0, "ordered_at"] = pd.NaT
    plan = plan_time_splits(real, None)
    parts = split_times(real, plan, seed=0)
    assert list(parts.columns) == ["ordered_at[day]", "ordered_at[time]", "items"]
    assert parts["ordered_at[time]"].notna().all()  # a missing timestamp is a missing day
    assert parts["ordered_at[day]"].isna().sum() == real["ordered_at"].isna().sum()
    tod = parts["ordered_at[time]"].dt.total_seconds() / 3600
    assert tod.min() >= 11 and tod.max() < 23  # the wall-clock hours, also in a time zone
    back = join_times(parts, plan)
    assert list(back.columns) == list(real.columns)
    assert back["ordered_at"].dtype == real["ordered_at"].dtype
    pd.testing.assert_series_equal(back["ordered_at"], real["ordered_at"])


def test_copula_keeps_the_daily_cycle_a_single_timestamp_number_loses():
    real = orders(6000)
    fake = create_model("gaussian_copula", seed=0).fit(real).sample(6000, seed=1)
    h = _hours(fake["ordered_at"])
    assert ((h < 11) | (h >= 23)).mean() < 0.005  # closed at night (the whole number: 19% there)
    bins = np.arange(11, 24)
    real_share = np.histogram(_hours(real["ordered_at"]), bins)[0] / len(real)
    fake_share = np.histogram(h, bins)[0] / len(fake)
    assert 0.5 * np.abs(real_share - fake_share).sum() < 0.05
    # the date keeps its trend, the time of day its dependence on the other columns
    assert abs(fake["ordered_at"].dt.day_of_year.mean() - real["ordered_at"].dt.day_of_year.mean()) < 3
    late = fake["items"][h >= 17].mean() - fake["items"][h < 15].mean()
    assert late > 0.5 * (real["items"][_hours(real["ordered_at"]) >= 17].mean()
                         - real["items"][_hours(real["ordered_at"]) < 15].mean())
    assert fake["ordered_at"].min() >= real["ordered_at"].min()
    assert fake["ordered_at"].max() <= real["ordered_at"].max()


@pytest.mark.parametrize("name", sorted(FAST))
def test_every_model_learns_the_parts_and_saves_them(name: str):
    torch.set_num_threads(1)
    real = orders(1500, tz="America/New_York")
    real.loc[real.index % 7 == 0, "ordered_at"] = pd.NaT
    m = create_model(name, seed=2, **FAST[name]).fit(real)
    assert [s.column for s in m.time_splits] == ["ordered_at"]
    assert m.data_columns == ["ordered_at", "items"]
    assert m.transformer.columns == ["ordered_at[day]", "ordered_at[time]", "items"]
    fake = m.sample(1000, seed=5)
    assert list(fake.columns) == list(real.columns)
    assert fake["ordered_at"].dtype == real["ordered_at"].dtype
    if name == "gaussian_copula":  # (two epochs teach the networks little)
        assert 0.1 < fake["ordered_at"].isna().mean() < 0.2  # real: 1/7
    assert 0 < fake["ordered_at"].isna().mean() < 1
    restored = model_from_blobs(model_to_blobs(m))
    assert restored.time_splits == m.time_splits
    pd.testing.assert_frame_equal(restored.sample(1000, seed=5), fake)
    assert restored.sample(0).columns.tolist() == list(real.columns)
    # a shard given to train (distributed training) is the user's columns, split the same way
    m.train(real.iloc[:700].reset_index(drop=True))
    assert list(m.sample(10, seed=1).columns) == list(real.columns)


def test_no_split_under_differential_privacy_in_sequences_or_for_a_model_saved_without():
    real = orders(1500)
    dp = create_model("gaussian_copula", seed=0, epsilon=5.0).fit(real)
    assert dp.time_splits == [] and dp.transformer.columns == ["ordered_at", "items"]
    seq = create_model("sequence", seed=0, epochs=1).fit(
        real.sort_values("ordered_at").reset_index(drop=True), groups=np.arange(1500) // 10)
    assert seq.time_splits == [] and "ordered_at" in seq.transformer.columns
    # a model saved before the split existed holds no "time_splits" entry and samples whole
    whole = create_model("gaussian_copula", seed=0, column_specs={"ordered_at": {"sdtype": "datetime",
                                                                                 "min": 0}})
    whole.fit(real)
    blobs = model_to_blobs(whole)
    assert b"time_splits" not in blobs["meta.json"]
    assert model_from_blobs(blobs).sample(5, seed=0).columns.tolist() == ["ordered_at", "items"]
