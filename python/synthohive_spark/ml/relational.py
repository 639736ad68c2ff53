"""A whole database: ``RelationalSynthesizer`` -> ``RelationalSynthesizerModel``.

Fit learns, per table in foreign-key order, a :class:`TableSynthesizer` of the table's non-key,
non-personal columns (a child table's frame joined with its driver parent's context columns, which
become its condition columns), a :class:`CardinalityEstimator` for the driver relationship, the
degree distribution of every secondary foreign key and self-reference, and the key formats.

Sample generates the tables parents first, on the executors::

    root:   spark.range(parts) -mapInPandas-> rows, PKs from global positions
    child:  generated parents -CardinalityModel-> one skeleton row per child (FK, parent context)
            -mapInPandas(table model under that context)-> rows, PKs from per-partition offsets,
            secondary FKs and self-references drawn from the generated parents' positions

Nothing but small aggregates (per-partition row counts) reaches the driver. Every row depends only
on (seed, table, partition, position), and the partitioning of each table follows from its root's
row count, so the same seed gives the same database and a recomputed parent keeps its PKs.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Optional, Union

import numpy as np
import pandas as pd
from pyspark import StorageLevel, keyword_only
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from synthohive_spark._spark import qcol
from synthohive_spark.io.readers import read_table
from synthohive_spark.io.writers import check_targets, read_back, resolve_target, write_table
from synthohive_spark.metadata import (PII_KINDS, Metadata, MetadataError,
                                       check_case_distinct)
from synthohive_spark.ml import _generation as gen
from synthohive_spark.errors import ParamError
from synthohive_spark.ml._params import (DEFAULT_SEED, HasSynthesisParams, check_at_least_one,
                                         check_model_params, dict_param, dict_value)
from synthohive_spark.ml._persist import (MapOf, ModelLoadError, PersistentStage, Record, SavedStage,
                                          frame_from_ipc, frame_to_ipc, json_blob, state_to_saved)
from synthohive_spark.ml._spark_schema import SchemaError, infer_key_spec
from synthohive_spark.ml.cardinality import CardinalityEstimator, CardinalityModel, with_child_counts
from synthohive_spark.ml.table import fit_labels
from synthohive_spark.relational.graph import SchemaGraph
from synthohive_spark.relational.keys import DegreeModel

logger = logging.getLogger("synthohive_spark.ml.relational")

__all__ = ["RelationalSynthesizer", "RelationalSynthesizerModel"]

_TABLE_STAGE_KEYS = {"model", "epochs", "batchSize", "maxTrainingRows", "modelParams",
                     "numProcesses", "useGpu", "chunkSize"}


def _as_metadata(metadata: Any) -> Metadata:
    if isinstance(metadata, Metadata):
        return metadata
    if isinstance(metadata, Mapping):
        return Metadata.from_dict(metadata)
    if isinstance(metadata, str):
        if metadata.lstrip().startswith("{"):
            return Metadata.from_dict(json.loads(metadata))
        if os.path.exists(metadata):
            return Metadata.from_yaml(metadata)
        raise MetadataError(f"metadata {metadata!r} is neither JSON nor an existing YAML file")
    raise MetadataError(f"metadata must be a synthohive_spark.Metadata, a dict or a YAML path, "
                        f"got {type(metadata).__name__}")


class _RelationalParams(HasSynthesisParams):
    maxContextCols = Param(Params._dummy(), "maxContextCols",
                           "parent columns a child is generated under, at most",
                           typeConverter=TypeConverters.toInt)
    contextCols = dict_param("RelationalSynthesizer", "contextCols",
                             "dict (or JSON object) child table -> list of its driver parent's "
                             "columns to use as context (default: the parent's non-key, non-PII, "
                             "non-text columns, capped by maxContextCols)")
    modelParams = dict_param("RelationalSynthesizer", "modelParams",
                             "dict (or JSON object) of extra hyperparameters of every table model")
    tableParams = dict_param("RelationalSynthesizer", "tableParams",
                             "dict (or JSON object) table -> TableSynthesizer params overriding "
                             "the defaults for that table (model, epochs, batchSize, "
                             "modelParams, ...)")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(model="auto", epochs=300, batchSize=500,
                         maxTrainingRows=500_000, maxContextCols=5, contextCols="{}",
                         modelParams="{}", tableParams="{}", rowsPerPartition=100_000,
                         chunkSize=50_000)

    def getMaxContextCols(self) -> int:
        return self.getOrDefault(self.maxContextCols)

    def getContextCols(self) -> dict[str, list[str]]:
        return dict_value(self, self.contextCols)

    def getModelParams(self) -> dict[str, Any]:
        return dict_value(self, self.modelParams)

    def getTableParams(self) -> dict[str, dict[str, Any]]:
        return dict_value(self, self.tableParams)


class RelationalSynthesizer(_RelationalParams):
    """Learns a whole relational database described by a :class:`~synthohive_spark.Metadata`.

    >>> from synthohive_spark import RelationalSynthesizer
    >>> rs = RelationalSynthesizer(metadata=meta, model="ctgan", epochs=300, seed=7)  # doctest: +SKIP
    >>> rmodel = rs.fit({"customers": c, "orders": "/data/orders", "items": "db.items"})  # doctest: +SKIP
    >>> out = rmodel.sample(scale=2.0)            # dict name -> Spark DataFrame  # doctest: +SKIP
    """

    @keyword_only
    def __init__(self, *, metadata: Any = None, model: str = "auto", epochs: int = 300,
                 batchSize: int = 500, seed: int = DEFAULT_SEED, maxTrainingRows: int = 500_000,
                 maxContextCols: int = 5, contextCols: Any = None, modelParams: Any = None,
                 tableParams: Any = None, rowsPerPartition: int = 100_000,
                 chunkSize: int = 50_000) -> None:
        super().__init__()
        kwargs = dict(self._input_kwargs)
        md = kwargs.pop("metadata", None)
        self.metadata: Optional[Metadata] = _as_metadata(md) if md is not None else None
        self.setParams(**kwargs)

    @keyword_only
    def setParams(self, *, model: str = "auto", epochs: int = 300, batchSize: int = 500,
                  seed: int = DEFAULT_SEED, maxTrainingRows: int = 500_000, maxContextCols: int = 5,
                  contextCols: Any = None, modelParams: Any = None, tableParams: Any = None,
                  rowsPerPartition: int = 100_000,
                  chunkSize: int = 50_000) -> "RelationalSynthesizer":
        kwargs = {k: v for k, v in self._input_kwargs.items() if v is not None}
        self._set(**kwargs)
        check_at_least_one("RelationalSynthesizer", self, (
            "epochs", "batchSize", "maxTrainingRows", "maxContextCols", "rowsPerPartition",
            "chunkSize"))
        bad = {t: sorted(set(p) - _TABLE_STAGE_KEYS) for t, p in self.getTableParams().items()}
        bad = {t: k for t, k in bad.items() if k}
        if bad:
            raise ParamError(f"RelationalSynthesizer: tableParams has unknown keys {bad}; "
                             f"expected some of {sorted(_TABLE_STAGE_KEYS)}")
        check_model_params("RelationalSynthesizer", self.getModel(), self.getModelParams())
        for t, p in self.getTableParams().items():
            if p.get("model", self.getModel()) == "auto" and p.get("modelParams"):
                raise ParamError(f"RelationalSynthesizer: tableParams[{t!r}] has modelParams "
                                 f"{sorted(p['modelParams'])} but its model is 'auto'; name the "
                                 "model for that table: tableParams={table: {'model': 'tvae', "
                                 "'modelParams': {...}}}.")
        return self

    def setMetadata(self, metadata: Any) -> "RelationalSynthesizer":
        self.metadata = _as_metadata(metadata)
        return self

    # ------------------------------------------------------------------ fit
    def fit(self, tables: Mapping[str, Union[DataFrame, str]],
            spark: Optional[SparkSession] = None) -> "RelationalSynthesizerModel":
        """Learn every table of ``tables`` (name -> Spark DataFrame, catalog table or path)."""
        if not isinstance(tables, Mapping) or not tables:
            raise ValueError("RelationalSynthesizer.fit expects a dict of table name -> "
                             "DataFrame, catalog table name or path")
        spark = spark or SparkSession.active()
        frames = {name: read_table(src, spark, name) for name, src in tables.items()}
        for name, df in frames.items():
            check_case_distinct(name, df.columns, spark)
        if self.metadata is None:
            logger.info("no metadata given: detecting it from the tables")
            self.metadata = Metadata.detect(frames)
        md = self.metadata
        graph = SchemaGraph(md)
        missing = [t for t in md.tables if t not in frames]
        extra = [t for t in frames if t not in md.tables]
        if missing or extra:
            raise MetadataError(
                "the tables given to fit do not match the metadata: "
                + (f"missing {missing} " if missing else "")
                + (f"not in the metadata {extra} " if extra else "")
                + f"(metadata tables: {list(md.tables)})")
        for name in md.tables:
            absent = [c for c in md.tables[name].columns if c not in frames[name].columns]
            if absent:
                raise SchemaError(f"Table {name!r}: columns {absent} of the metadata are not in "
                                  f"the DataFrame; its columns are {frames[name].columns}")
        ctx_override = self.getContextCols()
        unknown = [t for t in ctx_override if t not in md.tables or graph.is_root(t)]
        if unknown:
            raise ValueError(f"RelationalSynthesizer: contextCols names {unknown}, which are not "
                             f"child tables of the metadata")

        state: dict[str, Any] = {"order": graph.order, "tables": {}}
        table_models: dict[str, Any] = {}
        card_models: dict[str, CardinalityModel] = {}
        references: dict[str, pd.DataFrame] = {}
        # every table is read several times (statistics, parents' context, counts, training
        # sample): keep it on the executors while fitting unless the caller cached it already
        persisted = []
        for name in graph.order:
            level = frames[name].storageLevel
            frames[name] = frames[name].select(*md.tables[name].columns)
            if not level.useMemory and not level.useDisk:
                frames[name] = frames[name].persist(StorageLevel.MEMORY_AND_DISK)
                persisted.append(frames[name])
        try:
            _check_derived_rules(md, frames)
            for name in graph.order:
                t0 = time.perf_counter()
                if graph.is_reference(name):
                    state["tables"][name], references[name] = _fit_reference(name, frames[name])
                    logger.info("table %s: reference table, %d rows kept as they are", name,
                                len(references[name]))
                    continue
                logger.info("fitting table %s", name)
                tstate, tmodel, cmodel = self._fit_table(name, frames, graph,
                                                         ctx_override.get(name))
                logger.info("table %s: fitted in %.1f s", name, time.perf_counter() - t0)
                state["tables"][name] = tstate
                if tmodel is not None:
                    table_models[name] = tmodel
                if cmodel is not None:
                    card_models[name] = cmodel
        finally:
            for df in persisted:
                df.unpersist()
        model = RelationalSynthesizerModel()
        self._copyValues(model)
        model._metadata = md
        model._state = state
        model._table_models = table_models
        model._card_models = card_models
        model._references = references
        return model

    # ------------------------------------------------------------------ per table
    def _fit_table(self, name: str, frames: dict[str, DataFrame], graph: SchemaGraph,
                   ctx_override: Optional[list[str]]) -> tuple[dict, Any, Optional[CardinalityModel]]:
        from synthohive_spark.ml.table import TableSynthesizer

        md = self.metadata
        cfg = md.tables[name]
        df = frames[name]
        schema = df.schema
        keys = graph.key_columns(name)
        pii, learned, dropped, labels, unique_ids = {}, [], [], [], []
        privacy = md.privacy
        for col, cc in cfg.columns.items():
            if col in keys:
                continue
            strategy = cc.pii_strategy or privacy.pii_strategy
            is_pii = cc.pii or str(cc.sdtype) in PII_KINDS
            if is_pii and strategy != "keep":
                if strategy == "drop":
                    dropped.append(col)
                else:
                    pii[col] = {"sdtype": str(cc.sdtype), "unique": bool(cc.unique)}
            elif cc.unique and str(cc.sdtype) == "categorical" and \
                    isinstance(schema[col].dataType, T.StringType):
                labels.append(col)  # a unique label: real values, each once, by position
            elif str(cc.sdtype) == "id" and cc.unique and \
                    isinstance(schema[col].dataType, T.StringType):
                unique_ids.append(col)  # an identifier: fresh values in its shape, by position
            else:
                learned.append(col)
        agg_exprs = [F.count(F.lit(1)).alias("__rows")]
        agg_exprs += [F.sum(F.col(c).isNull().cast("long")).alias(f"__null_{c}")
                      for c in [*pii, *unique_ids]]
        pk = cfg.primary_key
        if pk is not None and isinstance(schema[pk].dataType, T.IntegralType):
            agg_exprs.append(F.min(pk).alias("__pkmin"))
        stats = df.agg(*agg_exprs).first().asDict()
        rows = int(stats["__rows"])
        if rows == 0:
            raise SchemaError(f"Table {name!r}: the DataFrame is empty; nothing to learn")
        if pii:  # the real format of each PII column (from a bounded sample), never a value
            from synthohive_spark.ml.table import _pii_specs, attach_country_context
            from synthohive_spark.privacy.contextual import is_country_column_name

            countries = [c for c in learned if is_country_column_name(c)]  # may drive the PII
            sample = df.select(*pii, *countries).limit(5000).toPandas()
            cfg_cols = {c: {"sdtype": p["sdtype"], "pii": True, "unique": p["unique"]}
                        for c, p in pii.items()}
            specs = _pii_specs({"columns": cfg_cols}, sample, schema, name, exclude=set())
            for c in pii:
                specs[c]["null_share"] = float(stats[f"__null_{c}"] or 0) / rows
                specs[c]["locale"] = privacy.locale
                pii[c] = specs[c]
            attach_country_context(pii, sample, countries, name, privacy.locale)
        tstate: dict[str, Any] = {
            "schema": schema.json(), "columns": schema.fieldNames(), "learned": learned,
            "pii": pii, "dropped": dropped, "primaryKey": pk, "pkSpec": None, "realRows": rows,
            "driver": None, "secondary": {}, "selfRefs": {}, "conditionCols": [],
        }
        if labels:
            tstate["labels"] = fit_labels(name, df, labels, rows, learned)
        for col in unique_ids:
            sample = df.select(qcol(col)).limit(20_000).toPandas()[col]
            tstate.setdefault("uniqueIds", {})[col] = {
                "spec": infer_key_spec(sample, schema[col].dataType, name, col),
                "nullShare": float(stats[f"__null_{col}"] or 0) / rows}
            logger.info("table %s: column %s is a unique identifier: generated fresh in its "
                        "shape, one per row", name, col)
        if pk is not None:
            sample = df.select(pk).where(F.col(pk).isNotNull()).limit(20_000).toPandas()[pk]
            spec = infer_key_spec(sample, schema[pk].dataType, name, pk)
            if spec["kind"] == "int" and stats.get("__pkmin") is not None:
                spec["offset"] = int(stats["__pkmin"])
            tstate["pkSpec"] = spec

        frame = df.select(*learned) if learned else None
        cond: list[str] = []
        cmodel: Optional[CardinalityModel] = None
        col_cfgs = {c: cfg.columns[c].model_dump(mode="json") for c in learned}
        for rfk in graph.reference_fks(name):  # a key to a lookup table is one of its categories
            col_cfgs[rfk.column] = {"sdtype": "categorical", "dtype": cfg.columns[rfk.column].dtype,
                                    "nullable": cfg.columns[rfk.column].nullable}
        fk = graph.driver(name)
        if fk is not None:
            parent = fk.parent_table
            pcfg = md.tables[parent]
            pdf = frames[parent]
            ctx = list(ctx_override) if ctx_override is not None else self._default_context(parent, graph)
            bad = [c for c in ctx if c not in pcfg.columns]
            if bad:
                raise SchemaError(f"Table {name!r}: context columns {bad} are not columns of its "
                                  f"driver parent {parent!r}")
            prefix = f"{parent}__"
            while any(c.startswith(prefix) for c in schema.fieldNames()):
                prefix = "_" + prefix
            # a parent column derived from this very table (an order's total, its item count)
            # is computed from the children after they exist: the count model may read it, the
            # children's own model does not condition on it (it would pull each sibling
            # towards a total that the siblings, drawn independently, never add up to)
            derived_here = {c for c in ctx if ctx_override is None
                            and pcfg.columns[c].derived is not None
                            and pcfg.columns[c].derived.table == name}
            cond = [prefix + c for c in ctx if c not in derived_here]
            null_fk = int(df.where(F.col(fk.column).isNull()).count())
            if null_fk:
                logger.info("table %s: %d of %d rows (%.1f%%) have no %s (null %s): generated "
                            "at the same share", name, null_fk, rows, 100 * null_fk / rows,
                            parent, fk.column)
            orphans = _count_orphans(name, df, fk, pdf, rows)
            tstate["driver"] = {"column": fk.column, "parentTable": parent,
                                "parentKey": fk.parent_column, "contextCols": ctx,
                                "prefix": prefix, "nullShare": null_fk / rows,
                                "orphanShare": orphans / rows, "orphans": fk.orphans}
            if learned:
                pkey = "__synthohive_pk"
                ptab = pdf.select(F.col(fk.parent_column).alias(pkey),
                                  *[F.col(c).alias(prefix + c) for c in ctx])
                frame = (df.select(*learned, fk.column)
                         .join(ptab, df[fk.column] == ptab[pkey], "left")
                         .select(*learned, *cond))
                for c in ctx:
                    if c not in derived_here:
                        col_cfgs[prefix + c] = pcfg.columns[c].model_dump(mode="json")
            card = CardinalityEstimator(parentTable=parent, childTable=name,
                                        foreignKey=fk.column, parentKey=fk.parent_column,
                                        contextCols=ctx, contextPrefix=prefix,
                                        maxTrainingRows=self.getMaxTrainingRows(),
                                        seed=self.getOrDefault(self.seed))
            if not ctx:
                card._set(maxContextCols=1)
            cmodel = card.fit(with_child_counts(pdf.select(fk.parent_column, *ctx), df,
                                                fk.parent_column, fk.column))
            logger.info("table %s: %s children per %s parent on average (%.1f%% without)",
                        name, round(cmodel.stats["mean"], 3), parent,
                        100 * cmodel.stats["zero_share"])
        tstate["conditionCols"] = cond

        for sfk in graph.secondary_fks(name):
            orphans = _count_orphans(name, df, sfk, frames[sfk.parent_table], rows)
            tstate["secondary"][sfk.column] = {
                "parentTable": sfk.parent_table,
                "degree": self._fit_secondary(df, sfk.column, frames[sfk.parent_table],
                                              sfk.parent_column,
                                              orphans if sfk.orphans == "null" else 0).to_dict(),
                "orphanShare": orphans / rows if sfk.orphans == "keep" else 0.0,
                "uniqueWithDriver": (tstate["driver"] is not None and
                                     _pairs_unique(df, tstate["driver"]["column"], sfk.column))}
        for rfk in graph.self_references(name):
            degree, earlier = self._fit_self_reference(name, df, rfk.column, rfk.parent_column,
                                                       rows)
            tstate["selfRefs"][rfk.column] = {"degree": degree.to_dict(), "earlier": earlier}

        tmodel = None
        if learned:
            params = {"model": self.getModel(), "epochs": self.getEpochs(),
                      "batchSize": self.getBatchSize(), "maxTrainingRows": self.getMaxTrainingRows(),
                      "modelParams": self.getModelParams(), "chunkSize": self.getChunkSize()}
            overrides = dict(self.getTableParams().get(name, {}))
            if isinstance(overrides.get("modelParams"), dict):
                params["modelParams"] = {**params["modelParams"], **overrides.pop("modelParams")}
            params.update(overrides)
            table_cfg = {"columns": col_cfgs, "primary_key": None, "foreign_keys": []}
            stage = TableSynthesizer(seed=self.getOrDefault(self.seed), tableName=name,
                                     conditionCols=cond, keyCols=[], tableMetadata=table_cfg,
                                     **params)
            tmodel = stage.fit(frame)
            tstate["model"] = tmodel._state.get("model")  # None: every column is a label or PII
            why = ("tableParams" if "model" in overrides else "model param"
                   if params["model"] != "auto" else tmodel._state.get("modelChoice", "nothing to learn"))
            logger.info("table %s: model %s (%s)", name, tstate["model"], why)
        return tstate, tmodel, cmodel

    def _default_context(self, parent: str, graph: SchemaGraph) -> list[str]:
        pcfg = self.metadata.tables[parent]
        keys = set(graph.key_columns(parent))
        out = []
        refs = {fk.column for fk in graph.reference_fks(parent)}
        for c, cc in pcfg.columns.items():
            if c in keys or cc.pii or str(cc.sdtype) in PII_KINDS:
                continue
            if str(cc.sdtype) in ("text", "id") and c not in refs:
                continue
            out.append(c)
        return out[:self.getMaxContextCols()]

    def _fit_secondary(self, df: DataFrame, column: str, parent_df: DataFrame, parent_key: str,
                       orphans_as_nulls: int) -> DegreeModel:
        """The degree model of a secondary key (``orphans_as_nulls``: orphan rows counted as
        null keys)."""
        refs = df.where(F.col(column).isNotNull()).groupBy(F.col(column).alias("__k")).agg(
            F.count(F.lit(1)).alias("__deg"))
        keys = parent_df.select(F.col(parent_key).alias("__k")).distinct()
        degs = keys.join(refs, "__k", "left").select(
            F.coalesce(F.col("__deg"), F.lit(0)).alias("__deg"))
        hist = degs.groupBy("__deg").count().collect()
        nulls = int(df.where(F.col(column).isNull()).count()) + int(orphans_as_nulls)
        values = [int(r["__deg"]) for r in hist]
        mults = [int(r["count"]) for r in hist]
        return DegreeModel().fit_runs(values, mults, nulls)

    def _fit_self_reference(self, name: str, df: DataFrame, column: str, key: str,
                            rows: int) -> tuple[DegreeModel, bool]:
        bins = int(min(200, rows))
        ranked = df.select(F.col(key).alias("__k"),
                           (F.row_number().over(Window.orderBy(key)) - 1).alias("__rank"))
        refs = df.where(F.col(column).isNotNull()).groupBy(F.col(column).alias("__k")).agg(
            F.count(F.lit(1)).alias("__deg"))
        per_bin = (ranked.join(refs, "__k").select(
            F.floor(F.col("__rank") * bins / rows).cast("int").alias("__bin"), "__deg")
            .groupBy("__bin").agg(F.sum("__deg").alias("__mass")).collect())
        mass = np.zeros(bins)
        for r in per_bin:
            mass[min(int(r["__bin"]), bins - 1)] += float(r["__mass"])
        st = df.agg(F.sum(F.col(column).isNull().cast("long")).alias("nulls"),
                    F.avg(F.when(F.col(column).isNotNull(),
                                 (F.col(column) < F.col(key)).cast("double"))).alias("earlier")
                    ).first()
        earlier = st["earlier"] is not None and float(st["earlier"]) >= 0.99
        logger.info("table %s: self-reference %s -> %s, %s earlier rows", name, column, key,
                    "only" if earlier else "not only")
        return DegreeModel(bins=bins).fit_bin_mass(mass, rows, int(st["nulls"] or 0),
                                                   ordered=True), earlier


#: a reference table is kept in the model as it is: at most this many rows
REFERENCE_MAX_ROWS = 100_000


def _fit_reference(name: str, df: DataFrame) -> tuple[dict, pd.DataFrame]:
    """A reference table's state and its rows, kept as they are."""
    rows = int(df.count())
    if rows > REFERENCE_MAX_ROWS:
        raise SchemaError(f"Table {name!r} is marked reference (kept as it is, inside the model) "
                          f"but has {rows} rows; at most {REFERENCE_MAX_ROWS} are kept: set "
                          f"'reference: false' for it in the metadata")
    pdf = df.toPandas()
    return {"schema": df.schema.json(), "columns": df.schema.fieldNames(), "reference": True,
            "realRows": rows, "primaryKey": None, "pkSpec": None, "driver": None,
            "learned": [], "pii": {}, "dropped": [], "secondary": {}, "selfRefs": {},
            "conditionCols": []}, pdf


