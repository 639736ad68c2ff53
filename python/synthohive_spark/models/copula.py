"""Gaussian copula: empirical marginals + one correlation matrix of normal scores.

Every column becomes one or two variables: a numerical column a variable whose marginal is a table
of quantiles (plus a binary missing-value variable when it has missing values), a categorical column a
variable whose categories occupy consecutive intervals of [0, 1] (sized by frequency, ordered along
the direction in which the categories' means of the numerical scores differ most, so that "this
species weighs more" is a monotone dependence a correlation can hold). Values map to normal
scores through their marginal (randomized within ties), and a correlation matrix is fit on the
scores. The model is joint over context and data columns; sampling under a context draws the data
scores from the closed-form Gaussian conditional given the context's scores.

One categorical column can also stratify the model (``stratify``, "auto" by default: the
categorical column, of the data or the context, with at most 128 categories that explains most of
the other data columns, on average the share of a numerical column's rank variance or of a
categorical column's entropy (Theil's U), when that average is at least 15%). Each of its
categories with at least 50 rows then has its own quantile table per numerical data column, its
own missing-value shares and its own frequencies of the other categories: a value's score is its
rank within its category, and a sampled value is read from its sampled category's tables. "This
species' hind feet are 35-37 mm" and "a customer in Brazil lives in a Brazilian state" hold
exactly, not as a band of a correlation. The categories with fewer rows (and any unseen at fit)
share one more stratum, "the rest", when it has 50 rows; a stratum without enough values of a
column uses the column's overall marginal.

A categorical column nested in another (``nest``, on by default: on at least 99% of rows one of
the two determines the other, as a state its country or a city its state, or on at least 90% and
on 75% of the rows that chance leaves (the share with the column shuffled taken out), as an
aircraft model its maker whose name a register spells two ways; only values that repeat count
as evidence) is drawn within the other's sampled category, from its real frequencies there: its
score is its position within that category's intervals, so the correlation still carries what
the column says beyond the nesting. Columns are drawn coarse to fine (the stratifying column
first, then by their number of categories), each within the earlier column it is nested in that
explains most of its entropy (then the finest), so that chains hold (a city within its state
within its country) whatever the stratifying column is, and a maker is drawn within its model,
not within an engine count it also determines. The stratifying column itself can be nested in a
context column only (it is drawn first); where none determines it, it is drawn from its real
frequencies within the category of the context column that explains most of its entropy (at
least 10%), for the context categories of at least 50 rows, and within the pair of it and a
second context column where the pair has 50 rows, when that explains 2 points more (a row whose
first column's category has fewer: within the second's category, where it has 50): a flight's
destination within its plane's model and airline, where the rest of the row follows from the
destination's tables and a correlation alone would lose the pair.

Sampling spreads the categorical column of most categories evenly over each call's rows: its
normal score comes from one draw in each of the call's n equal slices of probability, shuffled,
and the other scores from their normal distribution given it (within a stratum or a given
category, its scores are spread again over that group's rows, their order kept). Each row keeps
its exact distribution, while the column's categories come out at their shares to within about
one row each instead of sqrt(n * share): a 200-product catalog drawn as 200 rows keeps nearly
every product once, and a category that is a reference table's key (a product of an order line)
gets its share of the rows as the key's degree. The other columns keep independent draws.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.special import ndtr, ndtri

from synthohive_spark.models import _nn
from synthohive_spark.models.base import GenerativeModel
from synthohive_spark.transform import ColumnCodec, DataTransformer

_EPS = 1e-6
_STRATA_MAX_CATEGORIES = 128
_STRATA_MIN_ROWS = 50
_STRATA_MIN_EXPLAINED = 0.15
_STRATA_GRID = 201
_STRATA_MAX_CAT_LEVELS = 1000
_NEST_MIN_PURITY = 0.99
_NEST_LOOSE_PURITY = 0.90
_NEST_LOOSE_BEYOND_CHANCE = 0.75
_NEST_MAX_CELLS = 2_000_000
#: a context column gives the stratifying column its frequencies when it explains this share of
#: its entropy (Theil's U)
_STRATUM_GIVEN_MIN_EXPLAINED = 0.1
#: and within a pair of context columns where that explains this much more of it
_STRATUM_PAIR_MIN_GAIN = 0.02


def _even_uniforms(rank: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniforms one per equal slice of [0, 1]: the row of rank r (a permutation of 0..m-1) gets
    a uniform draw within slice r of m (the stratified draw relational.cardinality's ``_draw``
    makes inline for child counts)."""
    return (rank + rng.random(len(rank))) / len(rank)


def _theil_u(by: np.ndarray, of: np.ndarray, k_by: int, k_of: int) -> float | None:
    """The share of the entropy of codes ``of`` that codes ``by`` explain (Theil's U), on the
    rows where both are known; None when ``of`` has no entropy there."""
    ok = (by >= 0) & (of >= 0)
    if ok.sum() < 2:
        return None
    joint = np.bincount(by[ok] * k_of + of[ok], minlength=k_by * k_of).reshape(k_by, k_of)
    p = joint / joint.sum()
    p_of, p_by = p.sum(axis=0), p.sum(axis=1)
    h_of = -np.sum(p_of[p_of > 0] * np.log(p_of[p_of > 0]))
    if h_of <= 0:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = np.where(p > 0, p * np.log(p / p_by[:, None]), 0.0)
    return float((h_of + cond.sum()) / h_of)


