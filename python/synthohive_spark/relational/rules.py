"""Rules between a parent table and its children, found in real data (pandas only, no Spark).

* A **copied** column: a child column equal to a column of its parent row (an invoice's billing
  country is its customer's country; an item's price is its menu pizza's price).
* A **derived** column: a parent column that aggregates its children (an order's item count, its
  total = the sum of its items' prices, or of unit price x quantity; a customer's first order
  time = the least of its orders' times, a storm's peak category = the greatest of its
  observations').
* A **relative** column: a child number that follows a number of its parent row up to a factor
  or an offset that varies much less than the number itself (an order line's price is its
  product's list price, sometimes discounted; a reading is its station's baseline plus a small
  change). It is learned as that factor or offset, beside the parent's value.

Detection looks at whole tables when they are small, and otherwise at every child of a sample of
parents (the caller picks the parents: a sum over a sample of children would be wrong). Each rule
needs evidence beyond chance: enough rows, several distinct values, and an agreement well above
what two independent columns with the same value frequencies would give.
"""
from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import pandas as pd

logger = logging.getLogger("synthohive_spark.relational.rules")

__all__ = ["CopyFinding", "DerivedFinding", "RelativeFinding", "find_copies", "find_derived",
           "find_relative", "RELATIVE_MAX_SPREAD",
           "COPY_MIN_AGREEMENT", "DERIVED_MIN_SHARE", "tolerance"]

#: a child column is copied from its parent when at least this share of its rows agree
COPY_MIN_AGREEMENT = 0.9
#: rows needed before a copy or an aggregate counts as evidence
MIN_ROWS = 30
#: a parent column is derived when the rule holds on at least this share of its rows
DERIVED_MIN_SHARE = 0.99


@dataclass
class CopyFinding:
    column: str          # the child's column
    parent_column: str   # the parent's column it repeats
    agreement: float     # real share of child rows where both are equal


@dataclass
class DerivedFinding:
    column: str               # the parent's column
    aggregate: str            # "count" | "sum" | "min" | "max"
    columns: tuple[str, ...]  # child columns summed (two: their product), or the one of min / max
    share: float              # share of parent rows where the rule holds
    part: Optional[str] = None  # "year": the year of the least or greatest datetime


@dataclass
class RelativeFinding:
    column: str          # the child's column
    parent_column: str   # the parent's column it follows
    kind: str            # "ratio" (child = parent x factor) | "offset" (child = parent + offset)
    spread: float        # the factor's (log) or offset's spread over the column's own


#: a child column is relative to a parent column when the factor's (or offset's) spread is at most
#: this share of the column's own spread (on a log scale for a factor)
RELATIVE_MAX_SPREAD = 0.2
#: the parent's value must be there (and positive, for a factor) on this share of the rows
RELATIVE_MIN_COVERAGE = 0.99


def _robust_spread(x: np.ndarray) -> float:
    """Spread of ``x`` that a few outliers do not decide: the larger of the interquartile range
    (scaled to a standard deviation) and the 5-95% range / 3.3."""
    q05, q25, q75, q95 = np.quantile(x, [0.05, 0.25, 0.75, 0.95])
    return float(max((q75 - q25) / 1.349, (q95 - q05) / 3.29))


def find_relative(joined: pd.DataFrame, child_columns: Sequence[str],
                  parent_columns: Sequence[str]) -> list[RelativeFinding]:
    """Child numbers that follow a parent number. ``joined`` holds child rows with the parent's
    columns beside them (under their names in ``parent_columns``). For each child column the
    parent column with the smallest relative spread is kept, when that spread is at most
    ``RELATIVE_MAX_SPREAD``: a factor (both positive) on a log scale, else an offset. A column
    equal to its parent's on nearly every row is a copy (:func:`find_copies`), not this."""
    out: list[RelativeFinding] = []
    if len(joined) < MIN_ROWS:
        return out
    for c in child_columns:
        a = pd.to_numeric(joined[c], errors="coerce") if joined[c].dtype.kind in "iuf" else None
        if a is None:
            continue
        x = a.to_numpy(dtype="float64")
        have = ~np.isnan(x)
        if have.sum() < MIN_ROWS or len(np.unique(x[have])) < 10:
            continue
        best: Optional[RelativeFinding] = None
        for p in parent_columns:
            if joined[p].dtype.kind not in "iuf":
                continue
            y = pd.to_numeric(joined[p], errors="coerce").to_numpy(dtype="float64")
            ok = have & ~np.isnan(y)
            if ok.sum() < RELATIVE_MIN_COVERAGE * have.sum() or len(np.unique(y[ok])) < 10:
                continue
            xs, ys = x[ok], y[ok]
            if float(np.mean(np.abs(xs - ys) <= 1e-9 * np.maximum(1.0, np.abs(ys)))) >= \
                    COPY_MIN_AGREEMENT:
                continue  # a copy
            found = []
            if (xs > 0).all() and (ys > 0).all():
                own = _robust_spread(np.log(xs))
                if own > 0:
                    found.append(("ratio", _robust_spread(np.log(xs / ys)) / own))
            own = _robust_spread(xs)
            if own > 0:
                found.append(("offset", _robust_spread(xs - ys) / own))
            for kind, spread in found:
                if spread <= RELATIVE_MAX_SPREAD and (best is None or spread < best.spread):
                    best = RelativeFinding(c, p, kind, spread)
        if best is not None:
            out.append(best)
    return out