def _check_derived_rules(md: Metadata, frames: dict[str, DataFrame]) -> None:
    """Every derived column must hold in the real data (on DERIVED_MIN_SHARE of its rows): a rule
    that does not is refused, naming the table, the column and the share that breaks it."""
    from synthohive_spark.relational.rules import DERIVED_MIN_SHARE, tolerance

    for pname, pcfg in md.tables.items():
        for col, cc in pcfg.columns.items():
            rule = cc.derived
            if rule is None:
                continue
            parent = frames[pname]
            agg = _aggregate_children(frames[rule.table], rule)
            decimals = 0 if cc.integer else cc.decimals
            value = F.coalesce(F.col("__dv"), F.lit(0.0))
            if decimals is not None:
                value = F.round(value, decimals)
            pk = pcfg.primary_key
            j = parent.select(qcol(pk).alias("__pk"), qcol(col).cast("double").alias("__pv")) \
                .where(F.col("__pv").isNotNull()) \
                .join(agg, F.col("__pk") == F.col("__dk"), "left")
            bad_expr = F.abs(F.col("__pv") - value) > F.lit(tolerance(decimals)) \
                + F.lit(1e-9) * F.abs(value)
            st = j.agg(F.count(F.lit(1)).alias("n"),
                       F.sum(bad_expr.cast("long")).alias("bad")).first()
            n, bad = int(st["n"] or 0), int(st["bad"] or 0)
            if n and bad / n > 1.0 - DERIVED_MIN_SHARE:
                what = ("the count of its rows" if rule.aggregate == "count" else
                        "the sum of " + " x ".join(rule.columns))
                raise SchemaError(
                    f"Table {pname!r}, column {col!r}: declared derived as {what} in "
                    f"{rule.table!r} (foreign key {rule.foreign_key!r}), but {bad} of {n} rows "
                    f"({100 * bad / n:.1f}%) break the rule in the real data; expected at most "
                    f"{100 * (1 - DERIVED_MIN_SHARE):.0f}%. Fix the rule or remove it")


