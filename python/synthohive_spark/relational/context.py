"""Which parent columns a child table is generated under: measured dependence, never column order.

A child row is generated under its parent's columns (its context). When a parent has more
candidate columns than a child model takes, the ones kept are those that say the most about the
child's columns: for each parent column, the strongest dependence with any child column, measured
as Cramer's V over a contingency table of both columns binned (numbers and dates in quantile bins,
categories by their most frequent values), so numbers, dates and categories compare on one scale.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

#: bins per numeric column and kept categories per categorical column when measuring dependence
DEPENDENCE_BINS = 10


def _binned(values: pd.Series, bins: int = DEPENDENCE_BINS) -> np.ndarray:
    """Integer codes of ``values``: quantile bins of numbers and dates, the most frequent
    categories (the rest share one code); missing values have a code of their own."""
    s = values
    if pd.api.types.is_datetime64_any_dtype(s):
        s = pd.Series(s.astype("int64", errors="ignore"), index=s.index).where(s.notna())
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        keys = s.astype(object).where(s.notna(), None).map(lambda v: None if v is None else str(v))
        top = keys.value_counts().index[:bins]
        codes = pd.Categorical(keys.where(keys.isin(top), "\x00other"),
                               categories=list(top) + ["\x00other"]).codes.astype(np.int64)
        return np.where(keys.isna().to_numpy(), -1, codes)
    x = pd.to_numeric(s, errors="coerce").astype(float).to_numpy()
    ok = np.isfinite(x)
    out = np.full(len(x), -1, dtype=np.int64)
    if ok.any():
        edges = np.unique(np.quantile(x[ok], np.linspace(0, 1, bins + 1)[1:-1]))
        out[ok] = np.searchsorted(edges, x[ok], side="right")
    return out


def cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramer's V of two code arrays (bias-uncorrected; 0 when either is constant)."""
    if len(a) == 0:
        return 0.0
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    r, k = int(ai.max()) + 1, int(bi.max()) + 1
    if r < 2 or k < 2:
        return 0.0
    table = np.zeros((r, k))
    np.add.at(table, (ai, bi), 1.0)
    n = table.sum()
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / np.where(expected > 0, expected, 1.0)).sum())
    return float(np.sqrt(chi2 / (n * (min(r, k) - 1))))


def dependence(child: pd.DataFrame, parent: pd.DataFrame) -> dict[str, float]:
    """For each column of ``parent`` (row-aligned with ``child``: the parent row of each child
    row), its strongest Cramer's V with any column of ``child``."""
    if len(child) != len(parent):
        raise ValueError(f"child has {len(child)} rows and parent {len(parent)}; they must be "
                         "row-aligned (the parent row of each child row)")
    child_codes = [_binned(child[c]) for c in child.columns]
    out = {}
    for p in parent.columns:
        pc = _binned(parent[p])
        out[p] = max((cramers_v(pc, cc) for cc in child_codes), default=0.0)
    return out


def rank_context(child: pd.DataFrame, parent: pd.DataFrame, limit: int) -> list[str]:
    """At most ``limit`` columns of ``parent``, the most dependent on ``child``'s first (ties in
    the parent's column order); all of them when there are no more than ``limit``."""
    cols = list(parent.columns)
    if len(cols) <= limit:
        return cols
    score = dependence(child, parent)
    ranked = sorted(cols, key=lambda c: (-score[c], cols.index(c)))
    keep = set(ranked[:limit])
    return [c for c in cols if c in keep]
