"""The `synthohive` command: learn a relational database and write a private synthetic copy.

Subcommands: demo, detect, fit, sample, report, pii-scan (`synthohive <command> --help`).
Tables are given as NAME=LOCATION: a path (parquet, Delta, ORC, CSV, JSON; the format from a
`_delta_log` folder or the extension, or `--input-format`), a Delta table as delta.`/path`, or
a catalog table (db.table: a location without a path separator that is not a local file). detect,
fit and sample also read a PostgreSQL database: NAME=jdbc:postgresql://host/db is table NAME of
--jdbc-schema, a bare jdbc:postgresql://host/db every table of it, with the keys its catalog
declares; `sample --output jdbc:postgresql://...` writes the synthetic tables into --jdbc-schema
with their keys, all at once or none. --jdbc-password-env names the environment variable that
holds the password (never the command line).

Exit codes: 0 ok, 1 a quality gate failed, 2 bad input (arguments, missing files or tables,
metadata, an existing output), 3 any other failure. Errors are one line on stderr; `--verbose`
adds the traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from typing import Any, Optional

from synthohive_spark._cli_support import (EXIT_OK, Progress, is_jdbc, load_metadata,
                                           needs_delta, output_location, progress_enabled,
                                           quiet_warnings, read_inputs, read_tables, report_error,
                                           session,
                                           split_pair, table_locations, tables_of_output,
                                           user_log_level, write_text)
from synthohive_spark.errors import OutputExistsError, ParamError

FORMATS = ("parquet", "delta", "csv", "json", "orc")
MODELS = ("auto", "gaussian_copula", "tvae", "ctgan", "sequence")


# ------------------------------------------------------------------ small helpers
def _model_dir(path: str) -> str:
    """A model directory: a URI (s3://, dbfs:/...) as it is, a local path made absolute."""
    if "://" in path or path.startswith(("dbfs:", "file:")):
        return path
    return os.path.abspath(path)


def _check_new_model_dir(spark, path: str, overwrite: bool) -> None:
    from synthohive_spark.io import Target, target_exists

    if not overwrite and target_exists(spark, Target("model", "path", path)):
        raise OutputExistsError(f"model directory {path!r} already exists; pass --overwrite to "
                                f"replace it")


def _load_model(path: str):
    from synthohive_spark.ml.relational import RelationalSynthesizerModel

    if "://" not in path and not path.startswith(("dbfs:", "file:")) and not os.path.isdir(path):
        raise ParamError(f"model directory {path!r} does not exist (write one with "
                         f"`synthohive fit ... --model-dir {path}`)")
    return RelationalSynthesizerModel.load(path)


def _num_rows(items: Optional[list[str]], graph) -> dict[str, int]:
    """`--rows`: TABLE=N per root table, or a bare N when the schema has one generated root."""
    out: dict[str, int] = {}
    for item in items or []:
        if "=" in item:
            name, value = split_pair(item, "TABLE=N or N")
        else:
            roots = [t for t in graph.roots() if not graph.is_reference(t)]
            if len(roots) != 1:
                raise ParamError(f"--rows {item}: the model has {len(roots)} root tables "
                                 f"({', '.join(roots)}); name one: --rows TABLE=N")
            name, value = roots[0], item
        try:
            n = int(value)
        except ValueError:
            raise ParamError(f"--rows {item!r}: expected a whole number of rows") from None
        if n < 0:
            raise ParamError(f"--rows {item!r}: the number of rows must not be negative")
        out[name] = n
    return out


def _fit_params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {"model": args.model, "seed": args.seed}
    if args.epochs is not None:
        params["epochs"] = args.epochs
    if getattr(args, "max_training_rows", None) is not None:
        params["maxTrainingRows"] = args.max_training_rows
    return params


def _targets(output: Any, tables: list[str]) -> dict[str, str]:
    from synthohive_spark.io import JdbcOutput, resolve_target

    if isinstance(output, JdbcOutput):
        return {t: output.location(t) for t in tables}
    return {t: resolve_target(output, t).location for t in tables}


def _print_score(report) -> None:
    score = report.score
    print(f"score: {'n/a' if score is None else f'{score:.4f}'}")
    for name, value in report.properties.items():
        print(f"  {name}: {'n/a' if value is None else f'{value:.4f}'}")


# ------------------------------------------------------------------ demo
def _demo(args: argparse.Namespace) -> int:
    import secrets
    import tempfile

    from synthohive_spark import examples
    from synthohive_spark.metadata import Metadata
    from synthohive_spark.ml.pii import PIISanitizer
    from synthohive_spark.ml.relational import RelationalSynthesizer
    from synthohive_spark.relational import SchemaGraph
    from synthohive_spark.session import jvm_available
    from synthohive_spark.validation import evaluate

    if not args.sample_scale > 0 or not args.scale > 0:
        raise ParamError(f"--scale and --sample-scale must be positive numbers, got "
                         f"{args.scale} and {args.sample_scale}")
    if args.table not in examples.RETAIL_SCHEMAS:
        raise ParamError(f"--table {args.table!r} is not a table of the demo database "
                         f"({', '.join(examples.RETAIL_SCHEMAS)})")
    t0 = time.time()
    out = os.path.abspath(args.out) if args.out else tempfile.mkdtemp(prefix="synthohive-demo-")
    os.makedirs(out, exist_ok=True)
    spark = session(args, "synthohive-demo")
    print(f"# Spark {spark.version}; synthohive JVM stages "
          f"{'available' if jvm_available(spark) else 'NOT available (Python fallback)'}")
    tables = examples.retail_spark(spark, seed=args.seed, scale=args.scale)
    tables = {name: df.cache() for name, df in tables.items()}
    for name, df in tables.items():
        print(f"# table {name}: {df.count()} rows, {len(df.columns)} columns")

    # 1. detect
    step = time.time()
    meta = Metadata.detect(tables)
    meta_path = os.path.join(out, "metadata.yaml")
    text = meta.to_yaml()
    write_text(meta_path, text)
    print(f"# detected metadata ({time.time() - step:.0f}s)")
    print(text)
    where = {"metadata": meta_path}
    num_rows = _num_rows(args.rows, SchemaGraph(meta))

    # 2. sanitize: the tables with their PII replaced (keyed fakes: consistent, so joins hold)
    key = os.environ.get("SYNTHOHIVE_HMAC_KEY")
    if not key:
        key = secrets.token_hex(24)
        print("# SYNTHOHIVE_HMAC_KEY is not set: the fakes below use a one-off random key")
    step = time.time()
    sanitized_dir = os.path.join(out, "sanitized")
    sanitized = {}
    for name, df in tables.items():
        model = PIISanitizer.fromMetadata(meta, name, key=key).fit(df)
        path = os.path.join(sanitized_dir, name)
        model.transform(df).write.mode("overwrite").parquet(path)
        sanitized[name] = spark.read.parquet(path)
        found = ", ".join(f"{c}={r['kind']}/{r['strategy']}" for c, r in model.report.items())
        print(f"# sanitized {name}: {found or 'no PII columns'}")
    print(f"# sanitized copy written ({time.time() - step:.0f}s)")
    where["sanitized"] = sanitized_dir
    if args.epochs <= 0:
        print("# --epochs 0: fitting and sampling skipped")
        return _demo_done(where, t0)

    # 3. fit the whole schema on the sanitized tables: no real personal value reaches a model
    print(f"# fitting a RelationalSynthesizer (model={args.model}, epochs={args.epochs}) on "
          f"{len(tables)} tables")
    step = time.time()
    rs = RelationalSynthesizer(metadata=meta, model=args.model, epochs=args.epochs, seed=args.seed)
    with Progress(progress_enabled(args), user_log_level(args), len(meta.tables), "fit"):
        rmodel = rs.fit(sanitized)
    model_dir = os.path.join(out, "model")
    rmodel.save(model_dir, overwrite=True)
    print(f"# fitted and saved ({time.time() - step:.0f}s)")
    where["model"] = model_dir

    # 4. sample at --sample-scale, written as each table is ready
    synthetic_dir = os.path.join(out, "synthetic")
    step = time.time()
    with Progress(progress_enabled(args), user_log_level(args), len(meta.tables), "sample"):
        synthetic = rmodel.sample(scale=args.sample_scale,
                                  numRows=num_rows or None,
                                  output=synthetic_dir, mode="overwrite", seed=args.seed)
    print(f"# synthetic database at scale {args.sample_scale:g}, written as {args.format} "
          f"({time.time() - step:.0f}s):")
    for name, df in synthetic.items():
        print(f"#   {name}: {df.count()} rows (real: {tables[name].count()})")
    where["synthetic"] = synthetic_dir
    if args.table in synthetic and args.show > 0:
        print(f"# synthetic rows of {args.table!r} (first {args.show}):")
        synthetic[args.table].show(args.show, truncate=24)

    # 5. validate against the real tables
    step = time.time()
    report = evaluate(tables, synthetic, metadata=meta, model=rmodel, cache=True)
    html, js = os.path.join(out, "report.html"), os.path.join(out, "report.json")
    report.save_html(html)
    report.save_json(js)
    print(f"# quality of the synthetic database against the real one ({time.time() - step:.0f}s)")
    _print_score(report)
    where["report"] = html
    where["report_json"] = js
    for df in tables.values():
        df.unpersist()
    return _demo_done(where, t0)


def _demo_done(where: dict[str, str], t0: float) -> int:
    print(f"# demo finished in {time.time() - t0:.1f}s; everything is under "
          f"{os.path.dirname(where['metadata'])}:")
    for what, path in where.items():
        print(f"{what}: {path}")
    return EXIT_OK


# ------------------------------------------------------------------ detect
def _detect(args: argparse.Namespace) -> int:
    from synthohive_spark.metadata import Metadata

    locs = table_locations(args.tables)
    fmt = args.input_format
    spark = session(args, "synthohive-detect", delta=needs_delta(list(locs.values()), fmt),
                    jdbc=any(map(is_jdbc, locs.values())))
    frames, declared = read_inputs(spark, locs, fmt, args)  # a database's keys: its catalog's
    text = (declared or Metadata.detect(frames)).to_yaml()
    if args.output:
        print(f"metadata: {write_text(args.output, text)}")
    else:
        print(text)
    return EXIT_OK


# ------------------------------------------------------------------ fit
def _fit(args: argparse.Namespace) -> int:
    from synthohive_spark.metadata import Metadata
    from synthohive_spark.ml.relational import RelationalSynthesizer

    locs = table_locations(args.tables)
    meta = load_metadata(args.metadata) if args.metadata else None
    if args.epochs is not None and args.epochs < 1:
        raise ParamError(f"--epochs must be at least 1, got {args.epochs}")
    model_dir = _model_dir(args.model_dir)
    spark = session(args, "synthohive-fit",
                    delta=needs_delta(list(locs.values()), args.input_format),
                    jdbc=any(map(is_jdbc, locs.values())))
    _check_new_model_dir(spark, model_dir, args.overwrite)
    frames, declared = read_inputs(spark, locs, args.input_format, args)
    detected = meta is None
    if detected:  # a database's keys come from its catalog, the rest is detected
        meta = declared or Metadata.detect(frames)
    rs = RelationalSynthesizer(metadata=meta, **_fit_params(args))
    meta_out = write_text(args.metadata_out, meta.to_yaml()) if args.metadata_out else None
    with Progress(progress_enabled(args), user_log_level(args), len(meta.tables), "fit"):
        model = rs.fit(frames)
    model.save(model_dir, overwrite=args.overwrite)
    if meta_out:
        print(f"metadata: {meta_out}")
    elif detected:
        print("metadata: detected (keep it with --metadata-out FILE)")
    else:
        print(f"metadata: {os.path.abspath(args.metadata)}")
    print(f"tables: {', '.join(model.tables)}")
    print(f"model: {model_dir}")
    return EXIT_OK


# ------------------------------------------------------------------ sample
def _sample(args: argparse.Namespace) -> int:
    refs = table_locations(args.reference or [], "reference table")
    gate = args.min_quality
    if gate is not None and not 0.0 <= gate <= 1.0:
        raise ParamError(f"--min-quality must lie in [0, 1], got {gate}")
    if gate and not refs:
        raise ParamError("--min-quality needs the real tables to validate against: "
                         "--reference NAME=LOCATION ...")
    if args.scale is not None and not args.scale > 0:
        raise ParamError(f"--scale must be a positive number, got {args.scale}")
    model_dir = _model_dir(args.model_dir)
    to_db = is_jdbc(args.output)
    if to_db and args.format is not None:
        raise ParamError(f"--format {args.format}: a JDBC --output is written as database tables; "
                         f"leave --format out")
    fmt = "jdbc" if to_db else args.format or "parquet"
    spark = session(args, "synthohive-sample",
                    delta=needs_delta(list(refs.values()), fmt, args.input_format),
                    jdbc=to_db or any(map(is_jdbc, refs.values())))
    model = _load_model(model_dir)
    num_rows = _num_rows(args.rows, model.graph)
    reference = read_inputs(spark, refs, args.input_format, args)[0] if refs else None
    output = output_location(spark, args.output, args)
    with Progress(progress_enabled(args), user_log_level(args), len(model.tables), "sample"):
        out = model.sample(scale=args.scale if args.scale is not None else 1.0,
                           numRows=num_rows or None, output=output, format=fmt,
                           mode="overwrite" if args.overwrite else "errorifexists",
                           seed=args.seed, minQuality=gate or None, reference=reference)
    if gate:
        print(f"quality gate: passed (--min-quality {gate:g})")
    for name, location in _targets(output, list(out)).items():
        print(f"{name}: {out[name].count()} rows -> {location} ({fmt})")
    return EXIT_OK


# ------------------------------------------------------------------ report
def _report(args: argparse.Namespace) -> int:
    from synthohive_spark.metadata import Metadata
    from synthohive_spark.validation import evaluate

    real_locs = table_locations(args.real, "real table")
    if len(args.synthetic) == 1 and "=" not in args.synthetic[0]:
        syn_locs = tables_of_output(args.synthetic[0], list(real_locs))
    else:
        syn_locs = table_locations(args.synthetic, "synthetic table")
    hold_locs = table_locations(args.holdout or [], "holdout table")
    if args.min_quality is not None and not 0.0 <= args.min_quality <= 1.0:
        raise ParamError(f"--min-quality must lie in [0, 1], got {args.min_quality}")
    if args.metadata and args.model_dir:
        raise ParamError("give --metadata or --model-dir, not both")
    meta = load_metadata(args.metadata) if args.metadata else None
    all_locs = [*real_locs.values(), *syn_locs.values(), *hold_locs.values()]
    spark = session(args, "synthohive-report", delta=needs_delta(all_locs, args.input_format))
    model = _load_model(_model_dir(args.model_dir)) if args.model_dir else None
    if model is not None:
        meta = model.metadata
    real = read_tables(spark, real_locs, args.input_format)
    synthetic = read_tables(spark, syn_locs, args.input_format)
    holdout = read_tables(spark, hold_locs, args.input_format) if hold_locs else None
    if meta is None:
        meta = Metadata.detect(real)
    report = evaluate(real, synthetic, metadata=meta, holdout=holdout, model=model)
    _print_score(report)
    if args.output:
        path = os.path.abspath(args.output)
        (report.save_json if path.lower().endswith(".json") else report.save_html)(path)
        print(f"report: {path}")
    if args.json:
        report.save_json(os.path.abspath(args.json))
        print(f"report_json: {os.path.abspath(args.json)}")
    if args.min_quality is not None:
        report.check(min_score=args.min_quality)
        print(f"quality gate: passed (--min-quality {args.min_quality:g})")
    return EXIT_OK


# ------------------------------------------------------------------ pii-scan
def _pii_scan(args: argparse.Namespace) -> int:
    from synthohive_spark.ml.pii import PIISanitizer

    locs = table_locations(args.tables)
    spark = session(args, "synthohive-pii-scan",
                    delta=needs_delta(list(locs.values()), args.input_format))
    frames = read_tables(spark, locs, args.input_format)
    found: dict[str, dict[str, Any]] = {}
    for name, df in frames.items():
        # detection only: redact needs no key, and nothing is transformed
        model = PIISanitizer(defaultStrategy="redact", seed=args.seed,
                             minConfidence=args.min_confidence).fit(df)
        found[name] = {c: {k: v for k, v in r.items() if k != "strategy"}
                       for c, r in model.report.items()}
    if args.json:
        text = json.dumps(found, indent=2, default=str)
    else:
        rows = [("table", "column", "kind", "confidence", "hit_rate", "source")]
        for t, cols in found.items():
            for c, r in cols.items():
                rows.append((t, c, str(r.get("kind")), f"{float(r.get('confidence') or 0):.2f}",
                             f"{float(r.get('hit_rate') or 0):.2f}", str(r.get("source"))))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
        clean = [t for t, cols in found.items() if not cols]
        if clean:
            lines.append(f"# no PII found in: {', '.join(clean)}")
        text = "\n".join(lines)
    if args.output:
        print(f"pii: {write_text(args.output, text + chr(10))}")
    else:
        print(text)
    return EXIT_OK


# ------------------------------------------------------------------ the parser
_EXAMPLES = {
    "demo": """example:
  synthohive demo --out ./synthohive-demo
  # makes the bundled retail database, detects its metadata, replaces its PII, fits the whole
  # schema, samples it at scale 2, validates it and writes the tables and the HTML report""",
    "detect": """example:
  synthohive detect customers=data/customers.parquet orders=data/orders.parquet -o meta.yaml""",
    "fit": """examples:
  synthohive fit customers=data/customers.parquet orders=data/orders.parquet \\
      --metadata meta.yaml --model-dir out/model --epochs 100 --seed 7
  synthohive fit customers=sales.customers --model-dir dbfs:/models/customers \\
      --metadata-out meta.yaml           # a catalog table, metadata detected and kept
  PGPASSWORD=... synthohive fit jdbc:postgresql://db:5432/shop --jdbc-schema public \\
      --jdbc-user app --jdbc-password-env PGPASSWORD --model-dir out/model
  # every table of the schema, with the primary and foreign keys its catalog declares""",
    "sample": """examples:
  synthohive sample --model-dir out/model --scale 2 --output out/synthetic --format parquet
  synthohive sample --model-dir out/model --rows customers=5000 --output synth_db --format delta \\
      --min-quality 0.8 --reference customers=data/customers.parquet orders=data/orders.parquet
  # exit code 1 when the generated database scores below --min-quality (nothing is written)
  PGPASSWORD=... synthohive sample --model-dir out/model --output jdbc:postgresql://db:5432/shop \\
      --jdbc-schema synthetic --jdbc-user app --jdbc-password-env PGPASSWORD""",
    "report": """examples:
  synthohive report --real customers=data/customers.parquet orders=data/orders.parquet \\
      --synthetic out/synthetic --metadata meta.yaml -o report.html --json report.json
  synthohive report --real customers=data/c.parquet --synthetic customers=out/c \\
      --min-quality 0.8                  # exit code 1 when the score is below 0.8""",
    "pii-scan": """examples:
  synthohive pii-scan customers=data/customers.parquet employees=hr.employees
  synthohive pii-scan customers=data/customers.csv --json -o pii.json""",
}


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common(p: argparse.ArgumentParser, spark: bool = True) -> None:
    g = p.add_argument_group("run")
    if spark:
        g.add_argument("--master", default="local[*]",
                       help="Spark master of a new local session (an active session, as in a "
                            "Databricks job, is used as it is) [local[*]]")
        g.add_argument("--conf", action="append", metavar="KEY=VALUE",
                       help="Spark setting of a new session (repeatable)")
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="progress bars on stderr (default: when stderr is a terminal)")
    g.add_argument("--no-progress", dest="progress", action="store_false")
    g.add_argument("--verbose", "-v", action="store_true",
                   help="show tracebacks, Spark's warnings and library warnings")
    g.add_argument("--log-level", default=None, help="Python log level [WARNING]")


