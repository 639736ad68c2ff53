"""Columns that never come before another of their row: learned as the gap (pandas/numpy only).

A row whose end comes before its start, whose shipping date precedes its order date, whose hire
date precedes the birth date or whose low is above its high contradicts itself. A model that learns
both columns apart and their dependence through a correlation draws such rows whenever the gap is
small against the columns' spread: measured on real tables with start and end dates
(``polls_us_election_2016`` of dslabs, ``breaches`` of Ecdat), 25% and 35% of the copula's rows.
When every real row keeps ``b >= a``, ``b`` is learned as ``b - a`` (the gap, never below the real
smallest) and joined back after sampling as ``a + gap``, within ``b``'s real range (or at ``a``,
where ``a`` is past it): no synthetic row contradicts itself, and the gap's own distribution
(same-day shipping, a poll's length) is learned as a column.

Which pairs (:func:`plan_row_orders`): two columns that can be ordered against each other (numbers;
timestamps, both with a time zone or both without; dates; a timestamp without one after a date, at
its midnight; learned as such: no sdtype but numerical or datetime), the earlier one of the data or
of its context (the parent's row: an order after its customer signed up), where ``b`` has a value
only where ``a`` has one, ``b >= a`` in every row where both have values (at least ``MIN_ROWS``),
``b > a`` in at least ``MIN_STRICT`` of them, and the order says something: ``b >= a`` holds in at
most ``MAX_CHANCE`` of the rows when the values of ``a`` are shuffled (two columns whose ranges
barely overlap are ordered by their marginals already). Each column is learned over at most one
other: the one whose gap is narrowest against the column's own spread; chains (start <= first
shipment <= delivery) are joined in order.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from synthohive_spark.transform.columns import (TransformError, describe_dtype, float_decimals,
                                                from_base, to_base, units_per_day)

logger = logging.getLogger("synthohive_spark.transform")

__all__ = ["RowOrder", "plan_row_orders", "to_gaps", "from_gaps", "MIN_ROWS", "MIN_STRICT",
           "MAX_CHANCE"]

MIN_ROWS = 30
MIN_STRICT = 0.05
MAX_CHANCE = 0.95
#: columns looked at (pairs grow with the square) and rows read to find the pairs
_MAX_COLUMNS = 64
_MAX_ROWS = 50_000
_NUMBERS = ("int", "float", "nullable_int", "nullable_float")


@dataclass
class RowOrder:
    """``column`` (never below ``after`` in its row) learned as its gap over ``after``."""

    column: str
    after: str
    dtype: dict[str, Any]        # the column's and the other's (describe_dtype)
    after_dtype: dict[str, Any]
    lo: float                    # its real range, in its base units
    hi: float
    decimals: int | None = None  # a number's, to round the joined value
    in_context: bool = False     # ``after`` is a context column (the parent's): a row's condition

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "RowOrder":
        return cls(**state)


def _scale(info_a: dict[str, Any], info_b: dict[str, Any]) -> float | None:
    """The factor that puts ``a``'s base values in ``b``'s base units, or None when the two
    cannot be ordered against each other: numbers with numbers; timestamps with timestamps (both
    with a time zone or both without), a timestamp without one after a date (at its midnight),
    dates with dates."""
    fa, fb = info_a["family"], info_b["family"]
    if fa in _NUMBERS and fb in _NUMBERS:
        return 1.0
    if fb == "date":
        return 1.0 if fa == "date" else None
    if fb != "datetime":
        return None
    per_day = units_per_day(info_b["unit"])
    if fa == "date":
        return float(per_day) if per_day and info_b.get("tz") is None else None
    if fa != "datetime" or (info_a.get("tz") is None) != (info_b.get("tz") is None):
        return None
    per_day_a = units_per_day(info_a["unit"])
    return per_day / per_day_a if per_day and per_day_a else None


def _candidates(frame: pd.DataFrame, rows: np.ndarray, specs: dict[str, Any],
                in_context: bool) -> list[tuple[str, dict[str, Any], np.ndarray, bool]]:
    """(name, dtype, base values of ``rows``, in context) of the columns that can be ordered."""
    out = []
    for name in frame.columns:
        spec = specs.get(name) or {}
        if spec.get("sdtype") not in (None, "numerical", "datetime"):
            continue
        part = frame[name].iloc[rows]
        try:
            info = describe_dtype(name, part)
        except TransformError:  # a column the codecs refuse: theirs to report
            continue
        if info["family"] not in (*_NUMBERS, "datetime", "date"):
            continue
        base = to_base(part, info)
        if np.isfinite(base).sum() >= MIN_ROWS and len(np.unique(base[np.isfinite(base)])) > 1:
            out.append((name, info, base, in_context))
        if len(out) >= _MAX_COLUMNS:
            break
    return out


def plan_row_orders(data: pd.DataFrame, specs: dict[str, Any] | None, seed: int,
                    context: pd.DataFrame | None = None) -> list[RowOrder]:
    """The columns of ``data`` to learn as a gap over another of ``data`` or of its row-aligned
    ``context`` (see the module docstring)."""
    specs = specs or {}
    rng = np.random.default_rng([int(seed), 43])
    rows = np.arange(len(data))
    if len(data) > _MAX_ROWS:
        rows = np.sort(rng.choice(len(data), _MAX_ROWS, replace=False))
    cands = _candidates(data, rows, specs, False)
    befores = cands + ([] if context is None else _candidates(context, rows, {}, True))
    perm = rng.permutation(len(rows))
    best: dict[str, tuple[float, RowOrder]] = {}
    for name_b, info_b, b, _ in cands:
        present_b = np.isfinite(b)
        fb = b[present_b]
        spread = float(np.subtract(*np.quantile(fb, [0.9, 0.1]))) or float(np.ptp(fb)) or 1.0
        for name_a, info_a, a, in_context in befores:
            scale = _scale(info_a, info_b)
            if (name_a == name_b and not in_context) or scale is None:
                continue
            a = a * scale
            present_a = np.isfinite(a)
            if (present_b & ~present_a).any():
                continue  # b has a value where a has none: no gap to learn there
            both = present_a & present_b
            if both.sum() < MIN_ROWS:
                continue
            gap = b[both] - a[both]
            if (gap < 0).any() or (gap > 0).mean() < MIN_STRICT:
                continue
            shuffled = a[perm]
            ok = present_b & np.isfinite(shuffled)
            if ok.sum() and (b[ok] >= shuffled[ok]).mean() > MAX_CHANCE:
                continue  # ordered by the columns' ranges alone
            width = float(np.median(gap)) / spread
            if name_b not in best or width < best[name_b][0]:
                best[name_b] = (width, RowOrder(name_b, name_a, info_b, info_a,
                                                *_bounds(data[name_b], info_b, specs.get(name_b)),
                                                in_context=in_context))
    out = [best[n][1] for n in data.columns if n in best]
    for r in out:
        logger.info("column %r: never before %r in its row; learned as the gap over it", r.column,
                    r.after)
    return out


def _bounds(series: pd.Series, info: dict[str, Any], spec: dict[str, Any] | None
            ) -> tuple[float, float, int | None]:
    """The joined column's range and decimals: its spec's where given (the codec would have
    kept those), else the real ones."""
    spec = spec or {}
    base = to_base(series, info)
    lo = float(spec["min"]) if spec.get("min") is not None else float(np.nanmin(base))
    hi = float(spec["max"]) if spec.get("max") is not None else float(np.nanmax(base))
    decimals = spec.get("decimals")
    if decimals is None and info["family"] in ("float", "nullable_float"):
        decimals = float_decimals(base[np.isfinite(base)][:10_000])
    return lo, hi, None if decimals is None else int(decimals)


def _gap_dtype(info: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """How a column's gap is learned, and its base units per the column's: a duration of the
    timestamp's unit, of seconds for dates (a codec steps it by whole days), a float for numbers."""
    fam = info["family"]
    if fam == "datetime":
        return {"family": "timedelta", "unit": info["unit"]}, 1
    if fam == "date":
        return {"family": "timedelta", "unit": "s"}, units_per_day("s")
    return {"family": "float", "dtype": "float64"}, 1