def _aggregate_children(child: DataFrame, rule: Any) -> DataFrame:
    """``__dk`` (the parent key) and ``__dv`` (the rule's aggregate) per parent with children."""
    if rule.aggregate == "count":
        value = F.count(F.lit(1))
    else:
        term = qcol(rule.columns[0]).cast("double")
        for c in rule.columns[1:]:
            term = term * qcol(c).cast("double")
        value = F.sum(term)
    return (child.where(qcol(rule.foreign_key).isNotNull())
            .groupBy(qcol(rule.foreign_key).alias("__dk"))
            .agg(value.cast("double").alias("__dv")))


def _row_uniform(seed: int, what: str, columns: list[str]) -> Any:
    """A uniform number in [0, 1) per row from the seed and the row's own values (the same
    wherever Spark computes the row)."""
    h = F.xxhash64(F.lit(int(seed)), F.lit(what), *[qcol(c) for c in columns])
    return F.pmod(h, F.lit(1_000_003)).cast("double") / F.lit(1_000_003.0)


def _apply_copies(df: DataFrame, table: str, cfg: Any, generated: dict[str, DataFrame],
                  schema: T.StructType, seed: int, pk: Optional[str],
                  small: set[str]) -> DataFrame:
    """Child columns that repeat their parent's column take the generated parent's value, in the
    real share of rows (the other rows keep the value their model gave)."""
    by_fk: dict[str, list[tuple[str, Any]]] = {}
    for col, cc in cfg.columns.items():
        if cc.copy_of is not None:
            by_fk.setdefault(cc.copy_of.foreign_key, []).append((col, cc.copy_of))
    if not by_fk:
        return df
    names = schema.fieldNames()
    for i, (fk_col, rules) in enumerate(by_fk.items()):
        fk = cfg.foreign_key(fk_col)
        parent = generated[fk.parent_table]
        pkey, found = f"__cp{i}_k", f"__cp{i}_found"
        sel = [qcol(fk.parent_column).alias(pkey), F.lit(True).alias(found)]
        sel += [qcol(rule.column).alias(f"__cp{i}_{col}") for col, rule in rules]
        ptab = parent.select(*sel)
        if fk.parent_table in small:
            ptab = F.broadcast(ptab)
        df = df.join(ptab, qcol(fk_col) == F.col(pkey), "left")
        row_key = [pk] if pk else names
        for col, rule in rules:
            take = F.col(found).isNotNull()
            if rule.agreement < 1.0:
                take = take & (_row_uniform(seed, f"copy/{table}/{col}", row_key)
                               < F.lit(float(rule.agreement)))
            df = df.withColumn(col, F.when(take, F.col(f"__cp{i}_{col}").cast(
                schema[col].dataType)).otherwise(qcol(col)))
        df = df.select(*[qcol(c) for c in names])
    return df


