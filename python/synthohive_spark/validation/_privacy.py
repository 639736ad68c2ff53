"""Privacy in Spark: distance to closest record (DCR) of synthetic rows against real training rows
and against real holdout rows, and the exact-copy rate.

DCR follows SDMetrics' definition: per column, numbers and datetimes contribute
``min(|a - b| / range, 1)`` (range of the real training column; 1 when exactly one side is
missing), categories contribute 0 when equal and 1 otherwise (missing equals missing); the
distance is the mean over columns. It runs on bounded samples: a broadcast sample of synthetic rows
is cross-joined with equally sized samples of the training and holdout rows, and only one minimum
distance per synthetic row comes back to the driver.

The same distances give a membership-inference attack: each sampled training row (a member) and
holdout row (a non-member) is scored by minus its distance to the closest sampled synthetic row,
and the AUC of telling members from non-members by that score is reported (0.5: the synthetic
rows say nothing about who was in the training data; 1: every training row has a closer synthetic
twin than any holdout row). One minimum distance per reference row comes back to the driver.
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ._columns import ColumnPlan

logger = logging.getLogger("synthohive_spark.validation.privacy")


def _sample(df: DataFrame, total: int, n: int, seed: int) -> DataFrame:
    if total <= n:
        return df
    frac = min(1.0, 1.2 * n / total + 1e-4)
    return df.sample(withReplacement=False, fraction=frac, seed=seed).limit(n)


def _distance(plans: list[ColumnPlan], ranges: dict[str, float]) -> Column:
    terms = []
    for p in plans:
        a, b = F.col(f"s_{p.internal}"), F.col(f"t_{p.internal}")
        if p.kind == "continuous":
            rng = ranges.get(p.internal) or 0.0
            diff = F.abs(a - b)
            val = (F.when(diff > 0, F.lit(1.0)).otherwise(F.lit(0.0)) if rng == 0
                   else F.least(diff / F.lit(rng), F.lit(1.0)))
            term = (F.when(a.isNull() & b.isNull(), F.lit(0.0))
                    .when(a.isNull() | b.isNull(), F.lit(1.0)).otherwise(val))
        else:
            term = F.when(a.eqNullSafe(b), F.lit(0.0)).otherwise(F.lit(1.0))
        terms.append(term)
    return sum(terms[1:], terms[0]) / F.lit(float(len(terms)))


def dcr(train: DataFrame, holdout: DataFrame, syn: DataFrame, plans: list[ColumnPlan],
        ranges: dict[str, float], n_train: int, n_holdout: int, n_syn: int,
        synthetic_rows: int, reference_rows: int, seed: int) -> dict[str, Any]:
    """DCR of a synthetic sample against same-sized training and holdout samples."""
    cols = [p for p in plans if p.applicable]
    names = [p.internal for p in cols]
    m = int(min(reference_rows, n_train, n_holdout))
    s = _sample(syn.select(*names), n_syn, synthetic_rows, seed) \
        .select(F.monotonically_increasing_id().alias("__id"), *[F.col(c).alias(f"s_{c}") for c in names])
    t = _sample(train.select(*names), n_train, m, seed + 1) \
        .select(*[F.col(c).alias(f"t_{c}") for c in names], F.lit(1).alias("__train"),
                F.monotonically_increasing_id().alias("__rid"))
    h = _sample(holdout.select(*names), n_holdout, m, seed + 2) \
        .select(*[F.col(c).alias(f"t_{c}") for c in names], F.lit(0).alias("__train"),
                F.monotonically_increasing_id().alias("__rid"))
    ref = t.unionByName(h)
    d = _distance(cols, ranges)
    pairs = F.broadcast(s).crossJoin(ref).select("__id", "__rid", "__train", d.alias("__d"))
    rows = (pairs.groupBy("__id")
            .agg(F.min(F.when(F.col("__train") == 1, F.col("__d"))).alias("dt"),
                 F.min(F.when(F.col("__train") == 0, F.col("__d"))).alias("dh"))
            .collect())
    dt = np.array([r["dt"] for r in rows if r["dt"] is not None and r["dh"] is not None], dtype=float)
    dh = np.array([r["dh"] for r in rows if r["dt"] is not None and r["dh"] is not None], dtype=float)
    if len(dt) == 0:
        return {"applicable": False, "reason": "no synthetic or reference rows to compare"}
    closer = float(np.mean(dt < dh))
    ref_rows = pairs.groupBy("__train", "__rid").agg(F.min("__d").alias("d")).collect()
    members = np.array([r["d"] for r in ref_rows if r["__train"] == 1], dtype=float)
    non_members = np.array([r["d"] for r in ref_rows if r["__train"] == 0], dtype=float)
    return {
        "applicable": True,
        "synthetic_sample_rows": int(len(dt)),
        "reference_sample_rows_each": m,
        "columns": [p.name for p in cols],
        "dcr_train_median": float(np.median(dt)),
        "dcr_holdout_median": float(np.median(dh)),
        "dcr_train_p05": float(np.quantile(dt, 0.05)),
        "dcr_holdout_p05": float(np.quantile(dh, 0.05)),
        "dcr_train_min": float(dt.min()),
        "share_closer_to_train": closer,
        "share_closer_to_holdout": 1.0 - closer,
        "overfitting_protection_score": min((1.0 - closer) * 2.0, 1.0),
        "zero_distance_share": float(np.mean(dt == 0.0)),
        "dcr_train_histogram": np.histogram(dt, bins=20, range=(0.0, 1.0))[0].tolist(),
        "dcr_holdout_histogram": np.histogram(dh, bins=20, range=(0.0, 1.0))[0].tolist(),
        "membership_inference_auc": membership_auc(-members, -non_members),
        "membership_inference_member_rows": int(len(members)),
        "membership_inference_non_member_rows": int(len(non_members)),
    }


def membership_auc(member_scores: np.ndarray, non_member_scores: np.ndarray) -> float | None:
    """AUC of telling members from non-members by a score (higher: more likely a member), ties
    counted half (Mann-Whitney U / (n1 n2)); None when either side is empty."""
    n1, n0 = len(member_scores), len(non_member_scores)
    if n1 == 0 or n0 == 0:
        return None
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([member_scores, non_member_scores]))
    return float((ranks[:n1].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def exact_copy_rate(reference: DataFrame, syn: DataFrame, plans: list[ColumnPlan], n_syn: int) -> float:
    """Share of synthetic rows equal, on every evaluated column, to some reference row (null equals
    null). Exact, by a semi join against the reference's distinct rows."""
    names = [p.internal for p in plans if p.applicable]
    ref = reference.select(*[F.col(c).alias(f"r_{c}") for c in names]).distinct()
    cond = [F.col(c).eqNullSafe(F.col(f"r_{c}")) for c in names]
    copies = int(syn.select(*names).join(ref, on=cond, how="left_semi").count())
    return copies / max(n_syn, 1)
