"""Column shapes in Spark: KS complement (numbers, datetimes), TV complement (categories, booleans),
missing-value similarity, and the histograms the report draws.

Only aggregates come back to the driver: per-column counts, min/max, distinct-count sketches,
per-bucket counts, and one KS statistic per column.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyspark
from pyspark.ml.feature import Bucketizer
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from ._columns import ColumnPlan

logger = logging.getLogger("synthohive_spark.validation.shapes")

REAL, SYN = "r", "s"


@dataclass
class SideStats:
    rows: int
    nonnull: dict[str, int]
    minimum: dict[str, float | None]
    maximum: dict[str, float | None]
    distinct: dict[str, int]
    quantiles: dict[str, list[float]] = field(default_factory=dict)
    corr: dict[str, float | None] = field(default_factory=dict)


def side_stats(df: DataFrame, plans: list[ColumnPlan], n_quantiles: int = 0, accuracy: int = 10_000,
               corr_pairs: list[tuple[str, str, str]] | None = None) -> SideStats:
    """One pass over one side: rows, non-null counts, approximate distinct counts, and for
    continuous columns min/max, ``n_quantiles`` approximate quantiles (rank error 1/accuracy) and
    the Pearson correlation of each ``(pair_id, col_a, col_b)`` over rows where both are present."""
    aggs = [F.count(F.lit(1)).alias("__rows")]
    probs = [i / n_quantiles for i in range(1, n_quantiles)] if n_quantiles > 1 else []
    for p in plans:
        if not p.applicable:
            continue
        c = F.col(p.internal)
        aggs += [F.count(c).alias(f"nn_{p.internal}"),
                 F.approx_count_distinct(c, 0.05).alias(f"d_{p.internal}")]
        if p.kind == "continuous":
            aggs += [F.min(c).alias(f"mn_{p.internal}"), F.max(c).alias(f"mx_{p.internal}")]
            if probs:
                aggs.append(F.percentile_approx(c, probs, accuracy).alias(f"q_{p.internal}"))
    for pid, a_col, b_col in corr_pairs or []:
        a, b = F.col(a_col), F.col(b_col)
        den = F.sqrt(F.var_pop(F.when(b.isNotNull(), a)) * F.var_pop(F.when(a.isNotNull(), b)))
        aggs.append(F.try_divide(F.covar_pop(a, b), den).alias(f"r_{pid}"))
    row = df.agg(*aggs).collect()[0].asDict()
    st = SideStats(rows=int(row["__rows"]), nonnull={}, minimum={}, maximum={}, distinct={})
    for p in plans:
        if not p.applicable:
            continue
        st.nonnull[p.internal] = int(row[f"nn_{p.internal}"])
        st.distinct[p.internal] = int(row[f"d_{p.internal}"])
        if p.kind == "continuous":
            st.minimum[p.internal] = row[f"mn_{p.internal}"]
            st.maximum[p.internal] = row[f"mx_{p.internal}"]
            if probs:
                st.quantiles[p.internal] = [float(x) for x in (row[f"q_{p.internal}"] or [])
                                            if x is not None and not math.isnan(x)]
    for pid, _, _ in corr_pairs or []:
        v = row[f"r_{pid}"]
        st.corr[pid] = None if v is None or math.isnan(v) else max(-1.0, min(1.0, float(v)))
    return st


def _tagged_union(real: DataFrame, syn: DataFrame, cols: list[str]) -> DataFrame:
    return (real.select(*cols, F.lit(1).alias("__r"), F.lit(0).alias("__s"))
            .unionByName(syn.select(*cols, F.lit(0).alias("__r"), F.lit(1).alias("__s"))))


def _stack(cols: list[str], value_type: str = "double") -> str:
    """SQL stack(n, 'c0', c0, ...) AS (__col, __v)."""
    parts = ", ".join(f"'{c}', CAST({c} AS {value_type})" for c in cols)
    return f"stack({len(cols)}, {parts}) AS (__col, __v)"


def ks_exact(real: DataFrame, syn: DataFrame, cols: list[str], n_real: dict[str, int],
             n_syn: dict[str, int]) -> dict[str, float]:
    """Exact two-sample KS statistic per column: counts per distinct value and side, then a running
    sum over the sorted distinct values (a window partitioned by column)."""
    if not cols:
        return {}
    u = _tagged_union(real, syn, cols)
    long = (u.selectExpr(_stack(cols), "__r", "__s").where(F.col("__v").isNotNull())
            .groupBy("__col", "__v").agg(F.sum("__r").alias("nr"), F.sum("__s").alias("ns")))
    nr = F.create_map(*[x for c in cols for x in (F.lit(c), F.lit(float(max(n_real[c], 1))))])
    ns = F.create_map(*[x for c in cols for x in (F.lit(c), F.lit(float(max(n_syn[c], 1))))])
    w = Window.partitionBy("__col").orderBy("__v").rowsBetween(Window.unboundedPreceding, 0)
    diffs = long.select(
        "__col",
        F.abs(F.sum("nr").over(w) / F.element_at(nr, F.col("__col"))
              - F.sum("ns").over(w) / F.element_at(ns, F.col("__col")))
        .alias("d"))
    rows = diffs.groupBy("__col").agg(F.max("d").alias("d")).collect()
    return {r["__col"]: float(r["d"]) for r in rows}


def sample_quantiles(real: DataFrame, syn: DataFrame, cols: list[str], rows_real: int, rows_syn: int,
                     n_quantiles: int, accuracy: int, sample_rows: int, seed: int) -> dict[str, list[float]]:
    """Approximate quantiles of each side (from Bernoulli samples of about ``sample_rows`` rows per
    side), merged per column: the bucket edges of ``ks_bucketed``. The edges only decide how tight
    its bounds are; the bounds themselves come from exact counts over all rows."""
    if not cols:
        return {}
    probs = [i / n_quantiles for i in range(1, n_quantiles)]

    def part(df: DataFrame, rows: int, tag: str, salt: int) -> DataFrame:
        frac = min(1.0, sample_rows / max(rows, 1))
        d = df.select(*cols)
        if frac < 1.0:
            d = d.sample(withReplacement=False, fraction=frac, seed=seed + salt)
        return d.select(*[F.col(c).alias(f"{tag}{c}") for c in cols],
                        *[F.lit(None).cast("double").alias(f"{'s' if tag == 'r' else 'r'}{c}") for c in cols])

    u = part(real, rows_real, "r", 0).unionByName(part(syn, rows_syn, "s", 1))
    aggs = [F.percentile_approx(f"{t}{c}", probs, accuracy).alias(f"{t}{c}") for c in cols for t in ("r", "s")]
    row = u.agg(*aggs).collect()[0].asDict()
    out = {}
    for c in cols:
        vals = (row[f"r{c}"] or []) + (row[f"s{c}"] or [])
        out[c] = sorted({float(x) for x in vals if x is not None and not math.isnan(x)})
    return out


def _bucketize(df: DataFrame, inputs: list[str], splits: list[list[float]],
               outputs: list[str]) -> DataFrame:
    """``Bucketizer(handleInvalid="keep")``'s bucket of each input: the index of the split interval
    ``[s_i, s_i+1)`` holding the value, NaN in one bucket past the last. pyspark.ml's stages run on
    Spark Connect from Spark 4 on; before that the same buckets come from a pandas UDF
    (``numpy.searchsorted`` over the inner edges)."""
    connect = type(df).__module__.startswith("pyspark.sql.connect")
    if not connect or int(pyspark.__version__.split(".")[0]) >= 4:
        return Bucketizer(splitsArray=splits, inputCols=inputs, outputCols=outputs,
                          handleInvalid="keep").transform(df)
    for inp, out, split in zip(inputs, outputs, splits):
        df = df.withColumn(out, _bucket_udf(np.asarray(split[1:-1], dtype="float64"))(
            F.col(inp).cast("double")))
    return df


def _bucket_udf(inner: np.ndarray) -> Any:
    def bucket(v: pd.Series) -> pd.Series:
        return pd.Series(bucket_of(v.to_numpy(dtype="float64", na_value=np.nan), inner))

    return F.pandas_udf(bucket, "double")  # type: ignore[call-overload]


def bucket_of(values: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Bucket indices (float) of ``values`` between the sorted ``inner`` edges, as Bucketizer gives
    them with splits ``[-inf, *inner, inf]`` and ``handleInvalid="keep"``."""
    idx = np.searchsorted(inner, values, side="right").astype("float64")
    idx[np.isnan(values)] = len(inner) + 1
    return idx


