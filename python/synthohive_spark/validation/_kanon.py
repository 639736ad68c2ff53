"""k-anonymity in Spark: the check (:func:`k_anonymity`) and its enforcement by suppression or
generalization (:func:`enforce_k_anonymity`).

An equivalence class is the set of rows that share the values of every quasi-identifier column
(null is a value: rows with a missing city share a class). A table is k-anonymous when no class
holds fewer than k rows. Only aggregates reach the driver: the class sizes are counted by one
``groupBy`` and summarised in the same job.
"""
from __future__ import annotations

import logging
import math
from typing import Any, Optional, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from synthohive_spark._spark import qcol
from .errors import ValidationInputError

__all__ = ["k_anonymity", "enforce_k_anonymity", "METHODS"]

logger = logging.getLogger("synthohive_spark.validation.kanon")

METHODS = ("suppress", "generalize")
_N = "__kanon_n"


def _check(df: DataFrame, quasi_identifiers: Sequence[str], k: int) -> list[str]:
    if isinstance(quasi_identifiers, str):
        quasi_identifiers = [quasi_identifiers]
    qi = list(dict.fromkeys(quasi_identifiers))
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValidationInputError(f"k-anonymity: k must be a positive integer, got {k!r}.")
    missing = [c for c in qi if c not in df.columns]
    if missing:
        raise ValidationInputError(f"k-anonymity: quasi-identifier column(s) {missing} are not in "
                                   f"the DataFrame (columns: {df.columns}).")
    return qi


def _stats(df: DataFrame, qi: list[str], k: int, distinct: bool = False) -> dict[str, Any]:
    """Class statistics (and, with ``distinct``, approximate distinct values per column) in one
    job: group by the quasi-identifiers, then aggregate the classes."""
    classes = df.groupBy(*[qcol(c) for c in qi]).agg(F.count(F.lit(1)).alias(_N))
    n, low = F.col(_N), F.col(_N) < k
    aggs = [F.sum(n).alias("rows"), F.count(F.lit(1)).alias("classes"), F.min(n).alias("smallest"),
            F.sum(F.when(low, n).otherwise(0)).alias("rows_below"),
            F.sum(F.when(low, 1).otherwise(0)).alias("classes_below")]
    if distinct:
        aggs += [F.approx_count_distinct(qcol(c)).alias(f"__d{i}") for i, c in enumerate(qi)]
    r = classes.agg(*aggs).collect()[0]
    rows = int(r["rows"] or 0)
    out = {"k": k, "quasi_identifiers": qi, "rows": rows, "classes": int(r["classes"]),
           "smallest_class": None if r["smallest"] is None else int(r["smallest"]),
           "rows_below_k": int(r["rows_below"] or 0), "classes_below_k": int(r["classes_below"] or 0)}
    out["share_rows_below_k"] = out["rows_below_k"] / rows if rows else 0.0
    out["satisfied"] = out["rows_below_k"] == 0
    if distinct:
        out["distinct"] = {c: int(r[f"__d{i}"]) for i, c in enumerate(qi)}
    return out


def k_anonymity(df: DataFrame, quasi_identifiers: Sequence[str], k: int) -> dict[str, Any]:
    """The k-anonymity of ``df`` over the ``quasi_identifiers`` columns.

    Returns ``{"k", "quasi_identifiers", "rows", "classes", "smallest_class", "rows_below_k",
    "classes_below_k", "share_rows_below_k", "satisfied"}``: the smallest equivalence class (rows
    sharing every quasi-identifier value, null counting as a value), and the rows and classes in
    classes of fewer than ``k`` rows. No quasi-identifier: ``{"applicable": False, ...}``. One
    ``groupBy``; only the summary reaches the driver.

    >>> k_anonymity(df, ["zip", "age"], k=5)["rows_below_k"]   # doctest: +SKIP
    """
    qi = _check(df, quasi_identifiers, k)
    if not qi:
        return {"applicable": False, "k": k, "quasi_identifiers": [],
                "reason": "no quasi-identifier columns"}
    return {"applicable": True, **_stats(df, qi, k)}


# ---------------------------------------------------------------------------- suppression

def _null_of(df: DataFrame, c: str) -> Column:
    return F.lit(None).cast(df.schema[c].dataType)