def _apply_derived(df: DataFrame, cfg: Any, generated: dict[str, DataFrame],
                   schema: T.StructType) -> DataFrame:
    """Parent columns that aggregate their children, computed from the generated children (one
    aggregation and join per rule); a parent without children gets 0."""
    names = schema.fieldNames()
    pk = cfg.primary_key
    for col, cc in cfg.columns.items():
        rule = cc.derived
        if rule is None:
            continue
        agg = _aggregate_children(generated[rule.table], rule)
        value = F.coalesce(F.col("__dv"), F.lit(0.0))
        decimals = 0 if cc.integer else cc.decimals
        if decimals is not None:
            value = F.round(value, decimals)
        df = (df.join(agg, qcol(pk) == F.col("__dk"), "left")
              .withColumn(col, value.cast(schema[col].dataType))
              .select(*[qcol(c) for c in names]))
    return df


# ====================================================================================== model
@dataclass
class _TablePlan:
    """Everything an executor needs to generate one table (plain data, pickled by Spark)."""

    table: str
    seed: int
    columns: list[str]
    int_cols: list[str]
    learned: list[str]
    cond_cols: list[str]
    gen_plan: Any
    pk: Optional[str]
    pk_spec: Optional[dict]
    total_rows: int
    chunk_size: int
    driver_col: Optional[str] = None
    # (col, degree state, parent spec, n parents, share of keys that match no parent)
    secondary: list[tuple] = field(default_factory=list)
    self_refs: list[tuple] = field(default_factory=list)   # (col, degree state, earlier)
    pii: list[tuple] = field(default_factory=list)         # (col, PII spec: see _generation.pii_series)
    dropped: list[str] = field(default_factory=list)
    offsets: dict[int, tuple[int, int]] = field(default_factory=dict)  # (rows before, rows)
    # secondary keys whose (driver key, secondary key) pairs were unique in the real table (a
    # junction table's composite key): each driver parent's rows get distinct secondary parents
    unique_pairs: list[str] = field(default_factory=list)
    labels: list[tuple] = field(default_factory=list)     # (col, real values, null share)
    unique_ids: list[tuple] = field(default_factory=list)  # (col, key spec, null share)
    local_timestamps: list[str] = field(default_factory=list)  # see _generation.localize_timestamps
    time_zone: Optional[str] = None


