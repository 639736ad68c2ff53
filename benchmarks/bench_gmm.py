"""Benchmark the numpy Dirichlet-process mixture (``fit_dp_gmm_1d``) against scikit-learn's.

For each distribution and seed: draw a training and a held-out sample, standardize both with the
training mean and std (as ``DataTransformer`` does), fit ours and
``sklearn.mixture.BayesianGaussianMixture`` with the settings ``DataTransformer`` used to pass it
(dirichlet_process, weight_concentration_prior 1e-3, n_init 1, max_iter 100, at most 10 components),
and report fit seconds (median over seeds), kept modes (weight > 0.005) and the mean held-out
log-likelihood per value of the plug-in mixture (both averaged over seeds). Also prints what a fresh
interpreter (numpy and pandas loaded, as in any fit) pays to import each implementation.

    nice -n 10 python benchmarks/bench_gmm.py --n 5000 --seeds 3
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings
from typing import Callable

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

from synthohive_spark.transform.gmm import fit_dp_gmm_1d, mixture_log_likelihood  # noqa: E402

THRESHOLD = 0.005


def _three_normals(r: np.random.Generator, n: int) -> np.ndarray:
    a, b = int(0.5 * n), int(0.3 * n)
    return np.concatenate([r.normal(-6, 1, a), r.normal(0, 0.5, b), r.normal(7, 1.5, n - a - b)])


DISTRIBUTIONS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "normal": lambda r, n: r.normal(50, 10, n),
    "3 normals": _three_normals,
    "lognormal": lambda r, n: r.lognormal(0, 1, n),
    "uniform": lambda r, n: r.uniform(0, 100, n),
    "zero-inflated amount": lambda r, n: np.where(r.random(n) < 0.6, 0.0, r.lognormal(3, 1, n)),
    "poisson ints": lambda r, n: r.poisson(3, n).astype(float),
    "age-like ints": lambda r, n: np.clip(np.round(r.normal(38, 13, n)), 17, 90),
    "bimodal skewed": lambda r, n: np.where(r.random(n) < 0.3, r.gamma(2, 1, n), r.normal(20, 3, n)),
}


def _import_seconds(stmt: str) -> float:
    code = f"import time, numpy, pandas; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return float(out.stdout.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000, help="values per sample (training and held-out)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--components", type=int, default=10)
    args = ap.parse_args()

    from sklearn.mixture import BayesianGaussianMixture

    print(f"import cost in a fresh interpreter that has numpy and pandas loaded: "
          f"synthohive_spark.transform.gmm {_import_seconds('import synthohive_spark.transform.gmm'):.3f} s, "
          f"sklearn.mixture {_import_seconds('import sklearn.mixture'):.3f} s")
    print(f"n = {args.n} values, components <= {args.components}, {args.seeds} seeds; seconds are medians, "
          f"modes (weight > {THRESHOLD}) and held-out log-likelihood per value are means over seeds\n")
    header = (f"{'distribution':22s} {'ours s':>8s} {'sklearn s':>9s} {'speedup':>7s} "
              f"{'modes ours/sk':>13s} {'held-out LL ours / sklearn':>27s}")
    print(header)
    print("-" * len(header))
    total_ours = total_sk = 0.0
    for name, make in DISTRIBUTIONS.items():
        t_ours, t_sk, k_ours, k_sk, ll_ours, ll_sk = [], [], [], [], [], []
        for seed in range(args.seeds):
            r = np.random.default_rng(1000 + seed)
            x, held_out = make(r, args.n), make(r, args.n)
            mu, sd = x.mean(), x.std()
            z, zh = (x - mu) / sd, (held_out - mu) / sd
            k = int(min(args.components, len(np.unique(z))))

            t0 = time.perf_counter()
            w, m, v = fit_dp_gmm_1d(z, k, seed=seed)
            t_ours.append(time.perf_counter() - t0)

            g = BayesianGaussianMixture(n_components=k, weight_concentration_prior_type="dirichlet_process",
                                        weight_concentration_prior=0.001, n_init=1, max_iter=100,
                                        random_state=seed)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                g.fit(z.reshape(-1, 1))
            t_sk.append(time.perf_counter() - t0)

            k_ours.append(int((w > THRESHOLD).sum()))
            k_sk.append(int((g.weights_ > THRESHOLD).sum()))
            ll_ours.append(float(mixture_log_likelihood(zh, w, m, v).mean()))
            ll_sk.append(float(mixture_log_likelihood(zh, g.weights_, g.means_.ravel(),
                                                      g.covariances_.ravel()).mean()))
        a, b = float(np.median(t_ours)), float(np.median(t_sk))
        total_ours += a
        total_sk += b
        print(f"{name:22s} {a:8.4f} {b:9.4f} {b / a:6.1f}x "
              f"{np.mean(k_ours):6.1f}/{np.mean(k_sk):<6.1f} {np.mean(ll_ours):13.4f} / {np.mean(ll_sk):<11.4f}")
    print("-" * len(header))
    print(f"{'total':22s} {total_ours:8.4f} {total_sk:9.4f} {total_sk / total_ours:6.1f}x")


if __name__ == "__main__":
    main()
