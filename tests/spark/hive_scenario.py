"""Run by test_hive_catalog.py as Spark applications of their own over one local Hive metastore
(a session's catalog is fixed when it starts, and the shared test session has none). Prints one
``RESULT {json}`` line.

    hive_scenario.py write WAREHOUSE WORKDIR FORMATS DATASETS
        get_or_create_session(hive=True, warehouse=WAREHOUSE) (with Delta when FORMATS has
        delta); the retail example and realdata's pizzaplace (from the folder DATASETS) saved as
        managed tables of databases 'retail' and 'pizza'; a RelationalSynthesizer fitted on each
        from catalog names (db.table and spark_catalog.db.table); per format, the synthetic
        database written with sample(output=...) (retail to 'retail_synth[_delta]', pizzaplace
        to 'spark_catalog.pizza_synth[_delta]'); retail's written again without overwrite
        (refused), then overwritten; writes that fail half way (a stray folder where the warehouse puts a
        table; a table whose computation fails; a staged table that vanishes before the commit);
        three-part names of a catalog the session does not have.
    hive_scenario.py check WAREHOUSE WORKDIR FORMATS
        a second application on the same metastore: every written database read back through it.

Every state reports, as read back from the store: the tables of the database, each table's rows,
digest, duplicate primary keys and orphan foreign keys, and its provider.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time

#: rows of the root tables: first write, overwrite
ROWS = {"retail": ({"customers": 40, "products": 10, "employees": 5},
                   {"customers": 25, "products": 8, "employees": 4}),
        "pizza": ({"orders": 300}, None)}
OUTPUTS = {"retail": "retail_synth", "pizza": "spark_catalog.pizza_synth"}
SEED = 5


def output_of(ds: str, fmt: str) -> str:
    return OUTPUTS[ds] + ("_delta" if fmt == "delta" else "")


def session(warehouse: str, delta: bool):
    from synthohive_spark.session import get_or_create_session

    return get_or_create_session(
        app_name="synthohive-hive", master="local[2]", hive=True, warehouse=warehouse,
        delta=delta, conf={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
                           "spark.driver.memory": "2g",
                           "spark.databricks.delta.snapshotPartitions": "2"})


def show_tables(spark, db: str) -> list[str]:
    return sorted(r["tableName"] for r in spark.sql(f"SHOW TABLES IN {db}").collect())


def describe(spark, name: str) -> dict:
    rows = spark.sql(f"DESCRIBE TABLE EXTENDED {name}").collect()
    info = {str(r[0]).strip(): str(r[1]).strip() for r in rows}
    return {"provider": info.get("Provider", "").lower(), "type": info.get("Type", "")}


def state(spark, md, db: str, fmt: str, version=None, kinds: bool = True) -> dict:
    """What the store holds for the database ``db``, read back through the metastore (each table
    collected once; its keys checked on the rows read)."""
    from synthohive_spark.io import read_output

    if fmt == "delta":
        frames = read_output(db, spark, version=version)
    else:
        frames = {t: spark.table(f"{db}.{t}") for t in md.tables}
    tables = {t: df.toPandas() for t, df in frames.items()}
    out = {"tables": show_tables(spark, db), "rows": {}, "digests": {}, "duplicate_keys": {},
           "orphans": {}, "fk_rows": {}, "kinds": {}}
    for t, pdf in tables.items():
        out["rows"][t] = len(pdf)
        out["digests"][t] = hashlib.sha256("\n".join(sorted(
            repr(tuple(r)) for r in pdf.itertuples(index=False))).encode()).hexdigest()
        if kinds:
            out["kinds"][t] = describe(spark, f"{db}.{t}")
        pk = md.tables[t].primary_key
        if pk:
            out["duplicate_keys"][t] = int(pdf[pk].duplicated().sum())
        for fk in md.tables[t].foreign_keys:
            kids = pdf[fk.column].dropna()
            key = f"{t}.{fk.column}"
            out["fk_rows"][key] = int(len(kids))
            out["orphans"][key] = int((~kids.isin(set(tables[fk.parent_table][fk.parent_column])))
                                      .sum())
    return out


def last_complete(spark, db: str) -> int:
    """The version of ``db``'s Delta manifest that its last finished write committed."""
    from synthohive_spark.io import read_manifest

    return read_manifest(db, spark)["complete_versions"][-1]


