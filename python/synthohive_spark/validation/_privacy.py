"""Privacy in Spark: distance to closest record (DCR) of synthetic rows against real training rows
and against real holdout rows, the exact-copy rate, and whether the metadata's ``min_dcr`` and
``exact_copy_tolerance`` hold.

DCR follows SDMetrics' definition, computed by :mod:`synthohive_spark.privacy.nearest` (the one
place it is written, which generation also enforces): per column, numbers and datetimes contribute
``min(|a - b| / range, 1)`` (range of the real training column; 1 when exactly one side is
missing), categories contribute 0 when equal and 1 otherwise (missing equals missing); the
distance is the mean over columns. It runs on bounded samples: a sample of synthetic rows travels
to the executors in the task closure, and equally sized samples of the training and holdout rows
are measured against it there; one minimum distance per sampled row comes back to the driver.

The same distances give a membership-inference attack: each sampled training row (a member) and
holdout row (a non-member) is scored by minus its distance to the closest sampled synthetic row,
and the AUC of telling members from non-members by that score is reported (0.5: the synthetic
rows say nothing about who was in the training data; 1: every training row has a closer synthetic
twin than any holdout row).
"""
from __future__ import annotations

import logging
from typing import Any, Iterator, Optional

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from synthohive_spark.privacy.nearest import CATEGORY, NUMBER, NearestIndex

from ._columns import ColumnPlan

logger = logging.getLogger("synthohive_spark.validation.privacy")


def _sample(df: DataFrame, total: int, n: int, seed: int) -> DataFrame:
    if total <= n:
        return df
    frac = min(1.0, 1.2 * n / total + 1e-4)
    return df.sample(withReplacement=False, fraction=frac, seed=seed).limit(n)


def sampled_distances(train: DataFrame, holdout: Optional[DataFrame], syn: DataFrame,
                      plans: list[ColumnPlan], ranges: dict[str, float], n_train: int,
                      n_holdout: int, n_syn: int, synthetic_rows: int, reference_rows: int,
                      seed: int) -> dict[str, Any]:
    """Distances between a sample of at most ``synthetic_rows`` synthetic rows and samples of
    ``m = min(reference_rows, n_train, n_holdout)`` training and holdout rows (``holdout`` None:
    training rows only): ``train``/``holdout``, each synthetic row's distance to the closest
    sampled training / holdout row (inf when there is none), ``members``/``non_members``, each
    sampled training / holdout row's distance to the closest synthetic row, and ``m``. The
    projected columns hold normalised values (doubles and strings, see ``_columns.project``)."""
    cols = [p for p in plans if p.applicable]
    names = [p.internal for p in cols]
    m = int(min(reference_rows, n_train, n_holdout if holdout is not None else n_train))
    synthetic = _sample(syn.select(*names), n_syn, synthetic_rows, seed).toPandas()
    index = NearestIndex.build(
        synthetic, {p.internal: NUMBER if p.kind == "continuous" else CATEGORY for p in cols},
        {c: ranges.get(c) or 0.0 for c in names}, distinct=False)
    ref = _sample(train.select(*names), n_train, m, seed + 1).withColumn("__train", F.lit(1))
    if holdout is not None:
        ref = ref.unionByName(_sample(holdout.select(*names), n_holdout, m, seed + 2)
                              .withColumn("__train", F.lit(0)))

    def nearest(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            member = batch["__train"].to_numpy() == 1
            own = np.full(len(batch), np.inf)
            to_train, to_holdout = np.full(index.rows, np.inf), np.full(index.rows, np.inf)
            if index.rows:
                for rows, d in index.blocks(batch):
                    own[rows] = d.min(axis=1)
                    side = member[rows]
                    if side.any():
                        to_train = np.minimum(to_train, d[side].min(axis=0))
                    if (~side).any():
                        to_holdout = np.minimum(to_holdout, d[~side].min(axis=0))
            ids = np.arange(index.rows)
            # kind 1/0: a training/holdout row and its distance to the closest synthetic row;
            # kind 3/2: a synthetic row and its distance to the closest training/holdout row
            yield pd.DataFrame({
                "kind": np.concatenate([member.astype(np.int32), np.full(index.rows, 3, np.int32),
                                        np.full(index.rows, 2, np.int32)]),
                "id": np.concatenate([np.zeros(len(batch), np.int64), ids, ids]),
                "d": np.concatenate([own, to_train, to_holdout])})

    got = ref.mapInPandas(nearest, schema="kind int, id long, d double").toPandas()
    out: dict[str, Any] = {"m": m}
    for key, kind in (("train", 3), ("holdout", 2)):
        part = got[got["kind"] == kind]
        best = np.full(index.rows, np.inf)
        np.minimum.at(best, part["id"].to_numpy(dtype=np.int64), part["d"].to_numpy(dtype=float))
        out[key] = best
    out["members"] = got.loc[got["kind"] == 1, "d"].to_numpy(dtype=float)
    out["non_members"] = got.loc[got["kind"] == 0, "d"].to_numpy(dtype=float)
    return out


def dcr(distances: dict[str, Any], plans: list[ColumnPlan]) -> dict[str, Any]:
    """The DCR section of a table from its :func:`sampled_distances` with a holdout."""
    cols = [p for p in plans if p.applicable]
    both = np.isfinite(distances["train"]) & np.isfinite(distances["holdout"])
    dt, dh = distances["train"][both], distances["holdout"][both]
    if len(dt) == 0:
        return {"applicable": False, "reason": "no synthetic or reference rows to compare"}
    closer = float(np.mean(dt < dh))
    members, non_members = distances["members"], distances["non_members"]
    return {
        "applicable": True,
        "synthetic_sample_rows": int(len(dt)),
        "reference_sample_rows_each": distances["m"],
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


def copy_settings_check(dcr_train: np.ndarray, exact_copy_rate: float, min_dcr: Optional[float],
                        tolerance: float, reference_rows: int) -> dict[str, Any]:
    """Whether the metadata's ``min_dcr`` (on the sampled synthetic rows' DCR to the sampled
    training rows) and ``exact_copy_tolerance`` (on the exact-copy rate of all rows) hold."""
    dt = dcr_train[np.isfinite(dcr_train)]
    out: dict[str, Any] = {"exact_copy_tolerance": float(tolerance),
                           "exact_copy_rate": float(exact_copy_rate),
                           "exact_copy_tolerance_holds": bool(exact_copy_rate <= tolerance)}
    if min_dcr is not None:
        below = float(np.mean(dt < min_dcr)) if len(dt) else None
        out.update({"min_dcr": float(min_dcr), "share_below_min_dcr": below,
                    "min_dcr_holds": None if below is None else below == 0.0,
                    "synthetic_sample_rows": int(len(dt)),
                    "training_sample_rows": int(reference_rows)})
    out["holds"] = bool(out["exact_copy_tolerance_holds"] and out.get("min_dcr_holds", True))
    return out


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
