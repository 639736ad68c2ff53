"""Run by test_relational_connect.py in a fresh process: fit the example schema with the
RelationalSynthesizer on a local Spark Connect session, sample it to files, save, load and sample
again. Prints one JSON line."""
from __future__ import annotations

import hashlib
import json
import sys


def digest(df) -> str:
    rows = sorted(repr(tuple(r)) for r in df.collect())
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def main(workdir: str) -> None:
    from synthohive_spark.session import get_or_create_session
    from pyspark.sql import functions as F

    from synthohive_spark.examples import retail_metadata, retail_spark
    from synthohive_spark.ml.relational import RelationalSynthesizer, RelationalSynthesizerModel

    spark = get_or_create_session(master="local[2]", connect=True)
    out = {"connect": type(spark).__module__}
    md = retail_metadata()
    real = retail_spark(spark, seed=2, scale=0.1)
    model = RelationalSynthesizer(metadata=md, model="gaussian_copula", seed=3).fit(real)
    synth = model.sample(scale=1.0, output=workdir + "/db", mode="overwrite", seed=5)
    out["tables"] = sorted(synth)
    out["schemas_equal"] = all(synth[t].schema == real[t].schema for t in synth)
    out["customers_rows"] = [int(synth["customers"].count()), int(real["customers"].count())]
    orphans = {}
    for child, cfg in md.tables.items():
        for fk in cfg.foreign_keys:
            kids = synth[child].where(F.col(fk.column).isNotNull())
            parents = synth[fk.parent_table].select(F.col(fk.parent_column).alias("__pk"))
            orphans[f"{child}.{fk.column}"] = int(kids.join(
                parents, kids[fk.column] == parents["__pk"], "left_anti").count())
    out["orphans"] = orphans
    path = workdir + "/model"
    model.write().overwrite().save(path)
    loaded = RelationalSynthesizerModel.load(path)
    again = loaded.sample(scale=1.0, seed=5)
    out["reload_same_rows"] = {t: digest(again[t]) == digest(synth[t]) for t in ("customers", "orders")}
    print("RESULT " + json.dumps(out), flush=True)
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])