def _suppress(df: DataFrame, qi: list[str], k: int) -> tuple[DataFrame, int]:
    """Rows of classes below ``k`` with their quasi-identifiers set to null; (frame, rows
    suppressed). The suppressed rows form one class (all quasi-identifiers null); when it holds
    fewer than k rows, rows of a large class are suppressed with it until it holds k."""
    cols = [qcol(c) for c in qi]
    sized = df.withColumn(_N, F.count(F.lit(1)).over(Window.partitionBy(*cols)))
    low = F.col(_N) < k
    all_null = F.lit(True)
    for c in cols:
        all_null = all_null & c.isNull()
    r = sized.agg(F.sum(F.when(low, 1).otherwise(0)).alias("low"),
                  F.sum(F.when(low | all_null, 1).otherwise(0)).alias("null_class")).collect()[0]
    suppressed, null_class = int(r["low"] or 0), int(r["null_class"] or 0)
    extra = F.lit(False)
    deficit = k - null_class
    if suppressed and deficit > 0:
        classes = (df.where(~all_null).groupBy(*cols).agg(F.count(F.lit(1)).alias(_N))
                   .where(F.col(_N) >= k))
        # a class that can give ``deficit`` rows and stay at k; else the smallest whole class
        spare = classes.where(F.col(_N) >= k + deficit).orderBy(F.col(_N).desc()).limit(1).collect()
        take = spare or classes.orderBy(F.col(_N)).limit(1).collect()
        if take:
            key = take[0]
            same = F.lit(True)
            for i, c in enumerate(cols):
                same = same & c.eqNullSafe(F.lit(key[i]).cast(df.schema[qi[i]].dataType))
            count = deficit if spare else int(key[_N])
            pos = F.row_number().over(Window.partitionBy(*cols).orderBy(*cols))
            sized = sized.withColumn("__kanon_pos", pos)
            extra = same & (F.col("__kanon_pos") <= count)
            suppressed += count
        else:
            logger.warning("k-anonymity: the table has %d rows, fewer than k=%d: its one class "
                           "stays below k", null_class, k)
    hide = low | extra
    out = sized.select(*[F.when(hide, _null_of(df, c)).otherwise(qcol(c)).alias(c) if c in qi
                         else qcol(c) for c in df.columns])
    return out, suppressed


# ---------------------------------------------------------------------------- generalization

def _nice_ladder(lo: float, hi: float, integral: bool) -> list[float]:
    """Bin widths 1, 2, 5 x 10^e from about a hundredth of the range up to the whole range."""
    rng = hi - lo
    if not rng > 0:
        return []
    e = math.floor(math.log10(rng / 100.0))
    widths: list[float] = []
    while True:
        for m in (1, 2, 5):
            w = m * 10.0 ** e
            if w < rng / 100.0 or (integral and w < 2):
                continue
            widths.append(float(round(w, 12)))
            if w >= rng:
                return widths
        e += 1


def _number_label(c: Column, w: float) -> Column:
    lo = F.floor(c.cast("double") / F.lit(w)) * F.lit(w)
    if w >= 1 and float(w).is_integer():
        a, b = lo.cast("bigint").cast("string"), (lo + F.lit(w)).cast("bigint").cast("string")
    else:
        d = max(0, -math.floor(math.log10(w))) + 1
        a, b = F.round(lo, d).cast("string"), F.round(lo + F.lit(w), d).cast("string")
    return F.concat(F.lit("["), a, F.lit(", "), b, F.lit(")"))


class _Ladder:
    """How one column is coarsened: level 0 is the value, the last level ``*`` (one class)."""

    def __init__(self, name: str, dtype: T.DataType, stats: Any) -> None:
        self.name = name
        self.steps: list[Any] = []
        if isinstance(dtype, T.NumericType):
            self.kind = "number"
            lo, hi = stats[f"lo_{name}"], stats[f"hi_{name}"]
            if lo is not None:
                self.steps = _nice_ladder(float(lo), float(hi),
                                          isinstance(dtype, (T.IntegralType, T.DecimalType))
                                          and getattr(dtype, "scale", 0) == 0)
        elif isinstance(dtype, (T.DateType, T.TimestampType)) or type(dtype).__name__ == "TimestampNTZType":
            self.kind = "date"
            self.steps = (["day"] if not isinstance(dtype, T.DateType) else []) + ["month", "year",
                                                                                  "decade"]
        elif isinstance(dtype, T.StringType):
            self.kind = "string"
            # keep the first L - step characters (L the longest value), the rest as "*"
            longest = int(stats[f"len_{self.name}"] or 0)
            self.steps = list(range(longest - 1, 0, -1))
        else:
            self.kind = "other"
        self.top = len(self.steps) + 1

    def expr(self, level: int) -> Column:
        c = qcol(self.name)
        if level == 0:
            return c
        if level >= self.top:
            return F.when(c.isNull(), F.lit(None).cast("string")).otherwise(F.lit("*"))
        step = self.steps[level - 1]
        if self.kind == "number":
            return _number_label(c, step)
        if self.kind == "date":
            fmt = {"day": "yyyy-MM-dd", "month": "yyyy-MM", "year": "yyyy"}
            if step in fmt:
                return F.date_format(c, fmt[step])
            return F.concat((F.floor(F.year(c) / 10) * 10).cast("bigint").cast("string"), F.lit("s"))
        keep = int(step)
        return F.when(F.length(c) > keep, F.concat(F.substring(c, 1, keep), F.lit("*"))).otherwise(c)


