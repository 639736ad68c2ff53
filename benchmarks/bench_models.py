"""Benchmark the model core against sdv-dev's ``ctgan`` package and SDV's synthesizers.

Fits, in one run and on the same tables with the same hyperparameters (epochs, batch size, torch
threads): this project's ``ctgan``, ``tvae`` and ``gaussian_copula``; the ``ctgan`` package's CTGAN;
SDV's GaussianCopulaSynthesizer, CTGANSynthesizer and TVAESynthesizer. Prints, per table and model,
fit seconds, sampling rows/s and the SDMetrics QualityReport score (column shapes, pair trends).

Each (table, model) job runs in its own process with a wall-clock budget; a job that runs out of it
is reported as "> budget".

    pip install -e '.[bench]'        # sdv, ctgan, sdmetrics
    nice -n 10 python benchmarks/bench_models.py --epochs 100 --tables adult_like,high_cardinality
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import sys
import time
import traceback
from typing import Any

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

OURS = ("ours_ctgan", "ours_tvae", "ours_gaussian_copula")
OTHERS = ("ctgan_pkg", "sdv_gaussian_copula", "sdv_ctgan", "sdv_tvae")
ALL_MODELS = OURS + OTHERS


# ----------------------------------------------------------------------------- tables
def adult_like(seed: int = 0, n: int = 5000) -> pd.DataFrame:
    """A census-style table: mixed types, correlated columns, a zero-inflated amount."""
    r = np.random.default_rng(seed)
    edu_levels = ["HS-grad", "Some-college", "Bachelors", "Masters", "Doctorate", "Assoc", "11th", "9th"]
    edu_num = {"9th": 5, "11th": 7, "HS-grad": 9, "Some-college": 10, "Assoc": 11, "Bachelors": 13,
               "Masters": 14, "Doctorate": 16}
    education = r.choice(edu_levels, n, p=[0.32, 0.22, 0.17, 0.06, 0.02, 0.08, 0.08, 0.05])
    age = np.clip(r.gamma(6, 6.5, n) + 17, 17, 90).astype(np.int64)
    sex = r.choice(["Male", "Female"], n, p=[0.67, 0.33])
    marital = np.where(age < 25, r.choice(["Never-married", "Married"], n, p=[0.85, 0.15]),
                       r.choice(["Never-married", "Married", "Divorced", "Widowed"], n, p=[0.2, 0.6, 0.15, 0.05]))
    occupation = r.choice(["Prof", "Craft", "Exec", "Adm", "Sales", "Service", "Machine", "Transport", "Other"], n)
    hours = np.clip(np.rint(r.normal(40, 10, n) + (occupation == "Exec") * 8), 1, 99).astype(np.int64)
    enum = np.array([edu_num[e] for e in education])
    logit = -9 + 0.35 * enum + 0.04 * hours + 0.03 * age + (sex == "Male") * 0.8 + (marital == "Married") * 1.2
    income = r.random(n) < 1 / (1 + np.exp(-logit))
    gain = np.where(r.random(n) < 0.08 + 0.1 * income, np.round(r.lognormal(8, 1, n), 0), 0.0)
    return pd.DataFrame({
        "age": age, "education": education, "education_num": enum.astype(np.int64), "marital": marital,
        "occupation": occupation, "sex": sex, "hours_per_week": hours, "capital_gain": gain,
        "high_income": income,
    })


def high_cardinality(seed: int = 0, n: int = 10000, n_skus: int = 3000) -> pd.DataFrame:
    """Order lines with a 3,000-category product column whose category drives the price."""
    r = np.random.default_rng(seed)
    skus = np.array([f"SKU-{i:05d}" for i in range(n_skus)])
    weights = 1.0 / np.arange(1, n_skus + 1) ** 0.6
    sku = r.choice(skus, n, p=weights / weights.sum())
    cat_of = {s: f"cat{int(s[4:]) % 12:02d}" for s in skus}
    category = np.array([cat_of[s] for s in sku])
    base = {f"cat{i:02d}": 10 + 15 * i for i in range(12)}
    price = np.round(np.array([base[c] for c in category]) * r.lognormal(0, 0.2, n), 2)
    qty = np.clip(r.poisson(2, n) + 1, 1, 20).astype(np.int64)
    day = pd.to_datetime("2022-01-01") + pd.to_timedelta(r.integers(0, 730, n), unit="D")
    return pd.DataFrame({"sku": sku, "category": category, "price": price, "quantity": qty, "order_date": day})


def retail_orders(seed: int = 0) -> pd.DataFrame:
    from synthohive_spark.examples import retail_tables

    orders = retail_tables(seed)["orders"]
    return orders[["order_ts", "channel", "status", "shipping_cost"]].reset_index(drop=True)


def retail_customers(seed: int = 0) -> pd.DataFrame:
    from synthohive_spark.examples import retail_tables

    c = retail_tables(seed)["customers"]
    out = c[["segment", "loyalty_tier", "birth_year", "lifetime_value"]].copy()
    out["signup_date"] = pd.to_datetime(c["signup_date"])
    return out.reset_index(drop=True)


TABLES = {"adult_like": adult_like, "high_cardinality": high_cardinality, "retail_orders": retail_orders,
          "retail_customers": retail_customers}


def sdtypes(df: pd.DataFrame) -> dict[str, str]:
    out = {}
    for c in df.columns:
        dt = df[c].dtype
        if pd.api.types.is_bool_dtype(dt):
            out[c] = "boolean"
        elif pd.api.types.is_datetime64_any_dtype(dt):
            out[c] = "datetime"
        elif pd.api.types.is_numeric_dtype(dt):
            out[c] = "numerical"
        else:
            out[c] = "categorical"
    return out


def plain(df: pd.DataFrame) -> pd.DataFrame:
    """Nullable extension dtypes as numpy ones, for libraries that do not take them."""
    out = df.copy()
    for c in out.columns:
        if isinstance(out[c].dtype, pd.api.extensions.ExtensionDtype) and pd.api.types.is_numeric_dtype(out[c].dtype):
            out[c] = out[c].astype("float64")
    return out


# ----------------------------------------------------------------------------- one job
def _fit_sample(model: str, df: pd.DataFrame, epochs: int, batch_size: int, seed: int
                ) -> tuple[pd.DataFrame, float, float]:
    kinds = sdtypes(df)
    n = len(df)
    if model in OURS:
        from synthohive_spark.models import create_model

        name = model[len("ours_"):]
        hp: dict[str, Any] = {"seed": seed}
        if name != "gaussian_copula":
            hp.update(epochs=epochs, batch_size=batch_size)
        m = create_model(name, **hp)
        t0 = time.perf_counter()
        m.fit(df)
        fit_s = time.perf_counter() - t0
        synth = m.sample(n, seed=seed)
        t0 = time.perf_counter()
        m.sample(n, seed=seed + 1)
        return synth, fit_s, time.perf_counter() - t0
    real = plain(df)
    if model == "ctgan_pkg":
        from ctgan import CTGAN

        dates = [c for c, k in kinds.items() if k == "datetime"]
        x = real.copy()
        for c in dates:
            x[c] = x[c].astype("datetime64[ns]").astype("int64") / 1e9
        for c, k in kinds.items():  # the package takes no missing values in continuous columns
            if k in ("numerical", "datetime") and x[c].isna().any():
                x[c] = x[c].fillna(x[c].median())
        discrete = [c for c, k in kinds.items() if k in ("categorical", "boolean")]
        m = CTGAN(epochs=epochs, batch_size=batch_size, verbose=False)
        t0 = time.perf_counter()
        m.fit(x, discrete_columns=discrete)
        fit_s = time.perf_counter() - t0
        synth = m.sample(n)
        t0 = time.perf_counter()
        m.sample(n)
        samp_s = time.perf_counter() - t0
        for c in dates:
            synth[c] = pd.to_datetime(synth[c] * 1e9)
        return synth, fit_s, samp_s
    from sdv.metadata import Metadata
    from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

    meta = Metadata.load_from_dict({"tables": {"t": {"columns": {c: {"sdtype": k} for c, k in kinds.items()}}}})
    if model == "sdv_gaussian_copula":
        m = GaussianCopulaSynthesizer(meta)
    elif model == "sdv_ctgan":
        m = CTGANSynthesizer(meta, epochs=epochs, batch_size=batch_size)
    else:
        m = TVAESynthesizer(meta, epochs=epochs, batch_size=batch_size)
    t0 = time.perf_counter()
    try:
        m.fit(real)
    except Exception as exc:  # SDV 2.x takes {table name: DataFrame}
        if "dictionary" not in str(exc):
            raise
        t0 = time.perf_counter()
        m.fit({"t": real})
    fit_s = time.perf_counter() - t0
    synth = m.sample(n)
    if isinstance(synth, dict):
        synth = synth["t"]
    t0 = time.perf_counter()
    m.sample(n)
    return synth, fit_s, time.perf_counter() - t0


def quality(real: pd.DataFrame, synth: pd.DataFrame) -> tuple[float, float, float]:
    from sdmetrics.reports.single_table import QualityReport

    meta = {"columns": {c: {"sdtype": k} for c, k in sdtypes(real).items()}}
    rep = QualityReport()
    rep.generate(plain(real), plain(synth[real.columns]), meta, verbose=False)
    props = rep.get_properties().set_index("Property")["Score"]
    return float(rep.get_score()), float(props.get("Column Shapes", np.nan)), \
        float(props.get("Column Pair Trends", np.nan))


def _job(table: str, model: str, epochs: int, batch_size: int, threads: int, seed: int, out: Any) -> None:
    import warnings

    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(threads)
    try:
        df = TABLES[table](seed)
        synth, fit_s, samp_s = _fit_sample(model, df, epochs, batch_size, seed)
        score, shapes, pairs = quality(df, synth)
        out.put({"fit_s": fit_s, "rows_per_s": len(df) / max(samp_s, 1e-9), "quality": score,
                 "shapes": shapes, "pairs": pairs})
    except Exception as exc:  # reported in the table, the run goes on with the next job
        out.put({"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()})


def run_job(table: str, model: str, epochs: int, batch_size: int, threads: int, seed: int,
            budget: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_job, args=(table, model, epochs, batch_size, threads, seed, q))
    p.start()
    try:
        res = q.get(timeout=budget)
    except queue.Empty:
        res = {"timeout": True}
    p.join(5)
    if p.is_alive():
        p.terminate()
        p.join()
    return res


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", default="adult_like,retail_orders,high_cardinality",
                    help=f"comma-separated, from {sorted(TABLES)}")
    ap.add_argument("--models", default=",".join(ALL_MODELS), help=f"comma-separated, from {list(ALL_MODELS)}")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for every model")
    ap.add_argument("--budget", type=float, default=900.0, help="seconds per (table, model) job")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    tables = [t for t in args.tables.split(",") if t]
    models = [m for m in args.models.split(",") if m]
    for name in tables + models:
        if name not in TABLES and name not in ALL_MODELS:
            ap.error(f"unknown table or model {name!r}")
    print(f"epochs={args.epochs} batch_size={args.batch_size} threads={args.threads} budget={args.budget:.0f}s "
          f"cpus={os.cpu_count()}", flush=True)
    header = f"{'table':<18}{'rows':>7} {'model':<22}{'fit s':>9}{'sample rows/s':>15}{'quality':>9}" \
             f"{'shapes':>8}{'pairs':>8}"
    print(header)
    print("-" * len(header), flush=True)
    for table in tables:
        try:
            rows = len(TABLES[table](args.seed))
        except ImportError as exc:
            print(f"{table:<18} skipped: {exc}", flush=True)
            continue
        for model in models:
            res = run_job(table, model, args.epochs, args.batch_size, args.threads, args.seed, args.budget)
            if res.get("timeout"):
                line = f"{'> ' + format(args.budget, '.0f'):>9}{'-':>15}{'-':>9}{'-':>8}{'-':>8}"
            elif "error" in res:
                line = f"  error: {res['error'][:120]}"
            else:
                line = (f"{res['fit_s']:>9.1f}{res['rows_per_s']:>15,.0f}{res['quality']:>9.3f}"
                        f"{res['shapes']:>8.3f}{res['pairs']:>8.3f}")
            print(f"{table:<18}{rows:>7} {model:<22}{line}", flush=True)


if __name__ == "__main__":
    main()
