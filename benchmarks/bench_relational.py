"""Benchmark relational synthesis against SDV's HMASynthesizer on the retail schema.

For each data scale (default 1 and 10: about 16k and 160k rows over five tables), in one run:

* ours: ``RelationalSynthesizer`` fit time; ``sample(scale=1)`` written to parquet (time, rows/s,
  driver peak RSS while sampling); from the scale-1 model also ``sample(scale=10)``, to show that
  10x rows take less than 10x time and that the driver's memory stays flat;
* SDV's ``HMASynthesizer`` on the same data: fit time, ``sample(scale=1)`` time (in a child
  process with a wall-clock budget). The community HMASynthesizer refuses schemas deeper than two
  levels, so it learns the connected sub-schema customers, employees -> orders; both systems'
  quality is also scored on that sub-schema;
* SDMetrics' multi-table ``QualityReport`` score of both against the real tables (personal-data and
  free-text columns left out for both: ours regenerates them with faker by design).

    pip install sdv sdmetrics -c ci-constraints.txt
    nice -n 10 python benchmarks/bench_relational.py --scales 1,10 --model gaussian_copula
"""
from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
import traceback
from typing import Any

import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

from synthohive_spark.examples import retail_metadata, retail_tables  # noqa: E402
from synthohive_spark.metadata import PII_KINDS  # noqa: E402

#: SDV's community HMASynthesizer refuses schemas deeper than two levels (customers -> orders ->
#: order_items is three) and disconnected tables, so it is compared on this connected sub-schema.
HMA_TABLES = ("customers", "employees", "orders")
ALL_TABLES = tuple(retail_metadata().tables)

SDV_PII = {"email": "email", "phone": "phone_number", "first_name": "first_name",
           "last_name": "last_name", "address": "street_address", "city": "city", "name": "name"}


# ----------------------------------------------------------------------------- helpers
class PeakRSS:
    """Peak resident memory of this (driver) process while the block runs, polled every 20 ms."""

    def __enter__(self) -> "PeakRSS":
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._poll, daemon=True)
        self._t.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss())


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _mib(b: float) -> str:
    return f"{b / 2**20:.0f}"


def _quality_frames(tables: dict[str, pd.DataFrame], names: tuple) -> dict[str, pd.DataFrame]:
    """Columns the quality report compares: no personal data, no free text, datetimes as such."""
    md = retail_metadata()
    out = {}
    for name in names:
        df = tables[name]
        cfg = md.tables[name]
        keep = [c for c, cc in cfg.columns.items()
                if not (cc.pii or str(cc.sdtype) in PII_KINDS or str(cc.sdtype) == "text")
                and c != "reports_to"]
        frame = df[keep].copy()
        for c in keep:
            sd = str(cfg.columns[c].sdtype)
            if sd == "datetime":
                frame[c] = pd.to_datetime(frame[c])
            elif sd == "numerical":
                frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
            elif sd == "boolean":
                frame[c] = frame[c].astype("boolean")
        out[name] = frame
    return out


def _sdv_metadata_dict(quality_only: bool, names: tuple) -> dict[str, Any]:
    md = retail_metadata()
    tables: dict[str, Any] = {}
    for name in names:
        cfg = md.tables[name]
        cols: dict[str, Any] = {}
        for c, cc in cfg.columns.items():
            sd = str(cc.sdtype)
            keyish = c == cfg.primary_key or any(fk.column == c and fk.parent_table != name
                                                 for fk in cfg.foreign_keys)
            if quality_only and (cc.pii or sd in PII_KINDS or sd == "text" or c == "reports_to"):
                continue
            if keyish:
                cols[c] = {"sdtype": "id"}
                if cc.regex:
                    cols[c]["regex_format"] = cc.regex
            elif c == "reports_to":
                cols[c] = {"sdtype": "numerical"}
            elif sd in SDV_PII:
                cols[c] = {"sdtype": SDV_PII[sd], "pii": True}
            elif sd == "text":
                cols[c] = {"sdtype": "categorical"}
            elif sd in ("numerical", "categorical", "boolean"):
                cols[c] = {"sdtype": sd}
            elif sd == "datetime":
                cols[c] = {"sdtype": "datetime"}
            else:
                cols[c] = {"sdtype": "categorical"}
        tables[name] = {"primary_key": cfg.primary_key, "columns": cols}
    rels = [{"parent_table_name": fk.parent_table, "parent_primary_key": fk.parent_column,
             "child_table_name": child, "child_foreign_key": fk.column}
            for child, cfg in md.tables.items() for fk in cfg.foreign_keys
            if fk.parent_table != child and child in names and fk.parent_table in names]
    return {"METADATA_SPEC_VERSION": "V1", "tables": tables, "relationships": rels}


