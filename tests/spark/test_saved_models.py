"""Models saved by the previous release (tests/data/models, format 1, camelCase state) load,
sample and transform; a new save writes snake_case state (format 2) that loads the same."""
from __future__ import annotations

import glob
import json
import os
import re

import numpy as np
import pandas as pd
import pytest
import pyarrow.parquet as pq

from synthohive_spark.examples import retail_spark
from synthohive_spark.ml.cardinality import CardinalityModel
from synthohive_spark.ml.pii import PIISanitizerModel
from synthohive_spark.ml.relational import RelationalSynthesizerModel
from synthohive_spark.ml.table import TableSynthesizerModel

MODELS = os.path.join(os.path.dirname(__file__), "..", "data", "models")
KEY = "fixture-secret-key-0123456789"


def _saved(path: str, name: str = "state.json"):
    files = glob.glob(os.path.join(path, "data", "*.parquet"))
    blobs = {r["name"]: r["blob"] for r in pq.read_table(files).to_pylist()}
    meta = json.loads(open(glob.glob(os.path.join(path, "metadata", "part-*"))[0]).read())
    return meta, json.loads(blobs[name])


def _camel_fields(state, maps=("tables", "labels", "uniqueIds", "unique_ids", "secondary",
                               "selfRefs", "self_refs", "key_specs", "pii_specs", "pii",
                               "table_config", "core", "pk_spec", "degree")) -> set[str]:
    """camelCase field names of a saved state (the data-keyed maps and kept-as-is parts skipped)."""
    found = set()
    if isinstance(state, dict):
        for k, v in state.items():
            if re.search(r"[a-z][A-Z]", k):
                found.add(k)
            if k in maps and isinstance(v, dict):
                for inner in v.values():
                    found |= _camel_fields(inner, maps)
            elif k not in maps:
                found |= _camel_fields(v, maps)
    return found


def _rows(df) -> list:
    return sorted(map(tuple, df.toPandas().astype(str).itertuples(index=False)))


def test_a_table_model_of_the_previous_release_loads_and_samples(spark, tmp_path):
    path = os.path.join(MODELS, "table_71ff780")
    assert _saved(path)[0]["synthohiveFormat"] == 1 and "keySpecs" in _saved(path)[1]
    model = TableSynthesizerModel.load(path)
    assert model.getSeed() == 11 and model.getTableName() == "orders"
    assert model.getModelParams() == {}  # a dict now (it was the JSON string)
    fake = model.sample(200, numPartitions=2).toPandas()
    assert list(fake.columns) == ["order_id", "channel", "amount", "email"]
    assert fake["order_id"].is_unique and set(fake["channel"]) <= {"web", "store", "phone"}
    again = str(tmp_path / "table")
    model.write().save(again)
    meta, state = _saved(again)
    assert meta["synthohiveFormat"] == 2 and not _camel_fields(state)
    assert {"key_specs", "learned_cols", "training_rows"} <= set(state)
    reloaded = TableSynthesizerModel.load(again)
    assert reloaded._state == model._state
    assert _rows(reloaded.sample(100, numPartitions=2)) == _rows(model.sample(100, numPartitions=2))


def test_a_cardinality_model_of_the_previous_release_loads_and_transforms(spark, tmp_path):
    path = os.path.join(MODELS, "cardinality_71ff780")
    model = CardinalityModel.load(path)
    assert model.getSeed() == 5 and model.getContextCols() == ["segment"]
    parents = retail_spark(spark, seed=2, scale=0.1)["customers"]
    skeleton = model.transform(parents)
    assert skeleton.columns == ["customer_id", "p_segment"]
    assert skeleton.count() > parents.count()  # about three orders per customer
    again = str(tmp_path / "card")
    model.write().save(again)
    meta, state = _saved(again)
    assert meta["synthohiveFormat"] == 2 and "context_schema" in state and not _camel_fields(state)
    assert _rows(CardinalityModel.load(again).transform(parents)) == _rows(skeleton)


def test_a_pii_sanitizer_model_of_the_previous_release_loads_and_transforms(spark, tmp_path):
    path = os.path.join(MODELS, "pii_sanitizer_71ff780")
    model = PIISanitizerModel.load(path)
    assert {"email", "ssn"} <= set(model.piiColumns_)
    assert model.getStrategies() == {"email": "hash", "ssn": "mask"}
    with pytest.raises(ValueError, match="does not match the key"):
        model.setKey("another-key-that-is-long-enough")
    model.setKey(KEY)
    people = spark.createDataFrame(pd.DataFrame({
        "id": np.arange(5), "email": [f"p{i}@mail.example.org" for i in range(5)],
        "ssn": [f"123-45-{1000 + i:04d}" for i in range(5)], "score": np.arange(5)}))
    out = model.transform(people).toPandas()
    assert not set(out["email"]) & set(people.toPandas()["email"])
    assert out["ssn"].str.contains("123-45-1000").sum() == 0
    assert list(out["score"]) == list(range(5))
    again = str(tmp_path / "pii")
    model.write().save(again)
    loaded = PIISanitizerModel.load(again).setKey(KEY)
    assert loaded.getStrategies() == model.getStrategies()
    assert _rows(loaded.transform(people)) == _rows(model.transform(people))


def test_a_relational_model_of_the_previous_release_loads_and_samples(spark, tmp_path):
    path = os.path.join(MODELS, "relational_71ff780")
    model = RelationalSynthesizerModel.load(path)
    assert model.getSeed() == 3
    model.clear(model.seed)
    assert model.getSeed() == 7  # the default it was saved with, not this release's
    model.set(model.seed, 3)
    out = model.sample(scale=1.0, seed=1)
    customers, orders = out["customers"].toPandas(), out["orders"].toPandas()
    assert customers["customer_id"].is_unique and len(customers) == model.realRows("customers")
    assert set(orders["customer_id"].dropna()) <= set(customers["customer_id"])
    again = str(tmp_path / "rel")
    model.write().save(again)
    meta, state = _saved(again)
    assert meta["synthohiveFormat"] == 2 and not _camel_fields(state)
    assert {"real_rows", "pk_spec", "condition_cols"} <= set(state["tables"]["orders"])
    assert "null_share" in state["tables"]["orders"]["driver"]
    assert os.path.isdir(os.path.join(again, "tables", "orders"))       # the same layout
    assert os.path.isdir(os.path.join(again, "cardinality", "orders"))
    reloaded = RelationalSynthesizerModel.load(again)
    assert reloaded._state == model._state
    twice = reloaded.sample(scale=1.0, seed=1)
    assert _rows(twice["orders"]) == _rows(out["orders"])
