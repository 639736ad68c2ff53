"""MLflow for fitted databases: the ``synthohive_spark`` flavor of :class:`RelationalSynthesizerModel`.

::

    from synthohive_spark.ml import mlflow as synth_mlflow

    with mlflow.start_run():
        info = synth_mlflow.log_model(rmodel, name="retail", report=report)
    rmodel = synth_mlflow.load_model(info.model_uri)        # a RelationalSynthesizerModel
    sampler = mlflow.pyfunc.load_model(info.model_uri)      # predict() samples the database

The model directory holds the model exactly as :meth:`RelationalSynthesizerModel.save` writes it
(JSON, Arrow and tensor blobs) under ``model/``, and an ``MLmodel`` file with two flavors:
``synthohive_spark`` (read by :func:`load_model`) and ``python_function``, whose loader is this
module (an installed module: nothing is unpickled and no code is read from the model's files;
the model is read back through :meth:`RelationalSynthesizerModel.load`). A quality report given to
:func:`log_model` goes to the run as artifacts (``quality_report/report.json`` and ``.html``) and
its scores as run metrics (``quality_score``, ``quality_<property>``).

Pipelines of the table stages (``TableSynthesizerModel``, ``PIISanitizerModel``, with Spark's own
stages) need nothing from here: ``mlflow.spark.log_model`` / ``mlflow.spark.load_model`` round-trip
them through Spark ML persistence on classic sessions. The secret key of a keyed
``PIISanitizerModel`` is never saved: the loaded stage reads it from its ``keyEnv`` variable
(``SYNTHOHIVE_HMAC_KEY`` by default) or takes ``setKey``.

Spark writes and reads the model, so on a cluster its files go through a folder that Spark and
this driver both reach (``dfs_tmpdir``, by default MLflow's ``MLFLOW_DFS_TMP``, ``/tmp/mlflow``)
and are copied with Hadoop's file system; a local session writes the local folder directly. On
Spark Connect ``dfs_tmpdir`` is required and must be a folder this process also sees as a local
path (a Unity Catalog volume ``/Volumes/...``, ``dbfs:/...`` through ``/dbfs``, or any folder of a
local Connect server), copied with Python's file functions.

Needs MLflow 3 (``pip install 'synthohive-spark[mlflow]'``); importing this module does not.
"""
from __future__ import annotations

import logging
import numbers
import os
import shutil
import sys
import uuid
from typing import TYPE_CHECKING, Any, Mapping, Optional, Union

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import SparkSession

    from synthohive_spark.ml.relational import RelationalSynthesizerModel
    from synthohive_spark.validation import ValidationReport

logger = logging.getLogger("synthohive_spark.ml.mlflow")

__all__ = ["FLAVOR_NAME", "PYFUNC_MAX_ROWS", "log_model", "save_model", "load_model",
           "RelationalSampler"]

#: the flavor's name in the MLmodel file
FLAVOR_NAME = "synthohive_spark"
#: the folder of the model directory that holds the saved RelationalSynthesizerModel
_DATA = "model"
#: the run's artifact folder of a quality report given to log_model
REPORT_DIR = "quality_report"
#: pyfunc's predict returns pandas frames on the driver: at most this many rows in all
PYFUNC_MAX_ROWS = 1_000_000
_MLFLOW_MAJOR = 3


def _mlflow() -> Any:
    """The mlflow module, or a clear ImportError naming the extra to install."""
    try:
        import mlflow
        import mlflow.models  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "synthohive_spark.ml.mlflow needs MLflow 3 or newer, which is not installed: pip "
            "install 'synthohive-spark[mlflow]' (or mlflow / mlflow-skinny >= 3)") from exc
    major = mlflow.__version__.split(".")[0]
    if not major.isdigit() or int(major) < _MLFLOW_MAJOR:
        raise ImportError(f"synthohive_spark.ml.mlflow needs MLflow 3 or newer, this is MLflow "
                          f"{mlflow.__version__}: pip install 'synthohive-spark[mlflow]'")
    return mlflow


def _check_model(model: Any, where: str) -> None:
    from synthohive_spark.ml.relational import RelationalSynthesizerModel

    if not isinstance(model, RelationalSynthesizerModel):
        hint = (" (a PipelineModel or a single Spark ML stage: use mlflow.spark.log_model)"
                if hasattr(model, "transform") else "")
        raise TypeError(f"{where}: expected a fitted RelationalSynthesizerModel, got "
                        f"{type(model).__name__}{hint}")
    if not model._state:
        raise ValueError(f"{where}: the RelationalSynthesizerModel is not fitted (it has no "
                         "tables); fit a RelationalSynthesizer first")


