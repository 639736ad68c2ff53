"""Multi-table metrics in Spark: referential integrity and cardinality shape per relationship."""
from __future__ import annotations

import logging
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ._columns import quote

logger = logging.getLogger("synthohive_spark.validation.multi")


def referential_integrity(child: DataFrame, fk: str, parent: DataFrame, pk: str) -> dict[str, Any]:
    """Share of non-null foreign-key values that have a parent row (exact, by an anti join)."""
    keys = child.select(F.col(quote(fk)).alias("__fk")).where(F.col("__fk").isNotNull())
    total = int(keys.count())
    parents = parent.select(F.col(quote(pk)).alias("__pk")).distinct()
    orphans = int(keys.join(parents, F.col("__fk") == F.col("__pk"), "left_anti").count()) if total else 0
    return {"foreign_keys": total, "orphans": orphans,
            "score": (1.0 - orphans / total) if total else None}


def cardinality_histogram(child: DataFrame, fk: str, parent: DataFrame, pk: str) -> dict[int, int]:
    """Number of parents per child count (parents with no child count as 0), as SDMetrics counts
    them: every parent row joined with the number of child rows holding its key."""
    counts = child.groupBy(F.col(quote(fk)).alias("__k")).agg(F.count(F.lit(1)).alias("__n"))
    per_parent = (parent.select(F.col(quote(pk)).alias("__pk"))
                  .join(counts, F.col("__pk") == F.col("__k"), "left")
                  .select(F.coalesce(F.col("__n"), F.lit(0)).alias("__n")))
    rows = per_parent.groupBy("__n").count().collect()
    return {int(r["__n"]): int(r["count"]) for r in rows}


def ks_from_histograms(h1: dict[int, int], h2: dict[int, int]) -> float | None:
    """Exact two-sample KS statistic of two integer distributions given as value -> count."""
    n1, n2 = sum(h1.values()), sum(h2.values())
    if n1 == 0 or n2 == 0:
        return None
    c1 = c2 = 0
    d = 0.0
    for v in sorted(set(h1) | set(h2)):
        c1 += h1.get(v, 0)
        c2 += h2.get(v, 0)
        d = max(d, abs(c1 / n1 - c2 / n2))
    return d
