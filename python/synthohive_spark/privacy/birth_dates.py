"""A fake date of birth that agrees with its row (pandas/numpy only).

A customer or patient table keeps a birth date beside numbers its real rows compute from it: an
age at a visit (in whole years, or as days over 365.25), a birth year, a birth month, a day of the
year. The birth date is PII: never learned, faked after sampling (:mod:`.generate`); the numbers
are learned. A fake drawn apart from them says 1970 beside a 30-year-old seen in 1990.

At fit, :func:`birth_anchors` finds, with the row formulas of ``transform/row_formula.py`` on the
real rows, which of the row's learned columns the real birth date gives: spans from it to a
learned date or timestamp of the row (``span``: an age, days since birth) and its calendar parts
(``part``). Only their descriptions are kept (columns, units, decimals), never a value.

At generation, :func:`anchor_birth_dates` draws each row's fake within what its generated spans
allow (an age of 30 at a visit on 1990-05-02: born 1959-05-03 to 1960-05-02), then within the
generated birth year where that is still possible, uniformly; where a row has neither, its fake
stays the one drawn in the column's real years. The part columns are then recomputed from the
fake (a birth month learned apart from an age cannot be trusted to fit it), so every row agrees
with its birth date.
"""
from __future__ import annotations

import datetime as _dt
import logging
from typing import Any, Mapping

import numpy as np
import pandas as pd

from synthohive_spark.transform.columns import from_base
from synthohive_spark.transform.row_formula import (SPANS, RowFormula, as_floats, apply_formulas,
                                                    plan_row_formulas)

logger = logging.getLogger("synthohive_spark.privacy")

__all__ = ["birth_anchors", "anchor_birth_dates"]

#: spans a birth date's fake is drawn within (from it to a later date of its row)
_SPAN_ANCHORS = (*SPANS, *(f"whole {u}" for u in SPANS), "years", "whole years")


def _as_dates(values: pd.Series, fmt: Mapping[str, Any] | None) -> pd.Series:
    """Birth dates (dates, timestamps or text in the column's layout) as datetime64[s] values at
    their midnight, NaT where missing or unreadable."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        out = values.dt.tz_localize(None) if getattr(values.dt, "tz", None) else values
        return out.dt.normalize().astype("datetime64[s]")
    if isinstance(values.dtype, pd.ArrowDtype):
        return values.astype("datetime64[s]")
    obj = values.astype(object).where(values.notna(), None)
    if any(isinstance(v, str) for v in obj.dropna().head(20)):
        layout = (fmt or {}).get("date_format") or "%Y-%m-%d"
        parsed = pd.to_datetime(obj, format=layout, errors="coerce")
    else:
        parsed = pd.to_datetime(obj, errors="coerce")
    return pd.Series(parsed, index=values.index).dt.normalize().astype("datetime64[s]")


def birth_anchors(column: str, values: pd.Series, rows: pd.DataFrame,
                  fmt: Mapping[str, Any] | None, seed: int = 0) -> list[dict[str, Any]]:
    """The learned columns of ``rows`` (the real rows' other columns that are generated with the
    birth date: no key, no other PII, none set after sampling) that the birth date ``column``
    (real ``values``) gives in its row: spans from it to one of their dates and its calendar
    parts, as :class:`RowFormula` states (no value)."""
    if len(values) == 0 or column in rows.columns:
        return []
    frame = rows.reset_index(drop=True).copy()
    frame[column] = pd.Series(_as_dates(values.reset_index(drop=True), fmt).dt.date,
                              dtype=object).where(lambda s: s.notna(), None)
    kept = [f for f in plan_row_formulas(frame, None, seed, log=False)
            if (f.op == "span" and f.right == column and f.unit in _SPAN_ANCHORS)
            or (f.op == "part" and f.left == column)]
    return [f.to_state() for f in kept]


def _days(values: Any) -> np.ndarray:
    """datetime64 values as float days since 1970 (with the time of day), NaN for NaT."""
    arr = np.asarray(pd.Series(values).astype("datetime64[s]"), dtype="datetime64[s]")
    out = arr.astype("int64").astype("float64") / 86_400
    out[np.isnat(arr)] = np.nan
    return out


def _ymd(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Float days since 1970 of the dates (year, month, day); a day past its month's end is
    its last day (29 February of a common year: the 28th); NaN where an input is."""
    out = np.full(len(year), np.nan)
    ok = np.isfinite(year) & np.isfinite(month) & np.isfinite(day) & (year >= 1) & (year <= 9999)
    if ok.any():
        months = ((year[ok] - 1970) * 12 + month[ok] - 1).astype("int64")
        first = months.astype("datetime64[M]").astype("datetime64[D]")
        last = (months + 1).astype("datetime64[M]").astype("datetime64[D]") - first
        out[ok] = (first.astype("int64")
                   + np.minimum(day[ok].astype("int64"), last.astype("int64")) - 1)
    return out


