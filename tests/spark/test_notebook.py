"""The quickstart notebook runs top to bottom in a fresh kernel: the whole journey (schema, PII,
relational fit and sample, Delta Lake or parquet output, quality report, MLflow)."""
from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

from synthohive_spark.errors import DeltaUnavailableError
from synthohive_spark.session import delta_package

NOTEBOOK = os.path.join(os.path.dirname(__file__), "..", "..", "notebooks", "quickstart.ipynb")


def test_quickstart_notebook_executes(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="mlflow is not installed (pip install "
                                         "'synthohive-spark[mlflow]'): the notebook logs to MLflow")
    for name in ("MLFLOW_TRACKING_URI", "DATABRICKS_RUNTIME_VERSION"):
        monkeypatch.delenv(name, raising=False)  # the notebook's own local store in its work folder
    work = tmp_path / "work"   # the folder the notebook is told to write to
    work.mkdir()
    monkeypatch.setenv("SYNTHOHIVE_QUICKSTART_DIR", str(work))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                      for o in c.get("outputs", []))
    assert "real emails left in the sanitized copy: 0" in outputs
    assert "output reads back complete: True" in outputs
    assert "overall score" in outputs
    assert "MLflow-loaded model samples the same rows: True" in outputs
    assert "synthetic customers" in outputs
    # the output format follows the session: Delta Lake where this Spark line has it
    try:
        delta_package()
        has_delta = True
    except DeltaUnavailableError:  # no delta-spark, or none for this Spark
        has_delta = False
    assert ("written as delta:" in outputs) == has_delta, outputs[-3000:]
    assert ("written as parquet:" in outputs) == (not has_delta)
    assert f"outputs in {work}" in outputs
    assert {"report.html", "report.json", "synthetic"} <= set(os.listdir(work))
