"""Differential privacy of the models: the accountant's budget, the DP-SGD step's clipping,
TVAE, CTGAN and the copula under epsilon (spent no more than asked, a planted outlier never comes back,
the statement saved with the model)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

pytest.importorskip("opacus")

from synthohive_spark.privacy import dp as _dp  # noqa: E402
from synthohive_spark.models.copula import GaussianCopula  # noqa: E402
from synthohive_spark.models.ctgan import CTGAN  # noqa: E402
from synthohive_spark.models.tvae import TVAE  # noqa: E402


def _table(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"a": rng.normal(size=n), "b": rng.choice(list("xyz"), n, p=[.5, .3, .2]),
                       "c": rng.lognormal(3, 1, size=n)})
    df["d"] = 2 * df["a"] + rng.normal(size=n) * 0.3
    df.loc[rng.choice(n, n // 20, replace=False), "c"] = np.nan
    return df


def _planted(df: pd.DataFrame) -> pd.DataFrame:
    """One unique real row: a category nobody else has and a value far from everyone's."""
    df = df.copy()
    df.loc[0, "b"] = "ONLY-ONE"
    df.loc[0, "a"] = 1e6
    return df


def test_the_budget_adds_mechanisms_and_refuses_past_epsilon():
    sigma = _dp.sgd_noise_multiplier(2.0, 1e-5, 0.05, 400)
    b = _dp.Budget(2.0, 1e-5)
    b.spend(sigma, 0.05, 399)
    assert b.allows(sigma, 0.05)
    b.spend(sigma, 0.05)
    assert 1.9 < b.spent <= 2.0
    assert not b.allows(sigma, 0.05, 10)
    two = _dp.gaussian_noise_multiplier(1.0, 1e-5, 2)
    assert two > _dp.gaussian_noise_multiplier(1.0, 1e-5, 1)  # two mechanisms need more noise
    with pytest.raises(ValueError, match="epsilon > 0 and 0 < delta < 1"):
        _dp.Budget(0.0, 1e-5)
    assert _dp.default_delta(1_000_000) < 1e-5 and _dp.default_delta(10) == 1e-5


def test_each_rows_gradient_is_clipped_before_the_sum():
    lin = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0, 0.0]]))
    x = torch.tensor([[1000.0, 0.0, 0.0], [0.001, 0.0, 0.0]])

    def one(params, x1):
        return torch.func.functional_call(lin, params, (x1[None],)).pow(2).sum()

    gen = torch.Generator().manual_seed(0)
    _dp.private_step(lin, one, (x,), max_grad_norm=1.0, noise_multiplier=0.0,
                     expected_rows=2.0, gen=gen)
    # row 1's gradient (2 * 1000 * 1000) is cut to norm 1, row 2's (2e-6) kept: mean of the two
    assert lin.weight.grad[0, 0].item() == pytest.approx((1.0 + 2e-6) / 2, rel=1e-5)
    _dp.private_step(lin, one, (x,), max_grad_norm=1.0, noise_multiplier=5.0,
                     expected_rows=2.0, gen=gen)
    assert abs(lin.weight.grad[0, 1].item()) > 0  # noise on every coordinate


def test_tvae_spends_no_more_than_epsilon_and_states_what_is_not_covered():
    df = _table(1500)
    m = TVAE(epochs=4, batch_size=150, epsilon=2.0, seed=3, compress_dims=[32],
             decompress_dims=[32], embedding_dim=16).fit(df)
    p = m.privacy
    assert 1.5 < p["epsilon"] <= 2.0 and p["delta"] == _dp.default_delta(1500)
    assert p["mechanism"] == "DP-SGD" and p["steps"] == 40 and p["sample_rate"] == 0.1
    assert any("transformer" in c for c in p["not_covered"])
    again = TVAE.from_state(*m.to_state())
    assert again.privacy == p
    pd.testing.assert_frame_equal(m.sample(50, seed=1), again.sample(50, seed=1))
    assert TVAE(epochs=1, batch_size=150, seed=3).fit(df).privacy is None