def ks_bucketed(real: DataFrame, syn: DataFrame, cols: list[str], n_real: dict[str, int],
                n_syn: dict[str, int], edges: dict[str, list[float]]) -> dict[str, tuple[float, float]]:
    """Lower and upper bounds of the KS statistic per column from exact per-bucket counts.

    ``edges`` are bucket edges per column (approximate quantiles of both sides). Within a bucket
    each empirical CDF moves at most by its own mass in that bucket, which gives the upper bound;
    the lower bound is the largest CDF gap at a bucket edge. A bucket holding a single distinct
    value contributes no uncertainty, so the bounds meet wherever the edges separate distinct
    values. The bounds hold whatever the edges; good edges only make them tight.
    """
    if not cols:
        return {}
    splits = []
    for c in cols:
        inner = sorted(set(edges.get(c, []))) or [0.0]   # Bucketizer needs one inner edge at least
        splits.append([-math.inf] + inner + [math.inf])
    bucket_cols = [f"{c}__b" for c in cols]
    inputs = [f"{c}__in" for c in cols]
    pre = real.select(*cols, *[F.col(c).alias(i) for c, i in zip(cols, inputs)])
    pre_s = syn.select(*cols, *[F.col(c).alias(i) for c, i in zip(cols, inputs)])
    br = _bucketize(pre, inputs, splits, bucket_cols).select(
        *cols, *bucket_cols, F.lit(1).alias("__r"), F.lit(0).alias("__s"))
    bs = _bucketize(pre_s, inputs, splits, bucket_cols).select(
        *cols, *bucket_cols, F.lit(0).alias("__r"), F.lit(1).alias("__s"))
    both = br.unionByName(bs)
    parts = ", ".join(f"'{c}', CAST({c} AS double), CAST({b} AS int)" for c, b in zip(cols, bucket_cols))
    long = both.selectExpr(f"stack({len(cols)}, {parts}) AS (__col, __v, __b)", "__r", "__s") \
        .where(F.col("__v").isNotNull())
    rows = long.groupBy("__col", "__b").agg(
        F.sum("__r").alias("nr"), F.sum("__s").alias("ns"),
        F.min("__v").alias("lo"), F.max("__v").alias("hi")).collect()
    per_col: dict[str, list] = {c: [] for c in cols}
    for r in rows:
        per_col[r["__col"]].append((int(r["__b"]), int(r["nr"]), int(r["ns"]), r["lo"], r["hi"]))
    out = {}
    for c in cols:
        nr, ns = max(n_real[c], 1), max(n_syn[c], 1)
        cr = cs = 0.0
        lower = upper = 0.0
        for _, a, b, lo, hi in sorted(per_col[c]):
            pr, ps = cr, cs
            cr += a / nr
            cs += b / ns
            gap = abs(cr - cs)
            lower = max(lower, gap)
            if lo == hi:
                upper = max(upper, gap, abs(pr - ps))
            else:
                upper = max(upper, gap, abs(pr - ps), cr - ps, cs - pr)
        out[c] = (lower, upper)
    return out