def _count_orphans(name: str, df: DataFrame, fk: Any, parent_df: DataFrame, rows: int) -> int:
    """Rows of ``df`` whose foreign key ``fk`` is set but matches no parent row; logged with
    what generation makes of them (the key's ``orphans`` option)."""
    refs = df.select(qcol(fk.column).alias("__k")).where(F.col("__k").isNotNull())
    keys = parent_df.select(qcol(fk.parent_column).alias("__k")).distinct()
    n = int(refs.join(keys, "__k", "left_anti").count())
    if n:
        how = ("as null keys (foreign key option orphans: null; orphans: keep generates keys "
               f"that match no {fk.parent_table} row)" if fk.orphans == "null" else
               f"as keys that match no generated {fk.parent_table} row (orphans: keep)")
        logger.warning("table %s: %d of %d rows (%.1f%%) have a %s that matches no %s row "
                       "(orphan references): generated at the same share %s", name, n, rows,
                       100 * n / rows, fk.column, fk.parent_table, how)
    return n


def _pairs_unique(df: DataFrame, driver_col: str, col: str) -> bool:
    """Whether no (driver key, ``col``) pair occurs twice among the rows where both are set."""
    both = df.where(qcol(driver_col).isNotNull() & qcol(col).isNotNull())
    pairs = both.groupBy(qcol(driver_col).alias("d"), qcol(col).alias("s")).count()
    # int(): pyspark 3.5's Connect client returns count() as a numpy integer (not JSON-able)
    return int(pairs.where(F.col("count") > 1).limit(1).count()) == 0


def _distinct_per_group(groups: np.ndarray, idx: np.ndarray, ok: np.ndarray, n_parents: int,
                        redraw: Any, rng: np.random.Generator,
                        carried: tuple[Optional[str], set]) -> tuple[np.ndarray, tuple[str, set]]:
    """Secondary parent positions ``idx`` made distinct within each run of equal ``groups``
    (children of one driver parent are consecutive; rows not ``ok`` are left alone). Repeats are
    redrawn from the degree model (``redraw(k)``), so popular parents stay popular; after 30 rounds
    the rest take a random free parent. A group with more rows than parents keeps its unavoidable
    repeats. ``carried`` is (group, used positions) of the previous chunk's last group, which may
    go on in this one; returns the positions and the same for this chunk's last group."""
    idx = idx.copy()
    key = pd.Series(groups, dtype=object).astype(str).to_numpy()
    prev_group, prev_used = carried
    cont = ok & (key == prev_group)
    prev_arr = np.fromiter(prev_used, dtype=np.int64, count=len(prev_used))

    def repeats() -> np.ndarray:
        dup = pd.DataFrame({"g": key, "i": idx}).duplicated(keep="first").to_numpy() & ok
        return dup | (cont & np.isin(idx, prev_arr))

    dup = repeats()
    for _ in range(30):
        if not dup.any():
            break
        idx[dup] = redraw(int(dup.sum()))
        dup = repeats()
    for g in np.unique(key[dup]):
        rows = np.flatnonzero(key == g)
        used = set(idx[rows[~dup[rows]]].tolist()) | (prev_used if g == prev_group else set())
        free = [p for p in rng.permutation(n_parents).tolist() if p not in used]
        for r, p in zip(rows[dup[rows]], free):
            idx[r] = p
    last = key[-1]
    used = set(idx[ok & (key == last)].tolist()) | (prev_used if last == prev_group else set())
    return idx, (last, used)


_DEGREES: dict[str, DegreeModel] = {}


def _degree(state: dict) -> DegreeModel:
    key = json.dumps(state, sort_keys=True)
    m = _DEGREES.get(key)
    if m is None:
        if len(_DEGREES) > 64:
            _DEGREES.clear()
        m = _DEGREES[key] = DegreeModel.from_dict(state)
    return m


def _pii_spec(state: dict) -> dict:
    """The generation spec of a PII column; models saved before formats were kept hold only the
    sdtype, the physical family and the null share: default formats then."""
    if "kind" in state:
        return state
    family = state.get("family", "string")
    target = {"date": "date", "timestamp": "timestamp", "integer": "integer"}.get(family, "string")
    return {"kind": state["sdtype"], "fmt": None, "spark_type": target,
            "null_share": float(state.get("nullShare", 0.0))}


def _key_column(spec: dict, idx: np.ndarray, null: np.ndarray, integer: bool) -> pd.Series:
    values = gen.key_values_at(spec, np.where(null, 0, idx))
    if integer:
        arr = pd.array(values.to_numpy(dtype="int64"), dtype="Int64")
        arr[null] = pd.NA
        return pd.Series(arr)
    out = values.astype(object)
    out[null] = None
    return out.reset_index(drop=True)