def test_ctgan_trains_its_critic_with_dp_sgd_within_epsilon_and_noisy_frequencies():
    df = _table(1500)
    small = dict(batch_size=150, seed=3, generator_dim=[32], discriminator_dim=[32],
                 embedding_dim=16)
    m = CTGAN(epochs=2, epsilon=2.0, **small).fit(df)
    p = m.privacy
    assert 1.5 < p["epsilon"] <= 2.0 and p["delta"] == _dp.default_delta(1500)
    # every planned critic step taken (2 epochs x 10 steps), packing off, frequencies noised
    assert p["steps"] == 20 and p["sample_rate"] == 0.1 and m.get_hyperparams()["pac"] == 1
    assert p["count_noise_multiplier"] > 0
    assert any("critic" in c for c in p["covered"]) and any("frequencies" in c for c in p["covered"])
    true_counts = df["b"].value_counts()
    noisy = m._cond_sampler_counts[0, :3].numpy()
    assert sorted(noisy) != sorted(true_counts.to_numpy().astype(float))
    again = CTGAN.from_state(*m.to_state())
    assert again.privacy == p
    out = again.sample(400, seed=1)
    pd.testing.assert_frame_equal(m.sample(400, seed=1), out)
    assert set(out["b"]) <= set("xyz") and out["a"].notna().all()
    # twice the budget buys less noise for the same steps
    more = CTGAN(epochs=2, epsilon=4.0, **small).fit(df).privacy
    assert more["noise_multiplier"] < p["noise_multiplier"] and more["steps"] == 20
    assert CTGAN(epochs=1, **small).fit(df).privacy is None


def test_the_critics_clipped_gradient_without_per_row_copies_equals_the_per_row_one():
    from synthohive_spark.models import _nn
    from synthohive_spark.models.ctgan import _CriticRowLoss, _critic_private_grads

    df = _table(300)
    m = CTGAN(epochs=1, batch_size=100, epsilon=1.0, generator_dim=[8],
              discriminator_dim=[16, 12], embedding_dim=4)
    m.fit_transformers(df)
    _nn.build(m)
    D = m.discriminator.eval()
    torch.manual_seed(0)
    x = torch.from_numpy(m.transformer.transform(df.iloc[:64], np.random.default_rng(0)))
    cond = torch.zeros(64, m._cond_dim)
    dense = torch.rand(64, m._layout.n_dense)
    row = _CriticRowLoss(D)

    def one(params, x1, c1, d1):
        return torch.func.functional_call(row, params, (x1[None], c1[None], d1[None])).sum()

    for clip in (1e-3, 1e3):  # every row cut, no row cut
        _dp.private_step(row, one, (x, cond, dense), clip, 0.0, 50.0, torch.Generator())
        expected = [p.grad.clone() for p in D.parameters()]
        with torch.no_grad():
            real_in = D.inputs(D.data(x), cond, None)
            fake_in = D.inputs(D.data.from_parts(dense, []), cond, None)
        _critic_private_grads(D, real_in, fake_in, clip, 0.0, 50.0, torch.Generator())
        for p, e in zip(D.parameters(), expected):
            torch.testing.assert_close(p.grad, e, rtol=1e-4, atol=1e-7)


def test_ctgan_under_epsilon_refuses_packs_and_a_context():
    with pytest.raises(ValueError, match="pac must be 1"):
        CTGAN(epsilon=1.0, pac=10)
    df = _table(300)
    m = CTGAN(epochs=1, batch_size=100, epsilon=1.0, generator_dim=[8], discriminator_dim=[8],
              embedding_dim=4)
    with pytest.raises(ValueError, match="with a context"):
        m.fit(df[["a", "c"]], context=df[["b"]])


