"""The differentially private Gaussian copula's mechanisms and post-processing: the budget's shares
add up to epsilon, the pooled histograms (a spike stays sharp, noise in empty ranges stays empty, a
sparse tail keeps its mass), numbers on a grid far from 0 keep their values, noise makes up no
correlation, and the strata add up to the overall marginal."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("opacus")

from synthohive_spark.privacy import dp as _dp  # noqa: E402
from synthohive_spark.models import copula as C  # noqa: E402
from synthohive_spark.models.copula import GaussianCopula  # noqa: E402

#: the checks of what survives the noise repeat (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("seeded_noise")


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.sort(a), np.sort(b)
    grid = np.union1d(a, b)
    return float(np.max(np.abs(np.searchsorted(a, grid, "right") / len(a)
                               - np.searchsorted(b, grid, "right") / len(b))))


def _species(n: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """A category that shifts two numbers (a species and its weight, hind foot), a year far from
    0, a day of the month, and missing weights."""
    rng = np.random.default_rng(seed)
    k = 12
    species = rng.choice(k, n, p=np.r_[np.full(6, 0.13), np.full(6, 0.22 / 6)])
    weight = np.exp(2.5 + 0.35 * species + rng.normal(0, 0.25, n)).round()
    df = pd.DataFrame({"species": [f"s{i}" for i in species], "weight": weight,
                       "hindfoot": (15 + 3 * species + rng.normal(0, 1.5, n)).round(),
                       "year": rng.integers(1977, 2003, n), "day": rng.integers(1, 32, n)})
    df.loc[rng.random(n) < 0.08, "weight"] = np.nan
    return df


def test_the_budget_is_shared_over_the_mechanisms_and_adds_up_to_epsilon():
    df = _species()
    for eps, kw in ((1.0, {}), (3.0, {"stratify": "none"})):
        m = GaussianCopula(seed=1, epsilon=eps, **kw).fit(df)
        p = m.privacy
        assert eps * 0.98 < p["epsilon"] <= eps
        sig = p["noise_multipliers"]
        assert ("strata" in sig) == (not kw) and {"counts", "ranges", "fine", "orders",
                                                  "correlation"} <= set(sig)
        # Gaussian mechanisms on the whole data: 1 / sigma^2 adds up to the one mechanism's
        one = _dp.gaussian_noise_multiplier(eps, p["delta"], 1)
        assert sum(1.0 / s ** 2 for s in sig.values()) == pytest.approx(1.0 / one ** 2, rel=1e-3)
        # the marginals get more than what only shapes them
        assert sig["fine"] < sig["ranges"] and sig["counts"] < sig["orders"]
        assert p["noise_multiplier"] == pytest.approx(min(sig.values()), rel=1e-5)
    # no numbers: no ranges, histograms, orders or strata
    cats = GaussianCopula(seed=1, epsilon=1.0).fit(df[["species"]].assign(b=df["day"] % 2 == 0))
    assert set(cats.privacy["noise_multipliers"]) == {"counts", "correlation"}
    assert 0.98 < cats.privacy["epsilon"] <= 1.0


def test_pooling_keeps_a_spike_sharp_and_the_noise_of_an_empty_range_empty():
    rng = np.random.default_rng(0)
    true = np.zeros(1024)
    true[100], true[500:600] = 500.0, 3.0  # a spike and a sparse plateau (300 rows)
    out = C._denoise_counts(true + rng.normal(0.0, 5.0, 1024), 5.0, total=true.sum())
    assert abs(out[100] - 500) < 25 and out[95:100].sum() == 0 and out[101:106].sum() == 0
    assert out[:90].sum() == 0 and out[700:].sum() < 10  # nothing made up far from the data
    assert 0.5 < out[480:620].sum() / 300 < 1.5  # the plateau keeps (most of) its mass
    assert 0.85 < out.sum() / true.sum() < 1.05
    # pure noise: mostly nothing at all (about 2 x 256 blocks tested, each lifted by chance
    # with probability 1 / (20 x 256))
    made_up = [C._denoise_counts(rng.normal(0.0, 1.0, 256), 1.0).sum() for _ in range(400)]
    assert np.mean(np.array(made_up) > 0) < 0.15


def test_numbers_on_a_grid_far_from_zero_keep_their_values_and_a_sparse_tail_its_spread():
    df = _species()
    real = df["weight"].dropna().to_numpy()
    for eps in (1.0, 10.0):
        out = GaussianCopula(seed=2, epsilon=eps).fit(df).sample(20_000, seed=3)
        years = out["year"].to_numpy()
        assert set(np.unique(years)) <= set(range(1977, 2003))  # not years around 1977-2002
        share = pd.Series(years).value_counts(normalize=True).reindex(range(1977, 2003)).fillna(0)
        assert share.min() > 0.02 and share.max() < 0.06  # about 1/26 each
        assert set(np.unique(out["day"])) <= set(range(1, 32)) and (out["day"] == 1).mean() > 0.02
        fake = out["weight"].dropna().to_numpy()
        assert _ks(real, fake) < 0.07
        # the upper tail (the heavy species) is kept, not cut where a window of bins sinks into
        # the noise
        assert np.quantile(fake, 0.99) > 0.6 * np.quantile(real, 0.99)
        assert abs(out["weight"].isna().mean() - df["weight"].isna().mean()) < 0.02


def test_a_lone_value_between_two_modes_never_comes_back():
    rng = np.random.default_rng(3)
    n = 5000
    x = np.where(rng.random(n) < 0.5, rng.integers(0, 21, n), rng.integers(80, 101, n))
    x[0] = 50  # one row: its own integer, far from everyone's
    df = pd.DataFrame({"x": x, "y": rng.normal(size=n)})
    for eps in (1.0, 10.0):
        # a block of empty bins stands out of the noise by chance in about one fit of a hundred
        # (_DP_POOL_TESTS), with or without the lone row (that is what DP promises): over ten
        # fits its bin stays empty in nine at least
        made_up = 0
        for fit in range(10):
            m = GaussianCopula(seed=1, epsilon=eps).fit(df)
            edges, counts = m._dp_fine["data/x"]
            mids = (edges[:-1] + edges[1:]) / 2
            made_up += int(counts[mids == 50].sum() >= 0.5)
            if fit == 0 and made_up == 0:
                out = m.sample(100_000, seed=2)
                # only the quantile table's interpolation across the gap (one step of 1001) and
                # what the pools leave out, spread next to the kept rows, land there
                assert out["x"].between(35, 65).mean() < 2e-3 and (out["x"] == 50).mean() < 2e-4
                assert out["x"].between(0, 20).mean() == pytest.approx(0.5, abs=0.05)
        assert made_up <= 1, eps


def test_noise_makes_up_no_correlation_and_dropped_categories_none_either():
    rng = np.random.default_rng(4)
    n = 10_000
    df = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(6)})
    # two frequent categories and 100 rare ones, each under the noise floor at epsilon 1: their
    # rows have no interval, and must not become scores at an end (a made-up dependence)
    df["k"] = np.where(rng.random(n) < 0.8, rng.choice(["u", "v"], n),
                       [f"r{i}" for i in rng.integers(0, 100, n)])
    m = GaussianCopula(seed=1, epsilon=1.0, stratify="none").fit(df)
    off = m._corr[~np.eye(len(m._corr), dtype=bool)]
    assert np.abs(off).max() < 0.05
    out = m.sample(20_000, seed=2)
    c = np.corrcoef(out[[f"x{i}" for i in range(6)]].to_numpy().T)
    assert np.abs(c[~np.eye(6, dtype=bool)]).max() < 0.05
    assert out["k"].isin(["u", "v"]).mean() > 0.9  # (a rare one the noise lifts may stay)
    # real dependence survives
    df["z"] = df["x0"] * 2 + rng.normal(size=n) * 0.3
    m = GaussianCopula(seed=1, epsilon=1.0, stratify="none").fit(df)
    out = m.sample(20_000, seed=2)
    assert np.corrcoef(out["x0"], out["z"])[0, 1] > 0.85


def test_the_strata_add_up_to_the_overall_marginal_and_keep_each_categorys_numbers():
    df = _species()
    for eps in (1.0, 10.0):
        m = GaussianCopula(seed=5, epsilon=eps).fit(df)
        assert m._strata is not None and m._strata["column"] == "species"
        out = m.sample(30_000, seed=6)
        u = np.random.default_rng(7).random(30_000)
        for col in ("weight", "hindfoot", "year"):
            k = next(v[3] for v in m._vars if v[0].name == col and v[2] == "num")
            overall = np.interp(u, m._grid, m._quantiles[k])
            fake = out[col].dropna().to_numpy()
            # the strata's tables, mixed as sampled, give back the overall DP marginal ...
            assert _ks(np.round(overall), fake) < 0.04, col
            # ... which is near the real one
            assert _ks(df[col].dropna().to_numpy(), fake) < 0.07, col
        real = df.groupby("species")["hindfoot"].mean()
        fake = out.groupby("species")["hindfoot"].mean().reindex(real.index)
        big = df["species"].value_counts().index[:6]  # the frequent species
        assert (fake[big] - real[big]).abs().max() < 1.5
    # a small table with many categories at a small epsilon is not stratified (too thin)
    small = df.iloc[:800]
    assert GaussianCopula(seed=5, epsilon=0.5).fit(small)._strata is None


@pytest.mark.parametrize("unit", ["ns", "us"])
def test_timestamps_over_years_keep_their_span_in_nano_and_microseconds(unit):
    # a timestamp is learned as a count of its unit past the earliest: ten years of
    # nanoseconds is 3e17 (asinh 41), past the fixed range bins that once stopped at asinh 32
    # (11 hours of nanoseconds): every synthetic time fell within the first 11 hours
    rng = np.random.default_rng(0)
    n = 8000
    ts = pd.Timestamp("2010-01-01") + pd.to_timedelta(rng.uniform(0, 3650, n), unit="D")
    df = pd.DataFrame({"t": ts.astype(f"datetime64[{unit}]"), "c": rng.choice(list("ab"), n)})
    out = GaussianCopula(seed=0, epsilon=10.0).fit(df).sample(n, seed=1)["t"]
    days = lambda s: (s - df["t"].min()).dt.total_seconds().to_numpy() / 86400  # noqa: E731
    real, synth = days(df["t"]), days(out)
    assert synth.max() > 0.8 * real.max() and synth.max() <= real.max() + 1e-6
    assert abs(np.median(synth) - np.median(real)) < 0.1 * np.median(real)
    assert _ks(real, synth) < 0.05
