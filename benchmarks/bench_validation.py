"""Benchmark: evaluate() on generated real/synthetic frames (8 columns) and print time per property.

    nice -n 10 python benchmarks/bench_validation.py --rows 1000000
    nice -n 10 python benchmarks/bench_validation.py --rows 10000000 --holdout

The frames come from ``spark.range`` and rand expressions (nothing is read from disk), so the
timings include generating the rows each time a metric scans them, as a lazily read source would.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from synthohive_spark.session import get_or_create_session  # noqa: E402
from synthohive_spark.validation import evaluate  # noqa: E402


def frame(spark: SparkSession, rows: int, seed: int, shift: float, partitions: int) -> DataFrame:
    """8 columns: 3 continuous (two correlated), an integer, a timestamp, two categoricals, a flag."""
    base = spark.range(0, rows, numPartitions=partitions)
    x1 = F.randn(seed) * 10 + 50 + shift * 3
    df = base.select(
        F.col("id"),
        x1.alias("x1"),
        F.rand(seed + 1).alias("u1"), F.randn(seed + 2).alias("n2"), F.rand(seed + 3).alias("u3"),
        F.rand(seed + 4).alias("u4"), F.rand(seed + 5).alias("u5"), F.rand(seed + 6).alias("u6"),
        F.randn(seed + 7).alias("n7"))
    cats = F.array(*[F.lit(c) for c in ["north", "south", "east", "west", "centre"]])
    return df.select(
        "id",
        F.col("x1"),
        (F.col("x1") * (2.0 - shift) + F.col("n2") * 8).alias("x2"),
        F.exp(F.col("n7") * (0.5 + 0.2 * shift)).alias("x3"),
        F.floor(F.col("u1") * 80 + shift * 4).cast("int").alias("age"),
        F.timestamp_seconds(F.lit(1_600_000_000) + F.floor(F.col("u3") * 3e7 * (1 + shift * 0.1))).alias("ts"),
        F.element_at(cats, (F.floor(F.pow(F.col("u4"), 1 + shift) * 5) + 1).cast("int")).alias("region"),
        F.concat(F.lit("city"), F.floor(F.pow(F.col("u5"), 2 + shift) * 200).cast("string")).alias("city"),
        (F.col("u6") < 0.3 + 0.1 * shift).alias("flag"),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--holdout", action="store_true", help="also compute the privacy section")
    ap.add_argument("--driver-memory", default="4g")
    ap.add_argument("--exact-ks-max-distinct", type=int, default=100_000)
    ap.add_argument("--html", default=None, help="write the HTML report here")
    ap.add_argument("--cache", action="store_true", help="cache the projected columns while evaluating")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    spark = get_or_create_session(app_name="bench-validation", master=args.master,
                                  conf={"spark.driver.memory": args.driver_memory,
                                        "spark.sql.shuffle.partitions": str(args.partitions)})
    real = frame(spark, args.rows, 1, 0.0, args.partitions)
    syn = frame(spark, args.rows, 101, 0.15, args.partitions)
    hold = frame(spark, args.rows, 201, 0.0, args.partitions) if args.holdout else None
    start = time.perf_counter()
    rep = evaluate(real, syn, holdout=hold, exact_ks_max_distinct=args.exact_ks_max_distinct,
                   cache=args.cache)
    total = time.perf_counter() - start

    print(f"\nevaluate() on {args.rows:,} real + {args.rows:,} synthetic rows, 8 columns + id, "
          f"master={args.master}, cache={args.cache}, holdout={args.holdout}")
    print(f"{'step':<28}{'seconds':>10}")
    for k, v in rep.timings.items():
        print(f"{k:<28}{v:>10.1f}")
    print(f"{'total':<28}{total:>10.1f}")
    print(f"\nscore={rep.score:.4f}  " + "  ".join(
        f"{k}={'n/a' if v is None else f'{v:.4f}'}" for k, v in rep.properties.items()))
    for r in rep.details["column_shapes"]:
        bound = r.get("error_bound")
        print(f"  {r['column']:<8}{r['metric']:<14}{r['score']:.4f}  {r['method']}"
              + (f"  +-{bound:.5f}" if bound else ""))
    if args.html:
        rep.save_html(args.html)
    spark.stop()


if __name__ == "__main__":
    main()