def lap(out: dict, clock: list, what: str) -> None:
    now = time.time()
    out["seconds"][what] = round(now - clock[0], 1)
    clock[0] = now


def error(fn) -> str:
    """The message of what ``fn()`` raises (its class first), or '' when it raises nothing."""
    try:
        fn()
    except Exception as exc:  # the test matches class and message
        return f"{type(exc).__name__}: {exc}"
    return ""


def database_location(spark, db: str) -> str:
    rows = spark.sql(f"DESCRIBE DATABASE {db}").collect()
    location = {str(r[0]).strip(): str(r[1]).strip() for r in rows}["Location"]
    return location[len("file:"):] if location.startswith("file:") else location


def load_pizza(datasets: str):
    sys.path.insert(0, datasets)
    import realdata

    return realdata.pizzaplace()


def write(warehouse: str, workdir: str, formats: list[str], datasets: str) -> dict:
    from pyspark.sql import functions as F

    from synthohive_spark.examples import retail_metadata, retail_spark
    from synthohive_spark.io import DatabaseWriter, read_output
    from synthohive_spark.ml.relational import RelationalSynthesizer

    clock = [time.time()]
    spark = session(warehouse, "delta" in formats)
    out: dict = {"seconds": {}, "catalog": spark.conf.get("spark.sql.catalogImplementation"),
                 "warehouse": spark.conf.get("spark.sql.warehouse.dir"), "formats": formats}
    pizza, pizza_keys = load_pizza(datasets)
    real = {"retail": retail_spark(spark, seed=1, scale=0.1),
            "pizza": {t: spark.createDataFrame(v) for t, v in pizza.items()}}
    for db, tables in real.items():  # the real databases, managed tables of the metastore
        spark.sql(f"CREATE DATABASE {db}")
        for t, df in tables.items():
            df.write.saveAsTable(f"{db}.{t}")
    lap(out, clock, "start and real data")
    out["real_rows"] = {db: {t: spark.table(f"{db}.{t}").count() for t in tables}
                        for db, tables in real.items()}

    # fitted from catalog names: db.table, and spark_catalog.db.table
    models = {
        "retail": RelationalSynthesizer(metadata=retail_metadata(), model="gaussian_copula",
                                        seed=3, maxTrainingRows=5000).fit(
            {t: (f"spark_catalog.retail.{t}" if t == "orders" else f"retail.{t}")
             for t in real["retail"]}),
        "pizza": RelationalSynthesizer(model="gaussian_copula", seed=3,
                                       maxTrainingRows=5000).fit(
            {t: f"spark_catalog.pizza.{t}" for t in real["pizza"]})}
    out["pizza_true_keys"] = {t: [pk, sorted(fks.items())] for t, (pk, fks) in pizza_keys.items()}
    out["pizza_keys"] = {t: [c.primary_key, sorted((fk.column, fk.parent_table)
                                                   for fk in c.foreign_keys)]
                         for t, c in models["pizza"].metadata.tables.items()}
    lap(out, clock, "fit")
    for ds, model in models.items():
        with open(os.path.join(workdir, f"{ds}.metadata.json"), "w") as fh:
            json.dump(model.metadata.to_dict(), fh)

    # a three-part name of a catalog this session does not have
    out["unknown_catalog"] = {
        "fit": error(lambda: RelationalSynthesizer(
            metadata=retail_metadata(), model="gaussian_copula").fit(
                {t: f"nocat.retail.{t}" for t in real["retail"]})),
        "sample": error(lambda: models["retail"].sample(numRows=ROWS["retail"][0],
                                                        output="nocat.retail_synth"))}

    for fmt in formats:
        for ds, model in models.items():
            output = output_of(ds, fmt)
            md = model.metadata
            first, second = ROWS[ds]
            rec: dict = {"output": output}
            spark.sql(f"CREATE DATABASE {output}")
            model.sample(numRows=first, output=output, format=fmt, seed=SEED)
            rec["first"] = state(spark, md, output, fmt)
            if ds == "retail":  # refused, then overwritten (pizzaplace: written once)
                rec["refused"] = error(lambda: model.sample(numRows=first, output=output,
                                                            format=fmt, seed=SEED + 1))
                rec["after_refusal"] = state(spark, md, output, fmt, kinds=False)
                model.sample(numRows=second, output=output, format=fmt, mode="overwrite",
                             seed=SEED + 2)
                rec["second"] = state(spark, md, output, fmt)
            out[f"{ds}_{fmt}"] = rec
            lap(out, clock, f"{ds} {fmt}")

        # failures half way, on the retail database
        md, model = models["retail"].metadata, models["retail"]
        fail: dict = {}
        # 1. a stray folder where the warehouse puts the last table: that table cannot be made
        db = f"retail_fail_{fmt}"
        spark.sql(f"CREATE DATABASE {db}")
        stray = os.path.join(database_location(spark, db), "order_items")
        os.makedirs(stray)
        with open(os.path.join(stray, "stray.txt"), "w") as fh:
            fh.write("not a table")
        fail["stray"] = error(lambda: model.sample(numRows=ROWS["retail"][0], output=db,
                                                   format=fmt, seed=SEED))
        fail["stray_tables"] = show_tables(spark, db)
        fail["stray_files"] = sorted(os.listdir(stray))
        if fmt == "delta":
            fail["stray_read"] = error(lambda: read_output(db, spark))

        # 2. an overwrite whose second table fails while it is computed
        output = output_of("retail", fmt)
        names = list(model.tables)

        @F.udf("long")
        def explode(v):
            raise ValueError("generation failed half way")

        def broken_overwrite():
            writer = DatabaseWriter(spark, output, names, fmt, "overwrite")
            for i, t in enumerate(names):
                df = real["retail"][t]
                writer.write(t, df.withColumn(md.tables[t].primary_key,
                                              explode(md.tables[t].primary_key)) if i == 1 else df)
            writer.finish()
        fail["computed"] = error(broken_overwrite)
        if fmt == "delta":
            fail["computed_read"] = error(lambda: read_output(output, spark))
            fail["computed_state"] = state(spark, md, output, fmt,
                                           version=last_complete(spark, output))
        else:
            fail["computed_state"] = state(spark, md, output, fmt)

        # 3. (parquet) an overwrite whose staged table is dropped by someone else before the
        # commit: the tables already moved into place are moved back
        if fmt != "delta":
            writer = DatabaseWriter(spark, output, names, fmt, "overwrite")
            for t in names:
                writer.write(t, real["retail"][t])
            staged = [t for t in show_tables(spark, output) if t.startswith("_tmp_orders_")]
            fail["staged"] = staged
            for t in staged:
                spark.sql(f"DROP TABLE {output}.{t}")
            fail["vanished"] = error(writer.finish)
            fail["vanished_state"] = state(spark, md, output, fmt)
        out[f"fail_{fmt}"] = fail
        lap(out, clock, f"failures {fmt}")
    return out


