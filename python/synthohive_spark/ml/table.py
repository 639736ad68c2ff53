"""Spark ML stage for one table: ``TableSynthesizer`` -> ``TableSynthesizerModel``.

Training rows go to the driver through Arrow (bounded by ``maxTrainingRows``); training runs on the
driver or across executors with ``TorchDistributor``; generation runs inside ``mapInPandas`` on the
executors, so no generated table is ever collected to the driver.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any

import pandas as pd
from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from synthohive_spark._spark import is_classic
from synthohive_spark.ml import _generation as gen
from synthohive_spark.ml._keys import infer_key_spec
from synthohive_spark.ml._params import (DEFAULT_SEED, HasCopyRejection, HasPrivacyBudget,
                                         HasSynthesisParams,
                                         check_at_least_one, check_model_params,
                                         check_unit_interval, dict_param, dict_value)
from synthohive_spark.ml._persist import (MapOf, ModelLoadError, PersistentStage, Record, SavedStage,
                                          json_blob, state_to_saved)
from synthohive_spark.ml._spark_schema import SchemaError, check_columns, check_supported
from synthohive_spark.ml._table_fit import (attach_birth_anchors, attach_pii_context,
                                            column_specs_of, fit_distributed, fit_labels,
                                            infer_pii_specs, sequence_sample, training_sample)
from synthohive_spark.errors import ParamError
from synthohive_spark.transform import TransformError

logger = logging.getLogger("synthohive_spark.ml.table")

__all__ = ["TableSynthesizer", "TableSynthesizerModel", "SchemaError", "ModelLoadError"]


class _TableSynthesizerParams(HasSynthesisParams, HasCopyRejection, HasPrivacyBudget):
    """Params shared by :class:`TableSynthesizer` and :class:`TableSynthesizerModel`."""

    conditionCols = Param(Params._dummy(), "conditionCols",
                          "columns taken from the input rows by transform() and used as the "
                          "condition (context) the other columns are generated under",
                          typeConverter=TypeConverters.toListString)
    keyCols = Param(Params._dummy(), "keyCols",
                    "key columns that are never learned: generated unique in the real column's "
                    "type and format (default: the table's primary key from the metadata)",
                    typeConverter=TypeConverters.toListString)
    numProcesses = Param(Params._dummy(), "numProcesses",
                         "training processes; > 1 trains with TorchDistributor (DDP) on the "
                         "executors, each process on its own shard",
                         typeConverter=TypeConverters.toInt)
    useGpu = Param(Params._dummy(), "useGpu",
                   "train (and generate) on CUDA GPUs when present; never tried when False",
                   typeConverter=TypeConverters.toBoolean)
    modelParams = dict_param("TableSynthesizer", "modelParams",
                             "dict (or JSON object) of extra model hyperparameters (snake_case), "
                             "e.g. {\"embedding_dim\": 64}")
    tableName = Param(Params._dummy(), "tableName",
                      "name of the table, used in messages and the metadata",
                      typeConverter=TypeConverters.toString)
    tableMetadata = Param(Params._dummy(), "tableMetadata",
                          "JSON of the table's synthohive_spark.TableConfig; detected when empty",
                          typeConverter=TypeConverters.toString)
    sequenceKey = Param(Params._dummy(), "sequenceKey",
                        "a column whose rows form one sequence each (a child table's foreign "
                        "key): they are learned together, in the order of sequenceIndex, by a "
                        "sequential model, and transform() generates each run of consecutive "
                        "input rows with the same key as one sequence ('' for none)",
                        typeConverter=TypeConverters.toString)
    sequenceIndex = Param(Params._dummy(), "sequenceIndex",
                          "the column that orders the rows of a sequence (a time, a date, a "
                          "year); learned like the others ('' for the order of the rows)",
                          typeConverter=TypeConverters.toString)
    minQuality = Param(Params._dummy(), "minQuality",
                       "quality gate in [0, 1]: fit validates a sample of generated rows against "
                       "the training sample and fails below it; sample() re-checks against a "
                       "reference DataFrame when one is given (0 turns the gate off)",
                       typeConverter=TypeConverters.toFloat)

    def __init__(self, *args: Any):
        super().__init__(*args)
        self._setDefault(model="auto", epochs=300, batchSize=500,
                         maxTrainingRows=500_000, conditionCols=[], keyCols=[], numProcesses=1,
                         useGpu=False, modelParams="{}", tableName="table", tableMetadata="",
                         rowsPerPartition=500_000, chunkSize=50_000, minQuality=0.0,
                         sequenceKey="", sequenceIndex="")


    def getSequenceKey(self) -> str:
        return self.getOrDefault(self.sequenceKey)

    def getSequenceIndex(self) -> str:
        return self.getOrDefault(self.sequenceIndex)

    def getMinQuality(self) -> float:
        return self.getOrDefault(self.minQuality)

    def getConditionCols(self) -> list[str]:
        return self.getOrDefault(self.conditionCols)

    def getKeyCols(self) -> list[str]:
        return self.getOrDefault(self.keyCols)

    def getNumProcesses(self) -> int:
        return self.getOrDefault(self.numProcesses)

    def getUseGpu(self) -> bool:
        return self.getOrDefault(self.useGpu)

    def getModelParams(self) -> dict[str, Any]:
        return dict_value(self, self.modelParams)

    def getTableName(self) -> str:
        return self.getOrDefault(self.tableName)

    def getTableMetadata(self) -> str:
        return self.getOrDefault(self.tableMetadata)


class TableSynthesizer(Estimator, _TableSynthesizerParams, DefaultParamsReadable,
                       DefaultParamsWritable):
    """Learns one table and returns a :class:`TableSynthesizerModel` that generates synthetic rows.

    >>> from synthohive_spark import TableSynthesizer
    >>> synth = TableSynthesizer(seed=7)         # model="auto": the copula or TVAE, by a held-out score
    >>> model = synth.fit(df)                    # doctest: +SKIP
    >>> fake = model.sample(1_000_000)           # doctest: +SKIP
    >>> twin = model.transform(df)               # doctest: +SKIP
    """

    @keyword_only
    def __init__(self, *, model: str = "auto", epochs: int = 300, batchSize: int = 500,
                 seed: int = DEFAULT_SEED, maxTrainingRows: int = 500_000,
                 conditionCols: list[str] | None = None, keyCols: list[str] | None = None,
                 numProcesses: int = 1, useGpu: bool = False, modelParams: str | dict = "{}",
                 tableName: str = "table", tableMetadata: Any = "",
                 rowsPerPartition: int = 500_000, chunkSize: int = 50_000,
                 minQuality: float = 0.0, sequenceKey: str = "",
                 sequenceIndex: str = "", epsilon: float = 0.0, delta: float = 0.0,
                 rejectCopies: bool = False, minDCR: float = 0.0) -> None:
        super().__init__()
        kwargs = self._input_kwargs
        self.setParams(**kwargs)

    @keyword_only
    def setParams(self, *, model: str = "auto", epochs: int = 300, batchSize: int = 500,
                  seed: int = DEFAULT_SEED, maxTrainingRows: int = 500_000,
                  conditionCols: list[str] | None = None, keyCols: list[str] | None = None,
                  numProcesses: int = 1, useGpu: bool = False, modelParams: str | dict = "{}",
                  tableName: str = "table", tableMetadata: Any = "",
                  rowsPerPartition: int = 500_000, chunkSize: int = 50_000,
                  minQuality: float = 0.0, sequenceKey: str = "",
                  sequenceIndex: str = "", epsilon: float = 0.0,
                  delta: float = 0.0, rejectCopies: bool = False,
                  minDCR: float = 0.0) -> "TableSynthesizer":
        kwargs = dict(self._input_kwargs)
        if "tableMetadata" in kwargs and not isinstance(kwargs["tableMetadata"], str):
            kwargs["tableMetadata"] = _table_config_json(kwargs["tableMetadata"])
        for key in ("conditionCols", "keyCols"):
            if kwargs.get(key) is None:
                kwargs.pop(key, None)
        self._set(**kwargs)
        self._validate_params()
        return self

    def _validate_params(self) -> None:
        check_at_least_one("TableSynthesizer", self, ("epochs", "batchSize", "maxTrainingRows",
                                                      "numProcesses", "rowsPerPartition",
                                                      "chunkSize"))
        check_unit_interval("TableSynthesizer", self, ("minQuality", "minDCR"))
        check_model_params("TableSynthesizer", self.getModel(), self.getModelParams())
        self._check_privacy_params()

    def _check_privacy_params(self) -> None:
        """epsilon/delta: in range, and only with what can spend a budget (refused otherwise)."""
        from synthohive_spark.models import get_model_class

        eps, delta = self.getEpsilon(), self.getDelta()
        if eps < 0 or not 0 <= delta < 1:
            raise ParamError(f"TableSynthesizer: epsilon must be >= 0 (0: no differential "
                             f"privacy) and delta in [0, 1), got epsilon={eps}, delta={delta}")
        if eps == 0:
            if delta:
                raise ParamError("TableSynthesizer: delta is set but epsilon is 0 (no "
                                 "differential privacy); set epsilon too")
            return
        name = self.getModel()
        if name != "auto" and "epsilon" not in get_model_class(name).hyperparameter_defaults():
            raise ParamError(f"TableSynthesizer: model {name!r} has no differentially private "
                             "training; with epsilon use 'tvae' or 'ctgan' (DP-SGD), "
                             "'gaussian_copula' (noisy statistics) or 'auto' (gaussian_copula)")
        if name == "ctgan" and self.getConditionCols():
            table = f" table {self.getTableName()}:" if self.getTableName() else ""
            raise ParamError(f"TableSynthesizer:{table} model 'ctgan' with epsilon learns no "
                             f"context ({self.getConditionCols()}): its generator would read the "
                             f"real condition or parent columns outside DP-SGD; clear "
                             f"conditionCols or use 'tvae' or 'gaussian_copula'")
        if name == "ctgan" and self.getModelParams().get("pac", 1) != 1:
            raise ParamError("TableSynthesizer: model 'ctgan' with epsilon needs pac=1 (a pack "
                             "mixes rows, so clipping one row's gradient would not bound it)")
        clash = [k for k in ("epsilon", "delta") if k in self.getModelParams()]
        if clash:
            raise ParamError(f"TableSynthesizer: set {clash} as stage params, not modelParams")
        if self.getNumProcesses() > 1:
            raise ParamError("TableSynthesizer: epsilon trains in one process (the privacy "
                             "accountant follows one optimizer); set numProcesses=1")
        if self.getSequenceKey():
            raise ParamError("TableSynthesizer: the sequence model has no differentially private "
                             "training; clear sequenceKey or epsilon")

    def setModel(self, value: str) -> "TableSynthesizer":
        return self._set(model=value)

    def setEpochs(self, value: int) -> "TableSynthesizer":
        return self._set(epochs=value)

    def setBatchSize(self, value: int) -> "TableSynthesizer":
        return self._set(batchSize=value)

    def setSeed(self, value: int) -> "TableSynthesizer":
        return self._set(seed=value)

    def setMaxTrainingRows(self, value: int) -> "TableSynthesizer":
        return self._set(maxTrainingRows=value)

    def setConditionCols(self, value: list[str]) -> "TableSynthesizer":
        return self._set(conditionCols=value)

    def setKeyCols(self, value: list[str]) -> "TableSynthesizer":
        return self._set(keyCols=value)

    def setNumProcesses(self, value: int) -> "TableSynthesizer":
        return self._set(numProcesses=value)

    def setUseGpu(self, value: bool) -> "TableSynthesizer":
        return self._set(useGpu=value)

    def setModelParams(self, value: str | dict) -> "TableSynthesizer":
        return self._set(modelParams=value)

    def setTableName(self, value: str) -> "TableSynthesizer":
        return self._set(tableName=value)

    def setTableMetadata(self, value: Any) -> "TableSynthesizer":
        return self._set(tableMetadata=value if isinstance(value, str) else _table_config_json(value))

    def setRowsPerPartition(self, value: int) -> "TableSynthesizer":
        return self._set(rowsPerPartition=value)

    def setChunkSize(self, value: int) -> "TableSynthesizer":
        return self._set(chunkSize=value)

    def setMinQuality(self, value: float) -> "TableSynthesizer":
        return self._set(minQuality=value)

    def setSequenceKey(self, value: str) -> "TableSynthesizer":
        return self._set(sequenceKey=value)

    def setSequenceIndex(self, value: str) -> "TableSynthesizer":
        return self._set(sequenceIndex=value)

    # ------------------------------------------------------------------ fit
    def _fit(self, dataset: DataFrame) -> "TableSynthesizerModel":
        from synthohive_spark.models import create_model, model_to_blobs
        from synthohive_spark.models.auto import choose_model
        self._validate_params()
        table = self.getTableName()
        schema = dataset.schema
        check_supported(schema, table)
        conds = self.getConditionCols()
        check_columns(schema, conds, table, "conditionCols")
        spark = dataset.sparkSession
        self._check_processes(spark)

        seq_key, seq_index = self.getSequenceKey(), self.getSequenceIndex()
        if seq_key:
            self._check_sequence_params(schema, table, conds)
            pdf = sequence_sample(dataset, seq_key, seq_index, self.getMaxTrainingRows(),
                                  self.getOrDefault(self.seed), table)
        else:
            pdf = training_sample(dataset, self.getMaxTrainingRows(), self.getOrDefault(self.seed),
                                  table)
        table_cfg = self._table_config(pdf, table)
        keys = list(self.getKeyCols()) or ([table_cfg["primary_key"]] if table_cfg.get("primary_key") else [])
        keys = [k for k in keys if k != seq_key]
        check_columns(schema, keys, table, "keyCols")
        # unique identifiers (a session id, a token): generated unique in their shape like keys,
        # never learned (their real values may be secrets)
        keys += [c for c, cc in (table_cfg.get("columns") or {}).items()
                 if cc.get("sdtype") == "id" and cc.get("unique") and c not in keys
                 and c not in conds and c != seq_key and c in schema.fieldNames()]
        overlap = sorted(set(keys) & set(conds))
        if overlap:
            raise SchemaError(f"Table {table!r}: columns {overlap} cannot be both keys and conditionCols.")
        key_specs = {k: infer_key_spec(pdf[k], schema[k].dataType, table, k) for k in keys}
        given = set(conds) | ({seq_key} if seq_key else set())  # taken from the input rows
        pii_specs = infer_pii_specs(table_cfg, pdf, schema, table, exclude=set(keys) | given,
                                    vocabulary=self.getEpsilon() <= 0)
        attach_pii_context(pii_specs, pdf, [c for c in schema.fieldNames()
                                                if c not in keys and c not in pii_specs], table)
        if self.getEpsilon() <= 0:  # a choice that reads the rows, like the row formulas
            attach_birth_anchors(pii_specs, pdf, [c for c in schema.fieldNames() if c not in keys
                                                  and c not in pii_specs and c not in given],
                                 table)
        learned = [c for c in schema.fieldNames()
                   if c not in keys and c not in given and c not in pii_specs]
        # a unique label (a product's name): its real values, each once, by row position
        label_cols = [c for c in learned
                      if (table_cfg.get("columns") or {}).get(c, {}).get("unique")
                      and (table_cfg["columns"][c].get("sdtype") == "categorical")
                      and isinstance(schema[c].dataType, T.StringType)]
        labels = {}
        if label_cols:
            learned = [c for c in learned if c not in label_cols]
            labels = fit_labels(table, dataset, label_cols, int(pdf.attrs["total_rows"]), learned)
            learned = [c for c in schema.fieldNames() if c in learned]  # schema order
        if not learned and not keys and not pii_specs and not labels:
            raise SchemaError(f"Table {table!r}: nothing to generate: every column is in "
                              f"conditionCols {conds}.")
        specs = column_specs_of(table_cfg, learned + conds)
        hyper = self._hyperparams()
        data = pdf[learned].reset_index(drop=True)
        context = pdf[conds].reset_index(drop=True) if conds else None

        if not learned and self.getMinQuality() > 0:
            raise SchemaError(f"Table {table!r}: minQuality={self.getMinQuality()} has nothing to "
                              f"validate: every column is a key ({keys}), a conditionCol ({conds}) or "
                              f"PII/free text ({sorted(pii_specs)}), generated fresh and never learned. "
                              "Set minQuality=0 for this table.")
        if not learned:
            # only keys and PII/free text (generated fresh, never learned): no model to fit
            logger.info("Table %r: no columns to learn; keys and PII columns are generated", table)
            blobs = {}
        else:
            t0 = time.perf_counter()
            model_name, why = self.getModel(), "model param"
            column_specs = {c: specs[c] for c in learned if c in specs}
            if seq_key:
                model_name, why = self._sequence_model(table)
                if not self.isSet(self.epochs):
                    hyper.pop("epochs", None)  # the sequence model sizes its own training
            elif model_name == "auto" and self.getEpsilon() > 0:
                model_name, why = "gaussian_copula", "epsilon: differentially private copula"
                hyper = {"seed": hyper["seed"], **self.getModelParams()}
            elif model_name == "auto":
                choice = choose_model(data, context, seed=hyper["seed"], epochs=self.getEpochs(),
                                      batch_size=self.getBatchSize(), column_specs=column_specs,
                                      device=hyper.get("device"), log=logger)
                model_name, why, hyper = choice.model, choice.why, dict(choice.hyperparams)
                hyper.pop("column_specs", None)
            logger.info("Table %r: model %s (%s)", table, model_name, why)
            hyper.update(self._privacy_hyper(len(pdf), share=0.8 if conds and not seq_key else 1.0))
            model = create_model(model_name, column_specs=column_specs, **hyper)
            try:
                if self.getNumProcesses() > 1:
                    blobs = fit_distributed(model, data, context, self.getNumProcesses(),
                                             self.getUseGpu())
                else:
                    model.fit(data, context=context,
                              groups=pdf[seq_key].to_numpy() if seq_key else None)
                    blobs = model_to_blobs(model)
                    if getattr(model, "truncated", 0):
                        cap = model.get_hyperparams()["max_sequence_length"]
                        logger.info("Table %r: %d sequences longer than %d rows were learned "
                                    "from their first %d rows only", table, model.truncated,
                                    cap, cap)
            except TransformError as exc:  # a column the encoders cannot take: say which table
                raise SchemaError(f"Table {table!r}: {exc}") from exc
            logger.info("Table %r: %s fitted in %.1f s", table, model_name, time.perf_counter() - t0)
        blobs = {f"model/{k}": v for k, v in blobs.items()}
        if conds and not seq_key:
            # sample() has no input rows to take the condition from: a small model of the
            # condition columns draws them, so no real condition row is stored in the model.
            ctx_model = create_model("gaussian_copula", seed=self.getOrDefault(self.seed),
                                     column_specs={c: specs[c] for c in conds if c in specs},
                                     **self._privacy_hyper(len(pdf), share=0.2))
            ctx_model.fit(context)
            blobs.update({f"context/{k}": v for k, v in model_to_blobs(ctx_model).items()})
        state = {"schema": schema.json(), "keySpecs": key_specs, "piiSpecs": pii_specs,
                 "learnedCols": learned, "labels": labels,
                 "trainingRows": int(len(pdf)), "tableConfig": table_cfg}
        if learned:
            state.update({"model": model_name, "modelChoice": why})
        if self.getEpsilon() > 0:
            state["privacy"] = self._privacy_statement(
                model if learned else None, ctx_model if conds and not seq_key else None,
                key_specs, pii_specs, labels)
        fitted = TableSynthesizerModel._create(self, blobs, state)
        if self.getMinQuality() > 0:
            report = fitted._quality_gate(dataset, self.getMinQuality(), min(len(pdf), 20_000))
            fitted._state["qualityScore"] = report.score
        return fitted

    def _check_sequence_params(self, schema: T.StructType, table: str, conds: list[str]) -> None:
        """sequenceKey / sequenceIndex: existing, distinct columns, with settings that apply to
        a sequential model; refused naming what does not fit otherwise."""
        key, index = self.getSequenceKey(), self.getSequenceIndex()
        check_columns(schema, [key] + ([index] if index else []), table, "sequenceKey/sequenceIndex")
        if key == index or key in conds:
            raise SchemaError(f"Table {table!r}: sequenceKey {key!r} groups the rows into "
                              "sequences; it cannot also be the sequenceIndex or a conditionCol.")
        if index and index in conds:
            raise SchemaError(f"Table {table!r}: sequenceIndex {index!r} is learned; it cannot "
                              "also be a conditionCol.")
        if index and not isinstance(schema[index].dataType,
                                    (T.NumericType, T.DateType, T.TimestampType,
                                     T.TimestampNTZType)):
            raise SchemaError(f"Table {table!r}: sequenceIndex {index!r} has type "
                              f"{schema[index].dataType.simpleString()}; expected a number, a "
                              "date or a timestamp.")
        if self.getNumProcesses() > 1:
            raise SchemaError(f"Table {table!r}: sequences (sequenceKey {key!r}) are trained on "
                              "the driver; set numProcesses=1.")
        if self.getMinQuality() > 0:
            raise SchemaError(f"Table {table!r}: minQuality needs sample(n), which a sequence "
                              "model cannot give without its parents (sequenceKey "
                              f"{key!r}); validate the relational model's output instead.")

    def _sequence_model(self, table: str) -> tuple[str, str]:
        """The model of a table learned as sequences: ``sequence`` unless a sequential model
        is named."""
        from synthohive_spark.models import get_model_class

        name = self.getModel()
        if name == "auto":
            return "sequence", f"sequenceKey {self.getSequenceKey()!r}: learned as sequences"
        if not getattr(get_model_class(name), "sequential", False):
            raise SchemaError(f"Table {table!r}: model {name!r} does not learn sequences, but "
                              f"sequenceKey is {self.getSequenceKey()!r}; use model 'sequence' "
                              "(or 'auto'), or clear sequenceKey.")
        return name, "model param"

    def _privacy_hyper(self, rows: int, share: float) -> dict[str, Any]:
        """The epsilon/delta hyperparameters of a model that gets ``share`` of the budget (the
        table's model and its condition model add up: basic composition)."""
        from synthohive_spark.privacy.dp import default_delta

        if self.getEpsilon() <= 0:
            return {}
        delta = self.getDelta() or default_delta(rows)
        return {"epsilon": self.getEpsilon() * share, "delta": delta * share}

    def _privacy_statement(self, model: Any, ctx_model: Any, key_specs: dict, pii_specs: dict,
                           labels: dict) -> dict[str, Any]:
        """The table's privacy: its models' statements added up (basic composition), plus what
        the stage itself keeps from the real rows."""
        from synthohive_spark.privacy.dp import composed_statement

        parts = [(key, label, m.privacy) for key, label, m in
                 (("model", "model", model), ("condition", "condition model", ctx_model))
                 if m is not None and m.privacy]
        not_covered = []
        if key_specs:
            not_covered.append(f"key formats of {sorted(key_specs)} (shape, width, range start; "
                               "a name key's syllables that two or more real values share)")
        if pii_specs:
            not_covered.append(f"personal data formats of {sorted(pii_specs)} (from a sample; "
                               "never a value)")
        if labels:
            not_covered.append(f"unique labels {sorted(labels)}: their real values are kept")
        return composed_statement(parts, self.getEpsilon(), "one training row", "models",
                                  not_covered)

    def _hyperparams(self) -> dict[str, Any]:
        hyper = {"epochs": self.getEpochs(), "batch_size": self.getBatchSize(),
                 "seed": self.getOrDefault(self.seed)}
        if self.getModel() == "gaussian_copula":
            hyper = {"seed": hyper["seed"]}
        if self.getUseGpu():
            hyper["device"] = "auto"
        hyper.update(self.getModelParams())
        return hyper

    def _check_processes(self, spark: SparkSession) -> None:
        n = self.getNumProcesses()
        if n <= 1:
            return
        if not is_classic(spark):
            return  # Spark Connect: TorchDistributor checks the cluster itself
        sc = spark.sparkContext
        task_cpus = int(sc.getConf().get("spark.task.cpus", "1"))
        slots = sc.defaultParallelism // max(task_cpus, 1)
        if n > slots:
            raise ValueError(
                f"TableSynthesizer: numProcesses={n} but the cluster runs at most {slots} tasks at "
                f"once (defaultParallelism={sc.defaultParallelism}, spark.task.cpus={task_cpus}); "
                "lower numProcesses or add executors.")
        if self.getUseGpu():
            gpus = sc.getConf().get("spark.task.resource.gpu.amount", None)
            if gpus is None:
                raise ValueError("TableSynthesizer: useGpu=True with numProcesses > 1 needs "
                                 "spark.task.resource.gpu.amount set on the cluster.")

    def _table_config(self, pdf: pd.DataFrame, table: str) -> dict[str, Any]:
        raw = self.getTableMetadata()
        if raw:
            cfg = json.loads(raw)
        else:
            from synthohive_spark.metadata import Metadata
            meta = Metadata.detect({table: pdf})
            cfg = json.loads(_table_config_json(meta.tables[table]))
        cols = cfg.get("columns", {})
        unknown = [c for c in cols if c not in pdf.columns]
        if unknown:
            raise SchemaError(f"Table {table!r}: the metadata names columns {unknown} that the "
                              f"DataFrame lacks; its columns are {list(pdf.columns)}.")
        return cfg


def _table_config_json(cfg: Any) -> str:
    if hasattr(cfg, "model_dump"):
        return json.dumps(cfg.model_dump(mode="json"), sort_keys=True)
    if isinstance(cfg, dict):
        return json.dumps(cfg, sort_keys=True)
    raise TypeError(f"tableMetadata must be a TableConfig, a dict or a JSON string, got {type(cfg).__name__}")


class TableSynthesizerModel(Model, _TableSynthesizerParams, PersistentStage):
    """A fitted table synthesizer: ``sample(n)`` and ``transform(df)`` generate on the executors."""

    #: the saved state.json (snake_case on disk, these names in memory); key and PII specs and
    #: the table config are kept as they are
    _STATE = Record(schema=None, keySpecs=None, piiSpecs=None, learnedCols=None,
                    labels=MapOf(Record(values=None, nullShare=None)), trainingRows=None,
                    tableConfig=None, model=None, modelChoice=None, qualityScore=None,
                    privacy=None)

    def __init__(self) -> None:
        super().__init__()
        self._blobs: dict[str, bytes] = {}
        self._state: dict[str, Any] = {}

    @classmethod
    def _create(cls, parent: TableSynthesizer, blobs: dict[str, bytes],
                state: dict[str, Any]) -> "TableSynthesizerModel":
        m = cls()
        parent._copyValues(m)
        m._blobs = blobs
        m._state = state
        return m

    # ------------------------------------------------------------ accessors
    @property
    def schema(self) -> T.StructType:
        """The training table's schema: every generated DataFrame has exactly this schema."""
        return T.StructType.fromJson(json.loads(self._state["schema"]))

    @property
    def privacy(self) -> dict[str, Any] | None:
        """What a differentially private fit spent and guarantees (``epsilon``, ``delta``,
        ``covered``, ``not_covered``, per model under ``models``); None without epsilon."""
        return self._state.get("privacy")

    @property
    def trainingRows(self) -> int:
        return int(self._state["trainingRows"])

    def generative_model(self, part: str = "model"):
        """The fitted core model (``part='context'`` for the condition-columns model)."""
        from synthohive_spark.models import model_from_blobs
        prefix = part + "/"
        blobs = {k[len(prefix):]: v for k, v in self._blobs.items() if k.startswith(prefix)}
        if not blobs:
            raise KeyError(f"This model has no {part!r} part.")
        return model_from_blobs(blobs)

    def generation_plan(self, stream: str, blobs_prefix: str = "model/") -> gen.GenerationPlan:
        """The executor-side plan (model bytes, seed, columns, keys) that generates this table's
        rows under ``stream``; the relational synthesizer drives it for child tables."""
        return self._plan(stream, blobs_prefix)

    def _plan(self, stream: str, blobs_prefix: str = "model/") -> gen.GenerationPlan:
        blobs = {k[len(blobs_prefix):]: v for k, v in self._blobs.items() if k.startswith(blobs_prefix)}
        return gen.make_plan(blobs, seed=int(self.getOrDefault(self.seed)),
                             stream=stream, columns=self.schema.fieldNames(),
                             condition_cols=list(self.getConditionCols()),
                             sequence_key=self.getSequenceKey() or None,
                             key_specs=dict(self._state["keySpecs"]),
                             pii_specs=dict(self._state.get("piiSpecs", {})),
                             labels=[(c, s["values"], float(s["nullShare"]))
                                     for c, s in self._state.get("labels", {}).items()],
                             chunk_size=gen.chunk_rows(self.getChunkSize(),
                                                       bool(self.getSequenceKey())),
                             use_gpu=bool(self.getUseGpu()),
                             local_timestamps=gen.local_timestamp_columns(self.schema),
                             time_zone=gen.session_time_zone())

    # ------------------------------------------------------------ generation
    def sample(self, n: int, numPartitions: int | None = None, seed: int | None = None,
               spark: SparkSession | None = None, minQuality: float | None = None,
               reference: DataFrame | None = None) -> DataFrame:
        """``n`` synthetic rows as a Spark DataFrame, generated on the executors.

        Rows depend only on (seed, partition index, position): the same seed and ``numPartitions``
        give identical rows however often Spark recomputes a partition.

        With ``rejectCopies`` or ``minDCR`` set, ``reference`` (real rows with the learned
        columns) is required: rows that copy one of them, or come closer than ``minDCR``, are
        generated again on the executors (checked against at most 50,000 distinct real rows,
        chosen by a hash of their values); the row count and determinism are kept, and a task
        fails with CopyRejectionError when rows cannot be made far enough in 10 tries.
        ``transform(real_df)`` keeps its twins away from the input's own rows the same way.

        With ``minQuality`` (or the ``minQuality`` param) above 0 and a ``reference`` DataFrame of
        real rows, a bounded sample of the model's output is validated against it first and a
        ``QualityGateError`` names what fell short.
        """
        gate = self.getMinQuality() if minQuality is None else float(minQuality)
        if gate > 0 and reference is not None:
            self._quality_gate(reference, gate, min(20_000, max(n, 1000)))
        elif gate > 0 and "qualityScore" not in self._state:
            raise ValueError("sample: minQuality needs a reference DataFrame of real rows "
                             "(sample(n, minQuality=..., reference=real_df)).")
        elif gate > 0 and self._state["qualityScore"] < gate:
            from synthohive_spark.validation import QualityGateError
            raise QualityGateError(
                f"Table {self.getTableName()!r}: quality score {self._state['qualityScore']:.3f} "
                f"measured at fit is below minQuality={gate}.")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError(f"sample: n must be a non-negative int, got {n!r}.")
        if numPartitions is not None and (not isinstance(numPartitions, int)
                                          or isinstance(numPartitions, bool) or numPartitions < 1):
            raise ValueError(f"sample: numPartitions must be a positive int, got {numPartitions!r}.")
        parts = gen.plan_partitions(f"Table {self.getTableName()!r}: sample", n,
                                    self.getRowsPerPartition(), numPartitions, self.schema)
        if self.getSequenceKey():
            raise SchemaError(
                f"Table {self.getTableName()!r}: sample(n) cannot generate sequences without "
                f"their parents (sequenceKey {self.getSequenceKey()!r}): call transform(df) with "
                "one input row per row wanted (the sequence key and conditionCols, each "
                "sequence's rows consecutive), or generate the table with RelationalSynthesizer.")
        spark = spark or SparkSession.active()
        model = self if seed is None else self.copy({self.seed: int(seed)})
        guard = model._copy_guard(reference, "sample(n, reference=real_df)")
        conds = list(self.getConditionCols())
        if conds:
            context_df = model._sample_conditions(spark, n, parts)
            return model._generate(context_df, conds, guard)
        plan = dataclasses.replace(model._plan(model.getTableName()), copy_guard=guard)
        return gen.partition_frame(spark, n, parts).mapInPandas(
            lambda it: gen.sample_partitions(plan, it), schema=self.schema)

    def _quality_gate(self, reference: DataFrame, min_quality: float, rows: int):
        """Validate ``rows`` generated rows against ``reference``; QualityGateError when below."""
        from synthohive_spark.validation import quality_gate
        fake = self.sample(rows, seed=int(self.getOrDefault(self.seed)) + 1,
                           spark=reference.sparkSession, minQuality=0.0, reference=reference)
        keys = list(self._state["keySpecs"]) + list(self._state.get("piiSpecs", {}))
        return quality_gate(reference.drop(*keys), fake.drop(*keys), min_quality,
                            sample_rows=rows, seed=int(self.getOrDefault(self.seed)))

    def _copy_guard(self, reference: DataFrame | None, how: str) -> Any:
        """What rejectCopies / minDCR keep the generated rows away from: the real rows of
        ``reference`` (None when both are off; an error naming ``how`` to pass them when they
        are on and there are none)."""
        from synthohive_spark.ml._copies import build_guard, copy_settings, needs_reference

        where = f"Table {self.getTableName()!r}"
        settings = copy_settings(where, self)
        if settings.active and reference is None:
            raise needs_reference(where, settings, how)
        return build_guard(self.getTableName(), reference, list(self._state.get("learnedCols", [])),
                           self.schema, (self._state.get("tableConfig") or {}).get("columns") or {},
                           settings, int(self.getOrDefault(self.seed)), how,
                           private=self.privacy is not None)

    def _sample_conditions(self, spark: SparkSession, n: int, parts: int) -> DataFrame:
        conds = list(self.getConditionCols())
        ctx_schema = T.StructType([self.schema[c] for c in conds])
        plan = gen.make_plan({k[len("context/"):]: v for k, v in self._blobs.items()
                              if k.startswith("context/")},
                             seed=int(self.getOrDefault(self.seed)),
                             stream=self.getTableName() + "/conditions", columns=conds,
                             condition_cols=[], key_specs={}, chunk_size=int(self.getChunkSize()))
        return gen.partition_frame(spark, n, parts).mapInPandas(
            lambda it: gen.sample_partitions(plan, it), schema=ctx_schema)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        conds = list(self.getConditionCols())
        table = self.getTableName()
        check_columns(dataset.schema, conds, table, "conditionCols")
        for c in conds:
            want, got = self.schema[c].dataType, dataset.schema[c].dataType
            if want != got:
                raise SchemaError(f"Table {table!r}: condition column {c!r} has type "
                                  f"{got.simpleString()}; expected {want.simpleString()}.")
        given = list(conds)
        key = self.getSequenceKey()
        if key:
            check_columns(dataset.schema, [key], table, "sequenceKey")
            if dataset.schema[key].dataType != self.schema[key].dataType:
                raise SchemaError(f"Table {table!r}: sequence key {key!r} has type "
                                  f"{dataset.schema[key].dataType.simpleString()}; expected "
                                  f"{self.schema[key].dataType.simpleString()}.")
            given.append(key)
        # with rejectCopies / minDCR the input's own rows are the real rows the twins keep away from
        return self._generate(dataset, given,
                              self._copy_guard(dataset, "the input of transform(real_df)"))

    def _generate(self, dataset: DataFrame, given: list[str], guard: Any) -> DataFrame:
        """One generated row per row of ``dataset`` (its ``given`` condition and sequence-key
        columns), away from the real rows of ``guard`` when there is one."""
        table = self.getTableName()
        plan = dataclasses.replace(self._plan(table), copy_guard=guard)
        # each row's partition and position in the input itself: seeds and keys follow them
        source = gen.with_row_positions(dataset.select(*given))
        if gen.needs_positions(plan):
            # Keys of the twins are dense (1..N in the real format), labels and unique PII
            # distinct: each partition starts after the rows of the partitions before it. One
            # small aggregate, never the rows.
            plan = dataclasses.replace(plan, partition_offsets=gen.partition_offsets(source))
        return source.mapInPandas(lambda it: gen.transform_partitions(plan, it), schema=self.schema)

    # ------------------------------------------------------------ persistence
    def _to_blobs(self) -> tuple[dict[str, bytes], dict[str, Any]]:
        blobs = dict(self._blobs)
        blobs["state.json"] = json_blob(state_to_saved(self._state, self._STATE))
        return blobs, {}

    def _from_blobs(self, saved: SavedStage) -> None:
        path = saved.path
        self._state = saved.state("state.json", self._STATE)
        self._blobs = blobs = {k: v for k, v in saved.blobs.items() if k != "state.json"}
        # the generative models are rebuilt here, on the driver, so that damage shows at load
        # and not on the executors at sample time (rebuilding reads tensors, runs no code)
        learned = {"model": list(self._state.get("learnedCols", [])),
                   "context": list(self.getConditionCols())}
        for part in ("model", "context"):
            if any(k.startswith(part + "/") for k in blobs):
                try:
                    core = self.generative_model(part)
                except Exception as exc:
                    raise ModelLoadError(f"The model at {path!r} is damaged: its {part} model "
                                         f"does not load: {exc}") from None
                if list(core.data_columns) != learned[part]:
                    raise ModelLoadError(
                        f"The model at {path!r} is damaged: its {part} model generates columns "
                        f"{list(core.data_columns)}, but the stage learned {learned[part]} (blobs "
                        "of another model)")

    def copy(self, extra: dict | None = None) -> "TableSynthesizerModel":
        that = super().copy(extra)
        that._blobs = self._blobs
        that._state = self._state
        return that