def _gap_series(gap: np.ndarray, info: dict[str, Any], index: pd.Index) -> pd.Series:
    """A gap in the column's base units as the Series a codec learns (NaN: missing)."""
    dtype, scale = _gap_dtype(info)
    return from_base(gap * scale, dtype, index=index)


def _gap_base(series: pd.Series, info: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`_gap_series`: the gap in the column's base units."""
    dtype, scale = _gap_dtype(info)
    return to_base(series, dtype) / scale


def _after(r: RowOrder, frame: pd.DataFrame, context: pd.DataFrame | None) -> np.ndarray:
    """The values ``r.column`` never comes before, in its base units."""
    if r.in_context:
        if context is None or r.after not in context.columns:
            raise ValueError(f"column {r.column!r} is learned as its gap after the context column "
                             f"{r.after!r}; the context lacks it")
        series = context[r.after]
    else:
        series = frame[r.after]
    return to_base(series, r.after_dtype) * _scale(r.after_dtype, r.dtype)


def to_gaps(data: pd.DataFrame, orders: list[RowOrder],
            context: pd.DataFrame | None = None) -> pd.DataFrame:
    """``data`` with each ordered column's values replaced by its gap over its column before."""
    if not orders:
        return data
    out = data.copy(deep=False)
    for r in orders:
        gap = to_base(data[r.column], r.dtype) - _after(r, data, context)
        if r.decimals is not None:
            gap = np.round(gap, r.decimals)
        out[r.column] = _gap_series(gap, r.dtype, data.index)
    return out


def from_gaps(frame: pd.DataFrame, orders: list[RowOrder],
              context: pd.DataFrame | None = None) -> pd.DataFrame:
    """Inverse of :func:`to_gaps` on generated rows (``context``: their condition rows): each
    ordered column as its column before plus its gap (in chain order), within its real range, in
    its own dtype."""
    if not orders:
        return frame
    out = frame.copy(deep=False)
    pending = list(orders)
    gapped = {r.column for r in orders}
    while pending:
        ready = [r for r in pending if r.in_context or r.after not in gapped]
        for r in ready:
            after = _after(r, out, context)
            missing = np.isnan(after)
            if r.in_context and missing.any():
                # a parent generated without the value its children never come before (a
                # member's first visit), though every real child had one: the gap is taken from
                # a typical parent's, the median of the others' (the row keeps its value)
                have = after[~missing]
                after = np.where(missing, np.median(have) if len(have) else r.lo, after)
            base = after + _gap_base(out[r.column], r.dtype)
            # within the real range, unless the row's other value is past it (the real rows
            # there had no value: an end where a late start had none yet); the order wins
            base = np.fmax(np.clip(base, r.lo, r.hi), np.where(np.isnan(base), np.nan, after))
            if r.decimals is not None:
                base = np.round(base, r.decimals)
            out[r.column] = from_base(base, r.dtype, index=frame.index, name=r.column)
            gapped.discard(r.column)
        pending = [r for r in pending if r not in ready]
        if not ready:
            raise ValueError(f"row orders form a cycle: {[(r.after, r.column) for r in pending]}")
    return out
