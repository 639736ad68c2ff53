"""evaluate() runs on a Spark Connect session (own process: the shared classic session holds this
one's JVM) and gives the same numbers as on the classic session."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.connect

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SCRIPT = r"""
import json, sys
from synthohive_spark.session import get_or_create_session
sys.path.insert(0, sys.argv[1])
from validation_connect_data import frames
from synthohive_spark.validation import evaluate
spark = get_or_create_session(master="local[2]", connect=True)
real, syn, hold = frames(spark)
rep = evaluate(real, syn, holdout=hold, exact_ks_max_distinct=0, real_association_threshold=0.0,
               real_correlation_threshold=0.0, dcr_synthetic_rows=100, dcr_reference_rows=150)
print("RESULT " + json.dumps({"module": type(spark).__module__, "score": rep.score,
      "properties": rep.properties, "shapes": rep.details["column_shapes"],
      "privacy": {k: v for k, v in rep.privacy["table"].items() if "exact" in k}}))
spark.stop()
"""

DATA = r'''
def frames(spark):
    import random
    rnd = random.Random(5)
    def rows(n, shift):
        return [(float(rnd.gauss(shift, 1)), rnd.choice("abc") if rnd.random() > 0.1 else None,
                 rnd.random() < 0.3 + shift / 10) for _ in range(n)]
    schema = "x double, c string, f boolean"
    return (spark.createDataFrame(rows(400, 0.0), schema), spark.createDataFrame(rows(300, 0.5), schema),
            spark.createDataFrame(rows(200, 0.0), schema))
'''


def test_evaluate_on_spark_connect_matches_classic(spark, tmp_path):
    (tmp_path / "validation_connect_data.py").write_text(DATA, encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        from validation_connect_data import frames
    finally:
        sys.path.remove(str(tmp_path))
    from synthohive_spark.validation import evaluate

    real, syn, hold = frames(spark)
    classic = evaluate(real, syn, holdout=hold, exact_ks_max_distinct=0, real_association_threshold=0.0,
                       real_correlation_threshold=0.0, dcr_synthetic_rows=100, dcr_reference_rows=150)
    env = dict(os.environ)
    env.pop("SPARK_REMOTE", None)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "python")] + (
        [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYSPARK_PYTHON"] = sys.executable
    env["SPARK_TESTING"] = "1"  # the local Connect server takes a free port, not 15002
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          timeout=600, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-5000:]
    res = json.loads(lines[-1][len("RESULT "):])
    assert "connect" in res["module"]
    assert res["shapes"][0]["method"].startswith("bucketed")
    assert res["score"] == pytest.approx(classic.score, abs=1e-9)
    for k, v in classic.properties.items():
        assert res["properties"][k] == (pytest.approx(v, abs=1e-9) if v is not None else None)
    assert res["privacy"]["exact_copy_rate"] == classic.privacy["table"]["exact_copy_rate"]
