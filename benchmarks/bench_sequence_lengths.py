"""How many children a parent gets: the cardinality model (the relational synthesizer's default:
the sequence model is then given each sequence's length) against the sequence model's own
end-of-sequence output, on the real sequential child tables of ``../shared/datasets/realdata.py``.

For storms (observations per storm) and gapminder (years per country), in one run: the sequence
model is fitted once on the whole child table under its parent's columns (pandas, no Spark); the
cardinality core (``ChildCountModel``) on the parents' child counts. Both then draw a length for
every real parent under its real columns; printed: KS complement of the drawn lengths against the
real ones, their mean and 90th percentile, and for the end-token lengths the sequence metrics of
the rows drawn with them (the six-hour / five-year share of steps).

With ``--speed``, the Spark side: storms fitted twice by ``RelationalSynthesizer`` (observations
as sequences, and with ``tableParams={"observations": {"model": "gaussian_copula"}}``: rows drawn
one by one under their storm, today's non-sequential child generation), each sampled at
``--scale`` and written to parquet; printed: the child table's rows and the wall time of the
whole sample, rows/s per core (Spark's default parallelism), and the ratio of the two.

    nice -n 10 .venv-spark35/bin/python benchmarks/bench_sequence_lengths.py [--seed 0]
    nice -n 10 .venv-spark35/bin/python benchmarks/bench_sequence_lengths.py --speed --scale 20
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(os.path.dirname(ROOT), "shared", "datasets"))

CASES = {
    # dataset: (parent, child, key, order column, parent context columns, expected step)
    "storms": ("storms", "observations", "storm_id", "observed_at", ["year", "peak_category"],
               pd.Timedelta(hours=6)),
    "gapminder": ("countries", "years", "country", "year", ["continent"], 5),
}


def run(name: str, seed: int) -> list[dict]:
    import realdata
    from synthohive_spark.models import create_model
    from synthohive_spark.relational import ChildCountModel

    parent_t, child_t, key, order, ctx_cols, step = CASES[name]
    tables, _ = getattr(realdata, name)()
    parents, child = tables[parent_t], tables[child_t]
    joined = child.merge(parents[[key, *ctx_cols]], on=key).sort_values([key, order], kind="stable")
    data = joined[[c for c in child.columns if c not in (key, child.columns[0])]]
    t0 = time.perf_counter()
    model = create_model("sequence", seed=seed).fit(data.reset_index(drop=True),
                                                    joined[ctx_cols].reset_index(drop=True),
                                                    groups=joined[key].to_numpy())
    fit_s = time.perf_counter() - t0
    real = child.groupby(key).size().reindex(parents[key], fill_value=0).to_numpy()
    counts = ChildCountModel().fit(parents[ctx_cols], real)
    by_card = counts.sample(parents[ctx_cols], seed=seed, n=len(parents))
    rows, seq = model.sample_sequences(len(parents), parents[ctx_cols].reset_index(drop=True),
                                       seed=seed, max_length=int(real.max()))
    by_end = np.bincount(seq, minlength=len(parents))
    rows = rows.assign(_seq=seq).sort_values(["_seq", order], kind="stable")
    steps = rows.groupby("_seq")[order].diff().dropna()
    real_steps = child.sort_values([key, order]).groupby(key)[order].diff().dropna()
    out = []
    for how, drawn in (("cardinality model", by_card), ("end token", by_end)):
        out.append({"dataset": name, "lengths from": how,
                    "KS compl": 1 - ks_2samp(real, drawn).statistic,
                    "mean": float(np.mean(drawn)), "p90": float(np.percentile(drawn, 90)),
                    "real mean": float(real.mean()), "real p90": float(np.percentile(real, 90)),
                    "step share": (float((steps == step).mean()) if how == "end token" else
                                   float("nan")),
                    "real step share": float((real_steps == step).mean()),
                    "fit s": fit_s})
    return out


def speed(scale: float, seed: int) -> list[dict]:
    import shutil
    import tempfile

    import realdata
    from synthohive_spark import Metadata, RelationalSynthesizer
    from synthohive_spark.session import get_or_create_session

    spark = get_or_create_session(app_name="bench-sequences", master="local[2]")
    cores = spark.sparkContext.defaultParallelism
    tables, _ = realdata.storms()
    frames = {t: spark.createDataFrame(df) for t, df in tables.items()}
    md = Metadata.detect(tables)
    out = []
    for how, params in (("sequence", {}),
                        ("rows one by one (gaussian_copula)",
                         {"observations": {"model": "gaussian_copula"}})):
        t0 = time.perf_counter()
        model = RelationalSynthesizer(metadata=md, seed=seed, tableParams=params).fit(frames)
        fit_s = time.perf_counter() - t0
        best = None
        for _ in range(2):  # the first run also starts the Python workers
            target = tempfile.mkdtemp(prefix="bench-seq-")
            try:
                t0 = time.perf_counter()
                written = model.sample(scale=scale, seed=seed + 1, output=target, mode="overwrite")
                wall = time.perf_counter() - t0
                rows = written["observations"].count()
            finally:
                shutil.rmtree(target, ignore_errors=True)
            best = wall if best is None else min(best, wall)
        out.append({"observations from": how, "fit s": fit_s, "child rows": rows,
                    "sample s": best, "rows/s/core": rows / best / cores})
    out[0]["ratio"] = out[0]["rows/s/core"] / out[1]["rows/s/core"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dataset", default="storms,gapminder")
    ap.add_argument("--speed", action="store_true", help="Spark generation speed on storms")
    ap.add_argument("--scale", type=float, default=20.0)
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    if args.speed:
        print(pd.DataFrame(speed(args.scale, args.seed)).round(3).to_string(index=False))
        return
    rows = []
    for name in args.dataset.split(","):
        rows += run(name, args.seed)
    pd.set_option("display.width", 200)
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