def _generate_chunk(plan: _TablePlan, piece: Optional[pd.DataFrame], m: int, start: int,
                    part: int, chunk: int, carry: Optional[dict] = None) -> pd.DataFrame:
    """``m`` rows of ``plan.table``. ``carry`` holds, per unique-pair key, the previous chunk's last
    driver parent and the parents it used (child tables pass one dict through a partition)."""
    carry = {} if carry is None else carry

    def seed_of(what: str) -> int:
        return gen.row_seed(plan.seed, f"relational/{plan.table}/{what}", part, chunk)

    out: dict[str, Any] = {}
    if plan.gen_plan is not None:
        context = piece[plan.cond_cols].reset_index(drop=True) if plan.cond_cols else None
        rows = gen._generate(plan.gen_plan, m, context, seed_of("rows"), gen.arrow_columns_ok())
        for c in plan.learned:
            if c in plan.gen_plan.pii_specs:  # free text: generated by the table stage, not learned
                out[c] = gen.pii_values(plan.gen_plan, c, m, seed_of("rows"))
            else:
                out[c] = rows[c].reset_index(drop=True)
    positions = np.arange(start, start + m, dtype=np.int64)
    if plan.pk is not None:
        out[plan.pk] = _key_column(plan.pk_spec, positions, np.zeros(m, bool),
                                   plan.pk in plan.int_cols)
    for col, spec, null_share in plan.unique_ids:
        null = np.random.default_rng(seed_of("id-null/" + col)).random(m) < null_share
        out[col] = _key_column(spec, positions, null, False)
    for col, values, null_share in plan.labels:
        null = np.random.default_rng(seed_of("label-null/" + col)).random(m) < null_share
        out[col] = gen.label_values(plan.seed, f"relational/{plan.table}", col, values,
                                    positions, null)
    if plan.driver_col is not None:
        out[plan.driver_col] = piece[plan.driver_col].reset_index(drop=True)
    for col, dstate, pspec, n_parents, orphan_share in plan.secondary:
        dm = _degree(dstate)
        rng = np.random.default_rng(seed_of("fk/" + col))
        null = dm.null_mask(rng, m)
        perm_seed = gen.row_seed(plan.seed, f"relational/{plan.table}/perm/{col}")
        idx = dm.sample_parents(rng, m, n_parents, seed=perm_seed)
        if col in plan.unique_pairs and plan.driver_col is not None and m:
            groups = out[plan.driver_col].to_numpy(dtype=object)
            ok = ~(null | (idx < 0)) & pd.notna(groups)
            idx, carry[col] = _distinct_per_group(
                groups, idx, ok, n_parents,
                lambda k: np.maximum(dm.sample_parents(rng, k, n_parents, seed=perm_seed), 0),
                rng, carry.get(col, (None, set())))
        if orphan_share > 0:  # orphans: keep: keys past the generated parents', matching none
            dangling = ~null & (np.random.default_rng(seed_of("orphan/" + col)).random(m)
                                < orphan_share)
            idx = np.where(dangling, n_parents + np.maximum(idx, 0), idx)
        out[col] = _key_column(pspec, idx, null | (idx < 0), col in plan.int_cols)
    for col, dstate, earlier in plan.self_refs:
        dm = _degree(dstate)
        rng = np.random.default_rng(seed_of("self/" + col))
        null = dm.null_mask(rng, m)
        idx = dm.sample_parents(rng, m, plan.total_rows, seed=0,
                                limit=positions if earlier else None)
        out[col] = _key_column(plan.pk_spec, idx, null | (idx < 0), col in plan.int_cols)
    # after the learned columns: contextual PII follows the row's country
    out.update(gen.pii_frame(plan.pii, m, lambda c: seed_of("pii/" + c), out, positions))
    for col in plan.dropped:
        out[col] = pd.Series([None] * m, dtype=object)
    frame = pd.DataFrame({c: out[c] for c in plan.columns}, columns=plan.columns)
    return gen.localize_timestamps(frame, plan.local_timestamps, plan.time_zone)


