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
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from synthohive_spark.transform.columns import float_decimals, from_base
from synthohive_spark.transform.row_order import _MAX_ROWS, _NUMBERS, MIN_ROWS, _candidates

logger = logging.getLogger("synthohive_spark.transform")

__all__ = ["RowFormula", "plan_row_formulas", "drop_formulas", "apply_formulas",
           "with_formula_columns", "MIN_ROWS", "MAX_MISS"]

#: share of rows (with all three values) allowed to break the rule (a corrected invoice line)
MAX_MISS = 0.01
#: columns looked at (triples grow with the cube) and rows scanned for candidates (then every
#: row read, as for the row orders: MIN_ROWS, _MAX_ROWS, _NUMBERS)
_MAX_COLUMNS = 24
_SCAN_ROWS = 2_000
_OPS = {"*": np.multiply, "+": np.add, "-": np.subtract, "/": np.divide}
_NEUTRAL = {"*": 1.0, "/": 1.0, "+": 0.0, "-": 0.0}


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

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "RowFormula":
        return cls(**state)

    def describe(self) -> str:
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


def _verify(c: str, op: str, a: str, b: str, nums: dict[str, tuple[dict[str, Any], np.ndarray]],
            decimals: int | None, perm: np.ndarray) -> float | None:
    """The share of rows where ``c == a op b`` on every row read, or None when the rule fails
    there: fewer than MIN_ROWS rows, more than MAX_MISS of them off, ``c`` with a value where
    ``a`` or ``b`` has none (or none where both have one), or the rule holding by chance."""
    cv, av, bv = nums[c][1], nums[a][1], nums[b][1]
    fn = _OPS[op]
    with np.errstate(all="ignore"):
        both, ok = _holds(cv, fn(av, bv), decimals)
    n_both = int(both.sum())
    inputs = np.isfinite(av) & np.isfinite(bv)
    if (n_both < MIN_ROWS or ok.sum() < (1 - MAX_MISS) * n_both
            or (np.isfinite(cv) != inputs).mean() > MAX_MISS):
        return None
    with np.errstate(all="ignore"):
        chance = _holds(cv, fn(av, bv[perm]), decimals)[1].sum()
    if chance >= 0.5 * n_both:
        return None  # holds with b's values shuffled: says nothing
    return round(float(ok.sum()) / n_both, 6)


def _scan(ops: tuple[str, ...], names: list[str],
          nums: dict[str, tuple[dict[str, Any], np.ndarray]], decimals: dict[str, int | None],
          scan: np.ndarray) -> dict[str, list[tuple[str, str, str]]]:
    """Per column, the (op, a, b) whose result gives it on the ``scan`` rows, in search order:
    each pair's result compared with every column at once."""
    values = np.stack([nums[n][1][scan] for n in names], axis=1)          # rows x columns
    present = np.isfinite(values)
    tol = np.stack([(0.5 * 10.0 ** -decimals[n] if decimals[n] is not None else 0.0)
                    + 1e-9 * np.abs(values[:, j]) + 1e-12 for j, n in enumerate(names)], axis=1)
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
                with np.errstate(invalid="ignore"):
                    ok = present & (np.abs(pred[:, None] - values) <= tol)
                n_both, n_ok = present.sum(axis=0), ok.sum(axis=0)
                for k in np.flatnonzero((n_both >= need) & (n_ok >= (1 - MAX_MISS) * n_both)):
                    if k not in (i, j):
                        found[names[k]].append((op, a, b))
    return found


def plan_row_formulas(data: pd.DataFrame, specs: dict[str, Any] | None, seed: int
                      ) -> list[RowFormula]:
    """The columns of ``data`` to compute from two others of their row (see the module
    docstring), in column order."""
    specs = specs or {}
    rng = np.random.default_rng([int(seed), 47])
    rows = np.arange(len(data))
    if len(data) > _MAX_ROWS:
        rows = np.sort(rng.choice(len(data), _MAX_ROWS, replace=False))
    nums = _numbers(data, rows, specs)
    if len(nums) < 3:
        return []
    scan = np.arange(len(rows)) if len(rows) <= _SCAN_ROWS else np.sort(
        rng.choice(len(rows), _SCAN_ROWS, replace=False))
    perm = rng.permutation(len(rows))
    names = list(nums)
    position = {c: i for i, c in enumerate(data.columns)}
    decimals: dict[str, int | None] = {}
    for c in names:
        d = (specs.get(c) or {}).get("decimals")
        cv = nums[c][1]
        decimals[c] = int(d) if d is not None else float_decimals(cv[np.isfinite(cv)][:10_000])
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
    for ops in (("*", "+"), ("-", "/")):
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
    out = sorted(targets.values(), key=lambda f: f.position)
    for f in out:
        logger.info("column %r is %s in %.1f%% of its rows; computed from them, not learned",
                    f.column, f"{f.left} {f.op} {f.right}", 100 * f.agreement)
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
        left = np.asarray(out[f.left], dtype="float64")
        right = np.asarray(out[f.right], dtype="float64")
        with np.errstate(all="ignore"):
            value = _OPS[f.op](left, right)
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


def with_formula_columns(columns: list[str], formulas: list[RowFormula]) -> list[str]:
    """The user's columns, in order, from the columns a model learns and the computed ones."""
    out = list(columns)
    for f in sorted(formulas, key=lambda f: f.position):
        if f.column not in out:
            out.insert(min(f.position, len(out)), f.column)
    return out
