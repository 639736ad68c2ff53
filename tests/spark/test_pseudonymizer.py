"""HmacPseudonymizer: the Scala stage run from Python, its pure-Python twin, pipelines, persistence.

These tests need the jar (``python jvm/build_jar.py``); they fail rather than skip without it.
"""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import hmac
import os
import subprocess
import sys

import pytest
from pyspark.errors import IllegalArgumentException
from pyspark.ml import Pipeline, PipelineModel, Transformer
from pyspark.ml.feature import SQLTransformer
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import functions as F
from pyspark.sql import types as T

from synthohive_spark.ml.pseudonymizer import (HmacPseudonymizer, key_fingerprint,
                                               pseudonymize_python)
from synthohive_spark.session import _scala_binary_version, jvm_available

pytestmark = pytest.mark.spark

KEY = "k3y-for-tests-0f9a8b7c6d5e4f3a2b1c"
OTHER_KEY = "another-key-1234567890abcdef"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ref_hmac(key: str, text: str) -> str:
    return hmac.new(key.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


@pytest.fixture(scope="module")
def jvm(spark):
    assert jvm_available(spark), (
        "the synthohive-spark jar is not loaded; build it with `python jvm/build_jar.py` "
        "before running the Spark tests")
    return spark


@pytest.fixture(scope="module")
def people(jvm):
    rows = [
        (1, "ann@example.com", 42, 1.5, True, dt.date(2020, 2, 29), "héllo wörld"),
        (2, "bob@example.com", -7, 1e10, False, dt.date(1999, 12, 31), ""),
        (3, None, None, None, None, None, None),
        (4, "ann@example.com", 42, 0.1, True, dt.date(2020, 2, 29), "x" * 80),
        (5, "日本語", 0, -0.0, False, dt.date(1970, 1, 1), "a`b.c"),
    ]
    schema = ("id int, email string, age int, score double, active boolean, born date, "
              "note string")
    return jvm.createDataFrame(rows, schema)


def by_id(df):
    return {r["id"]: r for r in df.collect()}


def test_jvm_stage_gives_reference_hmac_of_the_string_form(people):
    cols = ["email", "age", "score", "active", "born", "note"]
    out = HmacPseudonymizer(inputCols=cols, key=KEY).transform(people)

    assert out.columns == people.columns  # replaced in place, same order
    for c in cols:
        assert out.schema[c].dataType == T.StringType()
    as_text = people.select("id", *[F.col(c).cast("string").alias(c) for c in cols])
    expected_text = by_id(as_text)
    got = by_id(out)
    for rid, row in got.items():
        for c in cols:
            text = expected_text[rid][c]
            if text is None:
                assert row[c] is None, (rid, c)
            else:
                assert row[c] == ref_hmac(KEY, text), (rid, c)
                assert row[c] != text
    assert got[1]["age"] == ref_hmac(KEY, "42")  # numbers hash like Spark's cast to string
    assert got[1]["active"] == ref_hmac(KEY, "true")
    assert got[1]["born"] == ref_hmac(KEY, "2020-02-29")


def test_the_key_is_read_from_the_environment_when_none_is_set(people, monkeypatch):
    monkeypatch.setenv("SYNTHOHIVE_HMAC_KEY", KEY)
    stage = HmacPseudonymizer(inputCols=["email"])
    assert by_id(stage.transform(people))[1]["email"] == ref_hmac(KEY, "ann@example.com")
    assert stage.hasKey() and stage.getKeyFingerprint() == key_fingerprint(KEY)
    given = HmacPseudonymizer(inputCols=["email"], key=OTHER_KEY)  # a key given wins
    assert by_id(given.transform(people))[1]["email"] == ref_hmac(OTHER_KEY, "ann@example.com")


def test_same_value_same_pseudonym_across_dataframes_so_joins_survive(jvm):
    customers = jvm.createDataFrame([(f"C{i:03d}", f"name{i}") for i in range(30)],
                                    "customer_id string, name string")
    orders = jvm.createDataFrame([(o, f"C{o % 40:03d}") for o in range(120)],
                                 "order_id int, customer_id string")
    pc = HmacPseudonymizer(inputCols=["customer_id"], key=KEY).transform(customers)
    po = HmacPseudonymizer(inputCols=["customer_id"], key=KEY).transform(orders)
    raw_join = orders.join(customers, "customer_id").count()
    pseudo_join = po.join(pc, "customer_id").count()
    assert raw_join == 90 and pseudo_join == raw_join
    # a different key gives different pseudonyms, so nothing joins
    po_other = HmacPseudonymizer(inputCols=["customer_id"], key=OTHER_KEY).transform(orders)
    assert po_other.join(pc, "customer_id").count() == 0
    # the same DataFrame twice gives the same output (deterministic)
    again = HmacPseudonymizer(inputCols=["customer_id"], key=KEY).transform(customers)
    assert sorted(pc.collect()) == sorted(again.collect())


def test_truncate_keeps_the_length_of_the_string_form(people):
    out = HmacPseudonymizer(inputCols=["email", "note", "age"], outputCols=["e", "n", "a"],
                            outputFormat="truncate", key=KEY).transform(people)
    assert out.columns == people.columns + ["e", "n", "a"]
    for row in out.collect():
        for src, dst in (("email", "e"), ("note", "n"), ("age", "a")):
            value = row[src]
            if value is None:
                assert row[dst] is None
                continue
            text = str(value)
            want = max(1, min(64, len(text)))
            assert len(row[dst]) == want, (text, row[dst])
            assert row[dst] == ref_hmac(KEY, text)[:want]
    lengths = {r["id"]: len(r["n"]) for r in out.collect() if r["n"] is not None}
    assert lengths[1] == len("héllo wörld") == 11  # characters, not bytes
    assert lengths[2] == 1  # the empty string gives one character
    assert lengths[4] == 64  # longer values get the full digest


@pytest.mark.parametrize("output_format", ["hex", "truncate"])
@pytest.mark.parametrize("in_place", [True, False])
def test_python_fallback_is_byte_identical_to_the_jvm(jvm, output_format, in_place):
    rows = []
    for i in range(150):
        rows.append((
            i,
            None if i % 11 == 0 else f"user{i}@ex{i % 7}.org" + "é" * (i % 3),
            None if i % 13 == 0 else i * 7919 - 50_000,
            None if i % 17 == 0 else (i - 75) / 7.0,
            decimal.Decimal(i * 3) / decimal.Decimal(8),
            dt.datetime(2021, 1, 1, 12, 0, 0) + dt.timedelta(minutes=97 * i),
            i % 2 == 0,
            "" if i % 5 == 0 else "🙂" * (i % 4) + str(i),
        ))
    schema = ("id int, email string, n long, x double, amount decimal(12,3), ts timestamp, "
              "flag boolean, s string")
    df = jvm.createDataFrame(rows, schema).repartition(3)
    cols = ["email", "n", "x", "amount", "ts", "flag", "s"]
    outs = None if in_place else [f"{c}_p" for c in cols]
    stage = HmacPseudonymizer(inputCols=cols, outputFormat=output_format, key=KEY)
    if outs is not None:
        stage.setOutputCols(outs)
    from_jvm = stage.transform(df)
    from_python = pseudonymize_python(df, cols, KEY, output_format, outs)
    assert from_jvm.schema == from_python.schema
    jvm_rows, py_rows = by_id(from_jvm), by_id(from_python)
    assert len(jvm_rows) == 150 and jvm_rows == py_rows
    changed = outs or cols
    assert all(jvm_rows[1][c] != str(df.where("id = 1").first()[src])
               for c, src in zip(changed, cols))


def test_pipeline_save_load_needs_the_key_again_and_never_stores_it(people, tmp_path):
    pseudo = HmacPseudonymizer(inputCols=["email", "age"], key=KEY, keyId="vault:pii/test-key")
    upper = SQLTransformer(statement="SELECT id, email, age, upper(note) AS note FROM __THIS__")
    model = Pipeline(stages=[pseudo, upper]).fit(people)
    assert isinstance(model, PipelineModel)
    expected = by_id(model.transform(people))
    assert expected[1]["email"] == ref_hmac(KEY, "ann@example.com")

    path = str(tmp_path / "pipeline")
    model.write().overwrite().save(path)
    saved = b""
    for folder, _, names in os.walk(path):
        for name in names:
            with open(os.path.join(folder, name), "rb") as fh:
                saved += fh.read()
    assert KEY.encode("utf-8") not in saved
    assert KEY.encode("utf-8").hex().encode() not in saved
    assert key_fingerprint(KEY).encode() in saved
    assert b"vault:pii/test-key" in saved

    loaded = PipelineModel.load(path)
    stage = loaded.stages[0]
    assert isinstance(stage, HmacPseudonymizer)
    assert not stage.hasKey()
    assert stage.getKeyFingerprint() == key_fingerprint(KEY)
    assert stage.getKeyId() == "vault:pii/test-key"
    with pytest.raises(ValueError, match="no key is set"):
        loaded.transform(people)
    with pytest.raises(ValueError, match="key does not match the key this model was saved with"):
        stage.setKey(OTHER_KEY)
    stage.setKey(KEY)
    assert by_id(loaded.transform(people)) == expected


class RowCountTag(Transformer, DefaultParamsReadable, DefaultParamsWritable):
    """A pure-Python stage, so that the pipeline below is saved in pyspark's Python layout."""

    def _transform(self, dataset):
        return dataset.withColumn("tag", F.lit("python-stage"))


def test_mixed_python_and_jvm_pipeline_round_trips(people, tmp_path):
    pseudo = HmacPseudonymizer(inputCols=["email"], outputCols=["email_p"], key=KEY)
    model = Pipeline(stages=[RowCountTag(), pseudo]).fit(people)
    expected = by_id(model.transform(people))
    path = str(tmp_path / "mixed")
    model.save(path)
    loaded = PipelineModel.load(path)
    assert [type(s).__name__ for s in loaded.stages] == ["RowCountTag", "HmacPseudonymizer"]
    with pytest.raises(ValueError, match="no key is set"):
        loaded.transform(people)
    loaded.stages[1].setKey(KEY)
    got = by_id(loaded.transform(people))
    assert got == expected and got[1]["email_p"] == ref_hmac(KEY, "ann@example.com")


def test_standalone_save_load_and_the_jvm_side_key_checks(people, tmp_path):
    stage = HmacPseudonymizer(inputCols=["note"], outputCols=["note_p"], outputFormat="truncate",
                              key=KEY)
    expected = by_id(stage.transform(people))
    path = str(tmp_path / "stage")
    stage.write().save(path)
    loaded = HmacPseudonymizer.load(path)
    assert loaded.uid == stage.uid
    assert loaded.getOutputFormat() == "truncate" and loaded.getOutputCols() == ["note_p"]

    # the Scala object itself refuses to run without a key, and refuses a wrong key
    java_stage = loaded._to_java()
    with pytest.raises(IllegalArgumentException, match="no key is set"):
        java_stage.transform(people._jdf)
    with pytest.raises(IllegalArgumentException,
                       match="key does not match the key this model was saved with"):
        java_stage.setKey(OTHER_KEY)

    assert by_id(loaded.setKey(KEY).transform(people)) == expected
    assert by_id(loaded.copy().transform(people)) == expected  # a copy keeps the key


def test_missing_column_error_names_it_and_lists_the_available_ones(people):
    stage = HmacPseudonymizer(inputCols=["email", "phone"], key=KEY)
    with pytest.raises(IllegalArgumentException,
                       match=r"input column 'phone' does not exist\. Available columns: 'id', "
                             r"'email', 'age'"):
        stage.transform(people)
    with pytest.raises(ValueError, match=r"input column 'phone' does not exist\. Available"):
        pseudonymize_python(people, ["email", "phone"], KEY)


def test_output_clash_and_unsupported_types_are_refused(people, jvm):
    clash = HmacPseudonymizer(inputCols=["email"], outputCols=["AGE"], key=KEY)
    with pytest.raises(IllegalArgumentException, match="output column 'AGE' clashes with the "
                                                       "existing column 'age'"):
        clash.transform(people)
    with pytest.raises(ValueError, match="output column 'AGE' clashes"):
        pseudonymize_python(people, ["email"], KEY, output_cols=["AGE"])
    arrays = jvm.createDataFrame([(1, [1, 2])], "id int, tags array<int>")
    with pytest.raises(IllegalArgumentException, match="input column 'tags' has type array<int>"):
        HmacPseudonymizer(inputCols=["tags"], key=KEY).transform(arrays)
    with pytest.raises(ValueError, match="input column 'tags' has type array<int>"):
        pseudonymize_python(arrays, ["tags"], KEY)


def test_transform_without_key_and_bad_settings_fail_clearly(people):
    with pytest.raises(ValueError, match=r"no key is set; pass key=<secret> or call "
                                         r"setKey\(<secret>\), or set the environment variable "
                                         "SYNTHOHIVE_HMAC_KEY"):
        HmacPseudonymizer(inputCols=["email"]).transform(people)
    with pytest.raises(ValueError, match="outputFormat must be one of hex, truncate"):
        HmacPseudonymizer(inputCols=["email"], outputFormat="base64")
    with pytest.raises(ValueError, match="non-empty string"):
        HmacPseudonymizer(inputCols=["email"]).setKey("")


def test_build_script_skips_when_up_to_date_and_a_failed_compile_leaves_no_jar(tmp_path):
    script = os.path.join(ROOT, "jvm", "build_jar.py")
    bundled = os.path.join(ROOT, "python", "synthohive_spark", "jars")
    skip = subprocess.run([sys.executable, script, "--output-dir", bundled],
                          capture_output=True, text=True, timeout=300)
    assert skip.returncode == 0, skip.stderr
    assert "up to date" in skip.stdout

    broken = tmp_path / "src" / "com" / "example"
    broken.mkdir(parents=True)
    (broken / "Broken.scala").write_text(
        "package com.example\nobject Broken { val x: Int = \"not an int\" }\n")
    out_dir = tmp_path / "jars"
    out_dir.mkdir()
    stale = out_dir / f"synthohive-spark_{_scala_binary_version()}.jar"
    stale.write_bytes(b"stale")  # a jar that no longer matches the sources must not survive
    failed = subprocess.run([sys.executable, script, "--force", "--source-dir",
                             str(tmp_path / "src"), "--output-dir", str(out_dir)],
                            capture_output=True, text=True, timeout=300)
    assert failed.returncode == 1
    assert "Broken.scala" in failed.stderr and "type mismatch" in failed.stderr
    assert list(out_dir.iterdir()) == []


CONNECT_SCRIPT = r'''
import hmac, hashlib, sys
from synthohive_spark.session import get_or_create_session
spark = get_or_create_session(master="local[1]", connect=True)
from synthohive_spark.session import jvm_available
from synthohive_spark.ml.pseudonymizer import HmacPseudonymizer
assert not jvm_available(spark)
df = spark.createDataFrame([("ann@x.com", 7), (None, 8)], "email string, id int")
stage = HmacPseudonymizer(inputCols=["email", "id"], key=sys.argv[1], outputFormat="truncate")
rows = stage.transform(df).collect()
ref = lambda s: hmac.new(sys.argv[1].encode(), s.encode(), hashlib.sha256).hexdigest()
assert rows[0]["email"] == ref("ann@x.com")[:9], rows
assert rows[0]["id"] == ref("7")[:1] and rows[1]["email"] is None and rows[1]["id"] == ref("8")[:1]
try:
    stage.write().save(sys.argv[2])
    raise AssertionError("saving on Spark Connect should fail")
except RuntimeError as exc:
    assert "needs the synthohive-spark jar" in str(exc), exc
print("CONNECT-FALLBACK-OK")
spark.stop()
'''


@pytest.mark.connect
@pytest.mark.slow
def test_wrapper_falls_back_to_python_on_spark_connect(tmp_path):
    """On Spark Connect the jar cannot be loaded: the wrapper runs the Python twin (own process,
    because the shared classic session holds this process's JVM)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(ROOT, "python")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYSPARK_PYTHON"] = sys.executable
    env["SPARK_TESTING"] = "1"  # the local Connect server takes a free port, not 15002
    done = subprocess.run([sys.executable, "-c", CONNECT_SCRIPT, KEY, str(tmp_path / "s")],
                          capture_output=True, text=True, timeout=300, env=env)
    assert "CONNECT-FALLBACK-OK" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
