"""Fit, sample, transform, save and load on a local Spark Connect session (in its own process,
because a classic session already runs in this one), and a model saved by the classic session
loaded in a new session samples the same rows."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from synthohive_spark.ml.table import TableSynthesizer

pytestmark = pytest.mark.connect


def _digest(df) -> str:
    rows = sorted(repr(tuple(r)) for r in df.collect())
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def test_connect_session_round_trip(spark, tmp_path):
    df = spark.createDataFrame([(i, float(i % 11), "xyz"[i % 3]) for i in range(400)],
                               "id long, v double, c string")
    model = TableSynthesizer(model="gaussian_copula", seed=4, keyCols=["id"]).fit(df)
    path = str(tmp_path / "classic_model")
    model.write().save(path)
    expected = _digest(model.sample(800, numPartitions=2))

    script = os.path.join(os.path.dirname(__file__), "connect_scenario.py")
    env = dict(os.environ)
    env.pop("SPARK_REMOTE", None)
    env["SPARK_TESTING"] = "1"  # the local Connect server takes a free port, not 15002
    proc = subprocess.run([sys.executable, script, path, str(tmp_path)], capture_output=True,
                          text=True, timeout=600, env=env)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-5000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert "connect" in result["connect"]
    assert result["classic_model_digest"] == expected
    assert result["sample_count"] == 500 and result["sample_schema_equal"]
    assert result["twin_count"] == 300 and result["twin_condition_kept"]
    assert result["save_load_equal"]
