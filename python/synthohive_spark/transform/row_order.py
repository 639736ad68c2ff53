"""Columns that never come before another of their row: learned as the gap (pandas/numpy only).

A row whose end comes before its start, whose shipping date precedes its order date, whose
hire date precedes the birth date or whose low is above its high contradicts itself. A model that
learns both columns apart and their dependence through a correlation draws such rows whenever the
gap is small against the columns' spread: measured on real tables with start and end dates
(``polls_us_election_2016`` of dslabs, ``breaches`` of Ecdat), 25% and 35% of the copula's rows. When
every real row keeps ``b >= a``, ``b`` is learned as ``b - a`` (the gap, never below the real
smallest) and joined back after sampling as ``a + gap``, within ``b``'s real range (or at ``a``, where ``a``
is past it): no synthetic row contradicts itself, and the gap's own distribution (same-day shipping, a poll's length) is
learned as a column.

Which pairs (:func:`plan_row_orders`): two columns of the same kind (numbers; or timestamps of one
unit and time zone; or dates; learned as such: no sdtype but numerical or datetime), where ``b`` has a
value only where ``a`` has one, ``b >= a`` in every row where both have values (at least
``MIN_ROWS``), ``b > a`` in at least ``MIN_STRICT`` of them, and the order says something:
``b >= a`` holds in at most ``MAX_CHANCE`` of the rows when the values of ``a`` are shuffled (two
columns whose ranges barely overlap are ordered by their marginals already). Each column is learned
over at most one other: the one whose gap is narrowest against the column's own spread; chains
(start <= first shipment <= delivery) are joined in order.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from synthohive_spark.transform.columns import (TransformError, describe_dtype, float_decimals,
                                                from_base, to_base)

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
_DAY = 86_400


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

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "RowOrder":
        return cls(**state)


def _group(info: dict[str, Any]) -> tuple | None:
    """Columns that can be ordered against each other share a group."""
    fam = info["family"]
    if fam in _NUMBERS:
        return ("number",)
    if fam == "datetime":
        return ("datetime", info["unit"], info.get("tz"))
    if fam == "date":
        return ("date",)
    return None


def plan_row_orders(data: pd.DataFrame, specs: dict[str, Any] | None, seed: int) -> list[RowOrder]:
    """The columns of ``data`` to learn as a gap over another (see the module docstring)."""
    specs = specs or {}
    rng = np.random.default_rng([int(seed), 43])
    rows = data
    if len(data) > _MAX_ROWS:
        rows = data.iloc[np.sort(rng.choice(len(data), _MAX_ROWS, replace=False))]
    cands: list[tuple[str, dict[str, Any], tuple, np.ndarray]] = []
    for name in data.columns:
        spec = specs.get(name) or {}
        if spec.get("sdtype") not in (None, "numerical", "datetime"):
            continue
        try:
            info = describe_dtype(name, rows[name])
        except TransformError:  # a column the codecs refuse: theirs to report
            continue
        group = _group(info)
        if group is None:
            continue
        base = to_base(rows[name], info)
        if np.isfinite(base).sum() >= MIN_ROWS and len(np.unique(base[np.isfinite(base)])) > 1:
            cands.append((name, info, group, base))
        if len(cands) >= _MAX_COLUMNS:
            break
    perm = rng.permutation(len(rows))
    best: dict[str, tuple[float, RowOrder]] = {}
    for name_b, info_b, group_b, b in cands:
        present_b = np.isfinite(b)
        fb = b[present_b]
        spread = float(np.subtract(*np.quantile(fb, [0.9, 0.1]))) or float(np.ptp(fb)) or 1.0
        for name_a, info_a, group_a, a in cands:
            if name_a == name_b or group_a != group_b:
                continue
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
                                                *_bounds(data[name_b], info_b, specs.get(name_b))))
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


def _gap_series(gap: np.ndarray, info: dict[str, Any], index: pd.Index) -> pd.Series:
    """A gap in the column's base units as a Series a codec learns with the right step: a
    duration for timestamps and dates, a float for numbers (NaN: missing)."""
    fam = info["family"]
    if fam in ("datetime", "date"):
        unit = info["unit"] if fam == "datetime" else "s"
        scale = 1 if fam == "datetime" else _DAY
        ints = np.where(np.isnan(gap), 0, np.rint(gap * scale)).astype(np.int64)
        ints[np.isnan(gap)] = np.iinfo(np.int64).min
        return pd.Series(ints.view(f"timedelta64[{unit}]"), index=index)
    return pd.Series(gap, index=index, dtype=np.float64)


def _gap_base(series: pd.Series, info: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`_gap_series`: the gap in the column's base units."""
    fam = info["family"]
    if fam in ("datetime", "date"):
        unit = info["unit"] if fam == "datetime" else "s"
        out = to_base(series, {"family": "timedelta", "unit": unit})
        return out / _DAY if fam == "date" else out
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def to_gaps(data: pd.DataFrame, orders: list[RowOrder]) -> pd.DataFrame:
    """``data`` with each ordered column's values replaced by its gap over its column before."""
    if not orders:
        return data
    out = data.copy(deep=False)
    for r in orders:
        gap = to_base(data[r.column], r.dtype) - to_base(data[r.after], r.after_dtype)
        if r.decimals is not None:
            gap = np.round(gap, r.decimals)
        out[r.column] = _gap_series(gap, r.dtype, data.index)
    return out


def from_gaps(frame: pd.DataFrame, orders: list[RowOrder]) -> pd.DataFrame:
    """Inverse of :func:`to_gaps` on generated rows: each ordered column as its column before
    plus its gap (in chain order), within its real range, in its own dtype."""
    if not orders:
        return frame
    out = frame.copy(deep=False)
    pending = list(orders)
    gapped = {r.column for r in orders}
    while pending:
        ready = [r for r in pending if r.after not in gapped]
        for r in ready:
            after = to_base(out[r.after], r.after_dtype)
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
