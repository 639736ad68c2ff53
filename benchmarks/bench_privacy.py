"""Differential privacy: quality and privacy metrics against epsilon, on one real table and one
real database, in one run.

* Table: ``surveys`` of ratdat (``../shared/datasets/realdata.py``; 35k field records of rodents:
  date parts, plot, species, sex, hindfoot length, weight), its key dropped, split 80/20 into
  training and holdout rows by a seeded shuffle. For each model (``gaussian_copula``, ``tvae``,
  ``ctgan``: ``--models``)
  and each epsilon (``--epsilons``, default 1, 3, 10 and none): ``TableSynthesizer`` fit on the
  training rows (time), as many rows sampled as trained on, SDMetrics' single-table
  ``QualityReport`` (column shapes / column pair trends) against the training rows, and our
  report's privacy section against the holdout: median DCR to training and to holdout, exact
  copies, membership-inference AUC. A baseline row: independent marginals (each column of the
  training rows shuffled on its own: real values, no dependence), the floor epsilon 1 must beat.
* Database: pizzaplace (menu, orders -> order items), ``RelationalSynthesizer`` on the detected
  metadata with ``epsilon`` split over the tables (the copula; ``none``: the copula without
  noise), SDMetrics' multi-table ``QualityReport`` against the real tables, fit time.
* ``--fits N`` (default 5): every model, epsilon and the baseline is run N times, fit ``i`` with
  model seed ``--seed + i`` and sample seed ``--seed + i + 1`` (a DP fit also draws fresh noise),
  on the same training rows; the tables print each configuration's mean and its range over the
  fits, and the targets are judged on the means, fit by fit beside them (one fit says little: the
  seeds move a DP copula's quality by 0.04 on this table).

The issue's targets: at epsilon 10 the quality within 0.05 of the model without differential
privacy; at epsilon 1 above the independent-marginals baseline.

The database part scores with SDV's metadata (``pip install sdv -c ci-constraints-spark35.txt``
into ``.venv-spark35``; ``--no-database`` without it).

    nice -n 10 .venv-spark35/bin/python benchmarks/bench_privacy.py [--epsilons 1,3,10,none]
        [--models gaussian_copula,tvae,ctgan] [--epochs 20] [--max-rows 10000] [--fits 5]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
sys.path.insert(0, os.path.join(os.path.dirname(ROOT), "shared", "datasets"))

warnings.filterwarnings("ignore")


def _eps(spec: str) -> float | None:
    return None if spec.strip().lower() in ("none", "inf", "") else float(spec)


def single_quality(real: pd.DataFrame, synth: pd.DataFrame, meta: dict) -> dict[str, float]:
    from sdmetrics.reports.single_table import QualityReport

    rep = QualityReport()
    rep.generate(real, synth[real.columns], meta, verbose=False)
    props = {str(r["Property"]): float(r["Score"]) for _, r in rep.get_properties().iterrows()}
    return {"quality": float(rep.get_score()), **props}


def sdv_single_meta(df: pd.DataFrame) -> dict:
    cols = {}
    for c in df.columns:
        cols[c] = {"sdtype": "numerical" if df[c].dtype.kind in "if" else "categorical"}
    return {"columns": cols}


def privacy_of(spark, train: pd.DataFrame, synth: pd.DataFrame, holdout: pd.DataFrame) -> dict:
    from synthohive_spark.validation import evaluate

    rep = evaluate(spark.createDataFrame(train), spark.createDataFrame(synth[train.columns]),
                   holdout=spark.createDataFrame(holdout), table_name="surveys")
    p = rep.privacy["surveys"]
    return {"dcr_train": p.get("dcr_train_median"), "dcr_holdout": p.get("dcr_holdout_median"),
            "copies": p.get("zero_distance_share"),
            "mia_auc": p.get("membership_inference_auc")}


def run_table(spark, args: argparse.Namespace) -> list[dict[str, Any]]:
    import realdata
    from synthohive_spark.ml.table import TableSynthesizer

    tables, _ = realdata.ratdat()
    df = tables["surveys"].drop(columns=["record_id"])
    for c in ("plot_id", "species_id"):  # foreign keys to lookups: categories of one table
        df[c] = df[c].astype(str)
    df = df.sample(frac=1.0, random_state=args.seed).reset_index(drop=True)
    df = df.iloc[:min(len(df), int(args.max_rows / 0.8))]
    cut = int(len(df) * 0.8)
    train, holdout = df.iloc[:cut].reset_index(drop=True), df.iloc[cut:].reset_index(drop=True)
    meta = sdv_single_meta(train)
    print(f"## table: ratdat surveys, {len(train)} training rows, {len(holdout)} holdout rows, "
          f"columns {list(train.columns)}", flush=True)
    rows = []
    for i in range(args.fits):
        rng = np.random.default_rng(args.seed + i)
        base = pd.DataFrame({c: rng.permutation(train[c].to_numpy()) for c in train.columns})
        r = {"what": "independent marginals (baseline)", "epsilon": "", "fit_s": 0.0, "fit": i}
        r.update(single_quality(train, base, meta))
        r.update(privacy_of(spark, train, base, holdout))
        rows.append(r)
        print("#", r, flush=True)
    sdf = spark.createDataFrame(train).cache()
    sdf.count()
    for model, spec, i in [(m, s, i) for m in args.models.split(",")
                           for s in args.epsilons.split(",") for i in range(args.fits)]:
        eps = _eps(spec)
        kw: dict[str, Any] = {"model": model, "seed": args.seed + i, "tableName": "surveys"}
        if model in ("tvae", "ctgan"):
            kw.update(epochs=args.epochs, batchSize=500)
        if eps is not None:
            kw["epsilon"] = eps
        t0 = time.perf_counter()
        m = TableSynthesizer(**kw).fit(sdf)
        fit_s = time.perf_counter() - t0
        synth = m.sample(len(train), seed=args.seed + i + 1).toPandas()
        for c in train.columns:
            if train[c].dtype.kind in "if":
                synth[c] = pd.to_numeric(synth[c], errors="coerce")
        r = {"what": model, "epsilon": "none" if eps is None else eps, "fit_s": fit_s,
             "spent": (m.privacy or {}).get("epsilon"), "fit": i}
        r.update(single_quality(train, synth, meta))
        r.update(privacy_of(spark, train, synth, holdout))
        rows.append(r)
        print("#", r, flush=True)
    sdf.unpersist()
    return rows


def run_database(spark, args: argparse.Namespace) -> list[dict[str, Any]]:
    import bench_relational as br
    from synthohive_spark.metadata import Metadata
    from synthohive_spark.ml.relational import RelationalSynthesizer

    real, keys = br.load_real("pizzaplace")
    print(f"## database: pizzaplace, " + ", ".join(f"{k} {len(v)}" for k, v in real.items()),
          flush=True)
    qdict, _ = br._quality_dict(br._sdv_true_dict(real, keys))
    detected = Metadata.detect(real)
    frames = {k: br._to_spark_frame(spark, v).cache() for k, v in real.items()}
    rows = []
    for spec, i in [(s, i) for s in args.epsilons.split(",") for i in range(args.fits)]:
        eps = _eps(spec)
        kw: dict[str, Any] = {"seed": args.seed + i}
        if eps is None:
            kw["model"] = "gaussian_copula"
        else:
            kw["epsilon"] = eps
        t0 = time.perf_counter()
        m = RelationalSynthesizer(metadata=detected, **kw).fit(frames)
        fit_s = time.perf_counter() - t0
        out = m.sample(scale=1.0, seed=args.seed + i + 1)
        synth = {k: v.toPandas() for k, v in out.items()}
        q = br.quality_real(real, synth, qdict)
        r = {"what": "RelationalSynthesizer (copula)", "epsilon": "none" if eps is None else eps,
             "fit_s": fit_s, "spent": (m.privacy or {}).get("epsilon"), "fit": i, **q}
        r.update({f"rule_{k}": v for k, v in br.pizza_rules(synth).items()})
        rows.append(r)
        print("#", {k: v for k, v in r.items() if k != "weakest_shapes"}, flush=True)
    for v in frames.values():
        v.unpersist()
    return rows


def _f(v: Any, fmt: str = ".3f") -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, fmt)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epsilons", default="1,3,10,none")
    ap.add_argument("--models", default="gaussian_copula,tvae")
    ap.add_argument("--epochs", "--tvae-epochs", type=int, default=20,
                    help="epochs of the neural models (tvae, ctgan)")
    ap.add_argument("--max-rows", type=int, default=10_000, help="training rows of the table")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--no-database", action="store_true")
    ap.add_argument("--fits", type=int, default=5,
                    help="fits per model and epsilon (seeds --seed + i); the tables print means")
    args = ap.parse_args()
    from synthohive_spark.session import get_or_create_session

    spark = get_or_create_session(master="local[2]")
    spark.sparkContext.setLogLevel("ERROR")
    table_rows = run_table(spark, args)
    db_rows = [] if args.no_database else run_database(spark, args)

    print(f"\n### table: ratdat surveys ({args.fits} fits each: mean, range)\n")
    print("| model | epsilon | spent | fit s | quality (range) | column shapes | column pair trends "
          "| median DCR train / holdout | DCR 0 (copies) | membership AUC |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    table = _by_config(table_rows, ("what", "epsilon"))
    for (what, eps), rs in table.items():
        print(f"| {what} | {eps} | {_common(rs)} "
              f"| {_mean(rs, 'dcr_train', '.4f')} / {_mean(rs, 'dcr_holdout', '.4f')} "
              f"| {_mean(rs, 'copies', '.4f')} | {_mean(rs, 'mia_auc')} |")
    _targets(table, "independent marginals (baseline)")
    if db_rows:
        print(f"\n### database: pizzaplace ({args.fits} fits each: mean, range)\n")
        print("| epsilon | spent | fit s | quality (range) | column shapes | column pair trends "
              "| cardinality | intertable trends | price rule | total rule | items rule |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        db = _by_config(db_rows, ("what", "epsilon"))
        for (_, eps), rs in db.items():
            print(f"| {eps} | {_common(rs)} | {_mean(rs, 'Cardinality')} | {_mean(rs, 'Intertable Trends')} "
                  f"| {_mean(rs, 'rule_rule_price')} | {_mean(rs, 'rule_rule_total')} "
                  f"| {_mean(rs, 'rule_rule_items')} |")
        _targets(db, None)


def _common(rs: list[dict[str, Any]]) -> str:
    """The cells both tables have: spent, fit s, quality (range), column shapes, pair trends."""
    return (f"{_mean(rs, 'spent')} | {_mean(rs, 'fit_s', '.1f')} | {_mean(rs, 'quality')} "
            f"({_range(rs, 'quality')}) | {_mean(rs, 'Column Shapes')} "
            f"| {_mean(rs, 'Column Pair Trends')}")


def _by_config(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault(tuple(r[k] for k in keys), []).append(r)
    return out


def _values(rs: list[dict[str, Any]], key: str) -> list[float]:
    vals = [r.get(key) for r in rs]
    return [float(v) for v in vals if v is not None and not (isinstance(v, float) and np.isnan(v))]


def _mean(rs: list[dict[str, Any]], key: str, fmt: str = ".3f") -> str:
    vals = _values(rs, key)
    return _f(float(np.mean(vals)), fmt) if vals else ""


def _range(rs: list[dict[str, Any]], key: str) -> str:
    vals = _values(rs, key)
    return f"{min(vals):.3f}-{max(vals):.3f}" if vals else ""


def _targets(table: dict[tuple, list[dict]], baseline: str | None) -> None:
    """The issue's two targets per model, on the mean quality over the fits, with the fits that
    meet them: epsilon 10 within 0.05 of the same model without DP (fit i against fit i: the same
    seeds), epsilon 1 above the independent-marginals baseline's mean."""
    base = np.mean(_values(table[(baseline, "")], "quality")) if baseline else None
    for what in dict.fromkeys(w for w, e in table if w != baseline):
        none = table.get((what, "none"))
        ten = table.get((what, 10.0))
        if none and ten:
            line = np.mean(_values(none, "quality")) - 0.05
            paired = sum(t["quality"] >= n["quality"] - 0.05 for t, n in zip(ten, none))
            got = np.mean(_values(ten, "quality"))
            print(f"\n{what}: epsilon 10 mean {got:.3f} against {line:.3f} (no DP mean - 0.05): "
                  f"{'met' if got >= line else 'NOT met'}; {paired} of {len(ten)} fits within "
                  f"0.05 of the no-DP fit with the same seeds")
        one = table.get((what, 1.0))
        if one and base is not None:
            got = np.mean(_values(one, "quality"))
            above = sum(q > base for q in _values(one, "quality"))
            print(f"{what}: epsilon 1 mean {got:.3f} against the baseline's {base:.3f}: "
                  f"{'met' if got > base else 'NOT met'}; {above} of {len(one)} fits above it")

if __name__ == "__main__":
    main()
