"""Sequence indexes: the column that orders the rows of each parent in a child table that is a
history of its parent (a storm's six-hourly observations, a country's yearly records), and the
small tables that look like lookups but are entities with such a history (the storms).

The checks read the rows of at most :data:`SAMPLE_PARENTS` parents (all their rows, at most
:data:`SAMPLE_ROWS` in all), picked by a hash of the key: pandas frames and Spark tables that fit
their profile's sample are read in memory, other Spark tables through a filter in Spark.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from synthohive_spark._spark import qcol
from synthohive_spark.metadata.detect._profile import (PANDAS_TIMESTAMP_BOUNDS, _full_frame,
                                                       _PandasProfile, _Profile)
from synthohive_spark.metadata.detect.columns import _tokens
from synthohive_spark.metadata.schema import PII_KINDS, SDType, dtype_family

logger = logging.getLogger("synthohive_spark.metadata")

#: name parts (whole words, snake_case or camelCase parts) of a number that orders rows
ORDER_WORDS = frozenset({"year", "period", "seq", "sequence", "step", "index", "idx", "position",
                         "pos", "rank", "order", "time", "timestamp", "day", "week", "month",
                         "quarter", "hour", "date", "t"})
#: ... unless another part names a measure of the row (order_total, step_count, time_spent)
_MEASURE_WORDS = frozenset({"count", "cnt", "total", "sum", "amount", "amt", "qty", "quantity",
                            "price", "cost", "avg", "mean", "spent", "duration", "length",
                            "size", "value"})
#: rows per parent (among the parents the child's keys name) below which a table is no history
MIN_ROWS_PER_PARENT = 2.0
#: at least this many parents with two rows or more are needed to judge
MIN_PARENTS = 3
#: share of parents (with two rows or more) whose values may repeat within the parent
MAX_TIE_SHARE = 0.05
#: share of parents whose rows, in the table's order, follow the column's order
MIN_ORDERED_SHARE = 0.95
#: share of parents whose rows form one block in the table's order, for a small table that looks
#: like a lookup to be an entity with a history instead
MIN_BLOCK_SHARE = 0.95
SAMPLE_PARENTS = 20_000
SAMPLE_ROWS = 500_000


@dataclass(frozen=True)
class _Found:
    """A column that orders the rows of each parent, and how well (over ``parents`` parents with
    two rows or more)."""

    column: str
    is_datetime: bool
    parents: int
    ties: float  # share of parents with a repeated value
    ordered: float  # share of parents whose rows follow the column in the table's order
    blocks: float  # share of parents whose rows form one block in the table's order


def orders_by_name(column: str) -> bool:
    """Whether a numeric column's name says it orders rows (``year``, ``seq_no``, ``stepIndex``,
    ``t``; not ``price``, ``pop`` or ``order_total``)."""
    toks = _tokens(column)
    return any(t in ORDER_WORDS for t in toks) and not any(t in _MEASURE_WORDS for t in toks)


def _candidates(p: _Profile, columns: Mapping[str, Mapping[str, Any]],
                exclude: set[Optional[str]]) -> list[tuple[str, bool, Optional[str]]]:
    """(column, is_datetime, datetime_format of a string column) of the columns that could order
    rows: datetimes, and numbers named like an order (see :func:`orders_by_name`), without nulls,
    keys, personal data or rules."""
    out = []
    lo_ok, hi_ok = PANDAS_TIMESTAMP_BOUNDS
    for c, cfg in columns.items():
        if c in exclude or c not in p.dtypes or p.nulls.get(c, 0) > 0:
            continue
        sdtype = str(cfg.get("sdtype"))  # an SDType's str is its value
        if cfg.get("pii") or sdtype in PII_KINDS or cfg.get("copy_of") or cfg.get("derived"):
            continue
        fam = dtype_family(p.dtypes[c])
        if sdtype == SDType.DATETIME.value:
            if fam == "timestamp" and not isinstance(p, _PandasProfile) and c in p.mins and \
                    not (lo_ok <= p.mins[c] and p.maxs[c] <= hi_ok):
                continue  # sentinel dates (9999-12-31) do not order a history
            if fam in ("date", "timestamp"):
                out.append((c, True, None))
            elif fam == "string" and cfg.get("datetime_format"):
                out.append((c, True, str(cfg["datetime_format"])))
        elif sdtype in (SDType.NUMERICAL.value, SDType.CATEGORICAL.value) and \
                fam in ("integer", "float", "decimal") and orders_by_name(c):
            out.append((c, False, None))
    return out


def _order_of(keys: Any) -> Any:
    """Position of each key in the table's order: numbers and dates by value, strings by length
    then value (``O-9`` before ``O-10``)."""
    import numpy as np
    import pandas as pd

    s = pd.Series(keys).reset_index(drop=True)
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        s = s.astype(str)
        idx = pd.DataFrame({"n": s.str.len(), "v": s}).sort_values(["n", "v"], kind="stable").index
    else:
        idx = s.sort_values(kind="stable").index
    rank = np.empty(len(s), dtype=np.int64)
    rank[idx.to_numpy()] = np.arange(len(s))
    return rank


def _child_rows(p: _Profile, fk: str, pk: Optional[str], columns: list[str],
                n_parents: int) -> Any:
    """``__fk``, ``__order`` (the row's place in the table: by primary key, else the frame's
    order) and ``columns`` of every row of at most ~SAMPLE_PARENTS parents."""
    import numpy as np
    import pandas as pd

    buckets = max(1, n_parents // SAMPLE_PARENTS, p.n_rows // SAMPLE_ROWS)
    if isinstance(p, _PandasProfile) or p.complete:  # type: ignore[attr-defined]
        df = _full_frame(p)
        rows = pd.DataFrame({"__fk": df[fk].to_numpy(),
                             "__order": _order_of(df[pk]) if pk else np.arange(len(df))})
        for c in columns:
            rows[c] = df[c].to_numpy()
        rows = rows[rows["__fk"].notna()]
        if buckets > 1:
            h = pd.util.hash_pandas_object(rows["__fk"].astype(str), index=False).to_numpy()
            rows = rows[h % np.uint64(buckets) == 0]
        return rows.reset_index(drop=True)
    from pyspark.sql import functions as F

    key = qcol(pk) if pk else F.monotonically_increasing_id()
    pick = qcol(fk).isNotNull()
    if buckets > 1:
        pick = pick & (F.pmod(F.xxhash64(qcol(fk).cast("string")), F.lit(buckets)) == 0)
    # a cap on the rows keeps the read bounded when a few parents hold most rows; any subset of
    # a parent's rows keeps their order, so the checks stay sound on it
    sdf = (p.df.select(qcol(fk).alias("__fk"), key.alias("__key"), *[qcol(c) for c in columns])
           .where(pick).limit(SAMPLE_ROWS))
    rows = sdf.toPandas()
    rows.insert(1, "__order", _order_of(rows.pop("__key")))
    return rows


def _measure(fk_values: Any, values: Any, n: int) -> tuple[float, float]:
    """(share of parents with a repeated value, share whose values never decrease in the table's
    order) for rows sorted by that order."""
    import pandas as pd

    frame = pd.DataFrame({"fk": fk_values, "v": values})
    tied = frame.duplicated(["fk", "v"]).to_numpy()
    previous = frame.groupby("fk", sort=False)["v"].shift()
    down = (frame["v"] < previous).to_numpy()
    return (fk_values[tied].nunique() / n, 1.0 - fk_values[down].nunique() / n)


def find_sequence_index(p: _Profile, fk: str, pk: Optional[str],
                        columns: Mapping[str, Mapping[str, Any]], exclude: set[Optional[str]],
                        cache: Optional[dict] = None) -> Optional[_Found]:
    """The column of table ``p`` that orders the rows of each parent (grouped by ``fk``), or
    None: distinct within each parent (ties in at most MAX_TIE_SHARE of the parents with two rows
    or more) and followed by the rows in the table's order (primary key ``pk``, else the frame's
    order) in at least MIN_ORDERED_SHARE of them. Datetimes first, then the fewest ties."""
    if fk not in p.dtypes or p.n_rows - p.nulls.get(fk, 0) <= 0:
        return None
    candidates = _candidates(p, columns, exclude | {fk})
    memo = (p.name, fk, pk, tuple(candidates))
    if cache is not None and memo in cache:
        return cache[memo]
    found = None
    n_parents = p.n_distinct([fk])[fk]
    per_parent = (p.n_rows - p.nulls.get(fk, 0)) / max(1, n_parents)
    if not candidates:
        logger.debug("%s: no datetime column or number named like an order; no sequence index",
                     p.name)
    elif per_parent < MIN_ROWS_PER_PARENT:
        logger.debug("%s: %.2f rows per %s; too few for a sequence per parent", p.name,
                     per_parent, fk)
    else:
        found = _best(p, fk, pk, candidates, n_parents)
    if cache is not None:
        cache[memo] = found
    return found


def _best(p: _Profile, fk: str, pk: Optional[str],
          candidates: list[tuple[str, bool, Optional[str]]], n_parents: int) -> Optional[_Found]:
    import pandas as pd

    rows = _child_rows(p, fk, pk, [c for c, _, _ in candidates], n_parents)
    rows = rows.sort_values("__order", kind="stable").reset_index(drop=True)
    sizes = rows["__fk"].value_counts()
    rows = rows[rows["__fk"].isin(sizes.index[sizes >= 2])].reset_index(drop=True)
    fk_values = rows["__fk"]
    n = int(fk_values.nunique())
    if n < MIN_PARENTS:
        logger.debug("%s: %d parents with two rows or more in the sample; too few to find a "
                     "sequence index", p.name, n)
        return None
    runs = (fk_values != fk_values.shift()).groupby(fk_values, sort=False).sum()
    blocks = float((runs == 1).mean())
    order_by = pk if pk else "the frame's row order"
    found = []
    for position, (c, is_datetime, fmt) in enumerate(candidates):
        values = rows[c]
        if is_datetime:
            values = pd.to_datetime(values, format=fmt, errors="coerce")
        else:
            values = pd.to_numeric(values, errors="coerce")
        if values.isna().any():
            logger.debug("%s.%s: values that do not parse; not a sequence index", p.name, c)
            continue
        ties, ordered = _measure(fk_values, values, n)
        if ties > MAX_TIE_SHARE or ordered < MIN_ORDERED_SHARE:
            logger.debug("%s.%s is not a sequence index under %s: repeats within %.1f%% of %d "
                         "parents, follows %s in %.1f%%", p.name, c, fk, 100 * ties, n,
                         order_by, 100 * ordered)
            continue
        found.append((not is_datetime, ties, -ordered, position,
                      _Found(c, is_datetime, n, ties, ordered, blocks)))
    return min(found, key=lambda f: f[:4])[4] if found else None


def _log_found(table: str, fk: str, parent: str, pk: Optional[str], f: _Found) -> None:
    logger.info("%s.%s is the sequence index of %s under %s.%s: over %d parents with two rows or "
                "more, distinct in %.1f%% and in the order of %s in %.1f%%", table, f.column,
                table, parent, fk, f.parents, 100 * (1 - f.ties),
                pk if pk else "the rows", 100 * f.ordered)


def _detect_sequences(profiles: Mapping[str, _Profile], tables: dict[str, Any],
                      cache: Optional[dict] = None) -> None:
    """Write the sequence index of each table whose driver foreign key's parent (not a reference
    table) owns a history of rows into ``tables`` (table configs as dicts, as
    :meth:`Metadata.to_dict` writes them); declared ones are kept."""
    for t, cfg in tables.items():
        if cfg.get("sequence_index") or t not in profiles:
            continue
        fks = cfg.get("foreign_keys") or []
        driver = next((fk for fk in fks if fk.get("driver")), None)
        if driver is None or driver["parent_table"] == t or \
                (tables.get(driver["parent_table"]) or {}).get("reference"):
            continue
        pk = cfg.get("primary_key")
        exclude = {pk, *(fk["column"] for fk in fks)}
        f = find_sequence_index(profiles[t], driver["column"], pk, cfg["columns"], exclude, cache)
        if f is None:
            continue
        cfg["sequence_index"] = f.column
        col = cfg["columns"][f.column]
        if not f.is_datetime and str(col.get("sdtype")) != SDType.NUMERICAL.value:
            col["sdtype"] = SDType.NUMERICAL  # a step number with few values still orders rows
        _log_found(t, driver["column"], driver["parent_table"], pk, f)


def _history_parents(profiles: Mapping[str, _Profile], columns: Mapping[str, Mapping[str, Any]],
                     pks: Mapping[str, Optional[str]], edges: list[Any], reference: set[str],
                     cache: Optional[dict] = None) -> set[str]:
    """The tables among ``reference`` that own a history instead of being lookups: a child whose
    rows come in one block per parent row, ordered by a sequence index (a storm's track)."""
    out: set[str] = set()
    for e in edges:
        if e.parent not in reference or e.parent in out or e.child == e.parent:
            continue
        pk = pks[e.child]
        exclude = {pk, *(x.column for x in edges if x.child == e.child)}
        f = find_sequence_index(profiles[e.child], e.column, pk, columns[e.child], exclude, cache)
        if f is not None and f.blocks >= MIN_BLOCK_SHARE:
            out.add(e.parent)
            logger.info("table %s is not a reference table: each of its rows owns a history in "
                        "%s (the rows of %.1f%% of parents in one block, ordered by %s)",
                        e.parent, e.child, 100 * f.blocks, f.column)
    return out