def _as_report(report: Any) -> "ValidationReport":
    from synthohive_spark.validation import ValidationReport

    if isinstance(report, ValidationReport):
        return report
    if isinstance(report, (str, os.PathLike)):
        path = os.fspath(report)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"log_model: report {path!r} is not a file; pass a "
                                    "ValidationReport or the JSON file report.save_json wrote")
        return ValidationReport.load_json(path)
    raise TypeError(f"log_model: report must be a ValidationReport or the path of the JSON file "
                    f"report.save_json wrote, got {type(report).__name__}")


# -------------------------------------------------------------------------- file transfer
def _session(spark: Optional["SparkSession"]) -> "SparkSession":
    from pyspark.sql import SparkSession

    spark = spark or SparkSession.getActiveSession()
    if spark is None:
        from synthohive_spark.session import get_or_create_session

        spark = get_or_create_session()
    return spark


def _local_master(spark: "SparkSession") -> bool:
    return spark.sparkContext.master.startswith("local")


def _file_uri(path: str) -> str:
    return "file://" + os.path.abspath(path)


def _visible_path(dfs_path: str) -> str:
    """The local path of ``dfs_path`` for this process (Spark Connect): a plain path or file: URI
    as it is, dbfs:/ through the /dbfs mount; anything else is refused."""
    if dfs_path.startswith("file:"):
        return "/" + dfs_path[len("file:"):].lstrip("/")
    if dfs_path.startswith("dbfs:/"):
        return "/dbfs/" + dfs_path[len("dbfs:/"):].lstrip("/")
    if "://" in dfs_path or not os.path.isabs(dfs_path):
        raise ValueError(f"dfs_tmpdir {dfs_path!r}: on Spark Connect it must be an absolute path "
                         "that this process also sees as a local folder (a /Volumes/... volume, "
                         "dbfs:/..., or a folder of a local Connect server)")
    return dfs_path


def _dfs_tmp(dfs_tmpdir: Optional[str]) -> str:
    from mlflow.environment_variables import MLFLOW_DFS_TMP

    base = dfs_tmpdir or MLFLOW_DFS_TMP.get()
    return base.rstrip("/") + "/synthohive-" + uuid.uuid4().hex


def _save_to_local(model: "RelationalSynthesizerModel", local: str, spark: "SparkSession",
                   dfs_tmpdir: Optional[str]) -> None:
    """``model.save`` into the local folder ``local`` (which must not exist)."""
    from synthohive_spark._spark import hadoop_fs, is_classic

    if is_classic(spark):
        if dfs_tmpdir is None and _local_master(spark):
            model.write().session(spark).save(_file_uri(local))
            return
        tmp = _dfs_tmp(dfs_tmpdir)
        try:
            model.write().session(spark).save(tmp)
            fs, src = hadoop_fs(spark, tmp)
            dst = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(_file_uri(local))
            # raw local file system: no .crc files beside the copies
            fs.copyToLocalFile(False, src, dst, True)
        finally:
            found = hadoop_fs(spark, tmp)
            if found[0].exists(found[1]):
                found[0].delete(found[1], True)
        return
    dfs_tmpdir = dfs_tmpdir or os.environ.get("MLFLOW_DFS_TMP")
    if dfs_tmpdir is None:
        raise ValueError("log_model/save_model on a Spark Connect session: the model is written by "
                         "the Spark server, so pass dfs_tmpdir, a folder the server writes and "
                         "this process reads as a local path (a /Volumes/... volume on "
                         "Databricks, or any folder of a local Connect server), "
                         "or set MLFLOW_DFS_TMP")
    tmp = _dfs_tmp(dfs_tmpdir)
    try:
        model.write().session(spark).save(tmp)
        shutil.copytree(_visible_path(tmp), local)
    finally:
        shutil.rmtree(_visible_path(tmp), ignore_errors=True)