def _sdv_input(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    out = {}
    for name, df in tables.items():
        df = df.copy()
        for c in df.columns:
            if df[c].dtype == object and len(df[c].dropna()) and hasattr(df[c].dropna().iloc[0], "toordinal") \
                    and not isinstance(df[c].dropna().iloc[0], str):
                df[c] = pd.to_datetime(df[c])
            elif str(df[c].dtype) == "Int64":
                df[c] = df[c].astype("float64")
        out[name] = df
    return out


def quality(real: dict[str, pd.DataFrame], synth: dict[str, pd.DataFrame],
            names: tuple = ALL_TABLES) -> float:
    """SDMetrics' multi-table quality score of ``synth`` against ``real`` over ``names``."""
    import warnings

    from sdmetrics.reports.multi_table import QualityReport

    warnings.filterwarnings("ignore", category=FutureWarning)
    report = QualityReport()
    report.generate(_quality_frames(_sdv_input(real), names),
                    _quality_frames(_sdv_input(synth), names),
                    _sdv_metadata_dict(True, names), verbose=False)
    return float(report.get_score())


# ----------------------------------------------------------------------------- SDV
def _sdv_job(scale: float, seed: int, outdir: str, q: "mp.Queue") -> None:
    try:
        import warnings
        warnings.filterwarnings("ignore")
        from sdv.metadata import Metadata as SDVMetadata
        from sdv.multi_table import HMASynthesizer

        real = _sdv_input({n: t for n, t in retail_tables(seed=seed, scale=scale).items()
                           if n in HMA_TABLES})
        meta = SDVMetadata.load_from_dict(_sdv_metadata_dict(False, HMA_TABLES))
        synth = HMASynthesizer(meta, verbose=False)
        t0 = time.perf_counter()
        synth.fit(real)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = (synth.sample_scale(scale=1.0) if hasattr(synth, "sample_scale")
               else synth.sample(scale=1.0))
        sample_s = time.perf_counter() - t0
        for name, df in out.items():
            df.to_parquet(os.path.join(outdir, f"{name}.parquet"))
        q.put({"fit_s": fit_s, "sample_s": sample_s,
               "rows": int(sum(len(v) for v in out.values()))})
    except Exception:  # report the failure in the table instead of losing the run
        q.put({"error": traceback.format_exc(limit=3)})


def run_sdv(scale: float, seed: int, budget: float) -> dict[str, Any]:
    outdir = tempfile.mkdtemp(prefix="bench_sdv_")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_sdv_job, args=(scale, seed, outdir, q))
    p.start()
    try:
        res = q.get(timeout=budget)
    except queue.Empty:
        p.terminate()
        p.join()
        return {"error": f"> {budget:.0f} s budget"}
    p.join()
    if "error" not in res:
        res["tables"] = {n: pd.read_parquet(os.path.join(outdir, f"{n}.parquet"))
                         for n in HMA_TABLES}
    shutil.rmtree(outdir, ignore_errors=True)
    return res