def _generate_root(plan: _TablePlan, parts: int, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    gen._set_threads()
    base, extra = divmod(plan.total_rows, parts)
    for batch in batches:
        for part in batch["id"].tolist():
            part = int(part)
            start = part * base + min(part, extra)
            count = base + (1 if part < extra else 0)
            done, chunk = 0, 0
            while done < count:
                m = int(min(plan.chunk_size, count - done))
                yield _generate_chunk(plan, None, m, start + done, part, chunk)
                done += m
                chunk += 1


def _generate_child(plan: _TablePlan, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``mapInPandas`` body for a child table over its skeleton (one row per child: the driver
    key and the parent's context, with each row's partition and position in the skeleton)."""
    gen._set_threads()
    carries: dict[int, dict] = {}  # per partition and unique-pair key: the previous chunk's parents
    for part, piece in gen.aligned_pieces(batches, plan.chunk_size):
        carry = carries.setdefault(part, {})
        pos = piece[gen.POS_COL].to_numpy(dtype=np.int64)
        positions = gen.global_positions(plan.offsets, part, pos)
        if int(pos[-1]) - int(pos[0]) != len(pos) - 1:
            raise RuntimeError(f"table {plan.table}: skeleton rows of partition {part} "
                               "arrive out of order; persist the parent table")
        yield _generate_chunk(plan, piece, len(piece), int(positions[0]), part, int(pos[0]), carry)


class RelationalSynthesizerModel(_RelationalParams, PersistentStage):
    """A fitted database: ``sample`` generates every table, ``save``/``load`` persist it.

    Saved as ``metadata/`` and ``data/`` (the database metadata, the state, the reference
    tables' rows) with each table's model under ``tables/<name>`` and each cardinality model
    under ``cardinality/<name>``.
    """

    #: the saved state.json (snake_case on disk, these names in memory); PII specs, key specs
    #: and degree models are kept as they are
    _STATE = Record(order=None, tables=MapOf(Record(
        schema=None, columns=None, learned=None, pii=None, dropped=None, primaryKey=None,
        pkSpec=None, realRows=None, reference=None, model=None, conditionCols=None,
        driver=Record(column=None, parentTable=None, parentKey=None, contextCols=None,
                      prefix=None, nullShare=None, orphanShare=None, orphans=None),
        secondary=MapOf(Record(parentTable=None, degree=None, orphanShare=None,
                               uniqueWithDriver=None)),
        selfRefs=MapOf(Record(degree=None, earlier=None)),
        labels=MapOf(Record(values=None, nullShare=None)),
        uniqueIds=MapOf(Record(spec=None, nullShare=None)))))

    def __init__(self) -> None:
        super().__init__()
        self._metadata: Optional[Metadata] = None
        self._state: dict[str, Any] = {}
        self._table_models: dict[str, Any] = {}
        self._card_models: dict[str, CardinalityModel] = {}
        self._references: dict[str, pd.DataFrame] = {}

    # ------------------------------------------------------------------ accessors
    @property
    def metadata(self) -> Metadata:
        return self._metadata

    @property
    def graph(self) -> SchemaGraph:
        return SchemaGraph(self._metadata)

    @property
    def tables(self) -> list[str]:
        """Table names in generation order."""
        return list(self._state["order"])

    def tableModel(self, table: str):
        """The fitted :class:`TableSynthesizerModel` of ``table`` (KeyError if it has none)."""
        self._check_table(table)
        return self._table_models[table]

    def cardinalityModel(self, table: str) -> CardinalityModel:
        """The :class:`CardinalityModel` of ``table``'s driver relationship."""
        self._check_table(table)
        if table not in self._card_models:
            raise KeyError(f"table {table!r} is a root table: it has no cardinality model")
        return self._card_models[table]

    def realRows(self, table: str) -> int:
        self._check_table(table)
        return int(self._state["tables"][table]["realRows"])

    def _check_table(self, table: str) -> None:
        if table not in self._state.get("tables", {}):
            raise KeyError(f"table {table!r} is not in the fitted schema "
                           f"(tables: {self._state.get('order')})")

    # ------------------------------------------------------------------ sample
    def sample(self, scale: float = 1.0, numRows: Optional[Mapping[str, int]] = None,
               output: Optional[str] = None, format: str = "parquet", mode: str = "errorifexists",
               seed: Optional[int] = None, numPartitions: Optional[int] = None,
               spark: Optional[SparkSession] = None, minQuality: Optional[float] = None,
               reference: Optional[Mapping[str, Any]] = None) -> dict[str, DataFrame]:
        """Generate the database: every table as a Spark DataFrame, in generation order.

        With ``minQuality`` above 0, the generated database is first validated against
        ``reference`` (table name -> real DataFrame, catalog table or path) with the multi-table
        quality report; below the gate a ``QualityGateError`` names what fell short and nothing
        is written to ``output``.

        Root tables get ``round(real rows * scale)`` rows unless ``numRows`` names them; child
        tables follow from the cardinality models. With ``output`` (a path, or a catalog database)
        each table is written as soon as it is generated (``format``; ``mode`` 'errorifexists' or
        'overwrite') and the returned DataFrames read the written tables; otherwise they are
        persisted on the executors (call ``unpersist()`` when done).
        """
        spark = spark or SparkSession.active()
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not scale > 0 \
                or not math.isfinite(scale):
            raise ValueError(f"sample: scale must be a positive number, got {scale!r}")
        if numPartitions is not None and (not isinstance(numPartitions, int)
                                          or isinstance(numPartitions, bool) or numPartitions < 1):
            raise ValueError(f"sample: numPartitions must be a positive int, got {numPartitions!r}")
        gate = 0.0 if minQuality is None else float(minQuality)
        if not 0.0 <= gate <= 1.0:
            raise ValueError(f"sample: minQuality must lie in [0, 1], got {minQuality!r}")
        if gate > 0 and reference is None:
            raise ValueError("sample: minQuality needs reference={table: real DataFrame, ...} "
                             "to validate the generated database against.")
        graph = self.graph
        sizes = self._root_sizes(graph, scale, numRows or {})
        self._check_sizes(graph, sizes)
        seed = int(self.getSeed() if seed is None else seed)
        targets = {}
        if output is not None:
            targets = {t: resolve_target(output, t) for t in self.tables}
            check_targets(spark, list(targets.values()), mode, format)
        generated: dict[str, DataFrame] = {}
        counts: dict[str, int] = {}
        md = self.metadata
        small = {t for t in self.tables if graph.is_reference(t)}
        # a table is final (derived columns computed, then written) once the tables its derived
        # columns aggregate are final themselves
        rules_of = {t: {c.derived.table for c in md.tables[t].columns.values() if c.derived}
                    for t in self.tables}
        final: set[str] = set()
        stale: list[DataFrame] = []

        def settle() -> None:
            progress = True
            while progress:
                progress = False
                for t in self.tables:
                    if t in generated and t not in final and rules_of[t] <= final:
                        if rules_of[t]:
                            df = _apply_derived(generated[t], md.tables[t], generated,
                                                self._schema(t))
                            stale.append(generated[t])
                            generated[t] = df.persist(StorageLevel.MEMORY_AND_DISK)
                            logger.info("table %s: derived columns computed from %s", t,
                                        sorted(rules_of[t]))
                        if output is not None and gate == 0:
                            write_table(generated[t], targets[t], format, mode)
                        final.add(t)
                        progress = True

        for name in self.tables:
            df, n = self._generate_table(spark, graph, name, generated, counts, sizes, seed,
                                         numPartitions)
            if name not in small:
                df = _apply_copies(df, name, md.tables[name], generated, self._schema(name),
                                   seed, md.tables[name].primary_key, small)
            generated[name] = df.persist(StorageLevel.MEMORY_AND_DISK)
            counts[name] = n
            logger.info("generated table %s: %d rows", name, n)
            settle()
        if gate > 0:
            from synthohive_spark.validation import quality_gate
            real = {t: read_table(src, spark, name=t) for t, src in reference.items()}
            quality_gate(real, generated, gate, metadata=self.metadata)
            if output is not None:
                for name in self.tables:
                    write_table(generated[name], targets[name], format, mode)
        if output is None:
            for df in stale:
                df.unpersist()
            return generated
        out = {}
        for name in self.tables:
            out[name] = read_back(spark, targets[name], format,
                                  T.StructType.fromJson(json.loads(
                                      self._state["tables"][name]["schema"])))
        for df in [*generated.values(), *stale]:
            df.unpersist()
        return out

    def _schema(self, table: str) -> T.StructType:
        return T.StructType.fromJson(json.loads(self._state["tables"][table]["schema"]))

    def _root_sizes(self, graph: SchemaGraph, scale: float,
                    num_rows: Mapping[str, int]) -> dict[str, int]:
        for t, n in num_rows.items():
            self._check_table(t)
            if graph.is_reference(t):
                raise ValueError(f"sample: numRows names table {t!r}, a reference table kept as "
                                 f"it is ({self.realRows(t)} rows); set numRows of a root table "
                                 f"({', '.join(graph.roots())}) or use scale")
            if not graph.is_root(t):
                d = graph.driver(t)
                raise ValueError(f"sample: numRows names table {t!r}, which is generated under "
                                 f"{d.parent_table!r} (foreign key {d.column!r}); its size follows "
                                 f"from its parents: set numRows of a root table "
                                 f"({', '.join(graph.roots())}) or use scale")
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise ValueError(f"sample: numRows[{t!r}] must be a non-negative int, got {n!r}")
        return {t: int(num_rows[t]) if t in num_rows else
                max(1, int(round(self.realRows(t) * scale))) for t in graph.roots()}

    def _check_sizes(self, graph: SchemaGraph, sizes: dict[str, int]) -> None:
        """Every table's expected rows and partitions can be planned (before any job): refused
        naming the table otherwise; the expected total is logged."""
        expected: dict[str, float] = {}
        for name in self.tables:
            if graph.is_reference(name):
                expected[name] = float(self.realRows(name))
            elif graph.driver(name) is None:
                expected[name] = float(sizes[name])
                gen.plan_partitions(
                    f"sample: table {name!r} and the tables under it",
                    sizes[name] * self._subtree_rows(graph, name), self.getRowsPerPartition(),
                    schema=self._schema(name))
            else:
                drv = graph.driver(name)
                share = float(self._state["tables"][name]["driver"].get("nullShare", 0.0)) + \
                    float(self._state["tables"][name]["driver"].get("orphanShare", 0.0))
                expected[name] = (expected[drv.parent_table]
                                  * float(self._card_models[name].stats["mean"])
                                  / max(1e-9, 1.0 - min(share, 0.999)))
            gen.plan_partitions(f"sample: table {name!r}", expected[name], gen.MAX_ROWS,
                                schema=self._schema(name))
        total = sum(expected.values())
        size = sum(gen.estimated_bytes(self._schema(t), r) for t, r in expected.items())
        logger.info("sample: about %s rows in %d tables (about %.2f GiB in memory)",
                    f"{total:,.0f}", len(expected), size / 2**30)

    def _subtree_rows(self, graph: SchemaGraph, table: str) -> float:
        """Expected rows generated under one row of ``table`` (itself and its descendants along
        driver keys): the partitions of a root follow from it, so each holds about
        ``rowsPerPartition`` rows of the whole tree whatever the cluster (deterministic)."""
        total = 1.0
        for child in graph.children(table):
            total += float(self._card_models[child].stats["mean"]) * self._subtree_rows(graph, child)
        return total

    def _plan(self, name: str, seed: int, total: int, counts: dict[str, int]) -> _TablePlan:
        ts = self._state["tables"][name]
        schema = T.StructType.fromJson(json.loads(ts["schema"]))
        int_cols = [f.name for f in schema.fields if isinstance(f.dataType, T.IntegralType)]
        tmodel = self._table_models.get(name)
        gen_plan = None
        if tmodel is not None:
            gen_plan = tmodel.copy({tmodel.seed: seed}).generation_plan(f"relational/{name}")
        secondary = []
        for col, s in ts["secondary"].items():
            ptable = s["parentTable"]
            secondary.append((col, s["degree"], self._state["tables"][ptable]["pkSpec"],
                              counts[ptable], float(s.get("orphanShare", 0.0))))
        drv = ts["driver"]
        return _TablePlan(
            table=name, seed=seed, columns=ts["columns"], int_cols=int_cols,
            learned=ts["learned"], cond_cols=ts["conditionCols"], gen_plan=gen_plan,
            pk=ts["primaryKey"], pk_spec=ts["pkSpec"], total_rows=total,
            chunk_size=self.getChunkSize(),
            driver_col=drv["column"] if drv else None,
            secondary=secondary,
            self_refs=[(c, s["degree"], bool(s["earlier"])) for c, s in ts["selfRefs"].items()],
            pii=[(c, _pii_spec(p)) for c, p in ts["pii"].items()],
            dropped=list(ts["dropped"]),
            unique_pairs=[c for c, s in ts["secondary"].items() if s.get("uniqueWithDriver")],
            labels=[(c, s["values"], float(s["nullShare"])) for c, s in ts.get("labels", {}).items()],
            unique_ids=[(c, s["spec"], float(s["nullShare"]))
                        for c, s in ts.get("uniqueIds", {}).items()],
            local_timestamps=gen.local_timestamp_columns(schema), time_zone=gen.session_time_zone())

    def _generate_table(self, spark: SparkSession, graph: SchemaGraph, name: str,
                        generated: dict[str, DataFrame], counts: dict[str, int],
                        sizes: dict[str, int], seed: int,
                        num_partitions: Optional[int]) -> tuple[DataFrame, int]:
        ts = self._state["tables"][name]
        schema = T.StructType.fromJson(json.loads(ts["schema"]))
        drv = ts["driver"]
        if ts.get("reference"):
            pdf = self._references[name]
            return spark.createDataFrame(pdf, schema=schema), len(pdf)
        if drv is None:
            n = sizes[name]
            parts = num_partitions or max(1, math.ceil(
                n * self._subtree_rows(graph, name) / self.getRowsPerPartition()))
            parts = max(1, min(parts, n)) if n > 0 else 1
            plan = self._plan(name, seed, n, counts)
            source = spark.range(0, parts, 1, numPartitions=parts)
            df = source.mapInPandas(lambda it: _generate_root(plan, parts, it), schema=schema)
        else:
            parent = generated[drv["parentTable"]]
            cmodel = self._card_models[name].copy({self._card_models[name].seed: seed})
            skeleton = self._with_orphan_rows(spark, name, cmodel.transform(parent), drv,
                                              counts[drv["parentTable"]])
            # each skeleton row's partition and position in the skeleton itself: the child rows'
            # seeds and keys follow them, whatever task Spark computes them in
            skeleton = gen.with_row_positions(skeleton)
            offsets = gen.partition_offsets(skeleton)
            n = sum(rows for _, rows in offsets.values())
            plan = self._plan(name, seed, n, counts)
            plan.offsets = offsets
            df = skeleton.mapInPandas(lambda it: _generate_child(plan, it), schema=schema)
        return df, n

    def _with_orphan_rows(self, spark: SparkSession, name: str, skeleton: DataFrame,
                          drv: dict[str, Any], parent_rows: int) -> DataFrame:
        """The skeleton plus the rows that have no parent in the real table, at the real share:
        rows whose driver key is null, and orphans (a key that matches no parent row: null keys,
        or with ``orphans: keep`` keys past the generated parents' that match none). They have
        no parent to be counted under, so they are added beside the parents' children (no
        parent context), as many as the real share asks."""
        null_share = float(drv.get("nullShare", 0.0))
        orphan_share = float(drv.get("orphanShare", 0.0))
        share = null_share + orphan_share
        if share <= 0:
            return skeleton
        if share >= 0.999:
            logger.warning("table %s: its driver foreign key is null or matches no parent in "
                           "%.1f%% of the real rows; only rows under a parent are generated",
                           name, 100 * share)
            return skeleton
        with_parent = int(skeleton.count())
        extra = int(round(with_parent * share / (1.0 - share)))
        if extra == 0:
            return skeleton
        dangling = (int(round(extra * orphan_share / share))
                    if drv.get("orphans") == "keep" else 0)
        parts = max(1, math.ceil(extra / self.getRowsPerPartition()))
        rows = spark.range(0, extra, 1, numPartitions=parts)
        fields = skeleton.schema.fields
        if dangling:
            spec = self._state["tables"][drv["parentTable"]]["pkSpec"]
            col = drv["column"]
            schema = skeleton.schema

            def emit(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
                for b in batches:
                    ids = b["id"].to_numpy(dtype=np.int64)
                    out = pd.DataFrame({f.name: pd.Series([None] * len(b), dtype=object)
                                        for f in fields})
                    keep = ids < dangling
                    if keep.any():
                        keys = gen.key_values_at(spec, parent_rows + ids[keep])
                        vals = out[col].to_numpy(dtype=object).copy()
                        vals[keep] = keys.to_numpy(dtype=object)
                        out[col] = vals
                    yield out

            extra_rows = rows.mapInPandas(emit, schema=schema)
        else:
            extra_rows = rows.select(*[F.lit(None).cast(f.dataType).alias(f.name) for f in fields])
        logger.info("table %s: %d rows without a generated %s (%d null, %d orphan keys) beside "
                    "%d under a parent (%.1f%%, as in the real table)", name, extra,
                    drv["parentTable"], extra - dangling, dangling, with_parent, 100 * share)
        return skeleton.unionByName(extra_rows)

    # ------------------------------------------------------------------ persistence
    def _to_blobs(self) -> tuple[dict[str, bytes], dict[str, Any]]:
        blobs = {"metadata.json": json_blob(self._metadata.to_dict()),
                 "state.json": json_blob(state_to_saved(self._state, self._STATE))}
        for name, pdf in sorted(self._references.items()):
            blobs[f"reference/{name}.arrow"] = frame_to_ipc(pdf)
        return blobs, {"tableModels": sorted(self._table_models),
                       "cardinalityModels": sorted(self._card_models)}

    def _sub_stages(self) -> dict[str, Any]:
        subs: dict[str, Any] = {os.path.join("tables", n): m for n, m in self._table_models.items()}
        subs.update({os.path.join("cardinality", n): m for n, m in self._card_models.items()})
        return subs

    def _from_blobs(self, saved: SavedStage) -> None:
        from synthohive_spark.ml.table import TableSynthesizerModel

        self._metadata = Metadata.from_dict(saved.json("metadata.json"))
        self._state = saved.state("state.json", self._STATE)
        for name, ts in self._state.get("tables", {}).items():
            if ts.get("reference"):
                blob = saved.blobs.get(f"reference/{name}.arrow")
                if blob is None:
                    raise ModelLoadError(f"The relational model at {saved.path!r} lacks the rows "
                                         f"of its reference table {name!r}")
                self._references[name] = frame_from_ipc(blob)
        for name in saved.metadata.get("tableModels", []):
            self._table_models[name] = saved.stage(TableSynthesizerModel,
                                                   os.path.join("tables", name))
        for name in saved.metadata.get("cardinalityModels", []):
            self._card_models[name] = saved.stage(CardinalityModel,
                                                  os.path.join("cardinality", name))

    def save(self, path: str, overwrite: bool = False) -> None:  # type: ignore[override]
        """Save the whole fitted schema under ``path`` (``overwrite=True`` replaces it)."""
        w = self.write()
        if overwrite:
            w = w.overwrite()
        w.save(path)

    def copy(self, extra: Optional[dict] = None) -> "RelationalSynthesizerModel":
        that = super().copy(extra)
        that._metadata = self._metadata
        that._state = self._state
        that._table_models = self._table_models
        that._card_models = self._card_models
        that._references = self._references
        return that
