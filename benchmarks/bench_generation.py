"""Generation throughput of TableSynthesizerModel on local[2]: rows/s writing parquet, and the driver's
peak memory, for growing row counts (it must not grow with the row count).

    python benchmarks/bench_generation.py --rows 1000000 1000000 10000000 --model ctgan

Prints one table row per (model, rows): seconds, rows/s, rows/s per core, peak RSS of the driver's
Python process and of the driver JVM. The first generation job of the session is marked (cold): it
also pays for starting the Python workers, importing torch there, loading the model and the JVM's
first pass over the Arrow and parquet code; list a row count twice to see it warm. In local mode
the executors run inside the driver JVM, so its figure includes executor memory; the Python workers
that generate are separate processes.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time

import psutil


class PeakRSS:
    """Polls the RSS of a set of processes in a thread and keeps the peak of each."""

    def __init__(self, procs: dict[str, psutil.Process], interval: float = 0.05) -> None:
        self.procs = procs
        self.interval = interval
        self.peak = {k: 0 for k in procs}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for k, p in self.procs.items():
                try:
                    self.peak[k] = max(self.peak[k], p.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(self.interval)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def make_table(spark, n: int):
    from pyspark.sql import functions as F
    df = spark.range(n).select(
        F.format_string("ORD-%07d", F.col("id") + 1).alias("order_ref"),
        (F.rand(1) * 60 + 18).cast("int").alias("age"),
        F.exp(F.randn(2) * 0.5 + 10).alias("income"),
        F.when(F.rand(3) < 0.7, "consumer").when(F.rand(4) < 0.6, "corporate")
         .otherwise("home_office").alias("segment"),
        F.element_at(F.array(*[F.lit(c) for c in ["north", "south", "east", "west", "central"]]),
                     (F.rand(5) * 5).cast("int") + 1).alias("region"),
        (F.rand(6) < 0.3).alias("vip"),
        F.date_add(F.lit("2020-01-01").cast("date"), (F.rand(7) * 1500).cast("int")).alias("signup"),
        (F.lit(1_700_000_000) + F.rand(8) * 3e7).cast("timestamp").alias("last_seen"),
        F.when(F.rand(9) < 0.1, None).otherwise(F.round(F.rand(10) * 500, 2)).alias("shipping"),
        (F.rand(11) * 10).cast("int").alias("items"),
        F.round(F.randn(12) * 100 + 500, 2).cast("decimal(10,2)").alias("balance"),
        F.element_at(F.array(*[F.lit(f"P{i:03d}") for i in range(200)]),
                     (F.pow(F.rand(13), 3) * 200).cast("int") + 1).alias("product"),
    )
    return df


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--model", nargs="+", default=["ctgan"])
    ap.add_argument("--train-rows", type=int, default=20_000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--out", default=None, help="parquet output folder (default: a temp dir)")
    ap.add_argument("--chunk-size", type=int, default=None, help="chunkSize param (default: the stage's)")
    args = ap.parse_args()

    from synthohive_spark.ml.table import TableSynthesizer
    from synthohive_spark.session import get_or_create_session

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = get_or_create_session(master="local[2]", conf={"spark.driver.memory": "4g"})
    cores = 2
    me = psutil.Process()
    jvm = [c for c in me.children(recursive=True) if "java" in (c.name() or "").lower()]
    procs = {"python": me}
    if jvm:
        procs["jvm"] = jvm[0]
    real = make_table(spark, args.train_rows).cache()
    real.count()
    out_root = args.out or tempfile.mkdtemp(prefix="shs-bench-gen-")
    print(f"# table: {len(real.columns)} columns; training rows {args.train_rows}; local[{cores}]")
    header = f"| model | rows | fit s | sample+write s | rows/s | rows/s/core | driver py peak MB | driver JVM peak MB |"
    print(header)
    print("|" + "---|" * 8)
    cold = True
    for name in args.model:
        t0 = time.time()
        synth = TableSynthesizer(model=name, epochs=args.epochs, seed=1, keyCols=["order_ref"],
                                 tableName="bench")
        if args.chunk_size:
            synth.setChunkSize(args.chunk_size)
        model = synth.fit(real)
        fit_s = time.time() - t0
        for n in args.rows:
            path = os.path.join(out_root, f"{name}_{n}")
            with PeakRSS(procs) as peak:
                t0 = time.time()
                model.sample(n).write.mode("overwrite").parquet(path)
                secs = time.time() - t0
            written = spark.read.parquet(path).count()
            assert written == n, (written, n)
            rate = n / secs
            label = f"{n:,} (cold)" if cold else f"{n:,}"
            cold = False
            print(f"| {name} | {label} | {fit_s:.1f} | {secs:.1f} | {rate:,.0f} | {rate / cores:,.0f} "
                  f"| {peak.peak['python'] / 2**20:,.0f} | {peak.peak.get('jvm', 0) / 2**20:,.0f} |",
                  flush=True)
            shutil.rmtree(path, ignore_errors=True)
    if not args.out:
        shutil.rmtree(out_root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
