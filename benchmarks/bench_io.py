"""Benchmark: rows/s written per store, the library's write beside a plain Spark write of the same
DataFrame (issue 16's target: the ratio >= 0.8).

    nice -n 10 .venv/bin/python benchmarks/bench_io.py --rows 1000000,10000000
    nice -n 10 .venv-spark35/bin/python benchmarks/bench_io.py --formats parquet,delta
    ... --formats jdbc --jdbc-url jdbc:postgresql://127.0.0.1:5432/db --jdbc-user u

The rows are synthetic: the copula fit on the example retail database's ``orders`` (dates,
amounts, categories, keys), sampled on the executors once per row count and staged as parquet, so
that both writes read the same files and neither pays for generation (the sampling rate is
printed on its own). Each write goes to a new location:

* ``ours``: what ``RelationalSynthesizerModel.sample(output=...)`` does, :class:`DatabaseWriter`
  with one table: the targets checked first, the table written under a temporary name and moved
  into place (parquet, CSV, JSON, ORC), one Delta commit and the manifest before and after it
  (Delta), a staging schema loaded with COPY (the library's jar) and swapped in at the end in one
  transaction (JDBC; in its own column, the same write loading with batched inserts,
  ``bulk='insert'``);
* ``plain``: ``df.write.format(fmt).save(path)`` (Delta: ``.format("delta")``; JDBC:
  ``df.write.jdbc`` into a new table with the same batched inserts as ``bulk='insert'``, and, in
  its own column, with Spark's defaults).

JDBC needs a PostgreSQL server the script can create schemas in (``--jdbc-url``, the password in
the environment variable ``--jdbc-password-env`` names); each write goes to a new schema, dropped
afterwards.

Each pair runs ``--repeats`` times in alternating order; the table reports the best of each.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

from synthohive_spark.io.jdbc import _ident, _qualified  # noqa: E402
from synthohive_spark.session import get_or_create_session  # noqa: E402


def staged_rows(spark, rows: int, workdir: str, partitions: int):
    """``rows`` synthetic orders staged as parquet in ``workdir``, and the sampling rows/s."""
    from synthohive_spark.examples import retail_spark
    from synthohive_spark.ml.table import TableSynthesizer

    orders = retail_spark(spark)["orders"]
    model = TableSynthesizer(model="gaussian_copula", tableName="orders", seed=1).fit(orders)
    path = os.path.join(workdir, f"staged_{rows}")
    t0 = time.perf_counter()
    model.sample(rows, numPartitions=partitions, seed=2).write.parquet(path)
    sample_s = time.perf_counter() - t0
    return spark.read.parquet(path), rows / sample_s


def _orders_metadata():
    """The example's orders table alone: its primary key, no foreign key (its parents are not
    written here)."""
    from synthohive_spark.examples import retail_metadata
    from synthohive_spark.metadata import Metadata

    spec = retail_metadata().to_dict()["tables"]["orders"]
    spec.pop("foreign_keys", None)
    return Metadata.from_dict({"tables": {"orders": spec}})


def _jdbc_props(jdbc: dict, batched: bool) -> dict:
    from synthohive_spark.io.jdbc import JDBC_DRIVER, WRITE_BATCH_ROWS

    props = {"user": jdbc["user"], "password": jdbc.get("password") or "",
             "driver": JDBC_DRIVER}
    if batched:
        props.update(batchsize=str(WRITE_BATCH_ROWS), reWriteBatchedInserts="true")
    return props


def write_ours(spark, df, fmt: str, out: str, jdbc: dict | None, bulk: str = "auto") -> None:
    if fmt == "jdbc":
        from synthohive_spark.io.jdbc import JdbcOutput, write_jdbc_tables

        write_jdbc_tables({"orders": df}, JdbcOutput(jdbc["url"], out, _jdbc_props(jdbc, False),
                                                     bulk=bulk), _orders_metadata())
        return
    from synthohive_spark.io.writers import DatabaseWriter

    writer = DatabaseWriter(spark, out, ["orders"], fmt=fmt)
    writer.write("orders", df)
    writer.finish()


def write_plain(spark, df, fmt: str, out: str, jdbc: dict | None, batched: bool = True) -> None:
    if fmt == "jdbc":
        _sql(spark, jdbc, f"CREATE SCHEMA {_ident(out)}")
        df.write.jdbc(jdbc["url"], _qualified(out, "orders"), mode="error",
                      properties=_jdbc_props(jdbc, batched))
        return
    writer = df.write.format(fmt)
    if fmt == "csv":
        writer = writer.option("header", "true")
    writer.save(os.path.join(out, "orders"))


def _sql(spark, jdbc: dict, sql: str) -> None:
    """One statement on a JDBC connection of the driver JVM (the library's own)."""
    from synthohive_spark.io.jdbc import _Connection

    conn = _Connection(spark, jdbc["url"], _jdbc_props(jdbc, False))
    try:
        conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="1000000", help="comma-separated row counts")
    ap.add_argument("--formats", default="parquet", help="parquet, delta, orc, csv, json, jdbc")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--jdbc-url")
    ap.add_argument("--jdbc-user", default="postgres")
    ap.add_argument("--jdbc-password-env", default="PGPASSWORD")
    args = ap.parse_args()
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    jdbc = None
    if "jdbc" in formats:
        if not args.jdbc_url:
            ap.error("--formats jdbc needs --jdbc-url")
        jdbc = {"url": args.jdbc_url, "user": args.jdbc_user,
                "password": os.environ.get(args.jdbc_password_env)}
    conf = {"spark.sql.shuffle.partitions": str(args.partitions)}
    extra = {"jdbc": True} if "jdbc" in formats else {}
    spark = get_or_create_session(app_name="bench-io", master=args.master, conf=conf,
                                  delta="delta" in formats, **extra)
    spark.sparkContext.setLogLevel("ERROR")
    workdir = tempfile.mkdtemp(prefix="bench_io_")
    results = []
    try:
        for rows in [int(r) for r in args.rows.split(",")]:
            df, sample_rate = staged_rows(spark, rows, workdir, args.partitions)
            print(f"# {rows} rows sampled at {sample_rate:,.0f} rows/s "
                  f"({args.master}, {args.partitions} partitions)", flush=True)
            for fmt in formats:
                best = {"ours": float("inf"), "plain": float("inf"), "default": float("inf"),
                        "inserts": float("inf")}
                runs = ["ours", "plain"] + (["default", "inserts"] if fmt == "jdbc" else [])
                for rep in range(args.repeats):
                    for who in (runs if rep % 2 == 0 else runs[::-1]):
                        out = (f"bench_{who}_{uuid.uuid4().hex[:8]}" if fmt == "jdbc"
                               else os.path.join(workdir, f"{who}_{fmt}_{uuid.uuid4().hex[:8]}"))
                        t0 = time.perf_counter()
                        if who in ("ours", "inserts"):
                            write_ours(spark, df, fmt, out, jdbc,
                                       bulk="insert" if who == "inserts" else "auto")
                        else:
                            write_plain(spark, df, fmt, out, jdbc, batched=who == "plain")
                        best[who] = min(best[who], time.perf_counter() - t0)
                        if fmt == "jdbc":
                            _sql(spark, jdbc, f"DROP SCHEMA {_ident(out)} CASCADE")
                        else:
                            shutil.rmtree(out, ignore_errors=True)
                r = {"rows": rows, "format": fmt, "ours": rows / best["ours"],
                     "plain": rows / best["plain"],
                     "default": rows / best["default"] if fmt == "jdbc" else None,
                     "inserts": rows / best["inserts"] if fmt == "jdbc" else None}
                r["ratio"] = r["ours"] / r["plain"]
                results.append(r)
                print("#", r, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n| rows | format | ours rows/s | plain Spark rows/s | ratio | ours with batched "
          "inserts (ratio) | plain JDBC, Spark's default batches |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        default = f"{r['default']:,.0f}" if r["default"] else ""
        inserts = f"{r['inserts']:,.0f} ({r['inserts'] / r['plain']:.2f})" if r["inserts"] else ""
        print(f"| {r['rows']:,} | {r['format']} | {r['ours']:,.0f} | {r['plain']:,.0f} | "
              f"{r['ratio']:.2f} | {inserts} | {default} |")


if __name__ == "__main__":
    main()
