"""The ``synthohive`` command."""
from __future__ import annotations

import argparse
import logging
import sys
import time


def _demo(args: argparse.Namespace) -> int:
    from synthohive_spark import examples
    from synthohive_spark.metadata import Metadata
    from synthohive_spark.session import get_or_create_session, jvm_available

    t0 = time.time()
    spark = get_or_create_session(app_name="synthohive-demo", master=args.master)
    print(f"# Spark {spark.version}; synthohive JVM stages "
          f"{'available' if jvm_available(spark) else 'NOT available (Python fallback)'}")
    tables = examples.retail_spark(spark, seed=args.seed, scale=args.scale)
    for name, df in tables.items():
        print(f"# table {name}: {df.count()} rows, {len(df.columns)} columns")
    meta = Metadata.detect(tables)
    print("# detected metadata")
    print(meta.to_yaml())

    if args.epochs > 0:
        from synthohive_spark.ml.table import TableSynthesizer
        name = args.table
        df = tables[name]
        cfg = meta.tables[name]
        fks = [fk.column for fk in cfg.foreign_keys]
        learn = df.drop(*fks) if fks else df
        print(f"# fitting a TableSynthesizer (model={args.model}, epochs={args.epochs}) on {name!r}")
        synth = TableSynthesizer(model=args.model, epochs=args.epochs, seed=args.seed,
                                 tableName=name, tableMetadata=_without(cfg, fks))
        model = synth.fit(learn)
        fake = model.sample(args.rows)
        print(f"# {args.rows} synthetic rows of {name!r} (first 10):")
        fake.show(10, truncate=24)
        if args.out:
            fake.write.mode("overwrite").parquet(args.out)
            print(f"# written to {args.out}")
    print(f"# demo finished in {time.time() - t0:.1f}s")
    return 0


def _without(cfg, cols):
    data = cfg.model_dump(mode="json")
    for c in cols:
        data["columns"].pop(c, None)
    data["foreign_keys"] = []
    return data


def _detect(args: argparse.Namespace) -> int:
    from synthohive_spark.metadata import Metadata
    from synthohive_spark.session import get_or_create_session

    spark = get_or_create_session(master=args.master)
    tables = {}
    for item in args.tables:
        name, _, path = item.partition("=")
        if not path:
            raise SystemExit(f"synthohive detect: expected NAME=PATH, got {item!r}")
        tables[name] = spark.read.format(args.format).option("header", "true").option(
            "inferSchema", "true").load(path)
    text = Metadata.detect(tables).to_yaml()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="synthohive", description=__doc__)
    parser.add_argument("--log-level", default="WARNING")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="make the bundled example database, detect its metadata, "
                                       "fit a table synthesizer and sample from it")
    demo.add_argument("--master", default="local[*]")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--scale", type=float, default=1.0)
    demo.add_argument("--table", default="customers")
    demo.add_argument("--model", default="auto",
                      help="auto (a model per table by a held-out score), ctgan, tvae, gaussian_copula")
    demo.add_argument("--epochs", type=int, default=20,
                      help="training epochs for the demo synthesizer (0 skips fitting)")
    demo.add_argument("--rows", type=int, default=10_000)
    demo.add_argument("--out", default=None, help="write the synthetic rows as parquet here")
    demo.set_defaults(func=_demo)

    det = sub.add_parser("detect", help="detect metadata of tables given as NAME=PATH")
    det.add_argument("tables", nargs="+")
    det.add_argument("--format", default="parquet")
    det.add_argument("--master", default="local[*]")
    det.add_argument("--output", "-o", default=None)
    det.set_defaults(func=_detect)

    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper(), logging.WARNING))
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
