"""Numbers that one or two category columns of their row determine: set from the real value after
sampling (pandas/numpy only).

A flight's distance is its route's (origin and destination), a plane's seats are its model's, an
order line's unit price is its product's, a storm's category is its wind's. A model that learns
such a number as a column of its own draws it near its real value, not at it: a flight EWR-DEN
of 1,620 miles, when every real one is 1,605, a row that contradicts every real row of its key.
When the key's value is the same in all but :data:`MAX_MISS` of the real rows whose key repeats
(and that says more than chance), the number is still learned (a key the model draws that no
real row has, or one of too few rows, keeps the model's value), and each generated row whose key
has at least :data:`MIN_KEY_ROWS` real rows gets that key's real value (or none, where the
key's real rows have none: a tropical storm has no hurricane category; a key whose real rows
are sometimes missing keeps the model's missing values).

Which columns (:func:`plan_row_lookups`): numbers (learned as numbers or as categories: a category
from 1 to 5), taking more than one value, not ``overridden`` (set after sampling by the relational
rules); keys: columns of categories (text, categorical or boolean, or integers of at most
:data:`KEY_MAX_VALUES` values, learned as numbers or not), not ``overridden``, one column or a pair
of them (a pair only where no single column determines the number); read on at most
:data:`_MAX_ROWS` rows (64 numbers and 32 keys at most, in column order; a key first on 2,000 rows,
where it must hold on 95% of those whose key repeats to be read on all). The rows whose key repeats
must be at least half of the rows with a key and a value (one-off keys "determine" anything), the
rule must not hold with the number's values shuffled (a number that is nearly constant is
determined by every column), and the keys kept (those of MIN_KEY_ROWS rows, which must hold half of
the rows) must not all give one value (a motif seen at a few small sites only). A column is a key or a target, not both; the single key that
determines most rows wins (then the one of fewer values). Not under differential privacy: the table
holds real values.
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from synthohive_spark.transform.columns import (TransformError, _json_scalar, describe_dtype,
                                                from_base, to_base)
from synthohive_spark.transform.row_order import _MAX_ROWS, _NUMBERS, MIN_ROWS

logger = logging.getLogger("synthohive_spark.transform")

__all__ = ["RowLookup", "plan_row_lookups", "apply_lookups", "MAX_MISS", "MIN_KEY_ROWS",
           "KEY_MAX_VALUES"]

#: share of the rows with a repeated key allowed to hold another value than their key's
MAX_MISS = 0.01
#: real rows a key needs for its value to be kept (and set on generated rows): a value shared
#: by a route's or a model's many rows, not one entity's attribute (a person's schooling keyed by
#: the person's number in a panel of a few years each)
MIN_KEY_ROWS = 10
#: an integer column with more values is a measure, not a key
KEY_MAX_VALUES = 1_000
#: the rule must hold on this share of what chance leaves (the purity with the number shuffled)
_BEYOND_CHANCE = 0.9
#: keys kept at most (per lookup), key columns paired at most, cells of a pair's key
_MAX_KEYS = 20_000
_MAX_PAIRED = 12
_MAX_CELLS = 4_000_000
#: columns read as targets and as keys at most (in column order: pairs of keys grow with the
#: square), rows a key is first read on, and the purity it needs there to be read on all
_MAX_TARGETS = 64
_MAX_KEY_COLUMNS = 32
_SCAN_ROWS = 2_000
_SCAN_PURITY = 0.95
#: key x value cells counted in one array (more: sorted)
_DENSE_CELLS = 1_000_000
_TARGETS = (*_NUMBERS, "decimal")
_LABELS = ("string", "category", "object", "bool", "nullable_bool")


@dataclass
class RowLookup:
    """``column`` = its value for the row's ``keys`` (one or two columns), where ``table`` has
    them: ``table`` rows are the keys' values (as :func:`..columns.to_base` gives them, numbers
    as floats), the value (None: missing) and the share of the key's real rows without one."""

    column: str
    keys: list[str]
    dtype: dict[str, Any]             # the column's (describe_dtype)
    key_dtypes: list[dict[str, Any]]  # the keys'
    table: list[list[Any]] = field(default_factory=list)
    agreement: float = 1.0            # share of the real rows with a repeated key where it holds

    def to_state(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "RowLookup":
        out = cls(**state)
        if (not (1 <= len(out.keys) <= 2) or any(len(r) != len(out.keys) + 2 for r in out.table)
                or len(out.key_dtypes) != len(out.keys)):
            raise TypeError(f"row lookup of {out.column!r}: {len(out.keys)} keys, and table rows or "
                            "key dtypes of another length")
        return out


def _key_columns(frame: pd.DataFrame, specs: dict[str, Any]
                 ) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
    """name -> (integer codes (-1: missing), dtype) of the columns that can be keys."""
    out = {}
    for name in frame.columns:
        spec = specs.get(name) or {}
        if spec.get("overridden") or spec.get("sdtype") not in (None, "categorical", "boolean",
                                                                 "numerical"):
            continue
        try:
            info = describe_dtype(name, frame[name])
        except TransformError:
            continue
        if info["family"] not in (*_LABELS, "int", "nullable_int") or (
                spec.get("sdtype") == "numerical" and info["family"] not in ("int", "nullable_int")):
            continue  # integers learned as numbers count (a wind in knots), other numbers not
        codes, uniques = pd.factorize(pd.Series(to_base(frame[name], info)), use_na_sentinel=True)
        if 2 <= len(uniques) and (info["family"] in _LABELS or len(uniques) <= KEY_MAX_VALUES):
            out[name] = codes.astype(np.int64), info
    return out


def _purity(key: np.ndarray, value: np.ndarray, need: int) -> tuple[float, np.ndarray] | None:
    """Share of the rows with a repeated key that hold their key's most common value, and the
    repeated keys' rows mask; None where fewer than ``need`` rows (or half of those with a key)
    repeat their key."""
    ok = key >= 0
    if not ok.any():
        return None
    counts = np.bincount(key[ok])
    rep = ok & (counts[np.maximum(key, 0)] >= 2)
    n_rep = int(rep.sum())
    if n_rep < max(need, 0.5 * ok.sum()):
        return None
    width = int(value.max()) + 2  # values from -1 (missing)
    joint = key[rep] * width + value[rep] + 1
    if len(counts) * width <= _DENSE_CELLS:
        top = np.bincount(joint, minlength=len(counts) * width).reshape(len(counts), width)
        return float(top.max(axis=1).sum()) / n_rep, rep
    pairs, n = np.unique(joint, return_counts=True)
    # the most common value of each key: pairs are sorted by key, then value
    owner = pairs // width
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    return float(np.maximum.reduceat(n, starts).sum()) / n_rep, rep


def _holds(key: np.ndarray, value: np.ndarray, perm: np.ndarray, scan: np.ndarray
           ) -> float | None:
    """The purity of ``key`` over ``value`` when it determines it beyond chance, else None
    (first read on the ``scan`` rows: a key far from it there is not read on all)."""
    if len(scan) < len(key):
        first = _purity(key[scan], value[scan], MIN_ROWS)
        if first is not None and first[0] < _SCAN_PURITY:
            return None
    got = _purity(key, value, MIN_ROWS)
    if got is None or got[0] < 1.0 - MAX_MISS:
        return None
    chance = _purity(key, value[perm], MIN_ROWS)
    s0 = 0.0 if chance is None else chance[0]
    if s0 >= 1.0 - MAX_MISS or (got[0] - s0) / (1.0 - s0) < _BEYOND_CHANCE:
        return None
    return got[0]


def _table(frame: pd.DataFrame, keys: list[str], key_dtypes: list[dict[str, Any]],
           target: str, info: dict[str, Any]) -> tuple[list[list[Any]], int]:
    """Each key of at least MIN_KEY_ROWS rows whose most common value (missing counts as one)
    holds on at least 90% of them, and that value (None: missing); and the rows of those keys."""
    cols = [f"k{i}" for i in range(len(keys))]
    values = to_base(frame[target], info).astype(np.float64)
    df = pd.DataFrame({**{c: to_base(frame[k], d) for c, k, d in zip(cols, keys, key_dtypes)},
                       "missing": np.isnan(values), "v": np.nan_to_num(values)}).dropna()
    if not len(df):
        return [], 0
    sizes = df.groupby([*cols, "missing", "v"], sort=True).size().rename("n").reset_index()
    sizes["total"] = sizes.groupby(cols, sort=False)["n"].transform("sum")
    top = sizes.sort_values("n", ascending=False, kind="stable").drop_duplicates(cols)
    top = top[(top["total"] >= MIN_KEY_ROWS) & (top["n"] >= 0.9 * top["total"])]
    missing = df.groupby(cols, sort=False)["missing"].mean().rename("missing_share")
    top = top.join(missing, on=cols)
    table = [[_json_scalar(v) for v in row[:-3]] + [None if row[-3] else float(row[-2]),
                                                    round(float(row[-1]), 6)]
             for row in top[[*cols, "missing", "v", "missing_share"]].itertuples(index=False,
                                                                                 name=None)]
    return table, int(top["total"].sum())


def plan_row_lookups(data: pd.DataFrame, specs: dict[str, Any] | None, seed: int,
                     exclude: set[str] | frozenset[str] = frozenset(), log: bool = True
                     ) -> list[RowLookup]:
    """The numbers of ``data`` to set from their key's real value (see the module docstring),
    in column order; ``exclude``: columns no lookup reads or sets (learned through another
    transform: a gap over another column, a time of day)."""
    specs = specs or {}
    rng = np.random.default_rng([int(seed), 61])
    frame = data
    if len(data) > _MAX_ROWS:
        frame = data.iloc[np.sort(rng.choice(len(data), _MAX_ROWS, replace=False))]
    frame = frame.reset_index(drop=True)
    keys = {k: v for k, v in _key_columns(frame, specs).items() if k not in exclude}
    key_dtypes = {k: info for k, (_, info) in keys.items()}
    keys = {k: codes for k, (codes, _) in keys.items()}
    keys = dict(list(keys.items())[:_MAX_KEY_COLUMNS])
    if not keys:
        return []
    perm = rng.permutation(len(frame))
    scan = np.arange(len(frame)) if len(frame) <= _SCAN_ROWS else np.sort(
        rng.choice(len(frame), _SCAN_ROWS, replace=False))
    n_targets = 0
    used_keys: set[str] = set()
    out: list[RowLookup] = []
    for name in frame.columns:
        spec = specs.get(name) or {}
        if name in exclude or name in used_keys or spec.get("overridden") \
                or spec.get("sdtype") not in (None, "numerical", "categorical"):
            continue
        try:
            info = describe_dtype(name, frame[name])
        except TransformError:
            continue
        if info["family"] not in _TARGETS:
            continue
        base = to_base(frame[name], info).astype(np.float64)
        finite = np.isfinite(base)
        if finite.sum() < MIN_ROWS or len(np.unique(base[finite])) < 2:
            continue
        n_targets += 1
        if n_targets > _MAX_TARGETS:
            break
        value = np.where(finite, pd.factorize(pd.Series(base))[0], -1).astype(np.int64)
        targets = {lk.column for lk in out}
        cands = {k: np.where(finite, c, -1) for k, c in keys.items()
                 if k != name and k not in targets}
        best, best_key = None, None
        for k, code in cands.items():
            p = _holds(code, value, perm, scan)
            if p is not None and (best_key is None or (p, -code.max()) > best_key):
                best, best_key = [k], (p, -code.max())
        if best is None and len(cands) >= 2:
            # pairs of the columns that say most on their own (a route: origin and destination)
            alone = {k: (_purity(c[scan], value[scan], 2) or (0.0,))[0] for k, c in cands.items()}
            ranked = sorted(cands, key=lambda k: -alone[k])
            for a, b in itertools.combinations(ranked[:_MAX_PAIRED], 2):
                ka, kb = int(cands[a].max()) + 1, int(cands[b].max()) + 1
                if ka * kb > _MAX_CELLS:
                    continue
                code = np.where((cands[a] >= 0) & (cands[b] >= 0), cands[a] * kb + cands[b], -1)
                p = _holds(code, value, perm, scan)
                if p is not None and (best_key is None or (p, -ka * kb) > best_key):
                    best, best_key = [a, b], (p, -ka * kb)
        if best is None:
            continue
        table, covered = _table(frame, best, [key_dtypes[k] for k in best], name, info)
        if (not table or len(table) > _MAX_KEYS or covered < 0.5 * finite.sum()
                or len({row[-2] for row in table}) < 2):
            # keys of too few rows each (the model's values stay), or one value for every key
            # kept: a rare value only under keys of few rows (a motif at a few sites) says
            # nothing a lookup would add
            continue
        out.append(RowLookup(name, best, info, [key_dtypes[k] for k in best], table,
                             round(best_key[0], 6)))
        used_keys.update(best)
    for lk in out if log else ():
        logger.info("column %r is determined by %s in %.1f%% of the real rows whose key repeats; "
                    "set from its key's real value where the key has %d rows (%d keys)",
                    lk.column, " and ".join(repr(k) for k in lk.keys), 100 * lk.agreement,
                    MIN_KEY_ROWS, len(lk.table))
    return out


def _prepared(lk: RowLookup) -> tuple[list[pd.Index], pd.Index, np.ndarray, np.ndarray]:
    """The lookup's table as arrays, once per lookup: each key column's values (an index), the
    table's cells (one integer per key), the values (NaN: missing), whether the key's real rows
    all had one."""
    cache = lk.__dict__.get("_prepared")
    if cache is None:
        rows = np.empty((len(lk.table), len(lk.keys)), dtype=object)
        for j, r in enumerate(lk.table):
            rows[j] = r[:-2]
        vocabs = [pd.Index(pd.unique(rows[:, i])) for i in range(len(lk.keys))]
        cells = np.zeros(len(lk.table), dtype=np.int64)
        for i, vocab in enumerate(vocabs):
            cells = cells * len(vocab) + vocab.get_indexer(pd.Index(rows[:, i]))
        values = np.asarray([np.nan if r[-2] is None else r[-2] for r in lk.table],
                            dtype=np.float64)
        always = np.asarray([r[-1] == 0.0 for r in lk.table], dtype=bool)
        cache = lk.__dict__["_prepared"] = (vocabs, pd.Index(cells), values, always)
    return cache


def _key_index(frame: pd.DataFrame, lk: RowLookup) -> np.ndarray:
    """Each row's position in ``lk.table`` (-1: its key is not there)."""
    if not lk.table:
        return np.full(len(frame), -1, dtype=np.int64)
    vocabs, cells, _, _ = _prepared(lk)
    cell = np.zeros(len(frame), dtype=np.int64)
    for k, info, vocab in zip(lk.keys, lk.key_dtypes, vocabs):
        code = vocab.get_indexer(pd.Index(to_base(frame[k], info)))
        cell = np.where((cell >= 0) & (code >= 0), cell * len(vocab) + code, -1)
    return np.where(cell >= 0, cells.get_indexer(pd.Index(cell)), -1)


def apply_lookups(frame: pd.DataFrame, lookups: list[RowLookup]) -> pd.DataFrame:
    """Generated rows with each looked-up column set to its key's real value where the table
    has the key: missing where the key's real rows have none, the value where they all have
    it, else the value where the model gave one (unseen keys keep the model's value)."""
    if not lookups or not len(frame):
        return frame
    out = frame.copy(deep=False)
    for lk in lookups:
        if lk.column not in out.columns or any(k not in out.columns for k in lk.keys):
            continue
        at = _key_index(out, lk)
        hit = at >= 0
        if not hit.any():
            continue
        _, _, values, always = _prepared(lk)
        base = to_base(out[lk.column], lk.dtype).astype(np.float64)
        value = np.where(hit, values[np.maximum(at, 0)], np.nan)
        # a key whose real rows have no value: none; one whose real rows all have it: its value;
        # else its value where the model gave one (a missing value now and then stays)
        hit &= np.isfinite(base) | np.isnan(value) | always[np.maximum(at, 0)]
        base[hit] = value[hit]
        arrow = isinstance(out[lk.column].dtype, pd.ArrowDtype)  # as the codecs gave it
        out[lk.column] = from_base(base, lk.dtype, index=out.index, name=lk.column, arrow=arrow)
    return out
