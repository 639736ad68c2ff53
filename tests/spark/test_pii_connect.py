"""PIISanitizer on Spark Connect (no jar there, so the Python engine runs): a model fitted and
saved by the classic session (JVM engine) loads on Connect and gives the same rows, and a fit on
Connect finds the same PII. Runs in its own process, because a classic session runs in this one."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from synthohive_spark.ml.pii import PIISanitizer
pytestmark = pytest.mark.connect

KEY = "connect-test-key-93c1"
ROWS = [["john.doe@gmail.com", "4111 1111 1111 1111", "123-45-6789", "John Smith", "a"],
        ["zoë@exämple.com", "5500-0000-0000-0004", "234-56-7890", "Zoë Ångström", "b"],
        [None, None, None, None, None],
        ["ann@example.org", "378282246310005", "345-67-8901", "Ann Lee", "c"]] * 5
SCHEMA = "email string, card string, ssn string, customer string, notes string"
SETTINGS = dict(key=KEY, sampleFraction=1.0, piiColumns={"notes": "other"},
                strategies={"email": "hash:format", "card": "mask", "ssn": "hash",
                            "customer": "fake", "notes": "redact"})

SCENARIO = textwrap.dedent("""
    import json, sys
    from synthohive_spark.session import get_or_create_session
    from synthohive_spark.ml.pii import PIISanitizer, PIISanitizerModel
    from synthohive_spark.session import jvm_available

    args = json.load(open(sys.argv[1]))
    spark = get_or_create_session(master="local[2]", connect=True)
    out = {"connect": type(spark).__module__, "jvm": jvm_available(spark)}
    df = spark.createDataFrame([tuple(r) for r in args["rows"]], args["schema"])
    loaded = PIISanitizerModel.load(args["path"]).setKey(args["key"])
    out["loaded_rows"] = sorted(repr(tuple(r)) for r in loaded.transform(df).collect())
    settings = dict(args["settings"])
    fitted = PIISanitizer(**settings).fit(df)
    out["report"] = fitted.report
    out["fitted_rows"] = sorted(repr(tuple(r)) for r in fitted.transform(df).collect())
    print("RESULT " + json.dumps(out))
    spark.stop()
""")


def test_connect_uses_the_python_engine_with_identical_output(spark, tmp_path):
    df = spark.createDataFrame([tuple(r) for r in ROWS], SCHEMA)
    model = PIISanitizer(**SETTINGS).fit(df)
    path = str(tmp_path / "pii_model")
    model.write().overwrite().save(path)
    expected = sorted(repr(tuple(r)) for r in model.transform(df).collect())
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"rows": ROWS, "schema": SCHEMA, "path": path, "key": KEY,
                                "settings": SETTINGS}))
    script = tmp_path / "scenario.py"
    script.write_text(SCENARIO)
    env = dict(os.environ)
    env.pop("SPARK_REMOTE", None)
    env["SPARK_TESTING"] = "1"  # the local Connect server takes a free port, not 15002
    proc = subprocess.run([sys.executable, str(script), str(args)], capture_output=True,
                          text=True, timeout=600, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-5000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert "connect" in result["connect"] and result["jvm"] is False
    assert result["loaded_rows"] == expected
    assert result["fitted_rows"] == expected
    assert result["report"] == json.loads(json.dumps(model.report))
