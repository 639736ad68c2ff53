"""Column pair trends in Spark: correlation similarity (continuous pairs) and contingency
similarity (discrete pairs, or a continuous column binned against a discrete one).

Binning follows SDMetrics' QualityReport: each side's continuous column is cut into 10 equal-width
bins over that side's own range (numpy's ``histogram_bin_edges`` + ``digitize``: values below the
first edge fall in bin 0, the maximum and missing values in bin 11). Missing values of discrete
columns are a category of their own.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ._columns import ColumnPlan, quote

logger = logging.getLogger("synthohive_spark.validation.pairs")

N_BINS = 10
OTHER = "\u2026other"


@dataclass
class PairSpec:
    """One column pair: internal names on the frame pair, and display names."""

    a: ColumnPlan
    b: ColumnPlan
    a_col: str
    b_col: str
    pid: str


def bin_edges(minimum: float | None, maximum: float | None) -> list[float]:
    """numpy.histogram_bin_edges(values, bins=10) from the values' min and max."""
    if minimum is None or maximum is None:
        lo, hi = 0.0, 1.0
    elif minimum == maximum:
        lo, hi = float(minimum) - 0.5, float(maximum) + 0.5
    else:
        lo, hi = float(minimum), float(maximum)
    return [float(x) for x in np.linspace(lo, hi, N_BINS + 1)]


def digitize(name: str, edges: list[float]) -> Column:
    """numpy.digitize(value, edges) of column ``name`` (one or more edges) as a Spark
    expression (null -> len(edges), as NaN in numpy), as a string. Written as one SQL expression: built from Column
    objects it took a dozen Py4J calls per edge, a tenth of a report's time."""
    c = quote(name)
    # repr is the shortest text that reads back as the same double
    idx = " + ".join(f"IF({c} >= {float(e)!r}D, 1, 0)" for e in edges)
    return F.expr(f"CAST(IF({c} IS NULL, {len(edges)}, {idx}) AS STRING)")


def contingency(real: DataFrame, syn: DataFrame, pairs: list[PairSpec],
                real_exprs: dict[str, Column], syn_exprs: dict[str, Column],
                n_real: int, n_syn: int) -> dict[str, tuple[float, float | None]]:
    """Per pair: (1 - total variation distance between the joint frequency tables, Cramer's V of
    the real table or None when it has fewer than two rows or columns).

    ``real_exprs``/``syn_exprs`` map an internal column name to its discrete expression on that
    side (strings; continuous columns already binned). Cramer's V uses chi2 without continuity
    correction, from the non-zero cells: chi2 = n * (sum O^2 / (R_a * C_b) - 1).
    """
    if not pairs:
        return {}
    needed = sorted({p.a_col for p in pairs} | {p.b_col for p in pairs})
    r = real.select(*[real_exprs[c].alias(c) for c in needed], F.lit(1).alias("__r"), F.lit(0).alias("__s"))
    s = syn.select(*[syn_exprs[c].alias(c) for c in needed], F.lit(0).alias("__r"), F.lit(1).alias("__s"))
    u = r.unionByName(s)
    parts = ", ".join(f"'{p.pid}', {p.a_col}, {p.b_col}" for p in pairs)
    long = u.selectExpr(f"stack({len(pairs)}, {parts}) AS (__pair, __a, __b)", "__r", "__s")
    cells = long.groupBy("__pair", "__a", "__b").agg(F.sum("__r").alias("nr"), F.sum("__s").alias("ns"))
    wa = Window.partitionBy("__pair", "__a")
    wb = Window.partitionBy("__pair", "__b")
    cells = cells.withColumn("__ra", F.sum("nr").over(wa)).withColumn("__cb", F.sum("nr").over(wb))
    real_cell = F.col("nr") > 0
    rows = cells.groupBy("__pair").agg(
        F.sum(F.abs(F.col("nr") / F.lit(float(max(n_real, 1))) - F.col("ns") / F.lit(float(max(n_syn, 1)))))
        .alias("tv"),
        F.sum(F.when(real_cell, F.col("nr") * F.col("nr") / (F.col("__ra") * F.col("__cb")))).alias("q"),
        F.sum("nr").alias("n"),
        F.count_distinct(F.when(real_cell, F.struct(F.col("__a")))).alias("ka"),
        F.count_distinct(F.when(real_cell, F.struct(F.col("__b")))).alias("kb"),
    ).collect()
    out: dict[str, tuple[float, float | None]] = {}
    for row in rows:
        k = min(int(row["ka"]), int(row["kb"]))
        n = float(row["n"] or 0)
        assoc = None
        if k >= 2 and n > 0:
            chi2 = max(n * (float(row["q"]) - 1.0), 0.0)
            assoc = math.sqrt(chi2 / (n * (k - 1)))
        out[row["__pair"]] = (1.0 - 0.5 * float(row["tv"]), assoc)
    return out


def discrete_expr(plan: ColumnPlan, internal: str, stats_min: dict[str, Any], stats_max: dict[str, Any],
                  keep: dict[str, list[str]] | None = None) -> Column:
    """The discrete form of a column on one side: binned when continuous, top categories kept
    (others lumped) when the column has too many categories."""
    if plan.kind == "continuous":
        return digitize(internal, bin_edges(stats_min.get(internal), stats_max.get(internal)))
    col = F.col(internal)
    if keep and internal in keep:
        return F.when(col.isNull(), F.lit(None).cast("string")) \
            .when(col.isin(keep[internal]), col).otherwise(F.lit(OTHER))
    return col