def _ladders(df: DataFrame, qi: list[str]) -> dict[str, _Ladder]:
    aggs = []
    for c in qi:
        dt = df.schema[c].dataType
        if isinstance(dt, T.NumericType):
            aggs += [F.min(qcol(c).cast("double")).alias(f"lo_{c}"),
                     F.max(qcol(c).cast("double")).alias(f"hi_{c}")]
        elif isinstance(dt, T.StringType):
            aggs.append(F.max(F.length(qcol(c))).alias(f"len_{c}"))
    stats = df.agg(*aggs).collect()[0] if aggs else {}
    return {c: _Ladder(c, df.schema[c].dataType, stats) for c in qi}


def _generalized(df: DataFrame, ladders: dict[str, _Ladder], levels: dict[str, int]) -> DataFrame:
    return df.select(*[ladders[c].expr(levels[c]).alias(c) if levels.get(c) else qcol(c)
                       for c in df.columns])


def enforce_k_anonymity(df: DataFrame, quasi_identifiers: Sequence[str], k: int,
                        method: str = "suppress", *, max_suppressed: float = 0.01,
                        max_steps: Optional[int] = None) -> DataFrame:
    """``df`` made k-anonymous over ``quasi_identifiers`` (every class of at least ``k`` rows).

    - ``"suppress"``: the quasi-identifier values of the rows in classes below ``k`` are set to
      null (the rows and their other columns stay). The suppressed rows form one class of
      all-null quasi-identifiers; when it would hold fewer than ``k`` rows, rows of one large
      class (which one, and which of its rows, is arbitrary) are suppressed with them.
    - ``"generalize"``: the quasi-identifiers are coarsened one step at a time, each step the
      column with the most distinct values (Datafly): numbers to ranges (``"[30, 40)"``, widths
      1, 2, 5 x 10^e growing), dates to day, month (``"2020-03"``), year, decade (``"1980s"``),
      strings cut by one character per step (``"1234*"``), and finally ``"*"``, until at most
      ``max_suppressed`` of the rows (a share) sit in classes below ``k``; those are then
      suppressed as above. A generalized column becomes a string column; null stays null.
      Each step is one Spark job over ``df`` (at most ``max_steps``, default: every level).

    The result is lazy; check it with :func:`k_anonymity`.
    """
    qi = _check(df, quasi_identifiers, k)
    if method not in METHODS:
        raise ValidationInputError(f"k-anonymity: method must be one of {METHODS}, got {method!r}.")
    if not 0.0 <= max_suppressed <= 1.0:
        raise ValidationInputError(f"k-anonymity: max_suppressed is a share in [0, 1], got "
                                   f"{max_suppressed!r}.")
    if not qi:
        return df
    cur = df
    if method == "generalize":
        ladders = _ladders(df, qi)
        levels = {c: 0 for c in qi}
        limit = sum(ld.top for ld in ladders.values()) if max_steps is None else max_steps
        for _ in range(limit + 1):
            st = _stats(cur, qi, k, distinct=True)
            if st["rows_below_k"] <= max_suppressed * st["rows"]:
                break
            open_ = [c for c in qi if levels[c] < ladders[c].top]
            if not open_ or sum(levels.values()) >= limit:
                break
            pick = max(open_, key=lambda c: st["distinct"][c])
            levels[pick] += 1
            cur = _generalized(df, ladders, levels)
        logger.info("k-anonymity (k=%d): generalization levels %s", k,
                    {c: (lv if lv < ladders[c].top else "*") for c, lv in levels.items() if lv})
    out, suppressed = _suppress(cur, qi, k)
    if suppressed:
        logger.info("k-anonymity (k=%d): quasi-identifiers of %d rows suppressed", k, suppressed)
    return out