def _input_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-format", choices=FORMATS, default=None,
                   help="format of every input path (default: from a _delta_log folder or the "
                        "file extension, else parquet)")


def _jdbc_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("JDBC (PostgreSQL)")
    g.add_argument("--jdbc-schema", default="public",
                   help="the database schema of JDBC tables, read or written [public]")
    g.add_argument("--jdbc-user", default=None, help="the database user")
    g.add_argument("--jdbc-password-env", default=None, metavar="VAR",
                   help="the environment variable that holds the database password")
    g.add_argument("--jdbc-property", action="append", metavar="KEY=VALUE",
                   help="a JDBC connection property, e.g. ssl=true (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="synthohive", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log-level", dest="top_log_level", default="WARNING",
                        help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_, epilog=_EXAMPLES[name],
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    tables_help = ("tables as NAME=LOCATION: a path, delta.`/path`, a catalog table db.table, or "
                   "NAME=jdbc:postgresql://host/db (table NAME of --jdbc-schema; a bare JDBC URL: "
                   "every table of it)")

    demo = add("demo", "run the whole job on the bundled retail database: detect its metadata, "
                       "replace its PII, fit the whole schema, sample it, validate it, and write "
                       "the tables and the HTML report")
    demo.add_argument("--out", default=None,
                      help="folder for everything the demo writes (its own subfolders are "
                           "replaced) [a new temporary folder]")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--scale", type=float, default=1.0,
                      help="size of the bundled real database [1.0: 1,000 customers]")
    demo.add_argument("--sample-scale", type=float, default=2.0,
                      help="size of the synthetic database relative to the real one [2.0]")
    demo.add_argument("--rows", action="append", metavar="TABLE=N",
                      help="rows of a root table instead of --sample-scale (repeatable)")
    demo.add_argument("--model", default="auto", choices=MODELS,
                      help="auto (a model per table by a held-out score), gaussian_copula, tvae, "
                           "ctgan, sequence [auto]")
    demo.add_argument("--epochs", type=int, default=20,
                      help="upper bound of training epochs per table (0 stops after detecting "
                           "and sanitizing) [20]")
    demo.add_argument("--table", default="customers", help="table whose synthetic rows are shown")
    demo.add_argument("--show", type=int, default=10, help="synthetic rows shown [10]")
    demo.set_defaults(func=_demo, format="parquet")
    _common(demo)

    det = add("detect", "detect the metadata (types, keys, PII, rules) of tables and print it as "
                        "YAML")
    det.add_argument("tables", nargs="+", metavar="NAME=LOCATION", help=tables_help)
    det.add_argument("--format", dest="input_format", choices=FORMATS, default=None,
                     help="format of every input path (default: from the path)")
    det.add_argument("--output", "-o", default=None, help="write the YAML here")
    det.set_defaults(func=_detect)
    _jdbc_options(det)
    _common(det)

    fit = add("fit", "learn tables (one, or a whole schema linked by foreign keys) and save the "
                     "model directory")
    fit.add_argument("tables", nargs="+", metavar="NAME=LOCATION", help=tables_help)
    fit.add_argument("--model-dir", required=True, help="where the fitted model is saved")
    fit.add_argument("--metadata", default=None,
                     help="metadata YAML (or JSON) file (default: detected from the tables)")
    fit.add_argument("--metadata-out", default=None, help="write the metadata used as YAML here")
    fit.add_argument("--model", default="auto", choices=MODELS,
                     help="generative model of every table [auto]")
    fit.add_argument("--epochs", type=int, default=None,
                     help="upper bound of training epochs per table [300]")
    fit.add_argument("--max-training-rows", type=int, default=None,
                     help="rows per table sampled to the driver for training [500000]")
    fit.add_argument("--seed", type=int, default=42)
    fit.add_argument("--overwrite", action="store_true", help="replace an existing --model-dir")
    _input_format(fit)
    fit.set_defaults(func=_fit)
    _jdbc_options(fit)
    _common(fit)

    smp = add("sample", "generate a synthetic database from a model directory and write it")
    smp.add_argument("--model-dir", required=True, help="a model directory written by fit")
    size = smp.add_argument_group("size")
    size.add_argument("--scale", type=float, default=None,
                      help="rows of each root table relative to the real table [1.0]")
    size.add_argument("--rows", action="append", metavar="TABLE=N",
                      help="rows of a root table (repeatable; a bare N when there is one root "
                           "table); child tables follow from their parents")
    smp.add_argument("--output", "-o", required=True,
                     help="a folder (one sub-folder per table), an existing catalog database, "
                          "or jdbc:postgresql://host/db (the tables into --jdbc-schema, with "
                          "their keys, all at once or none)")
    smp.add_argument("--format", default=None, choices=FORMATS,
                     help="[parquet; a JDBC --output takes none]")
    smp.add_argument("--seed", type=int, default=None, help="[the model's seed]")
    smp.add_argument("--overwrite", action="store_true", help="replace existing output tables")
    gate = smp.add_argument_group("quality gate")
    gate.add_argument("--min-quality", type=float, default=None, metavar="Q",
                      help="validate the generated database against --reference before writing "
                           "it; exit code 1 below Q")
    gate.add_argument("--reference", nargs="+", metavar="NAME=LOCATION",
                      help="the real tables (also what rejectCopies / min_dcr compare with)")
    _input_format(smp)
    smp.set_defaults(func=_sample)
    _jdbc_options(smp)
    _common(smp)

    rep = add("report", "compare synthetic tables with real ones: quality score, HTML and JSON "
                        "report, optional quality gate")
    rep.add_argument("--real", nargs="+", required=True, metavar="NAME=LOCATION",
                     help="the real tables")
    rep.add_argument("--synthetic", nargs="+", required=True, metavar="NAME=LOCATION",
                     help="the synthetic tables, or one folder / catalog database written by "
                          "sample (its tables named as the real ones)")
    rep.add_argument("--holdout", nargs="+", metavar="NAME=LOCATION",
                     help="real rows not used for training: adds the privacy section (DCR, "
                          "membership inference)")
    rep.add_argument("--metadata", default=None,
                     help="metadata YAML (default: the model's with --model-dir, else detected "
                          "from the real tables)")
    rep.add_argument("--model-dir", default=None,
                     help="the model that generated the tables (its metadata and privacy "
                          "statement)")
    rep.add_argument("--output", "-o", default=None,
                     help="write the report here: HTML, or JSON when the name ends in .json")
    rep.add_argument("--json", default=None, help="also write the report's numbers as JSON here")
    rep.add_argument("--min-quality", type=float, default=None, metavar="Q",
                     help="exit code 1 when the score is below Q (the report is written first)")
    _input_format(rep)
    rep.set_defaults(func=_report)
    _common(rep)

    pii = add("pii-scan", "find the columns holding personal data (by name and by values on a "
                          "sample) in each table")
    pii.add_argument("tables", nargs="+", metavar="NAME=LOCATION", help=tables_help)
    pii.add_argument("--json", action="store_true", help="print JSON: table -> column -> finding")
    pii.add_argument("--output", "-o", default=None, help="write the result here")
    pii.add_argument("--min-confidence", type=float, default=0.5,
                     help="confidence from which a finding is PII [0.5]")
    pii.add_argument("--seed", type=int, default=42, help="seed of the row sample")
    _input_format(pii)
    pii.set_defaults(func=_pii_scan)
    _common(pii)
    return parser


def main(argv: Optional[list[str]] = None) -> int:
    """Run `synthohive`; returns the exit code (0 ok, 1 quality gate, 2 bad input, 3 failure)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    args.log_level = args.log_level or args.top_log_level
    try:  # the lines saying where things went appear as they are printed, also in a job's log
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        pass
    logging.basicConfig(level=user_log_level(args))
    env_warnings = os.environ.get("PYTHONWARNINGS")
    quiet_warnings(args.verbose)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"synthohive {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001: every failure becomes one line and an exit code
        return report_error(f"synthohive {args.command}", exc, args.verbose)
    finally:  # a session started here has taken it over already; the caller's stays as it was
        if env_warnings is None:
            os.environ.pop("PYTHONWARNINGS", None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
