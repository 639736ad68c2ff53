"""The numpy Dirichlet-process Gaussian mixture behind mode-specific normalization."""
from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from synthohive_spark.transform.data_transformer import DataTransformer
from synthohive_spark.transform.gmm import _digamma, _gammaln, fit_dp_gmm_1d, mixture_log_likelihood


def _kept(w: np.ndarray, threshold: float = 0.005) -> np.ndarray:
    return w > threshold


def three_normals(rng: np.random.Generator, n: int) -> np.ndarray:
    a, b = int(0.5 * n), int(0.3 * n)
    return np.concatenate([rng.normal(-6.0, 1.0, a), rng.normal(0.0, 0.5, b), rng.normal(7.0, 1.5, n - a - b)])


def zero_inflated(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.where(rng.random(n) < 0.6, 0.0, rng.lognormal(3.0, 1.0, n))


def lognormal(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.lognormal(0.0, 1.0, n)


def poisson_ints(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.poisson(3.0, n).astype(float)


# --------------------------------------------------------------------------- special functions
def test_digamma_and_gammaln_match_scipy():
    special = pytest.importorskip("scipy.special")
    x = np.concatenate([np.logspace(-4, 4, 300), [0.5, 1.0, 9.999, 10.0, 10.001, 1001.0]])
    np.testing.assert_allclose(_digamma(x), special.digamma(x), rtol=0, atol=1e-10)
    np.testing.assert_allclose(_gammaln(x), special.gammaln(x), rtol=1e-12, atol=1e-10)


# --------------------------------------------------------------------------- recovery
def test_recovers_three_well_separated_normals():
    x = three_normals(np.random.default_rng(1), 4000)
    w, m, v = fit_dp_gmm_1d(x, 3, seed=0)
    order = np.argsort(m)
    np.testing.assert_allclose(w[order], [0.5, 0.3, 0.2], atol=0.02)
    np.testing.assert_allclose(m[order], [-6.0, 0.0, 7.0], atol=0.1)
    np.testing.assert_allclose(np.sqrt(v[order]), [1.0, 0.5, 1.5], rtol=0.08)
    assert w.sum() == pytest.approx(1.0)


def test_more_components_than_clusters_leaves_the_extra_ones_empty():
    rng = np.random.default_rng(2)
    centres = np.repeat([-4.0, 1.0, 5.0], [1500, 1000, 2500])
    x = centres + rng.normal(0.0, 0.05, centres.size)
    w, m, v = fit_dp_gmm_1d(x, 10, seed=3)
    kept = _kept(w, 0.01)
    assert kept.sum() == 3, np.round(w, 4)
    assert w[~kept].max() < 1e-3
    order = np.argsort(m[kept])
    np.testing.assert_allclose(w[kept][order], [0.3, 0.2, 0.5], atol=0.01)
    np.testing.assert_allclose(m[kept][order], [-4.0, 1.0, 5.0], atol=0.01)


def test_a_small_single_normal_switches_most_components_off():
    x = np.random.default_rng(4).normal(10.0, 2.0, 200)
    w, _, _ = fit_dp_gmm_1d((x - x.mean()) / x.std(), 10, seed=0)
    assert _kept(w).sum() <= 4, np.round(w, 3)
    assert w.max() > 0.3


def test_single_normal_density_is_recovered():
    rng = np.random.default_rng(5)
    x, held_out = rng.normal(0.0, 1.0, 5000), rng.normal(0.0, 1.0, 5000)
    w, m, v = fit_dp_gmm_1d(x, 10, seed=0)
    truth = -0.5 * (np.log(2 * np.pi) + held_out ** 2)
    assert mixture_log_likelihood(held_out, w, m, v).mean() == pytest.approx(truth.mean(), abs=0.01)


def test_zero_inflated_amounts_get_a_narrow_mode_at_zero():
    x = zero_inflated(np.random.default_rng(6), 5000)
    mu, sd = x.mean(), x.std()
    w, m, v = fit_dp_gmm_1d((x - mu) / sd, 10, seed=0)
    means, stds = m * sd + mu, np.sqrt(v) * sd
    at_zero = int(np.argmin(np.abs(means)))
    assert abs(means[at_zero]) < 1e-2 * sd
    # The variance prior (the sample variance, one pseudo-observation) keeps the spike's variance
    # near var / n_zeros rather than 0: narrow, yet far narrower than the positive amounts.
    assert stds[at_zero] < 0.05 * sd
    assert stds[at_zero] == stds[_kept(w)].min()
    assert w[at_zero] == pytest.approx((x == 0).mean(), abs=0.02)


def test_data_transformer_keeps_the_zero_mode_in_original_units():
    import pandas as pd

    x = zero_inflated(np.random.default_rng(7), 3000)
    dt = DataTransformer(seed=0).fit(pd.DataFrame({"amount": x}))
    g = dt.gmms["amount"]
    means, stds, weights = map(np.asarray, (g["means"], g["stds"], g["weights"]))
    at_zero = int(np.argmin(np.abs(means)))
    assert abs(means[at_zero]) < 1.0 and stds[at_zero] < 1.0
    assert weights[at_zero] == pytest.approx((x == 0).mean(), abs=0.02)
    assert weights.sum() == pytest.approx(1.0) and (weights > dt.weight_threshold / 2).all()


# --------------------------------------------------------------------------- determinism, edges
def test_deterministic_for_a_seed():
    x = lognormal(np.random.default_rng(8), 3000)
    first = fit_dp_gmm_1d(x, 10, seed=11)
    second = fit_dp_gmm_1d(x.copy(), 10, seed=11)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name,values", [
    ("constant", np.full(500, 3.25)),
    ("one value", np.array([5.0])),
    ("two values", np.array([1.0, 2.0])),
    ("rare second value", np.repeat([0.0, 1.0], [990, 10])),
    ("95% zeros", np.where(np.random.default_rng(9).random(4000) < 0.95, 0.0,
                           np.random.default_rng(10).exponential(1.0, 4000))),
    ("three integers", np.random.default_rng(11).choice([0.0, 1.0, 7.0], 3000)),
    ("far outlier", np.concatenate([np.random.default_rng(12).normal(0, 1, 2999), [1e6]])),
    ("large offset", np.random.default_rng(13).normal(1e9, 1.0, 1000)),
])
def test_degenerate_inputs_give_finite_mixtures(name, values):
    w, m, v = fit_dp_gmm_1d(values, 10, seed=0)
    k = min(10, len(np.unique(values)))
    assert w.shape == m.shape == v.shape == (k,), name
    assert np.isfinite(w).all() and np.isfinite(m).all() and np.isfinite(v).all(), name
    assert (v > 0).all() and (w >= 0).all() and w.sum() == pytest.approx(1.0), name
    heaviest = int(np.argmax(w))
    assert values.min() - 1e-6 <= m[heaviest] <= values.max() + 1e-6, name


def test_few_distinct_values_get_one_mode_each():
    x = np.random.default_rng(14).choice([0.0, 1.0, 7.0], 3000, p=[0.2, 0.5, 0.3])
    w, m, v = fit_dp_gmm_1d(x, 10, seed=0)
    order = np.argsort(m)
    np.testing.assert_allclose(m[order], [0.0, 1.0, 7.0], atol=0.01)
    np.testing.assert_allclose(w[order], [0.2, 0.5, 0.3], atol=0.03)


@pytest.mark.parametrize("kwargs,match", [
    ({"values": np.array([]), "n_components": 3}, "empty"),
    ({"values": np.array([1.0, np.nan]), "n_components": 3}, "finite"),
    ({"values": np.array([1.0, np.inf]), "n_components": 3}, "finite"),
    ({"values": np.array([1.0, 2.0]), "n_components": 0}, "n_components"),
    ({"values": np.array([1.0, 2.0]), "n_components": 2, "init_labels": np.array([0, 2])}, "init_labels"),
    ({"values": np.array([1.0, 2.0]), "n_components": 2, "init_labels": np.array([0])}, "init_labels"),
])
def test_bad_input_is_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_dp_gmm_1d(seed=0, **kwargs)


# --------------------------------------------------------------------------- agreement with sklearn
def _sklearn_fit(z: np.ndarray, k: int, seed: int):
    mixture = pytest.importorskip("sklearn.mixture")
    g = mixture.BayesianGaussianMixture(
        n_components=k, weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=0.001, n_init=1, max_iter=100, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g.fit(z.reshape(-1, 1))
    return g


@pytest.mark.parametrize("make", [three_normals, poisson_ints])
def test_same_initialisation_gives_sklearns_fit(make):
    """Given sklearn's own k-means labels the variational updates must reproduce it exactly."""
    cluster = pytest.importorskip("sklearn.cluster")
    x = make(np.random.default_rng(15), 2000)
    z = (x - x.mean()) / x.std()
    labels = cluster.KMeans(n_clusters=8, n_init=1, random_state=np.random.RandomState(3)).fit(
        z.reshape(-1, 1)).labels_
    g = _sklearn_fit(z, 8, seed=3)  # the same RandomState draws the same k-means labels
    w, m, v = fit_dp_gmm_1d(z, 8, seed=0, init_labels=labels.astype(np.int64))
    np.testing.assert_allclose(w, g.weights_, atol=1e-9)
    np.testing.assert_allclose(m, g.means_.ravel(), atol=1e-8)
    np.testing.assert_allclose(v, g.covariances_.ravel(), rtol=1e-8)


@pytest.mark.parametrize("make", [three_normals, lognormal, zero_inflated])
def test_agrees_with_sklearn_on_held_out_likelihood_and_modes(make):
    kept_ours, kept_sk, ll_diff = [], [], []
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        x, held_out = make(rng, 2000), make(rng, 2000)
        mu, sd = x.mean(), x.std()
        z, zh = (x - mu) / sd, (held_out - mu) / sd
        w, m, v = fit_dp_gmm_1d(z, 10, seed=seed)
        g = _sklearn_fit(z, 10, seed)
        ll_ours = mixture_log_likelihood(zh, w, m, v).mean()
        ll_sk = mixture_log_likelihood(zh, g.weights_, g.means_.ravel(), g.covariances_.ravel()).mean()
        kept_ours.append(_kept(w).sum())
        kept_sk.append(_kept(g.weights_).sum())
        ll_diff.append(ll_ours - ll_sk)
        assert abs(ll_ours - ll_sk) < 0.02, (make.__name__, seed, ll_ours, ll_sk)
    assert abs(np.mean(kept_ours) - np.mean(kept_sk)) <= 1.0, (kept_ours, kept_sk)
    assert abs(np.mean(ll_diff)) < 0.01, ll_diff


# --------------------------------------------------------------------------- no sklearn at fit
def test_fitting_a_data_transformer_does_not_import_sklearn():
    code = (
        "import sys\n"
        "import numpy as np, pandas as pd\n"
        "from synthohive_spark.transform import DataTransformer\n"
        "r = np.random.default_rng(0)\n"
        "n = 1000\n"
        "df = pd.DataFrame({'x': r.normal(size=n), 'k': r.integers(0, 5, n),\n"
        "                   'amount': np.where(r.random(n) < 0.5, 0.0, r.exponential(100.0, n)),\n"
        "                   'when': pd.date_range('2020-01-01', periods=n, freq='h'),\n"
        "                   'cat': r.choice(['a', 'b', 'c'], n)})\n"
        "dt = DataTransformer(seed=0).fit(df)\n"
        "assert dt.transform(df).shape[0] == n\n"
        "print(len(dt.gmms), sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "4 []", res.stdout