def _load_from_local(local: str, spark: "SparkSession",
                     dfs_tmpdir: Optional[str]) -> "RelationalSynthesizerModel":
    """:meth:`RelationalSynthesizerModel.load` of the local folder ``local``. Loading reads every
    blob into memory, so a temporary copy is removed once the model is loaded."""
    from synthohive_spark._spark import hadoop_fs, is_classic
    from synthohive_spark.ml.relational import RelationalSynthesizerModel

    def read(path: str) -> "RelationalSynthesizerModel":
        return RelationalSynthesizerModel.read().session(spark).load(path)

    if is_classic(spark):
        if dfs_tmpdir is None and _local_master(spark):
            return read(_file_uri(local))
        tmp = _dfs_tmp(dfs_tmpdir)
        fs, dst = hadoop_fs(spark, tmp)
        src = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(_file_uri(local))
        try:
            fs.copyFromLocalFile(False, True, src, dst)
            return read(tmp)
        finally:
            if fs.exists(dst):
                fs.delete(dst, True)
    dfs_tmpdir = dfs_tmpdir or os.environ.get("MLFLOW_DFS_TMP")
    if dfs_tmpdir is None:
        raise ValueError("load_model on a Spark Connect session: the model is read by the Spark "
                         "server, so pass dfs_tmpdir, a folder this process writes as a local "
                         "path and the server reads (a /Volumes/... volume on Databricks, or any "
                         "folder of a local Connect server), or set MLFLOW_DFS_TMP")
    tmp = _dfs_tmp(dfs_tmpdir)
    try:
        shutil.copytree(local, _visible_path(tmp))
        return read(tmp)
    finally:
        shutil.rmtree(_visible_path(tmp), ignore_errors=True)


# -------------------------------------------------------------------------- the flavor
def _default_pip_requirements() -> list[str]:
    """This synthohive-spark and pyspark, and mlflow-skinny where it is the MLflow installed (MLflow
    pins its full package otherwise)."""
    from importlib.metadata import PackageNotFoundError, version

    import pyspark

    from synthohive_spark import __version__

    reqs = [f"synthohive-spark=={__version__}", f"pyspark=={pyspark.__version__.split('+')[0]}"]
    try:
        version("mlflow")
    except PackageNotFoundError:
        try:
            reqs.append(f"mlflow-skinny=={version('mlflow-skinny')}")
        except PackageNotFoundError:
            pass
    return reqs


def save_model(model: "RelationalSynthesizerModel", path: str, mlflow_model: Any = None,
               pip_requirements: Optional[list[str]] = None,
               extra_pip_requirements: Optional[list[str]] = None,
               metadata: Optional[dict[str, Any]] = None, dfs_tmpdir: Optional[str] = None,
               spark: Optional["SparkSession"] = None) -> None:
    """Save ``model`` as an MLflow model in the local folder ``path`` (which must not exist): the
    model's own save under ``model/``, the MLmodel file (flavors ``synthohive_spark`` and
    ``python_function``) and the environment files (by default this synthohive-spark and pyspark)."""
    mlflow = _mlflow()
    from mlflow.models import Model
    from mlflow.models.model import MLMODEL_FILE_NAME
    from mlflow.pyfunc import add_to_model
    from mlflow.utils.environment import (_CONDA_ENV_FILE_NAME, _CONSTRAINTS_FILE_NAME,
                                          _PYTHON_ENV_FILE_NAME, _REQUIREMENTS_FILE_NAME,
                                          _process_pip_requirements, _PythonEnv)
    import yaml

    _check_model(model, "save_model")
    path = os.path.abspath(path)
    if os.path.exists(path):
        raise FileExistsError(f"save_model: {path!r} already exists; give a new folder")
    os.makedirs(path)
    try:
        _save_to_local(model, os.path.join(path, _DATA), _session(spark), dfs_tmpdir)
        mlflow_model = mlflow_model if mlflow_model is not None else Model()
        if metadata is not None:
            mlflow_model.metadata = metadata
        from synthohive_spark import __version__

        mlflow_model.add_flavor(FLAVOR_NAME, data=_DATA, synthohive_version=__version__,
                                model_class="synthohive_spark.RelationalSynthesizerModel",
                                tables=list(model.tables))
        add_to_model(mlflow_model, loader_module=__name__, data=_DATA,
                     conda_env=_CONDA_ENV_FILE_NAME, python_env=_PYTHON_ENV_FILE_NAME)
        mlflow_model.save(os.path.join(path, MLMODEL_FILE_NAME))
        default = _default_pip_requirements() if pip_requirements is None else None
        conda_env, pip_reqs, constraints = _process_pip_requirements(
            default, pip_requirements, extra_pip_requirements)
        with open(os.path.join(path, _CONDA_ENV_FILE_NAME), "w") as fh:
            yaml.safe_dump(conda_env, stream=fh, default_flow_style=False)
        if constraints:
            with open(os.path.join(path, _CONSTRAINTS_FILE_NAME), "w") as fh:
                fh.write("\n".join(constraints))
        with open(os.path.join(path, _REQUIREMENTS_FILE_NAME), "w") as fh:
            fh.write("\n".join(pip_reqs))
        _PythonEnv.current().to_yaml(os.path.join(path, _PYTHON_ENV_FILE_NAME))
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)  # never a half-written model directory
        raise
    logger.info("saved the relational model (%d tables) as an MLflow %s model at %s",
                len(model.tables), mlflow.__version__, path)


