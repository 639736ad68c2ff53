"""``model="auto"``: the model a table gets, picked by a quick held-out score on its training sample.

The Gaussian copula fits in seconds and, measured on real databases (benchmarks/README.md:
ratdat, pizzaplace, nycflights13), matched or beat CTGAN and TVAE trained for minutes on every real
table tried; a neural model can still win where the copula cannot represent the data (rings,
clusters, many interacting categories). So:

1. A table with fewer than ``TRIAL_MIN_ROWS`` rows gets the copula: too few rows for a neural model.
2. Otherwise up to ``TRIAL_ROWS`` rows are split into a training part and a held-out quarter. The
   copula is fit on the training part and scored against the held-out rows (:func:`holdout_score`:
   column shapes and column-pair trends on binned values, SDMetrics-like); the training part scored
   against the held-out rows is the ceiling, what a perfect model would score at that sample size.
   A copula within ``CEILING_GAP`` of the ceiling is kept.
3. Else TVAE trains on the same part for ``TRIAL_STEPS`` optimizer steps and is scored the same
   way; it is taken only when it beats the copula by ``MARGIN``, and then trains on the whole sample
   for at most ``FINAL_STEPS`` steps (``epochs`` stays an upper bound).

Everything is seeded: the same data and seed give the same choice. Pure pandas/numpy (+ the models).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

CHALLENGER = "tvae"  #: the neural model tried against the copula
TRIAL_MIN_ROWS = 3_000
TRIAL_ROWS = 12_000
CEILING_GAP = 0.03
MARGIN = 0.02
TRIAL_STEPS = 600
FINAL_STEPS = 6_000
_BINS = 10
_TOP = 20
_MAX_PAIRS = 40


@dataclass
class Choice:
    """The model picked for a table, its hyperparameters and why (for the fit log and the state)."""

    model: str
    hyperparams: dict[str, Any]
    why: str
    scores: dict[str, float] = field(default_factory=dict)


def _binned(real: pd.Series, other: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Both series as bin codes of ``real``'s bins: deciles of a numeric (or datetime) column with
    many values, else its ``_TOP`` most frequent values plus "other"; missing values a bin of
    their own."""
    def numeric(s: pd.Series) -> np.ndarray | None:
        if pd.api.types.is_bool_dtype(s):
            return None
        if s.dtype.kind in "mM":  # datetimes (with a time zone too) and durations: nanoseconds
            v = s.to_numpy(dtype="datetime64[ns]" if s.dtype.kind == "M" else "timedelta64[ns]")
            out = v.view("int64").astype(np.float64)
            out[np.isnat(v)] = np.nan
            return out
        if pd.api.types.is_numeric_dtype(s):
            return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return None

    r, o = numeric(real), numeric(other)
    if r is not None and o is not None and len(np.unique(r[~np.isnan(r)])) > _BINS:
        edges = np.unique(np.quantile(r[~np.isnan(r)], np.linspace(0, 1, _BINS + 1)[1:-1]))
        k = len(edges) + 1

        def code(v: np.ndarray) -> np.ndarray:
            return np.where(np.isnan(v), k, np.searchsorted(edges, np.nan_to_num(v), "right"))
        return code(r), code(o), k + 1
    rs, os_ = real.astype("string"), other.astype("string")
    top = rs.value_counts().index[:_TOP]
    index = pd.Index(top)

    def code_s(s: pd.Series) -> np.ndarray:
        c = index.get_indexer(s.fillna(pd.NA)).astype(np.int64)
        c[c < 0] = len(top)
        c[s.isna().to_numpy()] = len(top) + 1
        return c
    return code_s(rs), code_s(os_), len(top) + 2


def _tvd_score(a: np.ndarray, b: np.ndarray, k: int) -> float:
    pa = np.bincount(a, minlength=k) / max(len(a), 1)
    pb = np.bincount(b, minlength=k) / max(len(b), 1)
    return 1.0 - 0.5 * float(np.abs(pa - pb).sum())