def _equal(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Row-wise equality; two missing values are equal, numbers compare to 1e-9 relative."""
    a = a.reset_index(drop=True)
    b = b.reset_index(drop=True)
    both_null = a.isna().to_numpy() & b.isna().to_numpy()
    an = pd.to_numeric(a, errors="coerce") if a.dtype.kind in "iufb" else None
    bn = pd.to_numeric(b, errors="coerce") if b.dtype.kind in "iufb" else None
    if an is not None and bn is not None:
        x, y = an.to_numpy(dtype="float64"), bn.to_numpy(dtype="float64")
        with np.errstate(invalid="ignore"):
            eq = np.abs(x - y) <= 1e-9 * np.maximum(1.0, np.abs(y))
        return (eq & ~np.isnan(x) & ~np.isnan(y)) | both_null
    eq = (a.astype(object).astype(str).to_numpy() == b.astype(object).astype(str).to_numpy())
    return (eq & ~a.isna().to_numpy() & ~b.isna().to_numpy()) | both_null


def _chance(a: pd.Series, b: pd.Series) -> float:
    """Agreement two independent columns with these value frequencies would show."""
    pa = a.astype(str).value_counts(normalize=True)
    pb = b.astype(str).value_counts(normalize=True)
    common = pa.index.intersection(pb.index)
    return float((pa[common] * pb[common]).sum())


def _holds_dates(s: pd.Series) -> bool:
    """Whether an object column holds dates (python ``date`` objects: Spark's DateType)."""
    if s.dtype != object:
        return False
    head = s.dropna().iloc[:50]
    return len(head) > 0 and all(isinstance(v, datetime.date) for v in head)


def _family(s: pd.Series) -> str:
    kind = s.dtype.kind
    if kind in "iuf":
        return "number"
    if kind == "b":
        return "bool"
    if kind == "M" or _holds_dates(s):
        return "time"
    return "other"


def find_copies(joined: pd.DataFrame, child_columns: Sequence[str],
                parent_columns: Sequence[str], parent_prefix: str) -> list[CopyFinding]:
    """Child columns that repeat a parent column. ``joined`` holds child rows that have a parent,
    with the parent's columns beside them under ``parent_prefix + name``. For each child column
    the best parent column is kept (highest agreement, then the closer name)."""
    out: list[CopyFinding] = []
    if len(joined) < MIN_ROWS:
        return out
    for c in child_columns:
        a = joined[c]
        if a.nunique(dropna=True) < 2:
            continue  # a constant agrees with any constant by chance
        best: Optional[tuple] = None
        for p in parent_columns:
            b = joined[parent_prefix + p]
            if _family(a) != _family(b) or b.nunique(dropna=True) < 2:
                continue
            agree = float(_equal(a, b).mean())
            if agree < COPY_MIN_AGREEMENT:
                continue
            chance = _chance(a, b)
            if agree - chance < 0.5 * (1.0 - chance):
                continue  # not far enough above what chance would give
            name_hint = int(c.lower().endswith(p.lower()) or p.lower().endswith(c.lower()))
            key = (round(agree, 6), name_hint)
            if best is None or key > best[0]:
                best = (key, CopyFinding(c, p, agree))
        if best is not None:
            out.append(best[1])
    return out


def _round_to(values: np.ndarray, decimals: Optional[int]) -> np.ndarray:
    return values if decimals is None else np.round(values, decimals)


def tolerance(decimals: Optional[int]) -> float:
    """How far a parent's value may lie from its children's aggregate rounded to ``decimals``
    (half a unit of the last decimal; 1e-6 when the column has no fixed decimals)."""
    return 0.5 * 10.0 ** (-decimals) if decimals is not None else 1e-6


def _holds(parent_values: np.ndarray, derived: np.ndarray, decimals: Optional[int]) -> np.ndarray:
    tol = tolerance(decimals)
    with np.errstate(invalid="ignore"):
        return np.abs(parent_values - _round_to(derived, decimals)) <= tol + 1e-9 * np.abs(derived)


def as_numbers(s: pd.Series) -> np.ndarray:
    """A column as float64 (missing: NaN): datetimes as seconds since the epoch (in UTC), dates
    as their midnight's."""
    if _holds_dates(s):
        s = pd.to_datetime(s)
    if s.dtype.kind == "M":
        since = s - pd.Timestamp("1970-01-01", tz=getattr(s.dt, "tz", None))
        return (since / pd.Timedelta(seconds=1)).to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def aggregate_children(children: pd.DataFrame, fk: str, columns: Sequence[str],
                       pairs: Sequence[tuple[str, str]] = (),
                       extremes: Sequence[str] = ()) -> pd.DataFrame:
    """Per parent key: ``__count`` of children, ``__sum/<c>`` of each column, ``__sum/<a>*<b>``
    of each pair's product, and ``__min/<c>``, ``__max/<c>`` of each of ``extremes`` (NaN where
    a parent's children have none; datetimes as seconds)."""
    data = {"__key": children[fk], "__count": np.ones(len(children))}
    for c in columns:
        data[f"__sum/{c}"] = as_numbers(children[c])
    for a, b in pairs:
        data[f"__sum/{a}*{b}"] = as_numbers(children[a]) * as_numbers(children[b])
    frame = pd.DataFrame(data)
    for c in extremes:
        frame[f"__x/{c}"] = as_numbers(children[c])
    frame = frame[frame["__key"].notna()]
    groups = frame.groupby("__key", sort=False)
    out = groups[[k for k in data if k != "__key"]].sum(min_count=0)
    for c in extremes:
        out[f"__min/{c}"] = groups[f"__x/{c}"].min()
        out[f"__max/{c}"] = groups[f"__x/{c}"].max()
    return out


def find_derived(parents: pd.DataFrame, pk: str, parent_columns: Sequence[str],
                 decimals: dict[str, Optional[int]], children: pd.DataFrame, fk: str,
                 child_columns: Sequence[str],
                 extremes: Optional[Sequence[str]] = None) -> list[DerivedFinding]:
    """Parent columns (numbers) that equal the count of their children, the sum of one child
    column or the sum of the product of two, and parent numbers or datetimes that equal the
    least or greatest value of one child column of their kind, and parent numbers that are the
    year of the least datetime of one child column (a storm's year, that of its first
    observation). ``children`` holds every child of the parents given (a parent without children
    counts 0 and sums 0; a least or greatest value is judged on the parents that have one;
    ``extremes``: the child columns whose least or greatest value is tried, by default all). The
    simplest rule that holds wins."""
    out: list[DerivedFinding] = []
    if len(parents) < MIN_ROWS or not parent_columns:
        return out
    times = [c for c in child_columns if _family(children[c]) == "time"]
    numbers = [c for c in child_columns if c not in times]
    pairs = [(a, b) for i, a in enumerate(numbers) for b in numbers[i + 1:]]
    extremes = list(child_columns if extremes is None else extremes)
    agg = aggregate_children(children, fk, numbers, pairs, extremes)
    agg = agg.reindex(parents[pk].to_numpy())
    n_children = agg["__count"].fillna(0.0).to_numpy()
    if np.all(n_children == n_children[0]):
        return out  # one child per parent everywhere: any copy would look like a sum
    for col in parent_columns:
        values = as_numbers(parents[col])
        ok = ~np.isnan(values)
        if ok.sum() < MIN_ROWS or np.unique(values[ok]).size < 3:
            continue
        # (aggregate, child columns, part of its value)
        if _family(parents[col]) == "time":
            candidates = [(a, (c,), None) for c in times if c in extremes for a in ("min", "max")]
        else:
            candidates = [("count", (), None)] + [("sum", (c,), None) for c in numbers] \
                + [("sum", p, None) for p in pairs] \
                + [(a, (c,), None) for c in numbers if c in extremes for a in ("max", "min")] \
                + [("min", (c,), "year") for c in times if c in extremes]
        for aggregate, cols, part in candidates:
            if aggregate in ("min", "max"):
                derived = agg[f"__{aggregate}/{cols[0]}"].to_numpy()
                if part == "year":
                    derived = _years(derived)
                have = ok & ~np.isnan(derived)
                if have.sum() < MIN_ROWS or have.sum() < 0.5 * ok.sum():
                    continue
                if np.all(n_children[have] <= 1):
                    continue  # one child each: the least and the greatest are a copy
                share = float(_holds(values[have], derived[have], decimals.get(col)).mean())
            else:
                key = "__count" if aggregate == "count" else "__sum/" + "*".join(cols)
                derived = agg[key].fillna(0.0).to_numpy()
                share = float(_holds(values[ok], derived[ok], decimals.get(col)).mean())
            if share >= DERIVED_MIN_SHARE:
                out.append(DerivedFinding(col, aggregate, tuple(cols), share, part))
                break
    return out


def _years(seconds: np.ndarray) -> np.ndarray:
    """The calendar years of datetimes given as seconds since the epoch (NaN stays NaN)."""
    out = np.full(len(seconds), np.nan)
    ok = ~np.isnan(seconds)
    out[ok] = pd.to_datetime(seconds[ok], unit="s").year.to_numpy(dtype="float64")
    return out
