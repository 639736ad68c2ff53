"""Run by test_cluster.py as its own Spark application (a classic session already runs in the test
process). Prints one ``RESULT {json}`` line.

    cluster_scenario.py fit MASTER WORKDIR
        fit the example schema (orders' model trained by TorchDistributor on two processes),
        save the model to WORKDIR/model, sample it and write the database to WORKDIR/fit
    cluster_scenario.py sample MASTER WORKDIR NAME [FAULT]
        load WORKDIR/model in a new application, sample the same database and write it to
        WORKDIR/NAME through a pass-through step that injects FAULT into partition 1's first
        attempt of every table: "kill" (the Python worker dies after its first batch, mid-write),
        "fail" (the task raises), "slow" (the task stalls until a speculative copy has written
        its partition), or none.

Every written table is read back for its digest, its primary key's uniqueness and its orphan
foreign keys, so that the test compares what reached the files.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time

SEED, SCALE, PARTITIONS = 5, 1.0, 3


def digest(df) -> str:
    rows = sorted(repr(tuple(r)) for r in df.collect())
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def _stall_until_copied(marks: str, stage: int, cap: float = 60.0) -> None:
    """A straggler: stall until a speculative copy of this task has finished its partition
    (its mark is written), then a little longer, so that the copy is the attempt that completes
    first (at most ``cap`` seconds: without a copy the test fails on the missing mark)."""
    end = time.time() + cap
    while time.time() < end:
        if any(m.startswith(f"stage{stage}-") and not m.endswith("attempt0")
               for m in os.listdir(marks)):
            time.sleep(3)
            return
        time.sleep(0.2)


def with_fault(df, fault: str | None, marks: str):
    """``df`` unchanged, computed through a step that injects ``fault`` into the first attempt of
    partition 1 (and records which attempts ran under ``marks``)."""
    if not fault:
        return df

    def step(batches):
        from pyspark import TaskContext

        ctx = TaskContext.get()
        target = ctx.partitionId() == 1
        first = target and ctx.attemptNumber() == 0
        for i, batch in enumerate(batches):
            yield batch
            if first and i == 0:
                if fault == "kill":
                    os._exit(3)  # the Python worker dies with part of the partition written
                if fault == "fail":
                    raise RuntimeError("injected task failure")
                if fault == "slow":
                    _stall_until_copied(marks, ctx.stageId())
        if target:
            with open(os.path.join(marks, f"stage{ctx.stageId()}-attempt{ctx.attemptNumber()}"),
                      "w") as fh:
                fh.write("done")

    return df.mapInPandas(step, df.schema)


def check_written(spark, md, workdir: str, name: str) -> dict:
    from pyspark.sql import functions as F

    tables = {t: spark.read.parquet(os.path.join(workdir, name, t)) for t in md.tables}
    out = {"digests": {t: digest(df) for t, df in tables.items()},
           "rows": {t: int(df.count()) for t, df in tables.items()}, "duplicate_keys": {},
           "orphans": {}}
    for t, cfg in md.tables.items():
        if cfg.primary_key:
            df = tables[t]
            out["duplicate_keys"][t] = int(df.count() - df.select(cfg.primary_key).distinct().count())
        for fk in cfg.foreign_keys:
            kids = tables[t].where(F.col(fk.column).isNotNull())
            parents = tables[fk.parent_table].select(F.col(fk.parent_column).alias("__pk"))
            out["orphans"][f"{t}.{fk.column}"] = int(kids.join(
                parents, kids[fk.column] == parents["__pk"], "left_anti").count())
    return out


def session(master: str, fault: str | None):
    from synthohive_spark.session import get_or_create_session

    conf = {"spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "2",
            "spark.sql.execution.arrow.maxRecordsPerBatch": "100",
            "spark.executor.memory": "1g", "spark.driver.memory": "1g",
            "spark.ui.enabled": "false"}
    if not master.startswith("local"):
        conf["spark.cores.max"] = "2"
    if fault == "slow":
        conf.update({"spark.speculation": "true", "spark.speculation.interval": "200ms",
                     "spark.speculation.multiplier": "1.5", "spark.speculation.quantile": "0.5",
                     "spark.speculation.minTaskRuntime": "1s"})
    return get_or_create_session(app_name=f"synthohive-cluster-{fault or 'plain'}", master=master,
                                 conf=conf)


def main(argv: list[str]) -> None:
    from synthohive_spark.examples import retail_metadata, retail_spark
    from synthohive_spark.ml.relational import RelationalSynthesizer, RelationalSynthesizerModel

    mode, master, workdir = argv[:3]
    md = retail_metadata()
    out: dict = {"mode": mode}
    if mode == "fit":
        spark = session(master, None)
        out["master"] = spark.sparkContext.master
        real = retail_spark(spark, seed=2, scale=0.1)
        est = RelationalSynthesizer(metadata=md, seed=3, tableParams={
            "orders": {"model": "tvae", "epochs": 2, "batchSize": 100, "numProcesses": 2}})
        model = est.fit(real)
        out["orders_model"] = model._table_models["orders"]._state.get("model")
        model.save(os.path.join(workdir, "model"))
        model.sample(scale=SCALE, seed=SEED, numPartitions=PARTITIONS,
                     output=os.path.join(workdir, "fit"))
        out.update(check_written(spark, md, workdir, "fit"))
    else:
        name = argv[3]
        fault = argv[4] if len(argv) > 4 else None
        spark = session(master, fault)
        out["master"] = spark.sparkContext.master
        marks = os.path.join(workdir, name + "-attempts")
        os.makedirs(marks, exist_ok=True)
        model = RelationalSynthesizerModel.load(os.path.join(workdir, "model"))
        tables = model.sample(scale=SCALE, seed=SEED, numPartitions=PARTITIONS)
        for t, df in tables.items():
            with_fault(df, fault, marks).write.parquet(os.path.join(workdir, name, t))
        out.update(check_written(spark, md, workdir, name))
        out["attempts"] = sorted(os.listdir(marks))
    print("RESULT " + json.dumps(out), flush=True)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
