"""MLflow: a pipeline of our table stages through ``mlflow.spark``, and a fitted database through
the ``synthohive_spark`` flavor (``synthohive_spark.ml.mlflow``) and ``mlflow.pyfunc``, against a
real tracking store (SQLite) and artifact store (a local folder)."""
from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

mlflow = pytest.importorskip(
    "mlflow", reason="mlflow is not installed (pip install 'synthohive-spark[mlflow]')")
import mlflow.pyfunc  # noqa: E402
import mlflow.spark  # noqa: E402
from pyspark.ml import Pipeline, PipelineModel  # noqa: E402

from synthohive_spark.errors import ModelLoadError  # noqa: E402
from synthohive_spark.examples import retail_metadata, retail_spark  # noqa: E402
from synthohive_spark.ml import mlflow as synth_mlflow  # noqa: E402
from synthohive_spark.ml.pii import PIISanitizer, PIISanitizerModel  # noqa: E402
from synthohive_spark.ml.relational import (RelationalSynthesizer,  # noqa: E402
                                            RelationalSynthesizerModel)
from synthohive_spark.ml.table import TableSynthesizer, TableSynthesizerModel  # noqa: E402
from synthohive_spark.validation import ValidationReport, evaluate  # noqa: E402

KEY = "mlflow-test-key-7d2e"
#: no requirement inference: it loads the model again in a new Python process and JVM
REQS = ["synthohive-spark", "pyspark"]
ROOTS = {"customers": 30, "products": 12, "employees": 8}


def _rows(df) -> list:
    return sorted((tuple(r) for r in df.collect()), key=repr)


