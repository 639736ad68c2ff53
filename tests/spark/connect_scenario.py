"""Run by test_connect.py in a fresh process: fit, sample, transform, save and load on a local
Spark Connect session, and load a model that a classic session saved. Prints one JSON line."""
from __future__ import annotations

import hashlib
import json
import sys


def digest(df) -> str:
    rows = sorted(repr(tuple(r)) for r in df.collect())
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def main(classic_model: str, workdir: str) -> None:

    from synthohive_spark.ml.table import TableSynthesizerModel, TableSynthesizer
    from synthohive_spark.session import get_or_create_session

    spark = get_or_create_session(master="local[2]", connect=True)
    assert get_or_create_session() is spark  # the active Connect session is returned as it is
    out = {"connect": type(spark).__module__}

    loaded = TableSynthesizerModel.load(classic_model)
    out["classic_model_digest"] = digest(loaded.sample(800, numPartitions=2))

    df = spark.createDataFrame(
        [(i, float(i % 7) * 1.5, "abc"[i % 3], i % 5 == 0) for i in range(300)],
        "id long, x double, c string, flag boolean")
    model = TableSynthesizer(model="gaussian_copula", seed=1, keyCols=["id"],
                             conditionCols=["c"], tableName="t").fit(df)
    fake = model.sample(500)
    out["sample_count"] = int(fake.count())  # numpy int on pyspark 3.5 Connect
    out["sample_schema_equal"] = fake.schema == df.schema
    twin = model.transform(df)
    out["twin_count"] = int(twin.count())
    out["twin_condition_kept"] = (
        [r[0] for r in twin.select("c").collect()] == [r[0] for r in df.select("c").collect()])
    path = workdir + "/connect_model"
    model.write().overwrite().save(path)
    again = TableSynthesizerModel.load(path)
    out["save_load_equal"] = digest(again.sample(400, numPartitions=2)) == digest(
        model.sample(400, numPartitions=2))
    print("RESULT " + json.dumps(out))
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