def log_model(model: "RelationalSynthesizerModel", name: str = "synthesizer",
              report: Union["ValidationReport", str, None] = None,
              registered_model_name: Optional[str] = None,
              pip_requirements: Optional[list[str]] = None,
              extra_pip_requirements: Optional[list[str]] = None,
              metadata: Optional[dict[str, Any]] = None, dfs_tmpdir: Optional[str] = None,
              spark: Optional["SparkSession"] = None, **kwargs: Any) -> Any:
    """Log ``model`` as an MLflow model named ``name`` in the active run (one is started when
    none is) and return MLflow's ``ModelInfo`` (``info.model_uri`` loads it back).

    ``report``, a :class:`~synthohive_spark.ValidationReport` (or the JSON file its ``save_json``
    wrote), goes to the run as ``quality_report/report.json`` and ``quality_report/report.html``,
    and its overall and property scores as the run's metrics ``quality_score`` and
    ``quality_<property>``. ``registered_model_name`` also registers the model; other keyword
    arguments go to ``mlflow.models.Model.log``.
    """
    mlflow = _mlflow()
    from mlflow.models import Model

    _check_model(model, "log_model")
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"log_model: name must be a non-empty name without '/', got {name!r}")
    rep = _as_report(report) if report is not None else None
    run = mlflow.active_run() or mlflow.start_run()
    info = Model.log(artifact_path=None, name=name, flavor=sys.modules[__name__], model=model,
                     registered_model_name=registered_model_name, run_id=run.info.run_id,
                     pip_requirements=pip_requirements,
                     extra_pip_requirements=extra_pip_requirements, metadata=metadata,
                     dfs_tmpdir=dfs_tmpdir, spark=spark, **kwargs)
    if rep is not None:
        _log_report(mlflow, run.info.run_id, rep)
    return info


def _metric_name(prop: str) -> str:
    clean = "".join(ch if ch.isalnum() else "_" for ch in prop.strip().lower())
    return "quality_" + "_".join(p for p in clean.split("_") if p)


def _log_report(mlflow: Any, run_id: str, report: "ValidationReport") -> None:
    client = mlflow.MlflowClient()
    client.log_dict(run_id, report.to_dict(), f"{REPORT_DIR}/report.json")
    client.log_text(run_id, report.to_html(), f"{REPORT_DIR}/report.html")
    scores = {"quality_score": report.score}
    scores.update({_metric_name(k): v for k, v in report.properties.items()})
    for key, value in scores.items():
        if value is not None:
            client.log_metric(run_id, key, float(value))


def load_model(model_uri: str, dfs_tmpdir: Optional[str] = None, dst_path: Optional[str] = None,
               spark: Optional["SparkSession"] = None) -> "RelationalSynthesizerModel":
    """The :class:`RelationalSynthesizerModel` logged or saved at ``model_uri`` (``runs:/...``,
    ``models:/...``, a local folder, ...), read through its own ``load``. ``dst_path``: where to
    download the model's files (a temporary folder by default)."""
    mlflow = _mlflow()
    from mlflow.models import Model

    local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=dst_path)
    conf = _flavor_conf(Model.load(local), model_uri)
    return _load_from_local(os.path.join(local, conf["data"]), _session(spark), dfs_tmpdir)


def _flavor_conf(mlflow_model: Any, where: str) -> dict[str, Any]:
    from synthohive_spark.errors import ModelLoadError

    conf = mlflow_model.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise ModelLoadError(f"The MLflow model at {where!r} is not a synthohive-spark "
                             f"relational model: its flavors are {sorted(mlflow_model.flavors)} "
                             f"(a pipeline of table stages loads with mlflow.spark.load_model)")
    data = conf.get("data")
    if not isinstance(data, str) or not data or os.path.isabs(data) or ".." in data.split("/"):
        raise ModelLoadError(f"The MLflow model at {where!r} names no model folder inside itself "
                             f"(data={data!r})")
    return conf


