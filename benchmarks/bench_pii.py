"""PII detection and replacement speed of PIISanitizer on local[2]: the JVM engine (Scala
PIIScanner/PIIReplacer from the synthohive-spark jar) against the Python engine (Spark SQL +
pandas UDFs), in one run, on the same parquet table.

    python jvm/build_jar.py && nice -n 10 python benchmarks/bench_pii.py --rows 10000000

The table has 4 PII columns (email, phone, ssn, card_number; the card numbers are Luhn valid)
plus an id, written to parquet first so that data generation is not timed. Timed:

- detection: ``PIISanitizer(sampleFraction=0.05, maxSampleRows=100000).fit(df)`` (a count, the
  distributed sample, the rule scan and the driver-side checks), per engine;
- replacement: ``model.transform(df)`` written to Spark's ``noop`` sink, with the strategies
  email=hash, phone=hash:format, ssn=hash:truncate, card_number=mask, per engine;
- fake (Python only, it has no JVM engine): the same 4 columns with ``fake`` on ``--fake-rows``.

An untimed fit + transform on ``--warmup-rows`` rows per engine comes first (JIT compilation,
Python worker start, faker and phonenumbers data).

Prints a table with seconds, rows/s and the JVM/Python ratio (target: JVM >= 5x).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

KEY = "benchmark-key-not-secret-0123456789"
STRATEGIES = {"email": "hash", "phone": "hash:format", "ssn": "hash:truncate",
              "card_number": "mask"}


def make_table(spark, rows: int, path: str, partitions: int) -> None:
    """Writes ``rows`` rows of synthetic PII to parquet at ``path`` (Spark SQL only)."""
    df = spark.range(0, rows, 1, partitions)
    df = df.selectExpr(
        "id",
        "concat('user', id, '.', substr(md5(cast(id AS string)), 1, 6), '@example.com') AS email",
        "format_string('(%03d) %03d-%04d', 201 + id % 700, 200 + (id * 7) % 800, id % 10000)"
        " AS phone",
        "format_string('%03d-%02d-%04d', 1 + id % 665, 1 + id % 99, 1 + id % 9999) AS ssn",
        "concat('4', lpad(cast(id % 100000000000000 AS string), 14, '0')) AS body")
    luhn = ("aggregate(sequence(0, 14), 0, (acc, i) -> acc + "
            "IF(i % 2 = 0, IF(cast(substr(body, 15 - i, 1) AS int) * 2 > 9, "
            "cast(substr(body, 15 - i, 1) AS int) * 2 - 9, cast(substr(body, 15 - i, 1) AS int) * 2), "
            "cast(substr(body, 15 - i, 1) AS int)))")
    df = df.selectExpr("id", "email", "phone", "ssn",
                       f"concat(body, cast((10 - {luhn} % 10) % 10 AS string)) AS card_number")
    df.write.mode("overwrite").parquet(path)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--fake-rows", type=int, default=200_000)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--data-dir", default=None, help="where the parquet table goes "
                        "(default: a temporary folder, removed at the end)")
    parser.add_argument("--repeat", type=int, default=1, help="replacement runs per engine "
                        "(the best is reported)")
    parser.add_argument("--warmup-rows", type=int, default=200_000, help="rows of an untimed "
                        "fit + transform per engine first (JIT, Python workers, faker data)")
    args = parser.parse_args(argv)

    from synthohive_spark.ml.pii import PIISanitizer
    from synthohive_spark.privacy import validators as V
    from synthohive_spark.session import get_or_create_session, jvm_available

    spark = get_or_create_session(app_name="bench-pii", master=args.master,
                                  conf={"spark.driver.memory": "4g",
                                        "spark.sql.shuffle.partitions": "8"})
    if not jvm_available(spark):
        print("The synthohive-spark jar is not loaded: run `python jvm/build_jar.py` first.",
              file=sys.stderr)
        return 1
    workdir = args.data_dir or tempfile.mkdtemp(prefix="bench-pii-")
    path = os.path.join(workdir, f"pii_{args.rows}.parquet")
    try:
        gen_s, _ = timed(lambda: make_table(spark, args.rows, path, args.partitions))
        df = spark.read.parquet(path)
        sample = [r.card_number for r in df.limit(1000).collect()]
        assert all(V.is_credit_card(c) for c in sample), "benchmark card numbers must be valid"
        print(f"# {args.rows:,} rows, 4 PII columns, {args.master}, Spark {spark.version}; "
              f"table written in {gen_s:.1f} s to {path}", flush=True)

        warm = df.limit(args.warmup_rows)
        for engine in ("jvm", "python"):
            PIISanitizer(key=KEY, engine=engine, strategies=STRATEGIES, sampleFraction=0.5) \
                .fit(warm).transform(warm).write.format("noop").mode("overwrite").save()
        results: list[tuple[str, str, float, int]] = []
        models = {}
        for engine in ("jvm", "python"):
            san = PIISanitizer(key=KEY, engine=engine, strategies=STRATEGIES,
                               sampleFraction=0.05, maxSampleRows=100_000)
            secs, model = timed(lambda: san.fit(df))
            found = {c: v["kind"] for c, v in model.report.items()}
            assert found == {"email": "email", "phone": "phone", "ssn": "ssn",
                             "card_number": "credit_card"}, found
            results.append(("detection", engine, secs, args.rows))
            models[engine] = model
            print(f"detection {engine}: {secs:.1f} s, found {found}", flush=True)
        for engine in ("jvm", "python"):
            best = float("inf")
            for _ in range(args.repeat):
                secs, _ = timed(lambda: models[engine].transform(df).write.format("noop")
                                .mode("overwrite").save())
                best = min(best, secs)
            results.append(("replace hash/format/truncate/mask", engine, best, args.rows))
            print(f"replacement {engine}: {best:.1f} s", flush=True)
        fake_df = df.limit(args.fake_rows).cache()
        fake_df.count()
        fake_model = PIISanitizer(key=KEY, engine="python", defaultStrategy="fake",
                                  piiColumns={"email": "email", "phone": "phone", "ssn": "ssn",
                                              "card_number": "credit_card"},
                                  inputCols=[]).fit(fake_df)
        secs, _ = timed(lambda: fake_model.transform(fake_df).write.format("noop")
                        .mode("overwrite").save())
        results.append(("replace fake (4 columns)", "python", secs, args.fake_rows))
        fake_df.unpersist()
    finally:
        if args.data_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(f"| step | engine | rows | seconds | rows/s | JVM / Python |")
    print(f"|---|---|---:|---:|---:|---:|")
    by = {(s, e): (t, n) for s, e, t, n in results}
    for step, engine, secs, n in results:
        ratio = ""
        if engine == "jvm" and (step, "python") in by:
            ratio = f"{by[(step, 'python')][0] / secs:.1f}x"
        print(f"| {step} | {engine} | {n:,} | {secs:.1f} | {n / secs:,.0f} | {ratio} |")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