def test_the_dp_copula_keeps_the_bulk_and_never_gives_back_a_planted_outlier(seeded_noise):
    df = _planted(_table(5000))
    plain = GaussianCopula(seed=1).fit(df).sample(200_000, seed=2)
    assert (plain["b"] == "ONLY-ONE").any() and plain["a"].max() > 1000  # the plain one does
    for eps in (1.0, 10.0):
        m = GaussianCopula(seed=1, epsilon=eps).fit(df)
        assert eps * 0.95 < m.privacy["epsilon"] <= eps
        out = m.sample(200_000, seed=2)
        assert not (out["b"] == "ONLY-ONE").any()
        assert out["a"].max() < 10
        real = df.iloc[1:]
        # real 0.99; 30 fits with fresh noise gave 0.57-0.996 at epsilon 1, 0.976-0.999 at 10
        assert np.corrcoef(out["a"], out["d"])[0, 1] > (0.5 if eps < 5 else 0.9)
        freq = out["b"].value_counts(normalize=True)
        assert abs(freq["x"] - 0.5) < 0.05 and abs(freq["z"] - 0.2) < 0.05
        assert abs(out["c"].isna().mean() - real["c"].isna().mean()) < 0.03
        assert abs(np.log(out["c"].median() / real["c"].median())) < 0.2
    again = GaussianCopula.from_state(*m.to_state())
    assert again.privacy == m.privacy
    pd.testing.assert_frame_equal(m.sample(100, seed=5), again.sample(100, seed=5))


def test_a_sparse_tail_hidden_by_the_noise_is_continued_to_the_data_extremes(monkeypatch):
    # an exponential tail: the top half percent of 10,000 rows spreads over 115-200, a few rows
    # per unit, under the noise of every bin and pool at epsilon 10
    rng = np.random.default_rng(3)
    n = 10_000
    df = pd.DataFrame({"x": np.round(10 + rng.exponential(20, n), 1), "g": rng.choice(list("abc"), n)})
    q995 = float(np.quantile(df["x"], 0.995))
    for seed in range(3):
        monkeypatch.setattr(_dp, "noise_rng", lambda s=seed: np.random.default_rng(s))
        out = GaussianCopula(seed=1, epsilon=10.0).fit(df).sample(n, seed=2)["x"]
        # reaches the data's extremes (it stopped at 120-159 before the tails were continued),
        # never past them, with about the real share beyond the 99.5th percentile (0.5%)
        assert 0.9 * df["x"].max() < out.max() <= df["x"].max()
        assert 0.001 < (out > q995).mean() < 0.012
        assert out.min() >= df["x"].min()


def test_an_extended_tail_stays_within_the_range_and_the_rows_a_table_this_size_reaches():
    from synthohive_spark.models.copula import _extend_tails

    edges = np.sinh(np.linspace(np.arcsinh(0.0), np.arcsinh(1000.0), 1025))
    centres = (edges[:-1] + edges[1:]) / 2
    full = 10_000 * np.diff(-np.exp(-edges / 20.0))  # an exponential's rows per bin
    cut = np.where(centres < 100.0, full, 0.0)       # what the noise let through
    out = _extend_tails(cut, edges)
    assert np.array_equal(out[centres < 100.0], cut[centres < 100.0])  # the kept bins as they were
    added = out.sum() - cut.sum()
    assert 0.25 * full[centres >= 100].sum() < added < 4 * full[centres >= 100].sum()
    # nothing past where the model's last of the table's rows lies: far short of the range's end
    assert centres[out > 0].max() < 400.0
    whole = np.where(centres < 990.0, full + 1.0, 0.0)  # kept up to the range's end: unchanged
    whole[-1] = 1.0
    assert np.array_equal(_extend_tails(whole, edges), whole)


def test_a_category_too_rare_to_survive_the_noise_is_dropped_at_epsilon_1(seeded_noise):
    rng = np.random.default_rng(1)
    n = 4000
    b = np.where(np.arange(n) < 12, "rare", rng.choice(["u", "v"], n))  # 12 rows: under the floor
    df = pd.DataFrame({"b": b, "a": rng.normal(size=n)})
    out = GaussianCopula(seed=2, epsilon=1.0).fit(df).sample(100_000, seed=3)
    assert "rare" not in set(out["b"])
    assert "rare" in set(GaussianCopula(seed=2).fit(df).sample(100_000, seed=3)["b"])


