"""The RelationalSynthesizer on a local Spark Connect session (its own process: a classic session
already runs in this one): fit, sample to files with complete referential integrity, save, load
and sample the same rows."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.connect


def test_relational_round_trip_on_spark_connect(tmp_path):
    script = os.path.join(os.path.dirname(__file__), "relational_connect_scenario.py")
    env = dict(os.environ)
    env.pop("SPARK_REMOTE", None)
    env["SPARK_TESTING"] = "1"  # the local Connect server takes a free port, not 15002
    proc = subprocess.run([sys.executable, script, str(tmp_path)], capture_output=True, text=True,
                          timeout=900, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-5000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert "connect" in result["connect"]
    from synthohive_spark.examples import retail_metadata

    assert result["tables"] == sorted(retail_metadata().tables)
    assert result["schemas_equal"]
    assert result["customers_rows"][0] == result["customers_rows"][1]
    assert result["orphans"] and all(v == 0 for v in result["orphans"].values()), result["orphans"]
    assert all(result["reload_same_rows"].values()), result["reload_same_rows"]