def _num_to_u(x: np.ndarray, q: np.ndarray, grid: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    m = len(q)
    lo = np.searchsorted(q, x, "left")
    hi = np.searchsorted(q, x, "right")
    a = np.clip(lo - 1, 0, m - 1)
    b = np.clip(lo, 0, m - 1)
    denom = q[b] - q[a]
    frac = np.where(denom > 0, (x - q[a]) / np.where(denom > 0, denom, 1.0), 0.5)
    u_cont = grid[a] + frac * (grid[b] - grid[a])
    lo_t = np.clip(lo, 0, m - 1)
    hi_t = np.clip(hi - 1, 0, m - 1)
    u_tie = grid[lo_t] + rng.random(len(x)) * (grid[hi_t] - grid[lo_t])
    return np.where(hi > lo, u_tie, u_cont)


#: the DP copula's numerical range histograms: fixed bins of asinh(value) (data-independent
#: edges) over every value a 64-bit number holds (the largest is asinh 44.4): a timestamp is a
#: count of micro- or nanoseconds past its earliest, and asinh 32 is 11 hours of nanoseconds
_DP_EDGES = np.arange(-46.0, 46.0 + 1e-9, 0.1)
#: the DP copula clips each normal score to this before the correlation sums (sensitivity:
#: c^2 per product; 2 keeps 95% of the scores whole and costs 36% less noise than 2.5)
_DP_SCORE_CLIP = 2.0
#: the DP copula clips each row's vector of scores to this L2 norm before the per-category sums
#: that order the categories (sensitivity)
_DP_ORDER_CLIP = 3.0
#: the DP copula's Gaussian mechanisms and their shares of the budget. Gaussian mechanisms on the
#: whole data compose in Renyi DP exactly as one with 1 / sigma^2 = sum of 1 / sigma_i^2, so a
#: mechanism with share w (of the shares in use) gets noise multiplier sigma / sqrt(w), where
#: sigma alone spends the whole budget, and all of them together spend epsilon. Most goes to
#: the 1-way marginals (the category counts and the numbers' histograms: every quality measure
#: starts from them), the rest to the dependence (strata, correlation) and to what only shapes
#: it (the numbers' ranges, the categories' orders)
_DP_SHARES = {"counts": 0.25, "ranges": 0.05, "fine": 0.3, "orders": 0.03, "strata": 0.5,
              "correlation": 0.2}
#: bins (a power of 2 in this range, equal in asinh) of a number's (noisy) range in the DP
#: copula's marginal histograms, unless its values lie on a grid (integers, a step, rounded
#: decimals) of few points in a range of little spread: then one bin per grid point
#: (_fine_edges)
_DP_FINE_BINS = (64, 1024)
#: ... sized so that an even spread of the rows would put this many noise deviations in a bin
_DP_BIN_SNR = 2.0
_DP_GRID_BINS = 4096
_DP_GRID_FINER = 8
_DP_GRID_SPAN = 2.5
#: noise deviations under which a category's count is dropped
_DP_FLOOR = 4.0
#: noise deviations under which a window of bins is dropped: thousands of windows are tested,
#: so a false one (a noise bin far from the data) must be rarer than one in a million
_DP_WINDOW_FLOOR = 5.5
#: bins of the windows whose sums decide a number's range: the narrow ones find a dense bulk's
#: edge, the wide ones a sparse tail (a tenth of the rows spread over a factor 5 of values)
_DP_WINDOWS = (2, 8, 32)
#: the DP histograms' pooling: a block of empty bins stands out of the noise by chance with
#: probability 1 / (this x bins); about 2 x bins blocks are tested, so a histogram makes up a
#: block in an empty range about once in 100 fits (a sampled value far from every real one)
_DP_POOL_TESTS = 200.0
#: rows the pools leave out go to the bins within 1 / this of the kept bins' span from them (a
#: tent: the nearer, the more), as far as a coarser histogram sees rows there
_DP_TAIL_REACH = 4
#: a number's DP range reaches on either side to the transformer's bound when that lies within
#: _DP_RANGE_REACH of its widths (at least _DP_RANGE_REACH_MIN, in asinh units: a factor of 20
#: for large values), else it is padded by _DP_RANGE_PAD of its width
_DP_RANGE_REACH = 1.0
_DP_RANGE_REACH_MIN = 3.0
_DP_RANGE_PAD = 0.1
#: a DP histogram's tails beyond its outermost kept bins (rows too sparse to stand out of the
#: noise: a few dozen spread over a long stretch) continue as an exponential in asinh(value),
#: its scale read from the histogram's own quantiles at _DP_TAIL_P and _DP_TAIL_RATIO times it
#: (an exponential tail has q(1 - p) - q(1 - r p) = scale ln r), as far as the range goes
_DP_TAIL_P = 0.01
_DP_TAIL_RATIO = 4.0
#: the DP copula stratifies (stratify="auto") when its strata would have on average at least this
#: many noisy rows per noise deviation of a stratum's histogram cell: measured on ratdat's
#: surveys and pizzaplace's order items (see benchmarks/README.md)
_DP_STRATA_MIN_SNR = 4.0
#: a correlation is kept only beyond this many noise deviations (positive-part James-Stein
#: shrinkage: r (1 - (k sd / r)^2)): noise must not make up dependence that is not there
_DP_CORR_SHRINK = 2.0


def _denoise_counts(noisy: np.ndarray, sd: float, total: float | None = None,
                    prior: np.ndarray | None = None) -> np.ndarray:
    """A noisy histogram (each bin plus Gaussian noise of deviation ``sd``) pooled where its
    signal is weak (post-processing: no privacy cost): a bin whose count stands out of its noise
    keeps it; the others are pooled within dyadic blocks of 2, 4 ... (up to all) bins, and a
    block's pool that stands out of its noise is spread over its pooled bins (evenly, or for 4
    bins and more by their noisy counts averaged over a quarter of the block: a sparse tail keeps
    its mass, a spike keeps its own count and lends none to its empty neighbours); what no
    block lifts above its noise is empty (the noise of empty ranges is not data). "Stands out":
    a sum over m bins above tau sd sqrt(m), tau (at least 2) the normal quantile that one in
    _DP_POOL_TESTS times the number of bins exceeds (about 2 n blocks are tested: a false one
    in an empty range is rare, however many bins there are). ``total`` (a more exact count of
    the histogram's rows) and ``prior``: see below."""
    n = len(noisy)
    out = np.zeros(n)
    open_ = np.ones(n, dtype=bool)
    size = 1
    tau = max(2.0, float(ndtri(1.0 - 1.0 / (_DP_POOL_TESTS * n))))
    while size < 2 * n and open_.any():
        block = np.arange(n) // size
        sums = np.bincount(block, weights=np.where(open_, noisy, 0.0))
        m = np.bincount(block, weights=open_.astype(float))
        lifted = (m > 0) & (sums >= tau * sd * np.sqrt(np.maximum(m, 1.0)))
        ok = open_ & lifted[block]
        if size >= 4 and ok.any():
            # a wide pool's rows go where its bins' noisy counts, averaged over a quarter of
            # it, are highest (not evenly: a pool reaching from a bulk's edge into a tail would
            # thicken the tail)
            k = size // 4
            local = np.convolve(np.where(open_, noisy, 0.0), np.ones(k), "same")
            local = np.where(ok, np.clip(local, 0.0, None), 0.0) + 1e-9 * ok
            per = np.bincount(block, weights=local)[block]
            out[ok] = (sums[block] * local / np.where(per > 0, per, 1.0))[ok]
        else:
            out[ok] = (sums / np.maximum(m, 1.0))[block][ok]
        open_ &= ~ok
        size *= 2
    if total is not None and total > 0 and out.sum() > 0:
        # the (more exact) total, where it differs from the pools' beyond their noise (the kept
        # bins' sum carries noise of deviation sd sqrt(kept bins)): what the pools left out (the
        # bins a pool passed over for their noise, a sparse tail under it) goes where the kept
        # rows are and next to them (a tent over 1 / _DP_TAIL_REACH of their span), as far as
        # ``prior`` (a coarser released histogram, which sees a sparse tail sooner) has rows
        # there: never far out in an empty range, and not all to the tails (that would make the
        # marginal wider than the data, and the data's scores narrower than normal). An excess
        # (bins kept for noise that lifted them) is scaled away
        rest = total - out.sum()
        if abs(rest) > 2.0 * sd * np.sqrt((~open_).sum() + 1.0):
            kept_at = np.flatnonzero(~open_)
            # a tent (the nearer, the more) over a share of the kept bins' span
            w = max((kept_at[-1] - kept_at[0] + 1) // _DP_TAIL_REACH, 1) if len(kept_at) else 1
            tent = np.r_[np.arange(1, w + 1), np.arange(w - 1, 0, -1)].astype(float)
            near = np.convolve(out, tent, "same")
            if rest > 0 and prior is not None and (near * np.clip(prior, 0.0, None)).sum() > 0:
                near = near * np.clip(prior, 0.0, None)
            if rest > 0 and near.sum() > 0:
                out = out + rest * near / near.sum()
            elif rest < 0:
                out = out * (total / out.sum())
    return out


def _extend_tails(counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """A denoised histogram whose empty outer bins (between its outermost kept bins and the
    ends of its range) get the tail that its own outer quantiles imply (post-processing: no
    privacy cost): on each side, an exponential in asinh(value) whose scale is the distance
    between the quantiles at _DP_TAIL_P and _DP_TAIL_RATIO times it over ln(ratio), anchored at
    the first of them and continued past the last kept bin; what would lie past the range's end
    is left out (the range never reaches a far outlier: see _padded_range). The noise hides a
    sparse tail (a few dozen rows over a long stretch) that the data has: without this the
    synthetic values stop short of the real extremes, and every statistic that bins a column
    between its minimum and its maximum moves its bins. The lower tail is the upper tail of the
    mirrored histogram."""
    t = np.arcsinh(edges)
    return (counts + _upper_tail(counts, t)
            + _upper_tail(counts[::-1], -t[::-1])[::-1]).astype(float)


def _upper_tail(counts: np.ndarray, t: np.ndarray) -> np.ndarray:
    """What :func:`_extend_tails` adds past the last kept bin of ``counts`` (edges ``t`` in
    asinh units, increasing)."""
    add = np.zeros(len(counts))
    total = float(counts.sum())
    kept = np.flatnonzero(counts > 0)
    p, r = _DP_TAIL_P, _DP_TAIL_RATIO
    if total <= 0 or len(kept) < 2 or kept[-1] >= len(counts) - 1 or p * total <= 1.0:
        return add
    last = int(kept[-1])
    cum = np.concatenate([[0.0], np.cumsum(counts)]) / total
    qa, qb = np.interp([1.0 - r * p, 1.0 - p], cum, t)
    scale = (qb - qa) / np.log(r)
    if not scale > 0:
        return add
    # the model's mass beyond each outward edge: p exp(-(distance past the anchor) / scale), up
    # to where the model puts its last of ``total`` rows (its 1 - 1 / total quantile: an
    # exponential in asinh(value) is a power law in the value, far heavier than most data far
    # out, so it is not drawn on past the extremes a table of this size would show)
    dist = t[last + 1:] - qb
    reach = scale * np.log(p * total)
    mass = np.where(dist <= reach, p * np.exp(-np.maximum(dist, 0.0) / scale), 0.0)
    add[last + 1:] = total * (mass[:-1] - mass[1:])
    return add


def _hist_quantiles(counts: np.ndarray, edges: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Quantiles at ``grid`` of a histogram (values uniform within their bin); empty bins are
    never reached (the first and last quantiles are the outer edges of the outer bins with
    counts)."""
    cum = np.cumsum(counts)
    total = cum[-1]
    target = np.clip(grid * total, total * 1e-12, total)
    i = np.minimum(np.searchsorted(cum, target, "left"), len(counts) - 1)
    before = cum[i] - counts[i]
    frac = np.clip((target - before) / np.where(counts[i] > 0, counts[i], 1.0), 0.0, 1.0)
    out = edges[i] + frac * (edges[i + 1] - edges[i])
    first = int(np.flatnonzero(counts > 0)[0])
    out[grid <= 0] = edges[first]
    return out


def _shrink_to(noisy: np.ndarray, prior: np.ndarray, sd: float) -> np.ndarray:
    """A noisy histogram (Gaussian noise of deviation ``sd`` per bin) shrunk toward ``prior``
    (positive-part James-Stein: its departure from the prior kept in the measure it stands out
    of the noise), negatives at 0 (post-processing: no privacy cost)."""
    d = noisy - prior
    ss = float(d @ d)
    keep = max(0.0, 1.0 - max(len(d) - 2, 1) * sd * sd / ss) if ss > 0 else 0.0
    return np.clip(prior + keep * d, 0.0, None)


def _rake(table: np.ndarray, rows: np.ndarray, cols: np.ndarray, steps: int = 50) -> np.ndarray:
    """Iterative proportional fitting of a non-negative table to row and column sums (each
    scaled to the same total; post-processing: no privacy cost). Zero cells stay zero."""
    t = np.clip(table, 0.0, None).astype(float)
    rows = np.clip(rows, 0.0, None).astype(float)
    cols = np.clip(cols, 0.0, None).astype(float)
    if t.sum() <= 0 or rows.sum() <= 0 or cols.sum() <= 0:
        return t
    cols = cols * rows.sum() / cols.sum()
    for _ in range(steps):
        c = t.sum(axis=0)
        t = t * np.where(c > 0, cols / np.where(c > 0, c, 1.0), 1.0)[None, :]
        r = t.sum(axis=1)
        t = t * np.where(r > 0, rows / np.where(r > 0, r, 1.0), 1.0)[:, None]
    return t


def _clipped_normal_var(c: float) -> float:
    """E[min(Z^2, c^2)] of a standard normal Z: the variance of a score clipped to [-c, c]."""
    phi = float(np.exp(-c * c / 2) / np.sqrt(2 * np.pi))
    tail = float(1.0 - ndtr(c))
    return float(2 * ndtr(c) - 1 - 2 * c * phi + 2 * c * c * tail)


class GaussianCopula(GenerativeModel):
    """Fast model for small and medium tables. Hyperparameters: n_quantiles (points of each numerical
    marginal), seed, device (accepted for a uniform interface; the copula runs on CPU), column_specs,
    verbose; epsilon, delta (differential privacy: Gaussian mechanisms with their own shares of
    the budget, composed in Renyi DP; the marginals from noisy histograms, rare categories and
    bins that do not stand out of the noise dropped, the strata and the categories' orders from
    noisy tables and sums, the correlation from noisy sums of clipped scores shrunk by their
    noise; no nesting)."""

    name = "gaussian_copula"
    default_hyperparams: dict[str, Any] = {"n_quantiles": 1001, "stratify": "auto", "nest": True,
                                           "epsilon": None, "delta": None}

    def _validate_hyperparams(self) -> None:
        super()._validate_hyperparams()
        s = self._hp.get("stratify")
        if not isinstance(s, str) or not s:
            raise ValueError("GaussianCopula: hyperparameter stratify must be 'auto', 'none' or the name "
                             f"of a categorical column, got {s!r}")
        if not isinstance(self._hp.get("nest"), bool):
            raise ValueError("GaussianCopula: hyperparameter nest must be true or false, got "
                             f"{self._hp.get('nest')!r}")

    # ------------------------------------------------------------------ variables
    def _fit_transformers(self, data: pd.DataFrame, context: pd.DataFrame | None) -> None:
        hp = self._hp
        self.transformer = DataTransformer(column_specs=hp.get("column_specs"), seed=hp["seed"], max_modes=1)
        self.transformer.fit(data, "data")
        self.context_transformer = None
        if context is not None:
            self.context_transformer = DataTransformer(column_specs=hp.get("column_specs"),
                                                       seed=hp["seed"] + 1, max_modes=1)
            self.context_transformer.fit(context, "context")
        self._setup()
        self._corr = None
        self._orders = {}
        self._dp_freq = {}
        self._dp_present = {}
        if hp.get("epsilon") is not None:
            self._strata, self._nested, self._budget = None, {}, None
            self._dp_rows = float(len(data))
            self._fit_private_marginals({"data": data, "context": context})
            return
        grid = self._grid
        qs = []
        for codec, source in self._num_codecs():
            frame = context if source == "context" else data
            vals = codec.numeric_values(frame[codec.name])
            vals = vals[~np.isnan(vals)]
            qs.append(np.quantile(vals, grid))
        self._quantiles = np.asarray(qs, dtype=np.float64).reshape(len(qs), len(grid))
        self._fit_strata({"data": data, "context": context})
        self._fit_nesting({"data": data, "context": context})

    # ------------------------------------------------------------------ differential privacy
    def _dp_mechanisms(self, stratified: bool) -> list[str]:
        """The DP copula's Gaussian mechanisms this table uses (see _DP_SHARES)."""
        numeric = any(v[2] == "num" for v in self._vars)
        return (["counts"] + (["ranges", "fine"] if numeric else [])
                + (["orders"] if self._orders_needed() else [])
                + (["strata"] if stratified else [])
                + (["correlation"] if len(self._vars) >= 2 else []))

    def _dp_noise(self, n: int, used: list[str]) -> tuple[float, dict[str, float]]:
        """delta and each mechanism's noise multiplier: its share of _DP_SHARES among ``used``
        (sigma / sqrt(share), sigma the one mechanism that spends the whole budget)."""
        from synthohive_spark.privacy import dp as _dp

        hp = self._hp
        delta = float(hp["delta"]) if hp.get("delta") is not None else _dp.default_delta(n)
        sigma = _dp.gaussian_noise_multiplier(float(hp["epsilon"]), delta, 1)
        total = sum(_DP_SHARES[m] for m in used)
        # 1 + 1e-9: the shares' 1 / sigma_i^2 add up to 1 / sigma^2 up to rounding, never above
        return delta, {m: sigma * float(np.sqrt(total / _DP_SHARES[m])) * (1 + 1e-9)
                       for m in used}

    def _dp_plan(self, n: int, stratum: tuple[ColumnCodec, str] | None) -> None:
        """The budget and the noise multiplier of each Gaussian mechanism of the DP copula."""
        from synthohive_spark.privacy import dp as _dp

        delta, self._dp_sigmas = self._dp_noise(n, self._dp_mechanisms(stratum is not None))
        self._budget = _dp.Budget(float(self._hp["epsilon"]), delta)

    def _dp_spend(self, mechanism: str) -> None:
        self._budget.spend(self._dp_sigmas[mechanism])

    def _private_stratum_column(self, n: int) -> tuple[ColumnCodec, str] | None:
        """The DP copula's stratifying column, chosen without reading the data: the one named by
        ``stratify``, or (``auto``) the categorical column with the most categories up to 128
        (data columns first; a choice by how much it explains would read the rows), when its
        strata would have on average at least _DP_STRATA_MIN_SNR times the noise deviation of a
        stratum's cell in rows (from the number of rows, the budget and the columns)."""
        want = self._hp.get("stratify", "auto")
        if want == "none" or not any(v[2] == "num" and v[1] == "data" for v in self._vars):
            return None
        cands = [(c, s) for c, s, role, _ in self._vars if role == "cat"
                 and (c.name == want if want != "auto" else c.n_categories <= _STRATA_MAX_CATEGORIES)]
        if not cands:
            if want != "auto":
                raise ValueError(f"GaussianCopula: stratify={want!r} names no categorical column of "
                                 "the data or the context with two or more categories")
            return None
        best = max(cands, key=lambda cs: (cs[0].n_categories, cs[1] == "data"))
        if want == "auto":
            _, sigmas = self._dp_noise(n, self._dp_mechanisms(True))
            sd = sigmas["strata"] * np.sqrt(self._stratum_cells(best[0], best[1]))
            if n / best[0].n_categories < _DP_STRATA_MIN_SNR * sd:
                return None  # the strata's noise would cost more than they bring
        return best

    def _stratum_cells(self, codec: ColumnCodec, source: str) -> int:
        """Cells a row adds one to in the strata's tables: one per numerical data column, one per
        other categorical data column, its stratum's row count."""
        nums = sum(1 for c, s, role, _ in self._vars if role == "num" and s == "data")
        cats = sum(1 for c, s, role, _ in self._vars if role == "cat" and s == "data"
                   and not (c.name == codec.name and source == "data"))
        return nums + cats + 1

    def _fit_private_strata(self, frames: dict[str, pd.DataFrame | None], codec: ColumnCodec,
                            source: str, rng: np.random.Generator) -> None:
        """The strata of the DP copula from one more Gaussian mechanism ("strata"): per
        stratum, the histogram of each numerical data column over its overall DP histogram's
        bins plus a missing cell, the counts of each other categorical data column, and the
        stratum's rows; a row adds one to one cell of each, so the L2 sensitivity is
        sqrt(numerical + other categorical columns + 1). Post-processing only from there: a
        stratum's histogram is pooled like the overall one (_denoise_counts), shrunk toward the
        overall shape as far as its noise hides its own (positive-part James-Stein), and the
        strata together are raked to the overall histogram (as often as each is sampled: they
        add up to the overall marginal, and never put mass where it has none); a stratum's
        category counts likewise. Which categories have a stratum of their own comes from the
        noisy marginal counts; a stratum whose noisy rows stay under 50 uses the overall
        marginals."""
        nums = [(c, k) for c, s, role, k in self._vars if role == "num" and s == "data"]
        cats = [c for c, s, role, _ in self._vars if role == "cat" and s == "data"
                and not (c.name == codec.name and source == "data")]
        sd = self._dp_sigmas["strata"] * np.sqrt(self._stratum_cells(codec, source))
        n_cat = codec.n_categories
        codes = codec.codes(frames[source][codec.name])
        noisy = self._dp_freq.get(f"{source}/{codec.name}")
        own = np.asarray(noisy[:n_cat] if noisy is not None else np.zeros(n_cat)) >= _STRATA_MIN_ROWS
        groups = np.where((codes >= 0) & own[np.maximum(codes, 0)], codes, n_cat)  # the rest
        rows = np.bincount(groups, minlength=n_cat + 1).astype(float)
        rows = rows + rng.normal(0.0, sd, n_cat + 1)
        fitted = rows >= _STRATA_MIN_ROWS
        # as fine as the overall tables: a sampled value is read between two table points, and
        # a step of 1/200 of the rows would spread them across a gap the histogram leaves empty
        grid = self._grid
        tables = np.full((n_cat + 1, len(nums), len(grid)), np.nan)
        present = np.full((n_cat + 1, len(nums)), np.nan)
        data = frames["data"]
        fit_g = np.flatnonzero(fitted)
        # how often each stratum is sampled: its categories' noisy marginal counts
        counts = np.asarray(noisy[:n_cat], float) if noisy is not None else np.zeros(n_cat)
        weight = np.append(np.where(own, counts, 0.0), counts[~own].sum())
        for j, (c, k) in enumerate(nums):
            vals = c.numeric_values(data[c.name])
            null = np.isnan(vals)
            edges, overall = self._dp_fine[f"data/{c.name}"]
            hist = np.zeros((len(fit_g), len(edges) - 1))
            shape = overall / max(overall.sum(), 1e-12)
            cum = np.cumsum(shape) - shape / 2
            group = np.minimum((cum * 16).astype(int), 15)  # 16 groups of equal overall mass
            share_k = np.bincount(group, weights=shape, minlength=16)
            width_k = np.bincount(group, minlength=16).astype(float)
            for i, g in enumerate(fit_g):
                mine = groups == g
                noisy_h = self._fine_hist(vals[mine & ~null], edges)
                noisy_h = noisy_h + rng.normal(0.0, sd, len(noisy_h))
                nulls = min(max(float((mine & null).sum()) + rng.normal(0.0, sd), 0.0), rows[g])
                present[g, j] = 1.0 - nulls / rows[g]
                own = _denoise_counts(noisy_h, sd, total=rows[g] - nulls)
                # toward the overall shape as far as the stratum's departure from it is noise:
                # positive-part James-Stein on the noisy counts of 16 groups of bins of equal
                # overall mass (their noise known exactly: sd sqrt(bins in the group))
                prior = own.sum() * shape
                counts_k = np.bincount(group, weights=noisy_h, minlength=16)
                live = width_k > 0   # groups that hold bins (an empty one has no noise)
                t = ((counts_k[live] - max(counts_k.sum(), 0.0) * share_k[live])
                     / (sd * np.sqrt(width_k[live])))
                ss = float(t @ t)
                keep = max(0.0, 1.0 - max(int(live.sum()) - 2, 1) / ss) if ss > 0 else 0.0
                hist[i] = np.clip(prior + keep * (own - prior), 0.0, None)
            # the strata together, as sampled, follow the (more exact) overall histogram
            hist = _rake(hist, weight[fit_g] * present[fit_g, j], overall)
            for i, g in enumerate(fit_g):
                if hist[i].sum() > 0 and rows[g] * present[g, j] >= _STRATA_MIN_ROWS:
                    tables[g, j] = _hist_quantiles(hist[i], edges, grid)
        cat_freqs = {}
        for other in cats:
            oc = other.codes(data[other.name])
            kk = other.n_categories
            freq = np.full((n_cat + 1, kk), np.nan)
            ok = oc >= 0
            joint = np.bincount(groups[ok] * kk + oc[ok], minlength=(n_cat + 1) * kk).astype(float)
            joint = joint.reshape(n_cat + 1, kk)[fit_g] + rng.normal(0.0, sd, (len(fit_g), kk))
            overall = self._dp_freq.get(f"data/{other.name}")
            overall = np.zeros(kk) if overall is None else np.asarray(overall[:kk], float)
            share = overall / max(overall.sum(), 1e-12)
            for i in range(len(fit_g)):  # toward the overall shares, as far as noise hides it
                joint[i] = _shrink_to(joint[i], max(joint[i].sum(), 0.0) * share, sd)
            joint[:, overall <= 0] = 0.0  # a category dropped overall never comes back
            # the strata's categories together, as sampled, follow the (more exact) overall
            joint = _rake(joint, weight[fit_g], overall)
            for i, g in enumerate(fit_g):
                freq[g] = joint[i] if joint[i].sum() > 0 else np.nan
            cat_freqs[other.name] = freq
        self._strata = {"column": codec.name, "source": source, "tables": tables,
                        "present": present, "nums": [k for _, k in nums], "cats": cat_freqs,
                        "rows": np.where(fitted, rows, np.nan)}
        self._dp_spend("strata")
        self.logger.info("DP copula marginals stratified by %s column %r (%d strata)", source,
                         codec.name, int(fitted.sum()))

    def _fit_private_marginals(self, frames: dict[str, pd.DataFrame | None]) -> None:
        """Every column's marginal from three Gaussian mechanisms (each with its own share of
        the budget, _DP_SHARES).

        * counts: a row adds one to one cell of each categorical column (its category, or
          missing) and to the row count, so the L2 sensitivity is sqrt(categorical columns + 1);
          categories under four noise deviations are dropped (rare ones).
        * ranges: each number's histogram over fixed bins of asinh(value) (a row adds one to one
          bin per number with a value: sensitivity sqrt(numbers)); its range is where windows of
          2, 8 or 32 bins hold clearly more than noise (an outlier and the noise of empty
          ranges are left out), widened toward the transformer's bounds (_padded_range).
        * fine: each number's histogram over that range (_fine_edges: bins equal in asinh, as
          many as its noise allows, or one per value of a grid) and its missing cell (a row adds
          one to one of them: sensitivity sqrt(numbers)), pooled where its signal is weak
          (_denoise_counts; what the pools leave out of the noisy count of values goes next to
          the kept rows, where the ranges' histogram sees rows): its marginal and missing
          share."""
        n = len(frames["data"])
        stratum = self._private_stratum_column(n)
        numeric = [(c, s) for c, s in self._codecs() if c.kind == "numerical"]
        self._dp_plan(n, stratum)
        from synthohive_spark.privacy import dp as _dp

        rng = _dp.noise_rng()  # never the saved seed: it would let anyone regenerate the noise
        cats = [(c, s) for c, s in self._codecs() if c.kind != "numerical" and c.n_categories >= 2]
        # one more cell: the number of rows (every row adds one), the base of the missing shares
        sd = self._dp_sigmas["counts"] * np.sqrt(len(cats) + 1)
        rows = max(float(n) + rng.normal(0.0, sd), 1.0)
        self._dp_rows = rows
        floor = _DP_FLOOR * sd
        for codec, source in cats:
            codes = codec.codes(frames[source][codec.name])
            k = codec.n_categories  # the missing value's code (when there are any) included
            counts = np.bincount(codes[codes >= 0], minlength=k).astype(float)[:k]
            counts = counts + rng.normal(0.0, sd, k)
            counts[counts < floor] = 0.0
            if counts.sum() <= 0:
                counts[int(np.argmax(counts))] = 1.0
            self._dp_freq[f"{source}/{codec.name}"] = counts
        self._dp_spend("counts")
        self._dp_ranges, self._dp_fine = {}, {}
        if not numeric:
            self._quantiles = np.zeros((0, len(self._grid)))
            return
        values: dict[str, np.ndarray] = {}
        nulls: dict[str, float] = {}
        coarse: dict[str, tuple[np.ndarray, float]] = {}
        sd = self._dp_sigmas["ranges"] * np.sqrt(len(numeric))
        for codec, source in numeric:
            key = f"{source}/{codec.name}"
            vals = codec.numeric_values(frames[source][codec.name])
            null = np.isnan(vals)
            values[key] = vals[~null]
            nulls[key] = float(null.sum())
            t = np.clip(np.arcsinh(vals[~null]), _DP_EDGES[0], _DP_EDGES[-1] - 1e-9)
            counts = np.bincount(np.searchsorted(_DP_EDGES, t, "right") - 1,
                                 minlength=len(_DP_EDGES) - 1).astype(float)
            counts = counts + rng.normal(0.0, sd, len(counts))
            coarse[key] = (counts, sd)
            lo = hi = None
            for i, w in enumerate(_DP_WINDOWS):
                window = np.convolve(counts, np.ones(w), "same")
                kept = np.flatnonzero(window >= _DP_WINDOW_FLOOR * sd * np.sqrt(w))
                if len(kept):
                    # the narrowest windows' whole span (a bulk's edge bin alone may be under the
                    # floor), the wider ones' centres (their span reaches far past a tail)
                    half = w // 2 if i == 0 else 0
                    a, b = max(kept[0] - half, 0), min(kept[-1] + 1 + half, len(counts))
                    lo = a if lo is None else min(lo, a)
                    hi = b if hi is None else max(hi, b)
            a = b = None
            if lo is not None:
                a, b = float(np.sinh(_DP_EDGES[lo])), float(np.sinh(_DP_EDGES[hi]))
            self._dp_ranges[key] = self._padded_range(a, b, self._value_bounds(codec))
        self._dp_spend("ranges")
        qs = []
        sd = self._dp_sigmas["fine"] * np.sqrt(len(numeric))
        for codec, source in numeric:
            key = f"{source}/{codec.name}"
            edges = self._fine_edges(codec, key, sd)
            noisy = self._fine_hist(values[key], edges) + rng.normal(0.0, sd, len(edges) - 1)
            null = min(max(nulls[key] + rng.normal(0.0, sd), 0.0), rows)
            self._dp_present[key] = 1.0 - null / rows
            # where the pools leave rows out, the coarse histogram (asinh bins: a sparse tail
            # stands out there first) says where they go
            c_counts, c_sd = coarse[key]
            c_est = _denoise_counts(c_counts, c_sd)
            cum = np.concatenate([[0.0], np.cumsum(c_est)])
            at = np.interp(np.arcsinh(edges), _DP_EDGES, cum)
            counts = _denoise_counts(noisy, sd, total=rows - null, prior=np.diff(at))
            if counts.sum() <= 0:
                counts[len(counts) // 2] = 1.0
            counts = _extend_tails(counts, edges)
            self._dp_fine[key] = (edges, counts)  # the strata's bins and overall counts
            qs.append(_hist_quantiles(counts, edges, self._grid))
        self._dp_spend("fine")
        self._quantiles = np.asarray(qs, dtype=np.float64).reshape(len(qs), len(self._grid))
        if stratum is not None:
            self._fit_private_strata(frames, stratum[0], stratum[1], rng)

    @staticmethod
    def _padded_range(a: float | None, b: float | None,
                      bounds: tuple[float, float] | None) -> tuple[float, float]:
        """A number's DP range [a, b] (where its windows stand out of the noise; None when none
        does), widened where the noise hides a sparse tail, in asinh units (the scale of the
        windows: a spread over decades is one as much as a spread over units): on each side to
        the transformer's bound (not covered: see the privacy statement; the sampled values are
        clipped to it anyway) when that lies within _DP_RANGE_REACH widths of the range, at least
        _DP_RANGE_REACH_MIN (so an outlier far out never sets it), else by _DP_RANGE_PAD of its
        width, never past the bound; the bounds themselves when no window stood out (nothing
        else is known). The pooled histogram leaves what the widening adds empty where nothing
        stands out of its noise."""
        if a is None or b is None:
            return bounds if bounds is not None and bounds[0] < bounds[1] else (-1.0, 1.0)
        ta, tb = float(np.arcsinh(a)), float(np.arcsinh(b))
        w = max(tb - ta, 1e-12)
        reach = max(_DP_RANGE_REACH * w, _DP_RANGE_REACH_MIN)
        lo, hi = float(np.sinh(ta - _DP_RANGE_PAD * w)), float(np.sinh(tb + _DP_RANGE_PAD * w))
        if bounds is None:
            return lo, hi
        if np.arcsinh(bounds[0]) >= ta - reach:
            lo = bounds[0]
        if np.arcsinh(bounds[1]) <= tb + reach:
            hi = bounds[1]
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
        return (lo, hi) if lo < hi else (a, b)

    @staticmethod
    def _value_bounds(codec: ColumnCodec) -> tuple[float, float] | None:
        """The transformer's [min, max] of a numerical column in its modelled units (offset
        removed), or None when it has none."""
        lo, hi = getattr(codec, "min", None), getattr(codec, "max", None)
        if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
            return None
        off = float(getattr(codec, "offset", 0.0) or 0.0)
        return float(lo) - off, float(hi) - off

    def _fine_edges(self, codec: ColumnCodec, key: str, sd: float = 1.0) -> np.ndarray:
        """Bin edges of a number's DP histogram (from the range, the transformer and released
        counts: no data read). As many bins as an even spread of the (noisy) rows allows at
        _DP_BIN_SNR noise deviations ``sd`` per bin (a power of 2 in _DP_FINE_BINS), equal in
        asinh(value): a long tail (weights, prices, populations over decades) gets bins that
        widen with the value, so its rows do not thin out under the noise; on the values' grid
        (``step``, or rounded ``decimals``) a bin is whole grid points. When the range spans
        little in asinh (_DP_GRID_SPAN) and holds at most _DP_GRID_BINS grid points and
        _DP_GRID_FINER times those bins: one bin per grid point (spikes, as prices or years,
        stay exact)."""
        lo, hi = self._dp_ranges[key]
        if not hi > lo:
            hi = lo + 1.0
        rows = max(getattr(self, "_dp_rows", 1.0), 1.0)
        bins = 2 ** int(np.round(np.log2(max(rows / (_DP_BIN_SNR * max(sd, 1e-12)), 1.0))))
        bins = int(np.clip(bins, *_DP_FINE_BINS))
        step = getattr(codec, "step", None)
        decimals = getattr(codec, "decimals", None)
        unit, shift = None, 0.0
        if step:
            unit = float(step)  # sampled values are multiples of step (offset removed)
        elif decimals is not None:
            # sampled values are rounded to decimals with the offset added back
            unit, shift = 10.0 ** -int(decimals), float(getattr(codec, "offset", 0.0) or 0.0)
        span = float(np.arcsinh(hi) - np.arcsinh(lo))
        edges = np.sinh(np.linspace(np.arcsinh(lo), np.arcsinh(hi), bins + 1))
        if unit and unit > 0:
            # outward: a grid point whose bin the range reaches keeps its own bin (the values
            # beyond the range would otherwise pile on the next one)
            a = np.floor((lo + shift) / unit + 0.5 + 1e-9)
            b = np.ceil((hi + shift) / unit - 0.5 - 1e-9)
            few = 1 <= b - a + 1 <= min(_DP_GRID_BINS, _DP_GRID_FINER * bins)
            if few and span <= _DP_GRID_SPAN:
                points = np.arange(a, b + 1) * unit - shift
                return np.concatenate([points - unit / 2, [points[-1] + unit / 2]])
            # the asinh edges moved to the nearest half-way points between grid values
            k = np.clip(np.round((edges + shift) / unit - 0.5), a - 1, b)
            edges = np.unique((k + 0.5) * unit - shift)
            if len(edges) < 2:
                edges = np.array([(a - 0.5) * unit - shift, (b + 0.5) * unit - shift])
        return edges

    @staticmethod
    def _fine_hist(vals: np.ndarray, edges: np.ndarray) -> np.ndarray:
        """Counts of ``vals`` over ``edges`` (values outside the range counted at its ends)."""
        i = np.clip(np.searchsorted(edges, vals, "right") - 1, 0, len(edges) - 2)
        return np.bincount(i, minlength=len(edges) - 1).astype(float)

    def _codecs(self) -> list[tuple[ColumnCodec, str]]:
        out = []
        if self.context_transformer is not None:
            out += [(c, "context") for c in self.context_transformer.codecs]
        out += [(c, "data") for c in self.transformer.codecs]
        return out

    def _num_codecs(self) -> list[tuple[ColumnCodec, str]]:
        return [(c, s) for c, s in self._codecs() if c.kind == "numerical"]

    def _setup(self) -> None:
        """The variable list: (codec, source, role, numerical index) with role num|null|cat."""
        self._grid = np.linspace(0.0, 1.0, int(self._hp["n_quantiles"]))
        variables = []
        k = 0
        for codec, source in self._codecs():
            if codec.kind == "numerical":
                variables.append((codec, source, "num", k))
                if codec.has_null:
                    variables.append((codec, source, "null", k))
                k += 1
            elif codec.n_categories >= 2:
                variables.append((codec, source, "cat", -1))
        self._vars = variables
        self._ctx_idx = np.array([i for i, v in enumerate(variables) if v[1] == "context"], dtype=np.int64)
        self._data_idx = np.array([i for i, v in enumerate(variables) if v[1] == "data"], dtype=np.int64)

    def _order(self, codec: ColumnCodec, source: str) -> np.ndarray:
        """Category codes (the missing-value code last) in the order of their intervals."""
        order = getattr(self, "_orders", {}).get(f"{source}/{codec.name}")
        return order if order is not None else np.arange(codec.n_categories)

    def _cat_cum(self, codec: ColumnCodec, source: str) -> np.ndarray:
        freqs = getattr(self, "_dp_freq", {}).get(f"{source}/{codec.name}")
        if freqs is None:
            freqs = np.asarray(list(codec.frequencies) + ([codec.null_count] if codec.has_null
                                                          else []), float)
        freqs = freqs[self._order(codec, source)]
        return np.cumsum(freqs / freqs.sum())

    def _orders_needed(self) -> bool:
        """Whether a categorical variable has an order to learn (3+ categories and a number)."""
        return (any(v[2] == "num" for v in self._vars)
                and any(v[2] == "cat" and v[0].n_categories >= 3 for v in self._vars))

    def _fit_orders(self, frames: dict[str, pd.DataFrame], rng: np.random.Generator,
                    private: bool = False) -> None:
        """Order each categorical variable's intervals along the leading direction of its
        categories' mean numerical scores (weighted by frequency); without numerical variables,
        or with two categories, the frequency order stays. ``private``: the scores of the
        missing-value variables join the numbers' (a category that goes with missing values, as
        an animal not weighed, goes to an end), each row's score vector is clipped to L2 norm
        _DP_ORDER_CLIP, the per-category sums get Gaussian noise, one mechanism for all columns (a
        row adds its vector to one category of each: L2 sensitivity clip x sqrt(columns)), and
        the counts are the noisy marginal counts."""
        self._orders = {}
        nums = [i for i, v in enumerate(self._vars) if v[2] == "num"]
        if not nums:
            return
        if private:
            nums += [i for i, v in enumerate(self._vars) if v[2] == "null"]
        z = np.nan_to_num(self._scores(frames, np.array(nums, dtype=np.int64), rng, stratified=False))
        _, world = _nn.dist_world()
        ordered = [v for v in self._vars if v[2] == "cat" and v[0].n_categories >= 3]
        if private:
            norm = np.sqrt((z ** 2).sum(axis=1, keepdims=True))
            z = z * np.minimum(1.0, _DP_ORDER_CLIP / np.maximum(norm, 1e-12))
            sd = self._dp_sigmas["orders"] * _DP_ORDER_CLIP * np.sqrt(max(len(ordered), 1))
            from synthohive_spark.privacy import dp as _dp

            noise = _dp.noise_rng()  # never the saved seed
        for codec, source, role, _ in ordered:
            codes = codec.codes(frames[source][codec.name])
            k = codec.n_categories
            ok = codes >= 0
            counts = np.bincount(codes[ok], minlength=k).astype(float)
            sums = np.zeros((k, z.shape[1]))
            np.add.at(sums, codes[ok], z[ok])
            if private:
                sums = sums + noise.normal(0.0, sd, sums.shape)
                counts = np.clip(self._dp_freq[f"{source}/{codec.name}"][:k], 1.0, None)
            if world > 1:  # every process orders from the same totals
                import torch.distributed as dist

                t = torch.from_numpy(np.concatenate([sums.reshape(-1), counts]))
                dist.all_reduce(t)
                arr = t.numpy()
                sums, counts = arr[:-k].reshape(k, -1), arr[-k:]
            means = sums / np.maximum(counts, 1.0)[:, None]
            w = counts / max(counts.sum(), 1.0)
            between = (means * w[:, None]).T @ means
            if not np.isfinite(between).all() or np.allclose(between, 0):
                continue
            vals, vecs = np.linalg.eigh(between)
            direction = vecs[:, -1]
            if direction.sum() < 0:
                direction = -direction
            self._orders[f"{source}/{codec.name}"] = np.argsort(means @ direction, kind="stable")
        if private and ordered:
            self._dp_spend("orders")

    # ------------------------------------------------------------------ strata
    def _stratum_codec(self, name: str, source: str) -> ColumnCodec:
        for codec, src, role, _ in self._vars:
            if codec.name == name and src == source and role == "cat":
                return codec
        raise KeyError(f"stratifying column {source}/{name!r} is not a categorical copula variable")

    def _fit_strata(self, frames: dict[str, pd.DataFrame | None]) -> None:
        """Choose the stratifying column and fit its categories' quantile tables (see the module
        docstring); ``self._strata`` stays None when no column qualifies or ``stratify='none'``."""
        self._strata = None
        want = self._hp.get("stratify", "auto")
        nums = [(codec, k) for codec, source, role, k in self._vars if role == "num" and source == "data"]
        cats = [codec for codec, source, role, _ in self._vars
                if role == "cat" and source == "data" and codec.n_categories <= _STRATA_MAX_CAT_LEVELS]
        if want == "none" or not (nums or cats):
            return
        cands = [(codec, source) for codec, source, role, _ in self._vars if role == "cat"]
        if want != "auto":
            cands = [(c, s) for c, s in cands if c.name == want]
            if not cands:
                raise ValueError(f"GaussianCopula: stratify={want!r} names no categorical column of the "
                                 "data or the context with two or more categories")
        data = frames["data"]
        values = [codec.numeric_values(data[codec.name]) for codec, _ in nums]
        ranks = []
        for v in values:  # rank scores in [0, 1], NaN where missing
            r = pd.Series(v).rank(pct=True).to_numpy(dtype=np.float64)
            ranks.append(r)
        cat_codes = {c.name: c.codes(data[c.name]) for c in cats}
        best, best_score = None, -1.0
        for codec, source in cands:
            k = codec.n_categories
            if k > _STRATA_MAX_CATEGORIES and want == "auto":
                continue
            codes = codec.codes(frames[source][codec.name])
            counts = np.bincount(codes[codes >= 0], minlength=k)
            if (counts >= _STRATA_MIN_ROWS).sum() < 2:
                continue
            explained = []
            for r in ranks:
                ok = (codes >= 0) & ~np.isnan(r)
                if ok.sum() < 2:
                    continue
                c, x = codes[ok], r[ok]
                n_c = np.bincount(c, minlength=k).astype(float)
                mean_c = np.bincount(c, weights=x, minlength=k) / np.maximum(n_c, 1.0)
                total = ((x - x.mean()) ** 2).sum()
                if total > 0:
                    explained.append(float((n_c * (mean_c - x.mean()) ** 2).sum() / total))
            for other in cats:  # the categories' share of each other category's entropy
                if (other.name, "data") == (codec.name, source):
                    continue
                u = _theil_u(codes, cat_codes[other.name], k, other.n_categories)
                if u is not None:
                    explained.append(u)
            score = float(np.mean(explained)) if explained else 0.0
            if score > best_score:
                best, best_score = (codec, source, codes, counts), score
        if best is None or (want == "auto" and best_score < _STRATA_MIN_EXPLAINED):
            return
        codec, source, codes, counts = best
        n_cat = codec.n_categories
        own = counts >= _STRATA_MIN_ROWS
        groups = np.where((codes >= 0) & own[np.maximum(codes, 0)], codes, n_cat)  # the rest
        grid = np.linspace(0.0, 1.0, _STRATA_GRID)
        tables = np.full((n_cat + 1, len(nums), len(grid)), np.nan)
        present = np.full((n_cat + 1, len(nums)), np.nan)
        fitted = [g for g in range(n_cat + 1) if (groups == g).sum() >= _STRATA_MIN_ROWS]
        for g in fitted:
            rows = groups == g
            for j, v in enumerate(values):
                x = v[rows]
                x = x[~np.isnan(x)]
                present[g, j] = len(x) / rows.sum()
                if len(x) >= _STRATA_MIN_ROWS:
                    tables[g, j] = np.quantile(x, grid)
        cat_freqs = {}
        for other in cats:
            if (other.name, "data") == (codec.name, source):
                continue
            oc = cat_codes[other.name]
            freq = np.full((n_cat + 1, other.n_categories), np.nan)
            for g in fitted:
                rows = (groups == g) & (oc >= 0)
                freq[g] = np.bincount(oc[rows], minlength=other.n_categories)
            cat_freqs[other.name] = freq
        fitted_rows = np.full(n_cat + 1, np.nan)
        fitted_rows[fitted] = [float((groups == g).sum()) for g in fitted]
        self._strata = {"column": codec.name, "source": source, "tables": tables, "present": present,
                        "nums": [k for _, k in nums], "cats": cat_freqs, "rows": fitted_rows}
        self.logger.info("copula marginals stratified by %s column %r (%d categories with their own "
                         "tables; on average they explain %.0f%% of the other columns: the "
                         "numerical ranks' variance, the categories' entropy)",
                         source, codec.name, int((counts >= _STRATA_MIN_ROWS).sum()), 100 * best_score)

    def _groups(self, codes: np.ndarray) -> np.ndarray:
        """Stratifying-column codes -> stratum rows of the tables: a category with its own tables
        keeps its code; the others (rare, unseen at fit) share the last row, "the rest"."""
        fitted_rows = self._strata["rows"]
        rest = len(fitted_rows) - 1
        ok = (codes >= 0) & (codes < rest)
        ok[ok] = ~np.isnan(fitted_rows[codes[ok]])
        return np.where(ok, codes, rest)

    def _stratum_codes(self, frames: dict[str, pd.DataFrame]) -> np.ndarray | None:
        """The rows' strata (see ``_groups``), or None when the model is not stratified."""
        st = getattr(self, "_strata", None)
        if st is None or st["source"] not in frames or frames[st["source"]] is None:
            return None
        codec = self._stratum_codec(st["column"], st["source"])
        return self._groups(codec.codes(frames[st["source"]][codec.name]))

    def _stratum_lookup(self, k: int, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """For numerical variable ``k`` and the rows' strata ``codes``: (row's stratum or -1 for
        the overall marginal, tables of this variable), or None when ``k`` is not stratified."""
        st = getattr(self, "_strata", None)
        if st is None or k not in st["nums"]:
            return None
        tables = st["tables"][:, st["nums"].index(k)]
        ok = (codes >= 0) & (codes < len(tables))
        has = np.zeros(len(codes), dtype=bool)
        has[ok] = ~np.isnan(tables[codes[ok], 0])
        return np.where(has, codes, -1), tables

    def _present_share(self, codec: ColumnCodec, k: int, n: int,
                       codes: np.ndarray | None) -> np.ndarray:
        """Per row: the share of rows with a value of numerical variable ``k`` (its stratum's when
        the model is stratified and the row's category has enough rows)."""
        source = "data" if any(c is codec for c in self.transformer.codecs) else "context"
        present = getattr(self, "_dp_present", {}).get(f"{source}/{codec.name}")
        p = np.full(n, present if present is not None
                    else 1.0 - codec.null_count / max(codec.count, 1))
        st = getattr(self, "_strata", None)
        if st is not None and codes is not None and k in st["nums"]:
            shares = st["present"][:, st["nums"].index(k)]
            ok = (codes >= 0) & (codes < len(shares))
            ok[ok] = ~np.isnan(shares[codes[ok]])
            p[ok] = shares[codes[ok]]
        return p

    def _stratum_cums(self, codec: ColumnCodec, source: str,
                      s_codes: np.ndarray | None) -> dict[int, np.ndarray]:
        """Stratum code -> cumulative interval ends of categorical ``codec`` (in its global
        order) among that stratum's rows; empty when it is not stratified."""
        st = getattr(self, "_strata", None)
        if st is None or s_codes is None or source != "data" or codec.name not in st["cats"]:
            return {}
        freq = st["cats"][codec.name]
        order = self._order(codec, source)
        out = {}
        for c in np.unique(s_codes[(s_codes >= 0) & (s_codes < len(freq))]):
            f = freq[c]
            if np.isnan(f[0]) or f.sum() <= 0:
                continue
            out[int(c)] = np.cumsum(f[order] / f.sum())
        return out

    # ------------------------------------------------------------------ nesting
    def _fit_nesting(self, frames: dict[str, pd.DataFrame | None]) -> None:
        """Find the categorical data columns nested in another categorical column (see the
        module docstring) and keep their joint counts; ``self._nested`` maps a nested column to
        ``{"given", "source", "freq"}`` (freq: the given column's codes x the column's codes), in
        the order they are drawn: the given column is always drawn before."""
        self._nested = {}
        if not self._hp.get("nest", True):
            return
        st = getattr(self, "_strata", None)
        cats = [(c, s) for c, s, role, _ in self._vars if role == "cat"]
        codes = {(c.name, s): c.codes(frames[s][c.name]) for c, s in cats}

        def repeated(code: np.ndarray, k: int) -> np.ndarray:
            counts = np.bincount(code[code >= 0], minlength=k)
            return (code >= 0) & (counts[np.maximum(code, 0)] >= 2)

        reps = {key: repeated(code, c.n_categories)  # once per column, not per pair tried
                for (c, _), (key, code) in zip(cats, codes.items())}

        def determines(by_key: tuple, k_by: int, of: np.ndarray, k_of: int) -> bool:
            """Whether ``by``'s repeated values each hold one value of ``of``: on >= 99% of
            rows, or on >= 90% and on >= 75% of the rows chance leaves (the share with ``of``
            shuffled taken out)."""
            by = codes[by_key]
            ok = reps[by_key] & (of >= 0)
            if ok.sum() < max(2, 0.5 * (by >= 0).sum()):
                return False  # mostly one-off values: they would "determine" any column

            def share(o: np.ndarray) -> float:
                joint = np.bincount(by[ok] * k_of + o, minlength=k_by * k_of).reshape(k_by, k_of)
                return float(joint.max(axis=1).sum()) / float(ok.sum())

            raw = share(of[ok])
            if raw >= _NEST_MIN_PURITY or raw < _NEST_LOOSE_PURITY:
                return raw >= _NEST_MIN_PURITY
            s0 = share(np.random.default_rng(0).permutation(of[ok]))
            return s0 < 1.0 and (raw - s0) / (1.0 - s0) >= _NEST_LOOSE_BEYOND_CHANCE

        # drawing order: the stratifying column first (never nested: its categories' tables
        # hold the others), then from the fewest categories up
        ranked = sorted((c for c, s in cats if s == "data"), key=lambda c: (c.n_categories, c.name))
        if st is not None and st["source"] == "data":
            ranked = ([c for c in ranked if c.name == st["column"]]
                      + [c for c in ranked if c.name != st["column"]])
        for pos, codec in enumerate(ranked):
            k_b = codec.n_categories
            if k_b < 3:
                continue
            b = codes[(codec.name, "data")]
            # the stratifying column (drawn first) only within a context column
            earlier = [(c, "data") for c in ranked[:pos]] + [(c, s) for c, s in cats if s == "context"]
            best, best_key = None, (0.0, 0.0)
            for other, src in earlier:
                k_a = other.n_categories
                if k_a < 2 or k_a * k_b > _NEST_MAX_CELLS:
                    continue
                a = codes[(other.name, src)]
                if not (determines((codec.name, "data"), k_b, a, k_a)
                        or determines((other.name, src), k_a, b, k_b)):
                    continue
                counts = np.bincount(a[a >= 0], minlength=k_a)
                p = counts[counts > 0] / counts.sum()
                h = float(-np.sum(p * np.log(p)))
                # the column it says most about (a share of its entropy), then the finest
                key = (round(_theil_u(a, b, k_a, k_b) or 0.0, 6), h)
                if key > best_key:
                    best, best_key = (other, src), key
            loose = False
            if best is None and pos == 0 and st is not None and st["source"] == "data":
                # the stratifying column, drawn first, from its frequencies within the context
                # category that says most about it (a flight's destination within its
                # airline's), where that category has rows enough: the rest of the row follows
                # from the stratum's tables, so a correlation alone would lose the pair
                for other, src in earlier:
                    k_a = other.n_categories
                    if k_a < 2 or k_a * k_b > _NEST_MAX_CELLS:
                        continue
                    u = _theil_u(codes[(other.name, src)], b, k_a, k_b) or 0.0
                    if u >= _STRATUM_GIVEN_MIN_EXPLAINED and u > best_key[0]:
                        best, best_key, loose = (other, src), (u, 0.0), True
            if best is None:
                continue
            other, src = best
            k_a = other.n_categories
            a = codes[(other.name, src)]
            ok = (a >= 0) & (b >= 0)
            freq = np.bincount(a[ok] * k_b + b[ok], minlength=other.n_categories * k_b)
            freq = freq.reshape(other.n_categories, k_b).astype(np.float64)
            if loose:  # a category of few rows keeps the correlation's draw
                freq[freq.sum(axis=1) < _STRATA_MIN_ROWS] = 0.0
                spec = {"given": other.name, "source": src, "freq": freq}
                # within the pair of it and a second context column where the pair has rows
                # enough, when that says more (a destination by the plane's model and airline)
                u_best, second = self._backoff_u(a, None, b, k_b), None
                for other2, src2 in earlier:
                    k_2 = other2.n_categories
                    if other2 is other or k_2 < 2 or k_a * k_2 * k_b > _NEST_MAX_CELLS:
                        continue
                    u2 = self._backoff_u(a, codes[(other2.name, src2)], b, k_b, k_a, k_2)
                    if u2 >= u_best + _STRATUM_PAIR_MIN_GAIN:
                        u_best, second = u2, (other2, src2)
                if second is not None:
                    spec["given2"] = second[0].name
                    a2 = codes[(second[0].name, second[1])]
                    k_2 = second[0].n_categories
                    ok2 = ok & (a2 >= 0)
                    pair = np.bincount((a[ok2] * k_2 + a2[ok2]) * k_b + b[ok2],
                                       minlength=k_a * k_2 * k_b).reshape(k_a * k_2, k_b)
                    spec["freq2"] = pair.astype(np.float64)  # each pair's rows: see _nested_cums
                self._nested[codec.name] = spec
                self.logger.info("copula: stratifying column %r is drawn from its frequencies "
                                 "among the rows of the same %s column %r%s: %.0f%% of its entropy "
                                 "explained", codec.name, src, other.name,
                                 "" if second is None else " (within its pair with %r where the "
                                 "pair has %d rows, within %r alone where the first's category "
                                 "has fewer)" % (second[0].name, _STRATA_MIN_ROWS, second[0].name),
                                 100 * u_best)
                continue
            self._nested[codec.name] = {"given": other.name, "source": src, "freq": freq}
            self.logger.info("copula: column %r is drawn within the sampled category of %s column %r "
                             "(one of them determines the other on at least %.0f%% of rows, or on "
                             "%.0f%% and on %.0f%% of those chance leaves)",
                             codec.name, src, other.name, 100 * _NEST_MIN_PURITY,
                             100 * _NEST_LOOSE_PURITY, 100 * _NEST_LOOSE_BEYOND_CHANCE)

    @staticmethod
    def _backoff_u(a: np.ndarray, a2: np.ndarray | None, b: np.ndarray, k_b: int,
                   k_a: int = 0, k_2: int = 0) -> float:
        """The share of ``b``'s entropy explained by the cells a loose stratum draw uses: the
        (``a``, ``a2``) pairs of at least _STRATA_MIN_ROWS rows, else ``a``'s categories of as
        many, the other rows one pool (the correlation's draw)."""
        cell = a.astype(np.int64)
        if a2 is not None:
            pair = np.where((a >= 0) & (a2 >= 0), a * k_2 + a2, -1)
            cnt = np.bincount(pair[pair >= 0], minlength=k_a * k_2)
            big = (pair >= 0) & (cnt[np.maximum(pair, 0)] >= _STRATA_MIN_ROWS)
            cell = np.where(big, pair + int(a.max()) + 2, cell)
        cells, inv = np.unique(cell, return_inverse=True)
        cnt = np.bincount(inv, minlength=len(cells))
        inv = np.where(cnt[inv] >= _STRATA_MIN_ROWS, inv, len(cells))
        return float(_theil_u(inv, np.maximum(b, 0), len(cells) + 1, k_b) or 0.0)

    def _nested_cums(self, codec: ColumnCodec, given: Any):
        """For nested column ``codec`` and the rows' codes of the column it is nested in (a pair
        of codes where it is nested in two context columns, :meth:`_nested_given`): pairs (rows,
        cumulative interval ends of ``codec`` in its global order among that category's real
        rows), for each category the rows hold that has real rows (with two columns, the
        second's categories of _STRATA_MIN_ROWS rows, then the first's, then the pairs of as
        many rows: each later one takes its rows)."""
        spec = self._nested[codec.name]
        order = self._order(codec, "data")
        levels = [(given, spec["freq"])]
        if isinstance(given, tuple):
            g1, g2 = given
            k_1 = len(spec["freq"])
            k_2 = len(spec["freq2"]) // max(1, k_1)
            pair = spec["freq2"]
            alone = pair.reshape(k_1, k_2, -1).sum(axis=0)
            ok2 = (g2 >= 0) & (g2 < k_2)
            both = ok2 & (g1 >= 0) & (g1 < k_1)
            levels = [(np.where(ok2, g2, -1), alone), (g1, spec["freq"]),
                      (np.where(both, g1 * k_2 + g2, -1), pair)]
            levels = [(c, np.where(f.sum(axis=1, keepdims=True) >= _STRATA_MIN_ROWS, f, 0.0))
                      for c, f in levels]
        for codes, freq in levels:
            ok = np.flatnonzero((codes >= 0) & (codes < len(freq)))
            if not len(ok):
                continue
            by = ok[np.argsort(codes[ok], kind="stable")]
            groups, starts = np.unique(codes[by], return_index=True)
            for g, rows in zip(groups, np.split(by, starts[1:])):
                f = freq[g]
                if f.sum() > 0:
                    yield rows, np.cumsum(f[order] / f.sum())

    def _nested_given(self, name: str, frames: dict[str, pd.DataFrame]) -> Any:
        """The rows' codes of the column ``name`` is nested in (a pair of code arrays where it is
        nested in two), or None without its frame."""
        spec = self._nested[name]
        frame = frames.get(spec["source"])
        if frame is None:
            return None
        codec = self._stratum_codec(spec["given"], spec["source"])
        codes = codec.codes(frame[codec.name])
        if spec.get("given2") is None:
            return codes
        codec2 = self._stratum_codec(spec["given2"], spec["source"])
        return codes, codec2.codes(frame[codec2.name])

    def _num_scores_u(self, x: np.ndarray, k: int, rng: np.random.Generator,
                      s_codes: np.ndarray | None) -> np.ndarray:
        """Uniform scores of numerical variable ``k``: within the rows' strata (``s_codes``,
        from :meth:`_stratum_codes`) where the model has their tables, else overall."""
        u = _num_to_u(x, self._quantiles[k], self._grid, rng)
        look = self._stratum_lookup(k, s_codes) if s_codes is not None else None
        if look is not None:
            strata, tables = look
            grid = np.linspace(0.0, 1.0, tables.shape[1])
            for c in np.unique(strata[strata >= 0]):
                rows = strata == c
                u[rows] = _num_to_u(x[rows], tables[c], grid, rng)
        return u

    def _scores(self, frames: dict[str, pd.DataFrame], which: np.ndarray, rng: np.random.Generator,
                stratified: bool = True) -> np.ndarray:
        """Normal scores of the variables ``which`` for the rows of ``frames`` (with the overall
        marginals of the numerical columns when not ``stratified``)."""
        n = len(next(iter(frames.values())))
        z = np.empty((n, len(which)), dtype=np.float64)
        s_codes = self._stratum_codes(frames) if stratified else None  # once, for every variable
        for j, i in enumerate(which):
            codec, source, role, k = self._vars[i]
            series = frames[source][codec.name]
            if role == "num":
                vals = codec.numeric_values(series)
                null = np.isnan(vals)
                u = self._num_scores_u(np.where(null, 0.0, vals), k, rng,
                                       s_codes if source == "data" else None)
                u = np.where(null, rng.random(n), u)
            elif role == "null":
                null = np.isnan(codec.numeric_values(series))
                p_present = self._present_share(codec, k, n,
                                                s_codes if source == "data" else None)
                v = rng.random(n)
                u = np.where(null, p_present + v * (1 - p_present), v * p_present)
            else:
                cum = self._cat_cum(codec, source)
                codes = codec.codes(series)
                known = codes >= 0
                order = self._order(codec, source)
                position = np.empty(len(order), dtype=np.int64)
                position[order] = np.arange(len(order))
                c = np.where(known, position[np.where(known, codes, 0)], 0)
                left = np.where(c > 0, cum[np.maximum(c - 1, 0)], 0.0)
                right = cum[c]
                for sc, scum in self._stratum_cums(codec, source, s_codes).items():
                    rows = s_codes == sc
                    left[rows] = np.where(c[rows] > 0, scum[np.maximum(c[rows] - 1, 0)], 0.0)
                    right[rows] = scum[c[rows]]
                if source == "data" and codec.name in getattr(self, "_nested", {}):
                    given = self._nested_given(codec.name, frames)
                    for rows, gcum in ([] if given is None else self._nested_cums(codec, given)):
                        left[rows] = np.where(c[rows] > 0, gcum[np.maximum(c[rows] - 1, 0)], 0.0)
                        right[rows] = gcum[c[rows]]
                u = left + rng.random(n) * (right - left)
                if self._hp.get("epsilon") is not None:
                    # a real category the noisy counts dropped (overall or in its stratum) has no
                    # interval: its rows say nothing about where it lies (a point at an end would
                    # be a score of +-4.75 and make up a correlation)
                    empty = known & (right <= left)
                    u[empty] = rng.random(int(empty.sum()))
                u = np.where(known, u, 0.5)
            z[:, j] = ndtri(np.clip(u, _EPS, 1 - _EPS))
        return z

    # ------------------------------------------------------------------ train
    def _train(self, data: pd.DataFrame, context: pd.DataFrame | None) -> None:
        rank, world = _nn.dist_world()
        rng = np.random.default_rng([int(self._hp["seed"]), rank])
        frames = {"data": data.reset_index(drop=True)}
        if context is not None:
            frames["context"] = context
        p = len(self._vars)
        private = self._hp.get("epsilon") is not None
        if private and world > 1:
            raise ValueError("GaussianCopula: epsilon (differential privacy) is fitted in one "
                             "process; use numProcesses=1")
        if not private or self._orders_needed():
            self._fit_orders(frames, rng, private=private)
        z = self._scores(frames, np.arange(p), rng)
        if private:
            self._corr = self._private_correlation(z)
            self.logger.info("fit a DP Gaussian copula over %d variables on %d rows", p, len(z))
            return
        s = z.T @ z
        n = float(len(z))
        if world > 1:
            import torch.distributed as dist

            t = torch.from_numpy(np.concatenate([s.reshape(-1), [n]]))
            dist.all_reduce(t)
            arr = t.numpy()
            s, n = arr[:-1].reshape(p, p), float(arr[-1])
        cov = s / max(n, 1.0)
        d = np.sqrt(np.clip(np.diag(cov), 1e-12, None))
        corr = cov / np.outer(d, d) if p else cov
        self._corr = self._nearest_pd(corr)
        self.logger.info("fit a Gaussian copula over %d variables on %d rows", p, int(n))

    def _private_correlation(self, z: np.ndarray) -> np.ndarray:
        """The correlation matrix of the DP copula from the rows' normal scores ``z``: each score
        clipped to [-c, c] (c = _DP_SCORE_CLIP), the sums of the products z_i z_j (i < j) with
        Gaussian noise: a row changes them by sqrt(sum_{i<j} z_i^2 z_j^2) <= c^2 sqrt(p (p-1) / 2)
        (L2 sensitivity; the diagonal is not released: a score is standard normal by
        construction, so a clipped score's variance is known, and noisy diagonal sums would make
        every correlation their ratio, noisier where it is strongest). Each sum over the noisy
        row count times that variance is a correlation; one within _DP_CORR_SHRINK noise
        deviations of 0 shrinks to 0 (positive-part James-Stein: noise makes up no dependence),
        and the matrix is made positive definite by shrinking it toward the identity
        (_private_pd: no correlation grows)."""
        from synthohive_spark.privacy import dp as _dp

        p = z.shape[1]
        corr = np.eye(p)
        if "correlation" in self._dp_sigmas:
            c = _DP_SCORE_CLIP
            z = np.clip(z, -c, c)
            rng = _dp.noise_rng()  # never the saved seed
            scale = max(self._dp_rows, 1.0) * _clipped_normal_var(c)
            iu = np.triu_indices(p, 1)
            sd = self._dp_sigmas["correlation"] * c * c * np.sqrt(p * (p - 1) / 2)
            sums = (z.T @ z)[iu] + rng.normal(0.0, sd, len(iu[0]))
            self._dp_spend("correlation")
            r, sd_r = sums / scale, sd / scale
            with np.errstate(divide="ignore", invalid="ignore"):
                shrink = np.clip(1.0 - (_DP_CORR_SHRINK * sd_r / r) ** 2, 0.0, 1.0)
            r = np.clip(np.nan_to_num(r * shrink), -1.0, 1.0)
            corr[iu] = r
            corr[(iu[1], iu[0])] = r
            corr = self._private_pd(corr)
        budget = self._budget
        self.privacy = _dp.privacy_statement(
            budget,
            covered=["the marginals (noisy histograms; rare categories and values dropped)",
                     "the numbers' ranges (noisy histograms of asinh(value))",
                     "missing shares", "the correlation matrix (noisy sums of clipped scores)"]
            + (["the strata's tables (noisy per-category histograms and counts)"]
               if self._strata is not None else [])
            + (["the order of each category's interval (noisy per-category score sums)"]
               if self._orders else []),
            not_covered=["the category lists and numeric bounds of the transformers (min/max, "
                         "decimals; a number's DP range reaches to a bound near it)"],
            mechanism="Gaussian copula with Gaussian noise",
            noise_multiplier=round(min(self._dp_sigmas.values()), 6),
            noise_multipliers={m: round(v, 6) for m, v in self._dp_sigmas.items()})
        self.logger.info("DP copula: Gaussian mechanisms at noise multipliers %s: epsilon %.3f "
                         "spent of %.3f (delta %.2e)",
                         {m: round(v, 3) for m, v in self._dp_sigmas.items()}, budget.spent,
                         budget.epsilon, budget.delta)
        return corr

    @staticmethod
    def _private_pd(corr: np.ndarray) -> np.ndarray:
        """A noisy correlation matrix made positive definite without any correlation growing:
        (1 - t) C + t I with the least t that lifts its smallest eigenvalue to 1e-3 (lifting
        only the negative eigenvalues, the nearest such matrix, can push a small correlation
        up: dependence the noise made up)."""
        p = len(corr)
        w_min = float(np.linalg.eigvalsh(corr)[0]) if p else 1.0
        if w_min < 1e-3:
            t = (1e-3 - w_min) / (1.0 - w_min)
            corr = (1.0 - t) * corr + t * np.eye(p)
        return corr

    @staticmethod
    def _nearest_pd(corr: np.ndarray) -> np.ndarray:
        if corr.size == 0:
            return corr
        corr = (corr + corr.T) / 2
        w, v = np.linalg.eigh(corr)
        w = np.clip(w, 1e-6, None)
        c = (v * w) @ v.T
        d = np.sqrt(np.diag(c))
        c = c / np.outer(d, d)
        np.fill_diagonal(c, 1.0)
        return c

    # ------------------------------------------------------------------ sample
    def _sample(self, n: int, context: pd.DataFrame | None, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        B, A = self._data_idx, self._ctx_idx
        sig = self._corr
        eps = rng.standard_normal((n, len(B)))
        if context is not None and len(A):
            z_a = self._scores({"context": context}, A, rng)
            s_aa = sig[np.ix_(A, A)]
            s_ab = sig[np.ix_(A, B)]
            coef = np.linalg.solve(s_aa, s_ab)
            cov = sig[np.ix_(B, B)] - s_ab.T @ coef
            mean = z_a @ coef
        else:
            cov = sig[np.ix_(B, B)]
            mean = 0.0
        if len(B):
            cov = (cov + cov.T) / 2 + 1e-9 * np.eye(len(B))
            spread = self._spread_variable() if n >= 2 else None
            z_b = self._correlated_normals(cov, mean, eps, rng, spread)
        else:
            spread, z_b = None, np.zeros((n, 0))
        spread = None if spread is None else self._vars[B[spread]][0].name
        u_all = ndtr(z_b)
        col_of = {int(i): j for j, i in enumerate(B)}
        index = pd.RangeIndex(n)
        values: dict[str, np.ndarray] = {}
        nulls: dict[str, np.ndarray] = {}
        codes: dict[str, np.ndarray] = {}
        num_u: dict[str, tuple[np.ndarray, int]] = {}
        null_u: dict[str, tuple[np.ndarray, ColumnCodec, int]] = {}
        cat_u: dict[str, tuple[np.ndarray, ColumnCodec]] = {}
        for i in B:
            codec, _, role, k = self._vars[i]
            u = u_all[:, col_of[int(i)]]
            if role == "num":
                values[codec.name] = np.interp(u, self._grid, self._quantiles[k])
                num_u[codec.name] = (u, k)
            elif role == "null":
                null_u[codec.name] = (u, codec, k)
            else:
                cum = self._cat_cum(codec, "data")
                position = np.minimum(np.searchsorted(cum, u, "right"), len(cum) - 1)
                codes[codec.name] = self._order(codec, "data")[position]
                cat_u[codec.name] = (u, codec)
        def drawn(name: str, u_rows: np.ndarray) -> np.ndarray:
            """The spread variable's scores among some rows (a stratum, a given category)
            spread evenly again (their order kept): its categories come out at that group's
            shares too."""
            if name != spread or len(u_rows) < 2:
                return u_rows
            rank = np.empty(len(u_rows), dtype=np.int64)
            rank[np.argsort(u_rows, kind="stable")] = np.arange(len(u_rows))
            return _even_uniforms(rank, rng)

        def nest(name: str) -> None:
            """Column ``name`` drawn within its given column's sampled (or context) category."""
            spec = self._nested[name]
            u, codec = cat_u[name]
            if spec["source"] == "data":
                given = codes.get(spec["given"])
            else:
                given = None if context is None else self._nested_given(codec.name, {"context": context})
            if given is None:
                return
            order = self._order(codec, "data")
            for rows, gcum in self._nested_cums(codec, given):
                position = np.minimum(np.searchsorted(gcum, drawn(name, u[rows]), "right"),
                                      len(gcum) - 1)
                codes[codec.name][rows] = order[position]

        nested = {name: spec for name, spec in getattr(self, "_nested", {}).items()
                  if name in cat_u}
        st = getattr(self, "_strata", None)
        s_codes = None
        if st is not None:  # values, missing shares and categories from their stratum's tables
            if st["source"] == "data":
                if st["column"] in nested:  # within a context category (a route of its airline)
                    nest(st["column"])
                s_codes = codes.get(st["column"])
                s_codes = None if s_codes is None else self._groups(s_codes)
            elif context is not None:
                s_codes = self._stratum_codes({"context": context})

        for name, (u, codec) in cat_u.items():
            order = self._order(codec, "data")
            for sc, scum in self._stratum_cums(codec, "data", s_codes).items():
                rows = s_codes == sc
                position = np.minimum(np.searchsorted(scum, drawn(name, u[rows]), "right"),
                                      len(scum) - 1)
                codes[name][rows] = order[position]
        for name in nested:  # in the order they were found
            if st is None or (st["column"], st["source"]) != (name, "data"):
                nest(name)
        for name, (u, codec, k) in null_u.items():
            nulls[name] = u > self._present_share(codec, k, n, s_codes)
        if s_codes is not None:
            for name, (u, k) in num_u.items():
                look = self._stratum_lookup(k, s_codes) if s_codes is not None else None
                if look is None:
                    continue
                strata, tables = look
                grid = np.linspace(0.0, 1.0, tables.shape[1])
                for c in np.unique(strata[strata >= 0]):
                    rows = strata == c
                    values[name][rows] = np.interp(u[rows], grid, tables[c])
        cols: dict[str, pd.Series] = {}
        for codec in self.transformer.codecs:
            if codec.kind == "numerical":
                cols[codec.name] = codec.from_numeric(values[codec.name], nulls.get(codec.name), index=index)
            else:
                c = codes.get(codec.name)
                if c is None:  # constant or all-missing column
                    c = np.zeros(n, dtype=np.int64) if codec.categories else np.full(n, -1, dtype=np.int64)
                cols[codec.name] = codec.from_codes(c, index=index)
        return pd.DataFrame(cols, index=index)

    def _spread_variable(self) -> int | None:
        """The position (in the data variables) of the categorical variable of most categories,
        whose draw is spread evenly over a call's rows; None without one of two categories."""
        best, best_k = None, 1
        for j, i in enumerate(self._data_idx):
            codec, _, role, _ = self._vars[i]
            if role == "cat":
                k = int(np.count_nonzero(np.diff(self._cat_cum(codec, "data"), prepend=0.0) > 0))
                if k > best_k:
                    best, best_k = j, k
        return best

    @staticmethod
    def _correlated_normals(cov: np.ndarray, mean: np.ndarray | float, eps: np.ndarray,
                            rng: np.random.Generator, j: int | None) -> np.ndarray:
        """Normal scores of covariance `cov` around `mean` (one row per row of `eps`, whose
        independent normals drive them). Variable ``j`` (the categorical variable of most
        categories, :meth:`_spread_variable`; None: every score independent) is drawn first
        from an evenly spread standard normal (one draw in each of the call's n equal slices of
        probability, in random order), the others from their normal distribution given it:
        every row keeps its exact distribution (the slices are shuffled, so a row's score is
        a standard normal), while that column's categories come out at their shares to within
        about one row per category, where independent draws err by sqrt(n * share), which on a
        table of a few hundred rows is most of its column-shape error. Variables scored from
        numbers keep independent draws (a hypercube over all of them moved pair trends)."""
        n, d = eps.shape
        if j is None:
            w, v = np.linalg.eigh(cov)
            return mean + eps @ (v * np.sqrt(np.clip(w, 0, None))).T
        mean = np.broadcast_to(np.asarray(mean, dtype=float), (n, d))
        rest = np.array([i for i in range(d) if i != j], dtype=np.int64)
        sd_j = float(np.sqrt(cov[j, j]))
        e_j = ndtri(_even_uniforms(rng.permutation(n), rng))
        z = np.empty((n, d))
        z[:, j] = mean[:, j] + sd_j * e_j
        if len(rest):
            c_rj = cov[rest, j]
            cond = cov[np.ix_(rest, rest)] - np.outer(c_rj, c_rj) / cov[j, j]
            cond = (cond + cond.T) / 2
            w, v = np.linalg.eigh(cond)
            root = v * np.sqrt(np.clip(w, 0, None))
            z[:, rest] = (mean[:, rest] + np.outer(e_j, c_rj / sd_j)
                          + eps[:, rest] @ root.T)
        return z

    # ------------------------------------------------------------------ state
    def _tensors(self) -> dict[str, torch.Tensor]:
        t = {"quantiles": torch.from_numpy(np.ascontiguousarray(self._quantiles))}
        if self._corr is not None:
            t["correlation"] = torch.from_numpy(np.ascontiguousarray(self._corr))
        for key, order in getattr(self, "_orders", {}).items():
            t["order/" + key] = torch.from_numpy(np.ascontiguousarray(order.astype(np.int64)))
        st = getattr(self, "_strata", None)
        if st is not None:
            t["strata/tables"] = torch.from_numpy(np.ascontiguousarray(st["tables"]))
            t["strata/present"] = torch.from_numpy(np.ascontiguousarray(st["present"]))
            t["strata/rows"] = torch.from_numpy(np.ascontiguousarray(st["rows"]))
            t["strata/nums"] = torch.tensor(st["nums"], dtype=torch.int64)
            for name, freq in st["cats"].items():
                t["strata/cat/" + name] = torch.from_numpy(np.ascontiguousarray(freq))
        for name, spec in getattr(self, "_nested", {}).items():
            t["nested/" + name] = torch.from_numpy(np.ascontiguousarray(spec["freq"]))
            if spec.get("given2") is not None:
                t["nested2/" + name] = torch.from_numpy(np.ascontiguousarray(spec["freq2"]))
        for key, freq in getattr(self, "_dp_freq", {}).items():
            t["dpfreq/" + key] = torch.from_numpy(np.ascontiguousarray(freq))
        return t

    def _extra_meta(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if getattr(self, "_dp_present", None):
            out["dp_present"] = dict(self._dp_present)
        st = getattr(self, "_strata", None)
        if st is not None:
            out["strata"] = {"column": st["column"], "source": st["source"]}
        nested = getattr(self, "_nested", {})
        if nested:  # a list: the order is the drawing order
            out["nested"] = [{"column": name, "given": spec["given"], "source": spec["source"],
                              **({"given2": spec["given2"]} if spec.get("given2") else {})}
                             for name, spec in nested.items()]
        return out

    def _load_tensors(self, tensors: dict[str, torch.Tensor], extra: dict[str, Any]) -> None:
        self._setup()
        self._quantiles = tensors["quantiles"].numpy().astype(np.float64)
        corr = tensors.get("correlation")
        self._corr = corr.numpy().astype(np.float64) if corr is not None else None
        # models saved before the orders were learned keep the frequency order
        self._orders = {k[len("order/"):]: v.numpy().astype(np.int64)
                        for k, v in tensors.items() if k.startswith("order/")}
        self._dp_freq = {k[len("dpfreq/"):]: v.numpy().astype(np.float64)
                         for k, v in tensors.items() if k.startswith("dpfreq/")}
        self._dp_present = {str(k): float(v) for k, v in (extra.get("dp_present") or {}).items()}
        self._strata = None
        st = extra.get("strata")
        if st is not None:  # models saved before stratification have none
            self._strata = {"column": str(st["column"]), "source": str(st["source"]),
                            "tables": tensors["strata/tables"].numpy().astype(np.float64),
                            "present": tensors["strata/present"].numpy().astype(np.float64),
                            "rows": tensors["strata/rows"].numpy().astype(np.float64),
                            "nums": [int(v) for v in tensors["strata/nums"].tolist()],
                            "cats": {k[len("strata/cat/"):]: v.numpy().astype(np.float64)
                                     for k, v in tensors.items() if k.startswith("strata/cat/")}}
            codec = self._stratum_codec(self._strata["column"], self._strata["source"])
            shape = self._strata["tables"].shape
            if (len(shape) != 3 or shape[0] != codec.n_categories + 1
                    or self._strata["rows"].shape != (codec.n_categories + 1,)
                    or shape[1] != len(self._strata["nums"])):
                raise KeyError(f"stratum tables of shape {tuple(shape)} do not match column "
                               f"{codec.name!r} ({codec.n_categories} categories)")
        self._nested = {}
        for spec in extra.get("nested") or []:  # models saved before nesting have none
            name = str(spec["column"])
            codec = self._stratum_codec(name, "data")
            given = self._stratum_codec(str(spec["given"]), str(spec["source"]))
            freq = tensors["nested/" + str(name)].numpy().astype(np.float64)
            if freq.shape != (given.n_categories, codec.n_categories):
                raise KeyError(f"nested-category table of {name!r} has shape {tuple(freq.shape)}; "
                               f"expected ({given.n_categories}, {codec.n_categories})")
            self._nested[name] = {"given": str(spec["given"]), "source": str(spec["source"]),
                                  "freq": freq}
            if spec.get("given2"):
                given2 = self._stratum_codec(str(spec["given2"]), str(spec["source"]))
                freq2 = tensors["nested2/" + str(name)].numpy().astype(np.float64)
                if freq2.shape != (given.n_categories * given2.n_categories, codec.n_categories):
                    raise KeyError(f"nested-category table of {name!r} within "
                                   f"{spec['given2']!r} has shape {tuple(freq2.shape)}")
                self._nested[name].update(given2=str(spec["given2"]), freq2=freq2)
        expected = len(self._vars)
        if self._corr is not None and self._corr.shape != (expected, expected):
            raise KeyError(f"correlation matrix of shape {tuple(self._corr.shape)} does not match the "
                           f"{expected} copula variables")
