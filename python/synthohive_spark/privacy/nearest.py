"""Distance to closest record (DCR) between rows, in numpy: the one definition that the validation
report measures and that generation enforces (``minDCR`` / ``rejectCopies``).

It follows SDMetrics' DCR. Per column: numbers and datetimes contribute ``min(|a - b| / range, 1)``
(``range``: the real column's; a column whose range is 0, or unknown, contributes 1 when the values
differ), 1 when exactly one side is missing and 0 when both are; categories contribute 0 when
equal (missing equals missing) and 1 otherwise. The distance of two rows is the mean over the
columns. A row is an exact copy of another when their distance is 0: equal on every column.

:class:`NearestIndex` holds a bounded set of rows (plain numpy arrays: it travels in a Spark task's
closure and is never saved) and answers, for other rows, their distance to the closest of them,
whether they copy one of them, and the full distances block by block (memory bounded by
``block_cells``). No Spark here.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterator, Mapping, Optional

import numpy as np
import pandas as pd

__all__ = ["NUMBER", "DATETIME", "CATEGORY", "KINDS", "kind_of", "comparable", "NearestIndex",
           "rejected_rows"]

NUMBER, DATETIME, CATEGORY = "number", "datetime", "category"
KINDS = (NUMBER, DATETIME, CATEGORY)

#: distance cells (rows x index rows) computed at once: about 32 MiB of float64
BLOCK_CELLS = 4_000_000

_EPOCH = pd.Timestamp(0)


def kind_of(sdtype: Optional[str], family: str) -> str:
    """How a column is compared: its metadata ``sdtype`` when it says (numerical, datetime, or
    categorical / boolean / ordinal), else its physical ``family`` ("number", "datetime",
    "boolean", "string" or anything else: compared as a category)."""
    if sdtype == "datetime":
        return DATETIME
    if sdtype == "numerical":
        return DATETIME if family == "datetime" else NUMBER
    if sdtype in ("categorical", "boolean", "ordinal"):
        return CATEGORY
    return {"number": NUMBER, "datetime": DATETIME}.get(family, CATEGORY)


def comparable(values: Any, kind: str, fmt: Optional[str] = None) -> np.ndarray:
    """The values of one column as compared: float64 for numbers and datetimes (epoch
    microseconds; booleans 0/1; NaN: missing or unparseable), an object array of canonical
    strings for categories (None: missing; 1.0 and 1 the same category; booleans 'true'/'false').
    ``fmt``: the strftime format of datetimes held as strings."""
    s = pd.Series(values).reset_index(drop=True)
    if isinstance(s.dtype, pd.ArrowDtype):
        s = s.astype(object)
    if kind == CATEGORY:
        return _categories(s)
    if kind == DATETIME:
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            return s.astype("float64").to_numpy()
        t = pd.to_datetime(s, errors="coerce", format=fmt)
        if getattr(t.dt, "tz", None) is not None:
            t = t.dt.tz_localize(None)  # the wall-clock time, as the real rows read it
        return ((t - _EPOCH) / pd.Timedelta(microseconds=1)).astype("float64").to_numpy()
    if kind != NUMBER:
        raise ValueError(f"unknown column kind {kind!r}; expected one of {KINDS}")
    if pd.api.types.is_bool_dtype(s):
        s = s.astype("float64")
    elif s.dtype == object:
        s = s.map(lambda v: float(v) if isinstance(v, (bool, np.bool_, Decimal)) else v)
    return pd.to_numeric(s, errors="coerce").astype("float64").to_numpy()


def _category(v: Any) -> Optional[str]:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating, Decimal)):
        f = float(v)
        if f != f:
            return None
        return str(int(f)) if f.is_integer() else repr(f)
    if isinstance(v, (_dt.date, _dt.datetime, pd.Timestamp)):
        return pd.Timestamp(v).isoformat()
    return str(v)


def _categories(s: pd.Series) -> np.ndarray:
    missing = s.isna().to_numpy()
    if pd.api.types.is_string_dtype(s) and not missing.all():
        out = s.astype(object).to_numpy(copy=True)
        bad = [i for i, v in enumerate(out) if not (missing[i] or isinstance(v, str))]
        for i in bad:
            out[i] = _category(out[i])
    else:
        out = np.array([_category(v) for v in s.astype(object)], dtype=object)
    out[missing] = None
    return out


@dataclass(frozen=True)
class NearestIndex:
    """A set of rows to measure other rows against (deduplicated; plain numpy arrays).

    Build it with :meth:`build`; ``numbers`` holds the number and datetime columns (float64, NaN:
    missing) and ``codes`` the categories as positions in ``vocab`` (-1: missing)."""

    columns: tuple[str, ...]
    kinds: tuple[str, ...]
    formats: tuple[Optional[str], ...]
    ranges: tuple[float, ...]            # per number/datetime column, in ``numbers`` order
    vocab: tuple[tuple[str, ...], ...]   # per category column, in ``codes`` order
    numbers: np.ndarray                  # (rows, number columns)
    codes: np.ndarray                    # (rows, category columns)

    @classmethod
    def build(cls, frame: pd.DataFrame, kinds: Mapping[str, str],
              ranges: Optional[Mapping[str, Optional[float]]] = None,
              formats: Optional[Mapping[str, Optional[str]]] = None,
              distinct: bool = True) -> "NearestIndex":
        """The index of ``frame``'s rows over the columns of ``kinds`` (column -> kind).
        ``ranges``: each number/datetime column's range (its real column's max - min); a column
        it does not name takes the range of ``frame``'s own values. ``distinct``: equal rows are
        kept once (``False``: every row, in ``frame``'s order)."""
        if not kinds:
            raise ValueError("NearestIndex needs at least one column to compare")
        bad = {c: k for c, k in kinds.items() if k not in KINDS}
        if bad:
            raise ValueError(f"unknown column kinds {bad}; expected one of {KINDS}")
        missing = [c for c in kinds if c not in frame.columns]
        if missing:
            raise ValueError(f"the rows lack column(s) {missing}; they have {list(frame.columns)}")
        columns = tuple(kinds)
        formats = dict(formats or {})
        fmts = tuple(formats.get(c) for c in columns)
        ranges = dict(ranges or {})
        nums, rng, cats, vocab = [], [], [], []
        for c, fmt in zip(columns, fmts):
            v = comparable(frame[c], kinds[c], fmt)
            if kinds[c] == CATEGORY:
                values = sorted({x for x in v if x is not None})
                pos = {x: i for i, x in enumerate(values)}
                cats.append(np.array([-1 if x is None else pos[x] for x in v], dtype=np.int64))
                vocab.append(tuple(values))
            else:
                nums.append(v + 0.0)  # -0.0 -> 0.0
                r = ranges.get(c)
                if c not in ranges:
                    finite = v[~np.isnan(v)]
                    r = float(finite.max() - finite.min()) if len(finite) else 0.0
                rng.append(float(r) if r is not None and np.isfinite(r) else 0.0)
        n = len(frame)
        numbers = np.column_stack(nums) if nums else np.zeros((n, 0))
        codes = np.column_stack(cats) if cats else np.zeros((n, 0), dtype=np.int64)
        keep = _first_of_each(numbers, codes) if distinct else np.arange(n)
        return cls(columns=columns, kinds=tuple(kinds[c] for c in columns), formats=fmts,
                   ranges=tuple(rng), vocab=tuple(vocab), numbers=numbers[keep],
                   codes=codes[keep])

    @property
    def rows(self) -> int:
        return len(self.numbers)

    def encode(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(numbers, codes) of ``frame``'s rows in this index's terms; a category the index does
        not hold gets -2 (equal to none of its rows)."""
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise ValueError(f"the rows lack column(s) {missing}; they have {list(frame.columns)}")
        nums, cats = [], []
        vocab = iter(self.vocab)
        for c, kind, fmt in zip(self.columns, self.kinds, self.formats):
            v = comparable(frame[c], kind, fmt)
            if kind == CATEGORY:
                idx = pd.Index(next(vocab), dtype=object).get_indexer(v)
                idx[idx < 0] = -2
                idx[pd.isna(v)] = -1
                cats.append(idx.astype(np.int64))
            else:
                nums.append(v + 0.0)
        n = len(frame)
        return (np.column_stack(nums) if nums else np.zeros((n, 0)),
                np.column_stack(cats) if cats else np.zeros((n, 0), dtype=np.int64))

    def blocks(self, frame: pd.DataFrame, block_cells: int = BLOCK_CELLS
               ) -> Iterator[tuple[slice, np.ndarray]]:
        """(rows of ``frame``, their distances to every row of the index) block by block, each
        block at most ``block_cells`` distances."""
        qn, qc = self.encode(frame)
        n, r, width = len(qn), self.rows, len(self.columns)
        step = max(1, int(block_cells) // max(r, 1))
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            d = np.zeros((hi - lo, r))
            j_num = j_cat = 0
            for kind in self.kinds:  # in column order, as the report has always added them
                if kind == CATEGORY:
                    d += qc[lo:hi, j_cat][:, None] != self.codes[:, j_cat][None, :]
                    j_cat += 1
                    continue
                a, b = qn[lo:hi, j_num][:, None], self.numbers[:, j_num][None, :]
                rng = self.ranges[j_num]
                j_num += 1
                diff = np.abs(a - b)
                term = (diff > 0).astype(np.float64) if rng <= 0 else np.minimum(diff / rng, 1.0)
                an, bn = np.isnan(a), np.isnan(b)
                if an.any() or bn.any():  # both missing: 0, one missing: 1
                    term = np.where(an & bn, 0.0, np.where(an | bn, 1.0, term))
                d += term
            yield slice(lo, hi), d / width

    def min_distance(self, frame: pd.DataFrame, block_cells: int = BLOCK_CELLS) -> np.ndarray:
        """Each row's distance to the closest row of the index (inf for an empty index)."""
        out = np.full(len(frame), np.inf)
        if self.rows == 0:
            return out
        for rows, d in self.blocks(frame, block_cells):
            out[rows] = d.min(axis=1)
        return out

    def copies(self, frame: pd.DataFrame) -> np.ndarray:
        """Whether each row of ``frame`` equals a row of the index on every column (distance 0),
        by an exact join of the encoded values (missing equals missing)."""
        qn, qc = self.encode(frame)
        q = _keyed(qn, qc)
        q["__row"] = np.arange(len(q))
        hit = q.merge(_keyed(self.numbers, self.codes), on=[c for c in q.columns if c != "__row"],
                      how="inner")["__row"].to_numpy()
        out = np.zeros(len(frame), dtype=bool)
        out[hit] = True
        return out


def _keyed(numbers: np.ndarray, codes: np.ndarray) -> pd.DataFrame:
    cols = {f"n{j}": numbers[:, j] for j in range(numbers.shape[1])}
    cols.update({f"c{j}": codes[:, j] for j in range(codes.shape[1])})
    return pd.DataFrame(cols, index=pd.RangeIndex(len(numbers)))


def _first_of_each(numbers: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Positions of the first of each set of equal rows (missing equals missing)."""
    if len(numbers) == 0:
        return np.zeros(0, dtype=np.int64)
    frame = _keyed(numbers, codes)
    if frame.shape[1] == 0:
        return np.zeros(1, dtype=np.int64)
    return np.flatnonzero(~frame.duplicated(keep="first").to_numpy())


def rejected_rows(index: NearestIndex, frame: pd.DataFrame, min_dcr: float,
                  tolerance: Optional[float], total_rows: Optional[int] = None) -> np.ndarray:
    """Which rows of ``frame`` break the settings: closer than ``min_dcr`` (> 0) to a row of the
    index (an exact copy is: its distance is 0), or, with a ``tolerance`` (not None), an exact
    copy beyond the first ``floor(tolerance * total_rows)`` copies (``total_rows``: the rows the
    share is of; ``len(frame)`` by default)."""
    n = len(frame)
    if index.rows == 0 or n == 0:
        return np.zeros(n, dtype=bool)
    bad = np.zeros(n, dtype=bool)
    if min_dcr > 0:
        bad |= index.min_distance(frame) < min_dcr
    if tolerance is not None and not (min_dcr > 0):
        copies = index.copies(frame)
        allowed = int(np.floor(float(tolerance) * (n if total_rows is None else total_rows)))
        bad |= copies & (np.cumsum(copies) > allowed)
    return bad