def test_child_counts_under_epsilon_come_from_a_noisy_histogram_of_fixed_buckets(monkeypatch):
    from synthohive_spark.relational.cardinality import PRIVATE_BUCKETS, ChildCountModel

    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, 3000)
    counts[0] = 5000  # one parent with far more children than anyone: its bucket must not show
    for seed in range(20):  # the noise is drawn from the OS's entropy; seeded here to repeat
        monkeypatch.setattr(_dp, "noise_rng", lambda s=seed: np.random.default_rng(s))
        m = ChildCountModel().fit_private(counts, epsilon=1.0, delta=1e-5)
        hist = m.state["histograms"]["0"]
        assert all(hi < 4096 for _, hi, _ in hist)
        assert all([lo, hi] in PRIVATE_BUCKETS for lo, hi, _ in hist)
    p = m.privacy
    assert 0.9 < p["epsilon"] <= 1.0 and p["sensitivity"] == "sqrt(3)"
    assert abs(m.state["stats"]["mean"] - np.mean(counts[1:])) < 0.3
    drawn = m.sample(pd.DataFrame({"segment": ["a"] * 3000}), seed=1)  # the context is ignored
    assert abs(drawn.mean() - np.mean(counts[1:])) < 0.3
    assert ChildCountModel.from_dict(m.to_dict()).privacy == p
    assert ChildCountModel().fit(None, counts).privacy is None


def test_second_parents_references_under_epsilon_keep_the_popularity_curve():
    from synthohive_spark.relational.keys import DegreeModel

    rng = np.random.default_rng(0)
    degrees = rng.zipf(1.8, 2000).clip(max=500)  # a few parents referenced very often
    values, mults = np.unique(degrees, return_counts=True)
    plain = DegreeModel().fit_runs(values, mults, 100)
    m = DegreeModel().fit_runs(values, mults, 100, epsilon=1.0, delta=1e-5)
    p = m.privacy
    assert 0.9 < p["epsilon"] <= 1.0 and plain.privacy is None
    head = slice(0, 10)  # the most referenced tenth of the parents carries the same share
    assert abs(sum(m.state["mass"][head]) - sum(plain.state["mass"][head])) < 0.05
    assert abs(m.null_share - plain.null_share) < 0.02
    assert m.state["max_degree"] is None  # the largest degree is not released
    assert DegreeModel.from_dict(m.to_dict()).privacy == p


@pytest.mark.parametrize("model", ["tvae", "ctgan"])
def test_dp_sgd_stops_at_the_budget_when_its_steps_would_spend_more(monkeypatch, model):
    """The noise is calibrated so that the planned steps spend the budget; with less noise than
    that (here 0.85 of it) the steps run out of budget early, and training stops there: never a
    step past epsilon."""
    calibrated = _dp.Budget.noise_for  # the calibration both models' noise comes from
    monkeypatch.setattr(_dp.Budget, "noise_for",
                        lambda self, *a, **k: 0.85 * calibrated(self, *a, **k))
    df = _table(1500)
    if model == "tvae":
        m = TVAE(epochs=4, batch_size=150, epsilon=2.0, seed=3, compress_dims=[32],
                 decompress_dims=[32], embedding_dim=16).fit(df)
        planned = 40
    else:
        m = CTGAN(epochs=2, epsilon=2.0, batch_size=150, seed=3, generator_dim=[32],
                  discriminator_dim=[32], embedding_dim=16).fit(df)
        planned = 20
    p = m.privacy
    assert 0 < p["steps"] < planned
    assert 1.8 < p["epsilon"] <= 2.0  # spent up to the budget, not past it
    assert m.sample(20, seed=1).shape == (20, 4)  # what was trained is a model
