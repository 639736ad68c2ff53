"""Columns that are a sum, difference, product or ratio of two others of their row: computed, not
learned (pandas/numpy only).

An order line's amount is its price times its quantity, a total is a subtotal plus tax, a
density is a population over an area, a balance is a credit minus a debit. A model that learns such a
column as a column of its own draws rows whose amount is not their price times their quantity:
the totals do not add up. When every real row (all but :data:`MAX_MISS` of them) has
``c == a op b`` to ``c``'s own precision, ``c`` is left out of what the model learns and computed
after sampling from the generated ``a`` and ``b``, rounded to its real decimals, in its dtype.

Which columns (:func:`plan_row_formulas`): numbers learned as such (no sdtype but numerical),
taking more than one value, and not ``overridden`` (a column the relational rules set after
sampling: a price copied from the parent's, a total of the children's, which a formula computed
before them would contradict), read on at most :data:`_MAX_ROWS` rows; ``op`` one of ``+``, ``-``,
``*``, ``/`` (sums and products first, later columns first; ``a * b**-2`` is not searched),
``a`` and ``b`` learned columns or computed ones (a total of a computed amount and a tax), never
computed from ``c``, ``b`` not a neutral constant (0 for ``+``/``-``, 1 for ``*``/
``/``: a copy is no formula); ``c`` has a value exactly where ``a`` and ``b`` both have one; the
rule holds on at least :data:`MIN_ROWS` rows and not with ``b``'s values shuffled (chance).

Numbers of a date or timestamp of their row are computed the same way (``op`` ``part`` or
``span``, with a ``unit``): a calendar part of one (an order's year, month, quarter, day of week,
hour: :data:`PARTS`), or the time between two (a stay's nights, a trip's seconds, an age in whole
years at the visit: :data:`SPANS`, each as it is or in whole units), where a row of a warehouse
table that says March beside a February date contradicts itself. The same tests hold (to the
column's decimals, present exactly where the inputs are, not with the date's values shuffled);
numbers kept as categories (a month with twelve values) count here, dates and timestamps as they
are typed (a date held as text is text), both of a span with a time zone or both without.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from synthohive_spark.transform.columns import (TransformError, describe_dtype, float_decimals,
                                                from_base, to_base)
from synthohive_spark.transform.row_order import _MAX_ROWS, _NUMBERS, MIN_ROWS, _candidates

logger = logging.getLogger("synthohive_spark.transform")

__all__ = ["RowFormula", "plan_row_formulas", "drop_formulas", "apply_formulas",
           "with_formula_columns", "MIN_ROWS", "MAX_MISS", "PARTS", "SPANS"]

#: share of rows (with all three values) allowed to break the rule (a corrected invoice line)
MAX_MISS = 0.01
#: columns looked at (triples grow with the cube) and rows scanned for candidates (then every
#: row read, as for the row orders: MIN_ROWS, _MAX_ROWS, _NUMBERS)
_MAX_COLUMNS = 24
_SCAN_ROWS = 2_000
_OPS = {"*": np.multiply, "+": np.add, "-": np.subtract, "/": np.divide}
_NEUTRAL = {"*": 1.0, "/": 1.0, "+": 0.0, "-": 0.0}
#: a date's or timestamp's calendar parts a column may hold: ``weekday`` 0 (Monday) to 6,
#: ``isoweekday`` 1 (Monday) to 7, ``dayofweek`` 1 (Sunday) to 7 (SQL's), ``week`` ISO's
PARTS = ("year", "quarter", "month", "day", "dayofyear", "week", "weekday", "isoweekday",
         "dayofweek", "hour", "minute", "second")
#: the time between two, in seconds per unit (each also in whole units, rounded down; an age
#: as days over 365.25 or 365), and in calendar years: ``years`` the difference of their years,
#: ``whole years`` the birthdays passed (an age)
SPANS = {"seconds": 1, "minutes": 60, "hours": 3_600, "days": 86_400, "weeks": 604_800,
         "years of 365.25 days": 31_557_600, "years of 365 days": 31_536_000}
_SPAN_UNITS = (*SPANS, "years", "whole years", *(f"whole {u}" for u in SPANS))
_TIMES = ("datetime", "date")
#: dates and timestamps whose spans are looked at (pairs grow with the square)
_MAX_SPANS = 16


@dataclass
class RowFormula:
    """``column`` = ``left`` ``op`` ``right`` in every row, at ``position`` among the columns."""

    column: str
    op: str
    left: str
    right: str
    dtype: dict[str, Any]        # the column's (describe_dtype)
    position: int                # its place among the user's columns
    decimals: int | None = None  # its real decimals, to round the computed value
    agreement: float = 1.0       # share of real rows (with all three values) where it holds
    #: ``op`` ``part`` (of ``left``; ``right`` empty) or ``span`` (``left`` - ``right``): the
    #: part of PARTS, the unit of the span; None for the four operations of numbers
    unit: str | None = None

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "RowFormula":
        return cls(**state)

    def describe(self) -> str:
        if self.op == "part":
            return f"{self.column} = {self.unit}({self.left})"
        if self.op == "span":
            return f"{self.column} = {self.unit} from {self.right} to {self.left}"
        return f"{self.column} = {self.left} {self.op} {self.right}"


def _numbers(frame: pd.DataFrame, rows: np.ndarray, specs: dict[str, Any]
             ) -> dict[str, tuple[dict[str, Any], np.ndarray]]:
    """name -> (dtype, float values of ``rows``) of the columns learned as numbers (the row
    orders' candidates that are numbers), at most _MAX_COLUMNS."""
    out = {}
    for name, info, base, _ in _candidates(frame, rows, specs, False):
        if (info["family"] in _NUMBERS and len(out) < _MAX_COLUMNS
                and not (specs.get(name) or {}).get("overridden")):
            out[name] = (info, base.astype("float64"))
    return out


def _holds(c: np.ndarray, pred: np.ndarray, decimals: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(rows where c has a value, rows among those where pred gives c to c's precision: half
    its last decimal, or a relative 1e-9 when it has more than six). A row where c has a value
    and pred none (a ratio over zero) breaks the rule: 0/1 columns are not each other's
    ratios where their denominator is 1 alone."""
    both = np.isfinite(c)
    tol = (0.5 * 10.0 ** -decimals if decimals is not None else 0.0) + 1e-9 * np.abs(c)
    with np.errstate(invalid="ignore"):
        ok = both & np.isfinite(pred) & (np.abs(pred - c) <= tol + 1e-12)
    return both, ok


def _agreement(cv: np.ndarray, pred: np.ndarray, chance: np.ndarray, inputs: np.ndarray,
               decimals: int | None) -> float | None:
    """The share of rows where ``pred`` gives ``cv``, or None when the rule fails: fewer than
    MIN_ROWS rows, more than MAX_MISS of them off, ``cv`` with a value where an input has none
    (or none where they all have one), or ``chance`` (the rule with an input's values shuffled)
    holding as well."""
    both, ok = _holds(cv, pred, decimals)
    n_both = int(both.sum())
    if (n_both < MIN_ROWS or ok.sum() < (1 - MAX_MISS) * n_both
            or (np.isfinite(cv) != inputs).mean() > MAX_MISS):
        return None
    if _holds(cv, chance, decimals)[1].sum() >= 0.5 * n_both:
        return None  # holds with an input's values shuffled: says nothing
    return round(float(ok.sum()) / n_both, 6)


def _verify(c: str, op: str, a: str, b: str, nums: dict[str, tuple[dict[str, Any], np.ndarray]],
            decimals: int | None, perm: np.ndarray) -> float | None:
    """:func:`_agreement` of ``c == a op b`` on every row read (``b`` shuffled for chance)."""
    cv, av, bv = nums[c][1], nums[a][1], nums[b][1]
    fn = _OPS[op]
    with np.errstate(all="ignore"):
        pred, chance = fn(av, bv), fn(av, bv[perm])
    return _agreement(cv, pred, chance, np.isfinite(av) & np.isfinite(bv), decimals)


def as_floats(values: Any) -> np.ndarray:
    """Values as a float64 array, missing ones (None, NA, NaT) as NaN."""
    return pd.Series(values).to_numpy(dtype="float64", na_value=np.nan)


def _as_times(series: pd.Series, info: dict[str, Any]) -> pd.Series:
    """A date or timestamp column as datetime64 values (a date at its midnight, a timestamp
    with its time zone: its parts are local)."""
    if info["family"] == "datetime":
        return series
    days = to_base(series, info)
    out = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[s]")
    ok = np.isfinite(days)
    out[ok] = days[ok].astype(np.int64).astype("datetime64[D]")
    return pd.Series(out, index=series.index)


def _time_value(op: str, unit: str, a: pd.Series, b: pd.Series | None) -> np.ndarray:
    """The number ``op`` (``part`` of ``a``, ``span`` from ``b`` to ``a``) in ``unit`` of
    datetime64 Series, NaN where an input is missing."""
    if op == "part":
        dt = a.dt
        if unit == "week":
            return as_floats(dt.isocalendar().week)
        if unit in ("weekday", "isoweekday", "dayofweek"):
            day = as_floats(dt.day_of_week)  # Monday 0
            return {"weekday": day, "isoweekday": day + 1, "dayofweek": (day + 1) % 7 + 1}[unit]
        return as_floats(dt.day_of_year if unit == "dayofyear" else getattr(dt, unit))
    assert b is not None
    if unit in ("years", "whole years"):
        years = as_floats(a.dt.year) - as_floats(b.dt.year)
        if unit == "whole years":  # one less where the later date's day of the year is earlier
            with np.errstate(invalid="ignore"):
                years -= (as_floats(a.dt.month * 100 + a.dt.day)
                          < as_floats(b.dt.month * 100 + b.dt.day))
        return years
    span = as_floats((a - b).dt.total_seconds()) / SPANS[unit.removeprefix("whole ")]
    return np.floor(span) if unit.startswith("whole ") else span


def _time_formulas(a: str, info_a: dict[str, Any],
                   times: dict[str, tuple[dict[str, Any], pd.Series]]
                   ) -> list[tuple[str, str, str, str]]:
    """(op, left, right, unit) of the numbers ``a`` gives: its parts (a date's without a clock),
    then its spans from every other with a time zone where it has one (among the first
    _MAX_SPANS)."""
    out = [("part", a, "", part) for part in PARTS
           if not (info_a["family"] == "date" and part in ("hour", "minute", "second"))]
    spanned = list(times)[:_MAX_SPANS]
    for b, (info_b, _) in times.items():
        if (b != a and a in spanned and b in spanned
                and (info_a.get("tz") is None) == (info_b.get("tz") is None)):
            out.extend(("span", a, b, unit) for unit in _SPAN_UNITS)
    return out


def _times_and_targets(data: pd.DataFrame, rows: np.ndarray, specs: dict[str, Any]
                       ) -> tuple[dict[str, tuple[dict[str, Any], pd.Series]],
                                  dict[str, tuple[dict[str, Any], np.ndarray]]]:
    """The dates and timestamps learned as such, as datetime64 Series of ``rows``, and the
    numbers (learned as numbers or as categories: a month of twelve values) a part or a span of
    them may give, as float values of ``rows``; neither set after sampling (``overridden``)."""
    times: dict[str, tuple[dict[str, Any], pd.Series]] = {}
    for name, info, _, _ in _candidates(data, rows, specs, False):
        if info["family"] in _TIMES and not (specs.get(name) or {}).get("overridden"):
            times[name] = (info, _as_times(data[name].iloc[rows], info).reset_index(drop=True))
    targets: dict[str, tuple[dict[str, Any], np.ndarray]] = {}
    if not times:
        return times, targets
    for name in data.columns:
        spec = specs.get(name) or {}
        if (spec.get("sdtype") not in (None, "numerical", "categorical") or spec.get("overridden")
                or len(targets) >= 4 * _MAX_COLUMNS):
            continue
        part = data[name].iloc[rows]
        try:
            info = describe_dtype(name, part)
        except TransformError:
            continue
        if info["family"] not in _NUMBERS:
            continue
        base = to_base(part, info)
        fin = base[np.isfinite(base)]
        if len(fin) >= MIN_ROWS and len(np.unique(fin)) > 1:
            targets[name] = (info, base)
    return times, targets


def _grid(names: list[str], nums: dict[str, tuple[dict[str, Any], np.ndarray]],
          decimals: dict[str, int | None], scan: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``scan`` rows' values of the columns (rows x columns), where they have one, and each
    value's tolerance (half its column's last decimal)."""
    values = np.stack([nums[n][1][scan] for n in names], axis=1)
    tol = np.stack([(0.5 * 10.0 ** -decimals[n] if decimals[n] is not None else 0.0)
                    + 1e-9 * np.abs(values[:, j]) + 1e-12 for j, n in enumerate(names)], axis=1)
    return values, np.isfinite(values), tol


def _matching(pred: np.ndarray, grid: tuple[np.ndarray, np.ndarray, np.ndarray], need: int
              ) -> np.ndarray:
    """The grid's columns that ``pred`` gives on the scan rows (all but MAX_MISS of at least
    ``need``), all compared at once."""
    values, present, tol = grid
    with np.errstate(invalid="ignore"):
        ok = present & (np.abs(pred[:, None] - values) <= tol)
    n_both, n_ok = present.sum(axis=0), ok.sum(axis=0)
    return np.flatnonzero((n_both >= need) & (n_ok >= (1 - MAX_MISS) * n_both))


def _scan(ops: tuple[str, ...], names: list[str],
          nums: dict[str, tuple[dict[str, Any], np.ndarray]], decimals: dict[str, int | None],
          scan: np.ndarray) -> dict[str, list[tuple[str, str, str]]]:
    """Per column, the (op, a, b) whose result gives it on the ``scan`` rows, in search order:
    each pair's result compared with every column at once."""
    grid = _grid(names, nums, decimals, scan)
    values, present = grid[0], grid[1]
    need = min(MIN_ROWS, len(scan))
    found: dict[str, list[tuple[str, str, str]]] = {n: [] for n in names}
    for op in ops:
        fn = _OPS[op]
        for i, a in enumerate(names):
            for j in (range(i + 1, len(names)) if op in "*+" else range(len(names))):
                b = names[j]
                if j == i:
                    continue
                fb = values[:, j][present[:, j]]
                if len(fb) and (fb == _NEUTRAL[op]).mean() > 0.95:
                    continue  # the result is (as good as) a copy of a, not a formula
                with np.errstate(all="ignore"):
                    pred = fn(values[:, i], values[:, j])
                for k in _matching(pred, grid, need):
                    if k not in (i, j):
                        found[names[k]].append((op, a, b))
    return found


def _plan_times(data: pd.DataFrame, rows: np.ndarray, specs: dict[str, Any], scan: np.ndarray,
                perm: np.ndarray, taken: set[str]) -> list[RowFormula]:
    """The numbers (not in ``taken``) that a part or a span of the dates and timestamps of
    their row gives (see the module docstring): found on the ``scan`` rows, every feature
    compared with every number at once, then verified on every row read."""
    times, targets = _times_and_targets(data, rows, specs)
    names = [n for n in targets if n not in taken]
    if not times or not names:
        return []
    decimals = {c: _decimals(c, targets[c][1], specs) for c in names}
    grid = _grid(names, targets, decimals, scan)
    need = min(MIN_ROWS, len(scan))
    found: dict[str, list[tuple[str, str, str, str]]] = {n: [] for n in names}
    features = [f for a, (info, _) in times.items() for f in _time_formulas(a, info, times)]
    scanned = {a: t.iloc[scan].reset_index(drop=True) for a, (_, t) in times.items()}
    for op, a, b, unit in features:
        with np.errstate(all="ignore"):
            pred = _time_value(op, unit, scanned[a], scanned.get(b))
        for k in _matching(pred, grid, need):
            found[names[k]].append((op, a, b, unit))
    position = {c: i for i, c in enumerate(data.columns)}
    out = []
    for c in names:
        for op, a, b, unit in found[c]:
            ta, tb = times[a][1], times[b][1] if b else None
            inputs = ta.notna().to_numpy() & (tb.notna().to_numpy() if tb is not None else True)
            with np.errstate(all="ignore"):
                pred = _time_value(op, unit, ta, tb)
                chance = _time_value(op, unit, ta.iloc[perm].reset_index(drop=True), tb)
            agreement = _agreement(targets[c][1], pred, chance, inputs, decimals[c])
            if agreement is not None:
                out.append(RowFormula(c, op, a, b, targets[c][0], position[c], decimals[c],
                                      agreement, unit))
                break
    return out


def _decimals(c: str, values: np.ndarray, specs: dict[str, Any]) -> int | None:
    """A number's decimals: its spec's, else the fewest that write its values."""
    d = (specs.get(c) or {}).get("decimals")
    return int(d) if d is not None else float_decimals(values[np.isfinite(values)][:10_000])


def plan_row_formulas(data: pd.DataFrame, specs: dict[str, Any] | None, seed: int,
                      log: bool = True) -> list[RowFormula]:
    """The columns of ``data`` to compute from two others of their row (see the module
    docstring), in column order (logged unless ``log`` is false: a caller that only reads
    them)."""
    specs = specs or {}
    rng = np.random.default_rng([int(seed), 47])
    rows = np.arange(len(data))
    if len(data) > _MAX_ROWS:
        rows = np.sort(rng.choice(len(data), _MAX_ROWS, replace=False))
    nums = _numbers(data, rows, specs)
    scan = np.arange(len(rows)) if len(rows) <= _SCAN_ROWS else np.sort(
        rng.choice(len(rows), _SCAN_ROWS, replace=False))
    perm = rng.permutation(len(rows))
    names = list(nums) if len(nums) >= 3 else []
    position = {c: i for i, c in enumerate(data.columns)}
    decimals = {c: _decimals(c, nums[c][1], specs) for c in names}
    targets: dict[str, RowFormula] = {}

    def computed_from(x: str, y: str) -> bool:
        f = targets.get(x)
        return f is not None and (y in (f.left, f.right) or computed_from(f.left, y)
                                  or computed_from(f.right, y))

    # sums and products first, over every column, then differences and ratios (an amount is
    # price * quantity, though the price is also the amount / quantity to its cent); within
    # each, the later columns first (a net after its total and discount is the difference,
    # not the discount); a formula's input may be computed itself (a total of a computed
    # amount), never from the column it gives
    for ops in (("*", "+"), ("-", "/")) if names else ():
        candidates = _scan(ops, names, nums, decimals, scan)
        for c in reversed(names):
            if c in targets:
                continue
            for op, a, b in candidates[c]:
                if computed_from(a, c) or computed_from(b, c):
                    continue
                agreement = _verify(c, op, a, b, nums, decimals[c], perm)
                if agreement is not None:
                    targets[c] = RowFormula(c, op, a, b, nums[c][0], position[c], decimals[c],
                                            agreement)
                    break
    # then the numbers of a date or timestamp of their row (never an input of the above: a
    # computed column is a number, and these compute from dates)
    for f in _plan_times(data, rows, specs, scan, perm, set(targets)):
        targets[f.column] = f
    out = sorted(targets.values(), key=lambda f: f.position)
    for f in out if log else ():
        logger.info("column %r is %s in %.1f%% of its rows; computed from them, not learned",
                    f.column, f.describe().split(" = ", 1)[1], 100 * f.agreement)
    return out


def drop_formulas(data: pd.DataFrame, formulas: list[RowFormula]) -> pd.DataFrame:
    """``data`` without the computed columns (what the model learns)."""
    if not formulas:
        return data
    return data.drop(columns=[f.column for f in formulas if f.column in data.columns])


def apply_formulas(frame: pd.DataFrame, formulas: list[RowFormula]) -> pd.DataFrame:
    """Generated rows with each computed column put back at its place: ``left op right`` of the
    row, rounded to its real decimals, in its dtype (missing where an input is, or where the
    ratio divides by zero)."""
    if not formulas:
        return frame
    out = frame.copy(deep=False)
    pending = sorted(formulas, key=lambda f: f.position)
    while pending:  # a total of an amount that is itself computed: the amount first
        later = {f.column for f in pending}
        f = next(f for f in pending if f.left not in later and f.right not in later)
        pending.remove(f)
        with np.errstate(all="ignore"):
            if f.unit is not None:
                value = _time_value(f.op, f.unit, _times_of(out, f.left),
                                    _times_of(out, f.right) if f.right else None)
            else:
                value = _OPS[f.op](np.asarray(out[f.left], dtype="float64"),
                                   np.asarray(out[f.right], dtype="float64"))
        value = np.where(np.isfinite(value), value, np.nan)
        if f.decimals is not None:
            value = np.round(value, f.decimals)
        if f.dtype["family"] == "int":
            # a column without missing values in its real rows, whose inputs were never
            # missing there either: a ratio over a generated zero is the one way to none
            value = np.nan_to_num(value, nan=0.0)
        series = from_base(value, f.dtype, index=frame.index, name=f.column)
        if f.column in out.columns:
            out[f.column] = series
        else:
            out.insert(min(f.position, len(out.columns)), f.column, series)
    return out


def _times_of(frame: pd.DataFrame, name: str) -> pd.Series:
    """A generated date or timestamp column as datetime64 values (dates come Arrow-backed from
    the codecs for Spark's writer: ``from_base(arrow=True)``)."""
    series = frame[name]
    if isinstance(series.dtype, pd.ArrowDtype) and str(series.dtype).startswith("date"):
        return series.astype("datetime64[s]")
    return _as_times(series, describe_dtype(name, series))


def with_formula_columns(columns: list[str], formulas: list[RowFormula]) -> list[str]:
    """The user's columns, in order, from the columns a model learns and the computed ones."""
    out = list(columns)
    for f in sorted(formulas, key=lambda f: f.position):
        if f.column not in out:
            out.insert(min(f.position, len(out)), f.column)
    return out
