"""A one-dimensional Dirichlet-process Gaussian mixture fit by variational inference (numpy only).

This is the mixture behind mode-specific normalization (CTGAN): each numerical column gets a
mixture of at most ``max_modes`` Gaussians, and the Dirichlet-process prior on the weights lets the
fit switch off the components the data does not need. It implements the same model and the same
coordinate-ascent updates as a ``BayesianGaussianMixture(weight_concentration_prior_type=
"dirichlet_process")`` with default priors, specialised to one dimension so that every quantity is
a scalar per component and every update is one vectorised expression over (values, components):

- weights: a truncated stick-breaking process; stick ``k`` has a Beta(1 + N_k, gamma + N_{>k})
  posterior, ``gamma`` the weight concentration prior (1e-3: strongly prefers few modes);
- means: Gaussian prior with mean = sample mean and precision factor ``beta_0`` = 1;
- precisions: Wishart (a Gamma in 1-D) prior with ``nu_0`` = 1 degree of freedom and scale =
  sample variance (ddof 1); ``reg_covar`` (1e-6) is added to every component's variance;
- initialisation: responsibilities from a seeded 1-D k-means (k-means++ seeding with greedy local
  trials, then Lloyd iterations), deterministic for a given seed;
- stopping: when the variational lower bound changes by less than ``tol`` or after ``max_iter``
  rounds.

Repeated values are folded into (distinct value, count) pairs before fitting. The fit is exactly
the same as on the expanded sample, but a zero-inflated or integer column costs as much as its
number of distinct values. Importing this module imports numpy only: ``digamma`` is computed here
and ``lgamma`` comes from the standard library, so fitting a DataTransformer pulls in neither
scikit-learn nor scipy.
"""
from __future__ import annotations

import logging
import math

import numpy as np

logger = logging.getLogger("synthohive_spark.transform.gmm")

_EPS10 = 10.0 * np.finfo(np.float64).eps  # added to every component's soft count, as the reference does
_LOG_2PI = math.log(2.0 * math.pi)
_LOG_2 = math.log(2.0)


# ---------------------------------------------------------------------------------------- special
def _digamma(x: np.ndarray) -> np.ndarray:
    """psi(x) for positive x (absolute error below 1e-12).

    The recurrence psi(x) = psi(x + 1) - 1/x moves every argument to x >= 10, where the asymptotic
    series ln x - 1/(2x) - sum B_2j / (2j x^2j) is truncated after the x^-10 term.
    """
    x = np.asarray(x, dtype=np.float64)
    steps = x[..., None] + np.arange(10.0)                 # x, x + 1, ..., x + 9
    below = steps < 10.0
    out = -np.where(below, 1.0 / np.where(below, steps, 1.0), 0.0).sum(axis=-1)
    x = x + below.sum(axis=-1)
    inv2 = 1.0 / (x * x)
    series = inv2 * (1.0 / 12 - inv2 * (1.0 / 120 - inv2 * (1.0 / 252 - inv2 * (1.0 / 240 - inv2 * (1.0 / 132)))))
    return out + np.log(x) - 0.5 / x - series


def _gammaln(x: np.ndarray) -> np.ndarray:
    """log Gamma(x) for positive x, elementwise (arrays here have one entry per component)."""
    x = np.asarray(x, dtype=np.float64)
    return np.fromiter((math.lgamma(v) for v in x.ravel()), dtype=np.float64, count=x.size).reshape(x.shape)