def discrete_counts(real: DataFrame, syn: DataFrame, cols: list[str],
                    hist: dict[str, tuple[float, float]] | None = None, bins: int = 30) -> DataFrame:
    """(__col, __v, nr, ns): non-null value counts per discrete column and side, and for each
    continuous column in ``hist`` (name -> shared (lo, hi) range) its equal-width bin counts, with
    the bin index as ``__v``; one scan of both sides."""
    hist = hist or {}
    names = list(cols) + list(hist)
    u = _tagged_union(real, syn, names)
    exprs = [F.col(c).cast("string").alias(c) for c in cols]
    for c, (a, b) in hist.items():
        width = (b - a) / bins if b > a else 1.0
        idx = F.least(F.greatest(F.floor((F.col(c) - F.lit(a)) / F.lit(width)), F.lit(0)),
                      F.lit(bins - 1)).cast("int").cast("string")
        exprs.append(F.when(F.col(c).isNull(), F.lit(None).cast("string")).otherwise(idx).alias(c))
    parts = ", ".join(f"'{c}', {c}" for c in names)
    return (u.select(*exprs, "__r", "__s")
            .selectExpr(f"stack({len(names)}, {parts}) AS (__col, __v)", "__r", "__s")
            .where(F.col("__v").isNotNull())
            .groupBy("__col", "__v").agg(F.sum("__r").alias("nr"), F.sum("__s").alias("ns")))