# -------------------------------------------------------------------------- python_function
class RelationalSampler:
    """What ``mlflow.pyfunc.load_model`` gives for this flavor (behind MLflow's PyFuncModel):
    ``predict`` samples the database. ``get_raw_model()`` is the RelationalSynthesizerModel."""

    #: the columns predict reads from its input's single row
    INPUT_COLUMNS = ("scale", "seed", "table")

    def __init__(self, model: "RelationalSynthesizerModel", spark: "SparkSession") -> None:
        self.model = model
        self.spark = spark

    def get_raw_model(self) -> "RelationalSynthesizerModel":
        return self.model

    def predict(self, model_input: Any = None,
                params: Optional[Mapping[str, Any]] = None) -> Any:
        """Sample the database on the executors and return it as pandas frames.

        ``model_input``: None, or a pandas DataFrame (or a dict) of one row with any of the
        columns ``scale`` (root tables' rows relative to the real ones, default 1), ``seed``
        (default: the model's seed; the same seed gives the same rows) and ``table``. Returns
        ``{table: pandas.DataFrame}`` for every table, or the named ``table``'s frame. At most
        ``PYFUNC_MAX_ROWS`` rows in all: larger samples stay in Spark
        (``get_raw_model().sample(..., output=...)``)."""
        settings = _settings(model_input, params, self.INPUT_COLUMNS)
        table = settings.get("table")
        if table is not None and table not in self.model.tables:
            raise KeyError(f"predict: table {table!r} is not in the fitted schema (tables: "
                           f"{self.model.tables})")
        scale = settings.get("scale", 1.0)
        seed = settings.get("seed")
        generated = self.model.sample(scale=float(scale), spark=self.spark,
                                      seed=None if seed is None else int(seed))
        try:
            wanted = [table] if table is not None else list(generated)
            counts = {t: generated[t].count() for t in wanted}
            total = sum(counts.values())
            if total > PYFUNC_MAX_ROWS:
                raise ValueError(
                    f"predict: the sample has {total:,} rows ({counts}), more than "
                    f"PYFUNC_MAX_ROWS={PYFUNC_MAX_ROWS:,} that predict returns as pandas frames; "
                    "lower scale, or keep the sample in Spark: get_raw_model().sample(scale=..., "
                    "output=...)")
            frames = {t: generated[t].toPandas() for t in wanted}
        finally:
            for df in generated.values():
                df.unpersist()
        return frames[table] if table is not None else frames


def _settings(model_input: Any, params: Optional[Mapping[str, Any]],
              columns: tuple[str, ...]) -> dict[str, Any]:
    """predict's settings from its one-row input and its params (params win)."""
    import pandas as pd

    row: dict[str, Any] = {}
    if model_input is not None:
        frame = pd.DataFrame(model_input) if isinstance(model_input, Mapping) else model_input
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"predict: expected a pandas DataFrame of one row with any of the "
                            f"columns {list(columns)}, or None; got {type(model_input).__name__}")
        if len(frame) > 1:
            raise ValueError(f"predict: the input has {len(frame)} rows; one row of settings "
                             f"(columns {list(columns)}) samples one database")
        if len(frame) == 1:
            row = {c: v for c, v in frame.iloc[0].items() if not pd.isna(v)}
    row.update({k: v for k, v in (params or {}).items() if v is not None})
    unknown = sorted(set(row) - set(columns))
    if unknown:
        raise ValueError(f"predict: unknown settings {unknown}; expected any of {list(columns)}")
    if "scale" in row:
        scale = row["scale"]
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not scale > 0:
            raise ValueError(f"predict: scale must be a positive number, got {scale!r}")
    if "seed" in row:
        seed = row["seed"]
        if isinstance(seed, bool) or not isinstance(seed, numbers.Real) \
                or not float(seed).is_integer():
            raise ValueError(f"predict: seed must be an integer, got {seed!r}")
    return row


def _load_pyfunc(data_path: str) -> RelationalSampler:
    """``mlflow.pyfunc.load_model``'s entry point (the MLmodel's ``loader_module``)."""
    spark = _session(None)
    return RelationalSampler(_load_from_local(data_path, spark, None), spark)