# ----------------------------------------------------------------------------- ours
def run_ours(spark, scale: float, seed: int, args: argparse.Namespace,
             real: dict[str, pd.DataFrame]) -> list[dict[str, Any]]:
    from synthohive_spark.examples import retail_spark
    from synthohive_spark.ml.relational import RelationalSynthesizer

    frames = {k: v.cache() for k, v in retail_spark(spark, seed=seed, scale=scale).items()}
    for v in frames.values():
        v.count()
    rs = RelationalSynthesizer(metadata=retail_metadata(), model=args.model, epochs=args.epochs,
                               batchSize=args.batch_size, seed=seed)
    t0 = time.perf_counter()
    model = rs.fit(frames)
    fit_s = time.perf_counter() - t0
    # warm-up: Python workers start and load the models once, as in any longer job
    warm = model.sample(numRows={t: 10 for t in model.graph.roots()})
    for df in warm.values():
        df.count()
        df.unpersist()
    rows_out = []
    sample_scales = [1.0] + ([10.0] if scale == 1 and args.sample10 else [])
    for sscale in sample_scales:
        out_dir = tempfile.mkdtemp(prefix="bench_ours_")
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            out = model.sample(scale=sscale, output=out_dir, mode="overwrite",
                               numPartitions=args.partitions)
            sample_s = time.perf_counter() - t0
        n_rows = sum(df.count() for df in out.values())
        row = {"system": "synthohive-spark", "data_scale": scale, "sample_scale": sscale,
               "fit_s": fit_s, "sample_s": sample_s, "rows": n_rows,
               "rss_peak": mem.peak, "rss_growth": mem.peak - mem.base}
        if sscale == 1.0:
            synth = {k: v.toPandas() for k, v in out.items()}
            row["quality"] = quality(real, synth)
            row["quality_hma"] = quality(real, synth, HMA_TABLES)
        rows_out.append(row)
        shutil.rmtree(out_dir, ignore_errors=True)
    for v in frames.values():
        v.unpersist()
    return rows_out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", default="1,10")
    ap.add_argument("--model", default="gaussian_copula")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--partitions", type=int, default=2,
                    help="partitions of each generated root table")
    ap.add_argument("--sdv-budget", type=float, default=1800.0)
    ap.add_argument("--no-sdv", action="store_true")
    ap.add_argument("--no-sample10", dest="sample10", action="store_false")
    ap.add_argument("--no-warmup", dest="warmup", action="store_false")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from synthohive_spark.session import get_or_create_session
    spark = get_or_create_session(app_name="bench-relational", master="local[2]",
                                  conf={"spark.driver.memory": "4g",
                                        "spark.sql.shuffle.partitions": "4"})
    if args.warmup:
        # JVM start, JIT and Python workers are paid once here, not by the first timed scale
        from synthohive_spark.examples import retail_spark
        from synthohive_spark.ml.relational import RelationalSynthesizer
        tiny = retail_spark(spark, seed=args.seed + 1, scale=0.05)
        m = RelationalSynthesizer(metadata=retail_metadata(), model=args.model, epochs=1,
                                  seed=args.seed).fit(tiny)
        for df in m.sample().values():
            df.count()
            df.unpersist()
    results: list[dict[str, Any]] = []
    for scale in [float(s) for s in args.scales.split(",")]:
        real = retail_tables(seed=args.seed, scale=scale)
        print(f"# data scale {scale:g}: " + ", ".join(f"{k} {len(v)}" for k, v in real.items()),
              flush=True)
        results.extend(run_ours(spark, scale, args.seed, args, real))
        if not args.no_sdv:
            res = run_sdv(scale, args.seed, args.sdv_budget)
            row = {"system": "SDV HMASynthesizer", "data_scale": scale, "sample_scale": 1.0}
            if "error" in res:
                row["error"] = res["error"].strip().splitlines()[-1]
            else:
                row.update(fit_s=res["fit_s"], sample_s=res["sample_s"], rows=res["rows"],
                           quality_hma=quality(real, res["tables"], HMA_TABLES))
            results.append(row)
        for r in results[-3:]:
            print("#", {k: v for k, v in r.items() if k != "tables"}, flush=True)

    head = ("| data scale | system | fit s | sample scale | sample s | rows out | rows/s "
            "| driver peak RSS MiB (growth) | quality, 5 tables | quality, HMA's 3 tables |")
    print()
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for r in results:
        if "error" in r:
            print(f"| {r['data_scale']:g} | {r['system']} | {r['error']} | | | | | | | |")
            continue
        rss = (f"{_mib(r['rss_peak'])} (+{_mib(r['rss_growth'])})" if "rss_peak" in r else "n/a")
        q = f"{r['quality']:.3f}" if "quality" in r else ""
        q += " | " + (f"{r['quality_hma']:.3f}" if "quality_hma" in r else "")
        print(f"| {r['data_scale']:g} | {r['system']} | {r['fit_s']:.1f} | {r['sample_scale']:g} "
              f"| {r['sample_s']:.1f} | {r['rows']} | {r['rows'] / r['sample_s']:.0f} | {rss} "
              f"| {q} |")
    ours1 = [r for r in results if r["system"] == "synthohive-spark" and r["data_scale"] == 1]
    if len(ours1) == 2:
        a, b = ours1
        print(f"\nsample 10x rows from the scale-1 model: {b['rows'] / a['rows']:.1f}x rows in "
              f"{b['sample_s'] / a['sample_s']:.2f}x time; driver peak RSS "
              f"{_mib(a['rss_peak'])} -> {_mib(b['rss_peak'])} MiB")
    spark.stop()


if __name__ == "__main__":
    main()