def holdout_score(holdout: pd.DataFrame, synthetic: pd.DataFrame, seed: int = 0) -> float:
    """How alike two samples of a table are, in [0, 1]: the mean of the column shapes (1 - total
    variation distance of each column's binned values) and of the pair trends (the same on the
    joint bins of up to ``_MAX_PAIRS`` column pairs, drawn with ``seed``)."""
    cols = list(holdout.columns)
    if not cols:
        return 1.0
    binned = {c: _binned(holdout[c], synthetic[c]) for c in cols}
    shapes = [_tvd_score(a, b, k) for a, b, k in binned.values()]
    pairs = [(i, j) for i in range(len(cols)) for j in range(i + 1, len(cols))]
    if len(pairs) > _MAX_PAIRS:
        pick = np.random.default_rng(seed).choice(len(pairs), _MAX_PAIRS, replace=False)
        pairs = [pairs[p] for p in sorted(pick)]
    trends = []
    for i, j in pairs:
        a1, b1, k1 = binned[cols[i]]
        a2, b2, k2 = binned[cols[j]]
        trends.append(_tvd_score(a1 * k2 + a2, b1 * k2 + b2, k1 * k2))
    return float(np.mean(shapes)) if not trends else float((np.mean(shapes) + np.mean(trends)) / 2)


def _steps_to_epochs(rows: int, batch_size: int, steps: int) -> int:
    return max(1, math.ceil(steps / max(math.ceil(rows / max(batch_size, 1)), 1)))


def choose_model(data: pd.DataFrame, context: pd.DataFrame | None, *, seed: int, epochs: int,
                 batch_size: int, column_specs: dict[str, Any] | None = None,
                 device: str | None = None, log: Any = None) -> Choice:
    """The model for a table's training sample ``data`` (``context``: its condition columns);
    see the module docstring. ``epochs`` and ``batch_size`` are the user's (upper bounds)."""
    from synthohive_spark.models import create_model

    n = len(data)
    base = {"seed": int(seed), "column_specs": column_specs}
    if device is not None:
        base["device"] = device
    copula = ("gaussian_copula", dict(base))
    if n < TRIAL_MIN_ROWS or data.shape[1] == 0:
        return Choice(*copula, f"auto: {n} rows (< {TRIAL_MIN_ROWS}): too few for a neural model; "
                               "the copula matched or beat CTGAN/TVAE on every small real table measured")
    rng = np.random.default_rng([int(seed), 17])
    rows = rng.permutation(n)[:min(n, TRIAL_ROWS)]
    cut = int(len(rows) * 0.75)
    fit_rows, held_rows = np.sort(rows[:cut]), np.sort(rows[cut:])
    train = data.iloc[fit_rows].reset_index(drop=True)
    held = data.iloc[held_rows].reset_index(drop=True)
    ctx_train = None if context is None else context.iloc[fit_rows].reset_index(drop=True)
    ctx_held = None if context is None else context.iloc[held_rows].reset_index(drop=True)
    draw = train.sample(n=len(held), replace=len(held) > len(train), random_state=int(seed) % 2**32)
    ceiling = holdout_score(held, draw.reset_index(drop=True), seed)

    def trial(name: str, hyper: dict[str, Any]) -> tuple[float, float]:
        t0 = time.perf_counter()
        m = create_model(name, **hyper).fit(train, context=ctx_train)
        fake = m.sample(len(held), context=ctx_held, seed=int(seed) + 1)
        return holdout_score(held, fake, seed), time.perf_counter() - t0

    s_cop, t_cop = trial(*copula)
    scores = {"ceiling": ceiling, "gaussian_copula": s_cop}
    if s_cop >= ceiling - CEILING_GAP:
        return Choice(*copula, f"auto: held-out score {s_cop:.3f}, within {CEILING_GAP} of the "
                               f"{ceiling:.3f} a perfect model scores on {len(held)} rows", scores)
    other = CHALLENGER
    trial_epochs = min(int(epochs), _steps_to_epochs(len(train), batch_size, TRIAL_STEPS))
    s_net, t_net = trial(other, {**base, "epochs": trial_epochs, "batch_size": int(batch_size)})
    scores[other] = s_net
    if log is not None:
        log.info("auto: held-out scores copula %.3f (%.1f s), %s %.3f (%d epochs, %.1f s), "
                 "ceiling %.3f", s_cop, t_cop, other, s_net, trial_epochs, t_net, ceiling)
    if s_net < s_cop + MARGIN:
        return Choice(*copula, f"auto: held-out score copula {s_cop:.3f} vs {other} {s_net:.3f} "
                               f"(ceiling {ceiling:.3f}): {other} is not {MARGIN} better", scores)
    final_epochs = min(int(epochs), _steps_to_epochs(n, batch_size, FINAL_STEPS))
    return Choice(other, {**base, "epochs": final_epochs, "batch_size": int(batch_size)},
                  f"auto: held-out score {other} {s_net:.3f} vs copula {s_cop:.3f} (ceiling "
                  f"{ceiling:.3f}); {other} trains {final_epochs} epochs (at most {FINAL_STEPS} "
                  "steps)", scores)