def _frame_rows(pdf: pd.DataFrame) -> list:
    return sorted((tuple(None if pd.isna(v) else v for v in r)
                   for r in pdf.itertuples(index=False)), key=repr)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A SQLite tracking store and a local artifact folder, the active experiment for the module."""
    root = tmp_path_factory.mktemp("mlflow")
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{root}/mlflow.db")
    exp = mlflow.create_experiment("synthohive-tests", artifact_location=f"file://{root}/artifacts")
    mlflow.set_experiment(experiment_id=exp)
    yield root
    if mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(before)


@pytest.fixture(scope="module")
def retail(spark):
    return {k: v.cache() for k, v in retail_spark(spark, seed=2, scale=0.06).items()}


@pytest.fixture(scope="module")
def rmodel(retail):
    return RelationalSynthesizer(metadata=retail_metadata(), model="gaussian_copula",
                                 seed=4).fit(retail)


def _files(root: str) -> list[str]:
    return [os.path.join(d, f) for d, _, files in os.walk(root) for f in files]


def test_a_pipeline_of_our_stages_round_trips_through_mlflow_spark(spark, store, retail,
                                                                  monkeypatch, tmp_path):
    monkeypatch.setenv("SYNTHOHIVE_HMAC_KEY", KEY)
    customers = retail["customers"]
    fitted = Pipeline(stages=[
        PIISanitizer(seed=5),
        TableSynthesizer(model="gaussian_copula", seed=9, keyCols=["customer_id"]),
    ]).fit(customers)
    with mlflow.start_run() as run:
        info = mlflow.spark.log_model(fitted, artifact_path="pipeline", pip_requirements=REQS,
                                      dfs_tmpdir=str(tmp_path / "dfs"))
    local = mlflow.artifacts.download_artifacts(artifact_uri=info.model_uri,
                                                dst_path=str(tmp_path / "download"))
    for path in _files(local):  # the key is nowhere among the model's files
        with open(path, "rb") as fh:
            assert KEY.encode() not in fh.read(), path
    assert info.flavors["spark"]["model_class"] == "pyspark.ml.pipeline.PipelineModel"

    loaded = mlflow.spark.load_model(f"runs:/{run.info.run_id}/pipeline",
                                     dfs_tmpdir=str(tmp_path / "dfs-load"))
    assert isinstance(loaded, PipelineModel)
    assert [type(s) for s in loaded.stages] == [PIISanitizerModel, TableSynthesizerModel]
    assert loaded.stages[0].report == fitted.stages[0].report
    # the sanitizer's key comes from SYNTHOHIVE_HMAC_KEY again: the same twin of the table
    twin = _rows(fitted.transform(customers))
    assert len(twin) == customers.count()
    assert _rows(loaded.transform(customers)) == twin
    assert _rows(loaded.stages[1].sample(200, seed=3)) == _rows(fitted.stages[1].sample(200, seed=3))
    assert _rows(loaded.stages[1].sample(200, seed=4)) != _rows(fitted.stages[1].sample(200, seed=3))


def test_a_database_logs_with_its_report_and_loads_back(spark, store, retail, rmodel, tmp_path):
    sample = rmodel.sample(numRows=ROOTS, seed=21)
    cols = ["category", "price"]  # a real report, kept small
    report = evaluate(real=retail["products"].select(cols), synthetic=sample["products"].select(cols),
                      privacy=False)
    expected = {t: _rows(df) for t, df in sample.items()}
    with mlflow.start_run() as run:
        info = synth_mlflow.log_model(rmodel, name="retail", report=report,
                                      pip_requirements=REQS)
    run_id = run.info.run_id

    # the report is in the run, as artifacts and metrics
    client = mlflow.MlflowClient()
    names = {a.path for a in client.list_artifacts(run_id, synth_mlflow.REPORT_DIR)}
    assert names == {"quality_report/report.json", "quality_report/report.html"}
    got = mlflow.artifacts.load_dict(f"runs:/{run_id}/quality_report/report.json")
    assert ValidationReport.from_dict(got).score == pytest.approx(report.score)
    html = mlflow.artifacts.load_text(f"runs:/{run_id}/quality_report/report.html")
    assert html.lstrip().lower().startswith("<!doctype html")
    metrics = client.get_run(run_id).data.metrics
    assert metrics["quality_score"] == pytest.approx(report.score)
    assert {k for k in metrics if k.startswith("quality_")} - {"quality_score"}

    # the model's files: our own save under model/, an MLmodel with both flavors, no pickle
    local = mlflow.artifacts.download_artifacts(artifact_uri=info.model_uri,
                                                dst_path=str(tmp_path / "download"))
    files = _files(local)
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".cloudpickle"))]
    assert os.path.isdir(os.path.join(local, "model", "metadata"))
    assert info.flavors["python_function"]["loader_module"] == "synthohive_spark.ml.mlflow"
    assert info.flavors["synthohive_spark"]["tables"] == rmodel.tables
    assert "synthohive-spark" in open(os.path.join(local, "requirements.txt")).read()

    # loaded back through our own load: the same database for the same seed
    again = synth_mlflow.load_model(info.model_uri)
    assert isinstance(again, RelationalSynthesizerModel)
    assert again.tables == rmodel.tables
    out = again.sample(numRows=ROOTS, seed=21)
    assert {t: _rows(df) for t, df in out.items()} == expected
    other = again.sample(numRows=ROOTS, seed=22)
    assert _rows(other["customers"]) != expected["customers"]
    for df in [*sample.values(), *out.values(), *other.values()]:
        df.unpersist()

    # and through pyfunc: predict samples the database (pandas frames)
    sampler = mlflow.pyfunc.load_model(info.model_uri)
    assert isinstance(sampler.get_raw_model(), RelationalSynthesizerModel)
    frames = sampler.predict(pd.DataFrame({"scale": [0.25], "seed": [21]}))
    direct = rmodel.sample(scale=0.25, seed=21)
    assert sorted(frames) == sorted(rmodel.tables)
    for t, df in direct.items():
        assert list(frames[t].columns) == df.columns
        assert _frame_rows(frames[t]) == _frame_rows(df.toPandas()), t
        df.unpersist()
    orders = sampler.predict({"scale": [0.25], "seed": [21], "table": ["orders"]})
    assert _frame_rows(orders) == _frame_rows(frames["orders"])


def test_clear_errors(spark, store, rmodel, monkeypatch, tmp_path):
    sampler = synth_mlflow.RelationalSampler(rmodel, spark)
    with pytest.raises(ValueError, match=r"unknown settings \['rows'\]"):
        sampler.predict(pd.DataFrame({"rows": [10]}))
    with pytest.raises(ValueError, match="the input has 2 rows"):
        sampler.predict(pd.DataFrame({"scale": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="scale must be a positive number"):
        sampler.predict(pd.DataFrame({"scale": [-1.0]}))
    with pytest.raises(KeyError, match="'invoices' is not in the fitted schema"):
        sampler.predict(pd.DataFrame({"table": ["invoices"]}))
    monkeypatch.setattr(synth_mlflow, "PYFUNC_MAX_ROWS", 10)
    with pytest.raises(ValueError, match="more than PYFUNC_MAX_ROWS=10"):
        sampler.predict(None)

    with pytest.raises(TypeError, match="use mlflow.spark.log_model"):
        synth_mlflow.log_model(PipelineModel(stages=[]), name="p")
    with pytest.raises(TypeError, match="report must be a ValidationReport"):
        synth_mlflow.log_model(rmodel, name="r", report={"score": 1})
    with pytest.raises(ValueError, match="not fitted"):
        synth_mlflow.save_model(RelationalSynthesizerModel(), str(tmp_path / "empty"))
    target = tmp_path / "saved"
    synth_mlflow.save_model(rmodel, str(target), pip_requirements=REQS)
    with pytest.raises(FileExistsError, match="already exists"):
        synth_mlflow.save_model(rmodel, str(target), pip_requirements=REQS)
    # a model of another flavor is named as such
    from mlflow.models import Model

    other = tmp_path / "other"
    other.mkdir()
    Model(flavors={"spark": {"model_data": "sparkml"}}).save(str(other / "MLmodel"))
    with pytest.raises(ModelLoadError, match=r"not a synthohive-spark relational model: its "
                                             r"flavors are \['spark'\]"):
        synth_mlflow.load_model(str(other))


def test_a_clear_error_without_mlflow(monkeypatch, rmodel, tmp_path):
    for name in [m for m in sys.modules if m == "mlflow" or m.startswith("mlflow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'synthohive-spark\[mlflow\]'"):
        synth_mlflow.log_model(rmodel, name="retail")
    with pytest.raises(ImportError, match="needs MLflow 3 or newer, which is not installed"):
        synth_mlflow.load_model(str(tmp_path))


def test_importing_the_package_does_not_import_mlflow():
    code = ("import sys, synthohive_spark, synthohive_spark.ml.mlflow, synthohive_spark.ml.relational; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