def _betaln(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _gammaln(a) + _gammaln(b) - _gammaln(a + b)


# ---------------------------------------------------------------------------------------- k-means
def _kmeans_1d(u: np.ndarray, c: np.ndarray, k: int, rng: np.random.Generator,
               max_iter: int = 300, tol: float = 1e-4) -> np.ndarray:
    """Labels (0..k-1, in the order the centres were picked) of a weighted 1-D k-means.

    ``u`` holds distinct values in increasing order and ``c`` their counts; ``k <= len(u)``.
    Seeding is k-means++ (each next centre drawn with probability proportional to count times the
    squared distance to the nearest centre, the best of ``2 + ln k`` draws kept). Lloyd iterations
    exploit the ordering: the clusters of sorted centres are contiguous runs of ``u`` cut at the
    midpoints, so one iteration is a ``searchsorted`` plus prefix sums. Stops when the squared
    centre shift falls under ``tol`` times the data variance.
    """
    n_total = float(c.sum())
    p = c / n_total
    centres = [u[rng.choice(len(u), p=p)]]
    d2 = (u - centres[0]) ** 2
    n_trials = 2 + int(math.log(k))
    for _ in range(1, k):
        w = c * d2
        pot = float(w.sum())
        if pot <= 0.0:  # cannot happen while k <= distinct values; kept for safety
            break
        # side="right": a draw never lands on a value of zero weight (an existing centre)
        cand_idx = np.minimum(np.searchsorted(np.cumsum(w), rng.random(n_trials) * pot, side="right"),
                              len(u) - 1)
        cand = u[cand_idx]
        d2_cand = np.minimum(d2[:, None], (u[:, None] - cand[None, :]) ** 2)  # (n_distinct, trials)
        best = int(np.argmin(c @ d2_cand))
        centres.append(cand[best])
        d2 = d2_cand[:, best]
    centres_arr = np.asarray(centres, dtype=np.float64)
    # Lloyd keeps the centres in order; the labels returned follow the k-means++ picking order.
    pick_of_rank = np.argsort(centres_arr, kind="stable")
    centres_arr = centres_arr[pick_of_rank]

    cs = np.concatenate(([0.0], np.cumsum(c)))
    csx = np.concatenate(([0.0], np.cumsum(c * u)))
    mean = csx[-1] / n_total
    var = float(c @ (u - mean) ** 2) / n_total
    threshold = tol * var
    cuts = np.zeros(0, dtype=np.int64)
    for _ in range(max_iter):
        mids = 0.5 * (centres_arr[1:] + centres_arr[:-1])
        # A value exactly on a midpoint goes to the lower centre (the first of two tied centres).
        cuts = np.searchsorted(u, mids, side="right")
        lo = np.concatenate(([0], cuts))
        hi = np.concatenate((cuts, [len(u)]))
        cnt = cs[hi] - cs[lo]
        new = centres_arr.copy()
        nonempty = cnt > 0
        new[nonempty] = (csx[hi] - csx[lo])[nonempty] / cnt[nonempty]  # empty clusters keep their centre
        shift = float(((new - centres_arr) ** 2).sum())
        centres_arr = np.sort(new)
        if shift <= threshold:
            break
    mids = 0.5 * (centres_arr[1:] + centres_arr[:-1])
    cuts = np.searchsorted(u, mids, side="right")
    rank = np.searchsorted(cuts, np.arange(len(u)), side="right")
    return pick_of_rank[rank]


# ---------------------------------------------------------------------------------------- fit
def fit_dp_gmm_1d(values: np.ndarray, n_components: int, *, seed: int,
                  weight_concentration_prior: float = 1e-3, max_iter: int = 100, tol: float = 1e-3,
                  reg_covar: float = 1e-6, init_labels: np.ndarray | None = None,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit a truncated Dirichlet-process Gaussian mixture to 1-D data by variational inference.

    Args:
        values: the sample, any shape (flattened), finite numbers. Fit as given: callers wanting
            scale-free behaviour standardize first (``reg_covar`` is an absolute variance).
        n_components: truncation level, the most components the mixture may use. Capped at the
            number of distinct values (a mixture cannot use more).
        seed: seed of the k-means initialisation; equal inputs and seeds give equal results.
        weight_concentration_prior: ``gamma`` of the stick-breaking prior; small values favour few
            components.
        max_iter: most variational rounds.
        tol: stop when the lower bound changes by less than this.
        reg_covar: added to every component's empirical variance (keeps variances positive on
            ties and constant data).
        init_labels: optional initial component (0 .. n_components - 1) of each value, in place of
            the k-means initialisation (then ``n_components`` is not capped and ``seed`` unused).
            With the labels of another implementation's initialisation the two fits coincide.

    Returns:
        ``(weights, means, variances)``, float64 arrays of one entry per component in the order of
        the stick-breaking process (not sorted), ``weights`` summing to 1. Components the data did
        not need have weights near 0; callers drop them with a threshold. Their means and
        variances fall back to the prior (sample mean and about the sample variance).

    Raises:
        ValueError: empty input, non-finite values, ``n_components < 1`` or bad ``init_labels``.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("fit_dp_gmm_1d: expected at least one value, got an empty sample")
    if not np.isfinite(x).all():
        raise ValueError(f"fit_dp_gmm_1d: expected finite values, got {int((~np.isfinite(x)).sum())} "
                         "NaN or infinite value(s)")
    if n_components < 1:
        raise ValueError(f"fit_dp_gmm_1d: expected n_components >= 1, got {n_components}")
    if weight_concentration_prior <= 0:
        raise ValueError(f"fit_dp_gmm_1d: expected weight_concentration_prior > 0, got {weight_concentration_prior}")

    u, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    c = counts.astype(np.float64)
    n = float(x.size)
    mean0 = float(c @ u) / n
    var0 = float(c @ (u - mean0) ** 2) / (n - 1.0) if n > 1 else 0.0
    if init_labels is not None:
        labels = np.asarray(init_labels).ravel()
        if labels.shape != x.shape or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"fit_dp_gmm_1d: expected init_labels to be {x.size} integers (one per value), "
                             f"got shape {np.shape(init_labels)} of dtype {labels.dtype}")
        if labels.size and (labels.min() < 0 or labels.max() >= n_components):
            raise ValueError(f"fit_dp_gmm_1d: expected init_labels in [0, {n_components}), got "
                             f"[{labels.min()}, {labels.max()}]")
        k = int(n_components)
        # Responsibilities are held as (k, n_distinct): every reduction is then over contiguous rows.
        # Copies of one value that start in different components share the fractions.
        resp = np.zeros((k, len(u)))
        np.add.at(resp, (labels, inverse.ravel()), 1.0)
        resp /= c
    else:
        k = int(min(n_components, len(u)))
        distinct_labels = _kmeans_1d(u, c, k, np.random.default_rng(seed))
        resp = np.zeros((k, len(u)))
        resp[distinct_labels, np.arange(len(u))] = 1.0

    gamma = float(weight_concentration_prior)
    beta0, nu0 = 1.0, 1.0

    def m_step(r: np.ndarray) -> tuple[np.ndarray, ...]:
        cr = r * c                                                     # (k, n_distinct)
        nk = cr.sum(axis=1) + _EPS10
        xk = (cr @ u) / nk
        sk = (cr * (u - xk[:, None]) ** 2).sum(axis=1) / nk + reg_covar
        # stick-breaking Beta posteriors: a_k = 1 + N_k, b_k = gamma + sum_{j>k} N_j
        a = 1.0 + nk
        b = gamma + np.concatenate((np.cumsum(nk[::-1])[-2::-1], [0.0]))
        beta = beta0 + nk
        means = (beta0 * mean0 + nk * xk) / beta
        nu = nu0 + nk
        # variance normalised by the degrees of freedom, so that E[precision] = 1 / var
        var = (var0 + nk * sk + nk * beta0 / beta * (xk - mean0) ** 2) / nu
        return a, b, beta, means, nu, var

    def e_step(params: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Responsibilities and their logs, (k, n_distinct) each."""
        a, b, beta, means, nu, var = params
        dg_ab = _digamma(a + b)
        log_v = _digamma(a) - dg_ab                                  # E[log v_k]
        log_1mv = _digamma(b) - dg_ab                                # E[log (1 - v_k)]
        log_w = log_v + np.concatenate(([0.0], np.cumsum(log_1mv)[:-1]))
        # E[log N(x | mu_k, lambda_k)] = 0.5 E[log lambda] - 0.5 log 2pi - 0.5 E[lambda (x - mu)^2]
        e_log_lambda = _LOG_2 + _digamma(0.5 * nu) - np.log(nu * var)
        const = 0.5 * (e_log_lambda - 1.0 / beta) - 0.5 * _LOG_2PI + log_w
        wlp = (-0.5 / var)[:, None] * (u - means[:, None]) ** 2 + const[:, None]
        wlp -= wlp.max(axis=0)
        r = np.exp(wlp)
        total = r.sum(axis=0)
        r /= total
        wlp -= np.log(total)
        return r, wlp

    def lower_bound(r: np.ndarray, log_r: np.ndarray, params: tuple[np.ndarray, ...]) -> float:
        # The reference's bound with its constants dropped: entropy of q(z), normalisers of the
        # Gamma, Beta and Gaussian posteriors.
        a, b, beta, _, nu, var = params
        entropy = -float((r * log_r).sum(axis=0) @ c)
        log_det_chol = -0.5 * np.log(var) - 0.5 * np.log(nu)
        log_wishart = -(nu * log_det_chol + 0.5 * nu * _LOG_2 + _gammaln(0.5 * nu))
        return (entropy - float(log_wishart.sum()) + float(_betaln(a, b).sum())
                - 0.5 * float(np.log(beta).sum()))

    params = m_step(resp)
    bound = prev = -np.inf
    converged = False
    for _ in range(max_iter):
        prev = bound
        resp, log_resp = e_step(params)
        params = m_step(resp)
        bound = lower_bound(resp, log_resp, params)
        if abs(bound - prev) < tol:
            converged = True
            break
    if not converged:
        logger.debug("DP mixture did not converge in %d iterations (last bound change %.3g)",
                     max_iter, bound - prev)

    a, b, _, means, _, var = params
    stick = a / (a + b)
    weights = stick * np.concatenate(([1.0], np.cumprod(b / (a + b))[:-1]))
    weights = weights / weights.sum()
    return weights, means.copy(), var.copy()


def mixture_log_likelihood(values: np.ndarray, weights: np.ndarray, means: np.ndarray,
                           variances: np.ndarray) -> np.ndarray:
    """Log density of each value under the plug-in mixture sum_k w_k N(x | m_k, v_k)."""
    x = np.asarray(values, dtype=np.float64).ravel()[:, None]
    w = np.asarray(weights, dtype=np.float64)
    m = np.asarray(means, dtype=np.float64)
    v = np.asarray(variances, dtype=np.float64)
    with np.errstate(divide="ignore"):
        lw = np.log(w)
    lp = lw[None, :] - 0.5 * (_LOG_2PI + np.log(v)[None, :] + (x - m[None, :]) ** 2 / v[None, :])
    top = lp.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(lp - top).sum(axis=1, keepdims=True)))[:, 0]