def _parts(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day) of float days since 1970 (NaN where missing)."""
    t = pd.Series(pd.to_datetime(np.where(np.isfinite(days), days, 0), unit="D"))
    bad = ~np.isfinite(days)
    year, month, day = (t.dt.year.to_numpy(dtype=float), t.dt.month.to_numpy(dtype=float),
                        t.dt.day.to_numpy(dtype=float))
    for a in (year, month, day):
        a[bad] = np.nan
    return year, month, day


def _span_bounds(f: RowFormula, later: np.ndarray, value: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The first and last birth day (float days since 1970) that give ``value`` as ``f``'s span
    from the birth date's midnight to ``later`` (float days), NaN where an input is missing."""
    unit = str(f.unit)
    if unit in ("years", "whole years"):
        year, month, day = _parts(np.floor(later))
        born = year - value
        if unit == "years":  # the difference of their years: any day of that year
            return _ymd(born, np.ones_like(born), np.ones_like(born)), \
                _ymd(born, np.full_like(born, 12.0), np.full_like(born, 31.0))
        # the birthdays passed: after the day ``value`` + 1 years before, up to ``value`` before
        return _ymd(born - 1, month, day) + 1, _ymd(born, month, day)
    per = SPANS[unit.removeprefix("whole ")] / 86_400
    if unit.startswith("whole "):  # floor((later - born) / per) == value
        return np.floor(later - (value + 1) * per) + 1, np.floor(later - value * per)
    # as it is (an age of 30.41 years of 365.25 days): the nearest day, whose span is then
    # recomputed (a learned number is rarely a whole number of days over 365.25)
    point = np.round(later - value * per)
    return point, point


def anchor_birth_dates(values: pd.Series, anchors: list[dict[str, Any]],
                       columns: Mapping[str, Any], rng: np.random.Generator,
                       fmt: Mapping[str, Any] | None = None
                       ) -> tuple[pd.Series, dict[str, pd.Series]]:
    """Fake birth dates (``values``, as generated: dates, timestamps or text in the column's
    layout) redrawn to agree with their row (``columns``: the row's generated values) under
    ``anchors`` (:func:`birth_anchors`), and the part columns recomputed from them. Returns the
    birth dates in ``values``' own type and layout, and the recomputed columns."""
    formulas = [RowFormula.from_state(a) for a in anchors]
    n = len(values)
    fake = _days(_as_dates(values.reset_index(drop=True), fmt))
    lo, hi = np.full(n, -np.inf), np.full(n, np.inf)

    def narrow(first: np.ndarray, last: np.ndarray) -> None:
        # a bound the row's own values cannot give (missing, or none left with the earlier
        # ones: an age and a birth year the model drew apart) is left out for that row
        new_lo, new_hi = np.fmax(lo, first), np.fmin(hi, last)
        ok = np.isfinite(first) & np.isfinite(last) & (new_lo <= new_hi)
        lo[ok], hi[ok] = new_lo[ok], new_hi[ok]

    for f in formulas:
        if f.op == "span" and f.left in columns and f.column in columns:
            later = _days(_times(columns[f.left]))
            narrow(*_span_bounds(f, later, as_floats(columns[f.column])))
    for f in formulas:
        if f.op == "part" and f.unit == "year" and f.column in columns:
            year = as_floats(columns[f.column])
            narrow(_ymd(year, np.ones(n), np.ones(n)), _ymd(year, np.full(n, 12.0),
                                                            np.full(n, 31.0)))
    bounded = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(fake)
    draw = rng.random(n)
    with np.errstate(invalid="ignore"):
        fake = np.where(bounded, lo + np.floor(draw * (hi - lo + 1)), fake)
    born = pd.Series(pd.to_datetime(np.where(np.isfinite(fake), fake, 0), unit="D")
                     .astype("datetime64[s]"))
    born[~np.isfinite(fake)] = pd.NaT
    # every anchored column recomputed from the fake and its row's dates: the same value where
    # the fake was drawn within it (a whole age, a birth year), the nearest day's otherwise
    used = [f for f in formulas if f.column in columns
            and (f.op == "part" or (f.op == "span" and f.left in columns))]
    recomputed: dict[str, pd.Series] = {}
    if used:
        name = used[0].right if used[0].op == "span" else used[0].left
        frame = pd.DataFrame({name: born, **{f.left: _times(columns[f.left]).reset_index(drop=True)
                                             for f in used if f.op == "span"}})
        done = apply_formulas(frame, [RowFormula(**{**f.to_state(), "position": len(frame.columns)})
                                      for f in used])
        for f in used:
            old = as_floats(columns[f.column])
            new = as_floats(done[f.column])
            recomputed[f.column] = from_base(np.where(np.isfinite(new), new, old), f.dtype)
    return _render(born, values, fmt), recomputed


def _times(values: Any) -> pd.Series:
    """A generated date or timestamp column (dates as Python or Arrow dates) as datetime64."""
    s = pd.Series(values)
    if isinstance(s.dtype, pd.ArrowDtype) or s.dtype == object:
        return pd.to_datetime(s.astype(object).where(s.notna(), None)).astype("datetime64[s]")
    if getattr(s.dt, "tz", None) is not None:
        return s.dt.tz_localize(None)
    return s


def _render(born: pd.Series, like: pd.Series, fmt: Mapping[str, Any] | None) -> pd.Series:
    """Birth dates in the type and layout of the generated ``like`` values, missing where those
    are."""
    missing = like.isna().to_numpy() | born.isna().to_numpy()
    present = like.dropna()
    first = present.iloc[0] if len(present) else None
    if pd.api.types.is_datetime64_any_dtype(like.dtype):
        out = born.astype(like.dtype) if getattr(like.dt, "tz", None) is None else \
            born.dt.tz_localize(like.dt.tz)
    elif isinstance(first, (pd.Timestamp, _dt.datetime)):
        out = pd.Series([d if not pd.isna(d) else None for d in born], dtype=object)
    elif isinstance(first, str):
        layout = (fmt or {}).get("date_format") or "%Y-%m-%d"
        out = pd.Series([d.strftime(layout) if not pd.isna(d) else None for d in born],
                        dtype=object)
    else:
        out = pd.Series([d.date() if not pd.isna(d) else None for d in born], dtype=object)
    out = out.astype(object) if not pd.api.types.is_datetime64_any_dtype(out.dtype) else out
    out[missing] = None
    out.index = like.index
    return out