def check(warehouse: str, workdir: str, formats: list[str]) -> dict:
    from synthohive_spark.io import read_output
    from synthohive_spark.metadata import Metadata
    from synthohive_spark.session import get_or_create_session

    spark = session(warehouse, "delta" in formats)
    out: dict = {"databases": sorted(r[0] for r in spark.sql("SHOW DATABASES").collect())}
    out["all_tables"] = {db: show_tables(spark, db) for db in out["databases"]}
    mds = {}
    for ds in OUTPUTS:
        with open(os.path.join(workdir, f"{ds}.metadata.json")) as fh:
            mds[ds] = Metadata.from_dict(json.load(fh))
    for fmt in formats:
        for ds, md in mds.items():  # Delta: the last database whose write finished
            db = output_of(ds, fmt)
            out[f"{ds}_{fmt}"] = state(spark, md, db, fmt, version=last_complete(spark, db)
                                       if fmt == "delta" else None)
        if fmt == "delta":
            out["fail_delta_read"] = error(lambda: read_output("retail_fail_delta", spark))
    out["other_warehouse"] = error(lambda: get_or_create_session(
        hive=True, warehouse=os.path.join(workdir, "another")))
    return out


def main(argv: list[str]) -> None:
    mode, warehouse, workdir, formats = argv[:4]
    fmts = formats.split(",")
    out = write(warehouse, workdir, fmts, argv[4]) if mode == "write" else \
        check(warehouse, workdir, fmts)
    print("RESULT " + json.dumps(out), flush=True)
    from pyspark.sql import SparkSession

    SparkSession.active().stop()


if __name__ == "__main__":
    main(sys.argv[1:])