def histograms_from_counts(counts: DataFrame, hist: dict[str, tuple[float, float]],
                           bins: int) -> dict[str, dict[str, Any]]:
    """The equal-width histograms that ``discrete_counts`` computed for continuous columns."""
    if not hist:
        return {}
    out = {}
    for c, (a, b) in hist.items():
        width = (b - a) / bins if b > a else 1.0
        out[c] = {"edges": [a + i * width for i in range(bins + 1)], "real": [0] * bins,
                  "synthetic": [0] * bins}
    for r in counts.where(F.col("__col").isin(list(hist))).collect():
        i = int(r["__v"])
        out[r["__col"]]["real"][i] += int(r["nr"])
        out[r["__col"]]["synthetic"][i] += int(r["ns"])
    return out


def tv_complement(counts: DataFrame, cols: list[str], n_real: dict[str, int],
                  n_syn: dict[str, int]) -> dict[str, float]:
    """1 - total variation distance between the non-null category frequencies, per column."""
    if not cols:
        return {}
    nr = F.create_map(*[x for c in cols for x in (F.lit(c), F.lit(float(max(n_real[c], 1))))])
    ns = F.create_map(*[x for c in cols for x in (F.lit(c), F.lit(float(max(n_syn[c], 1))))])
    rows = counts.groupBy("__col").agg(
        F.sum(F.abs(F.col("nr") / F.element_at(nr, F.col("__col"))
                    - F.col("ns") / F.element_at(ns, F.col("__col"))))
        .alias("tv")).collect()
    return {r["__col"]: 1.0 - 0.5 * float(r["tv"]) for r in rows}


def top_categories(counts: DataFrame, cols: list[str], k: int) -> dict[str, list[tuple[str, int, int]]]:
    """The k most frequent categories per column (real+synthetic counts), for plots and binning."""
    if not cols:
        return {}
    w = Window.partitionBy("__col").orderBy(F.desc("nr"), F.desc("ns"), F.asc("__v"))
    rows = (counts.withColumn("__rk", F.row_number().over(w)).where(F.col("__rk") <= k)
            .select("__col", "__v", "nr", "ns", "__rk").collect())
    out: dict[str, list] = {c: [] for c in cols}
    for r in sorted(rows, key=lambda r: (r["__col"], r["__rk"])):
        out[r["__col"]].append((r["__v"], int(r["nr"]), int(r["ns"])))
    return out
