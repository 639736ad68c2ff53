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

A child's skeleton is drawn in the same task as its rows (one ``mapInPandas`` over the parents,
after a pass that only counts them per partition), unless rows without a parent are added or
secondary keys are drawn before the rows: then it is a DataFrame of its own, persisted.

Nothing but small aggregates (per-partition row counts) reaches the driver. Every row depends only
on (seed, table, partition, position), and the partitioning of each table follows from its root's
row count, so the same seed gives the same database and a recomputed parent keeps its PKs.

The stages live here; the per-table fit work in :mod:`synthohive_spark.ml._relational_fit`, the
executor-side generation (and the Spark steps around it) in
:mod:`synthohive_spark.ml._relational_gen`, on the shared loop of :mod:`synthohive_spark.ml._generation`.
"""
from __future__ import annotations

import json
import logging
import math
import os
from typing import Any, Mapping, Optional, Union

import pandas as pd
from pyspark import StorageLevel, keyword_only
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from synthohive_spark.io.readers import read_table
from synthohive_spark.io.jdbc import database_writer
from synthohive_spark.metadata import Metadata, MetadataError, check_case_distinct
from synthohive_spark.ml import _generation as gen
from synthohive_spark.errors import ParamError
from synthohive_spark.ml._params import (DEFAULT_SEED, HasCopyRejection, HasPrivacyBudget,
                                         HasSynthesisParams,
                                         check_at_least_one, check_model_params,
                                         check_unit_interval, dict_param, dict_value)
from synthohive_spark.ml._persist import (MapOf, ModelLoadError, PersistentStage, Record, SavedStage,
                                          frame_from_ipc, frame_to_ipc, json_blob, state_to_saved)
from synthohive_spark.ml._relational_fit import (FitSettings, fit_tables, with_ancestors,
                                                 with_secondary)
from synthohive_spark.ml._relational_gen import (adds_orphan_rows, apply_copies, apply_derived,
                                                draw_secondary_keys, draws_secondary_first,
                                                generate_child, generate_root, table_plan,
                                                with_orphan_rows)
from synthohive_spark.ml._spark_schema import SchemaError
from synthohive_spark.ml.cardinality import CardinalityModel
from synthohive_spark.relational.graph import SchemaGraph

logger = logging.getLogger("synthohive_spark.ml.relational")

#: a secondary parent whose generated columns a child is conditioned on is broadcast to the
#: child's tasks up to this many generated rows; a larger one is joined by a shuffle
SECONDARY_BROADCAST_ROWS = 2_000_000

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


class _RelationalParams(HasSynthesisParams, HasCopyRejection, HasPrivacyBudget):
    maxContextCols = Param(Params._dummy(), "maxContextCols",
                           "parent columns a child is generated under, at most: when the parent "
                           "has more, those most dependent on the child's columns",
                           typeConverter=TypeConverters.toInt)
    contextCols = dict_param("RelationalSynthesizer", "contextCols",
                             "dict (or JSON object) child table -> list of its driver parent's "
                             "columns (and its ancestors', named <table>__<column>, and its "
                             "second parents', named <foreign key>__<column>) to use as "
                             "context (default: all their non-key, non-PII, non-text columns; the "
                             "most dependent on the child's columns when there are more than "
                             "maxContextCols)")
    modelParams = dict_param("RelationalSynthesizer", "modelParams",
                             "dict (or JSON object) of extra hyperparameters of every table model")
    tableParams = dict_param("RelationalSynthesizer", "tableParams",
                             "dict (or JSON object) table -> TableSynthesizer params overriding "
                             "the defaults for that table (model, epochs, batchSize, "
                             "modelParams, ...)")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(model="auto", epochs=300, batchSize=500,
                         maxTrainingRows=500_000, maxContextCols=16, contextCols="{}",
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
                 maxContextCols: int = 16, contextCols: Any = None, modelParams: Any = None,
                 tableParams: Any = None, rowsPerPartition: int = 100_000,
                 chunkSize: int = 50_000, epsilon: float = 0.0, delta: float = 0.0,
                 rejectCopies: Optional[bool] = None, minDCR: Optional[float] = None) -> None:
        super().__init__()
        kwargs = dict(self._input_kwargs)
        md = kwargs.pop("metadata", None)
        self.metadata: Optional[Metadata] = _as_metadata(md) if md is not None else None
        self.setParams(**kwargs)

    @keyword_only
    def setParams(self, *, model: str = "auto", epochs: int = 300, batchSize: int = 500,
                  seed: int = DEFAULT_SEED, maxTrainingRows: int = 500_000, maxContextCols: int = 16,
                  contextCols: Any = None, modelParams: Any = None, tableParams: Any = None,
                  rowsPerPartition: int = 100_000,
                  chunkSize: int = 50_000, epsilon: float = 0.0,
                  delta: float = 0.0, rejectCopies: Optional[bool] = None,
                  minDCR: Optional[float] = None) -> "RelationalSynthesizer":
        kwargs = {k: v for k, v in self._input_kwargs.items() if v is not None}
        self._set(**kwargs)
        check_at_least_one("RelationalSynthesizer", self, (
            "epochs", "batchSize", "maxTrainingRows", "maxContextCols", "rowsPerPartition",
            "chunkSize"))
        check_unit_interval("RelationalSynthesizer", self, ("minDCR",))
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

        eps = self.getEpsilon() or (md.privacy.epsilon or 0.0)
        delta = self.getDelta() or (md.privacy.delta or 0.0)
        if eps < 0 or not 0 <= delta < 1 or (delta and not eps):
            raise ParamError(f"RelationalSynthesizer: epsilon must be >= 0 and delta in [0, 1) "
                             f"with epsilon set, got epsilon={eps}, delta={delta}")
        settings = FitSettings(
            epsilon=eps, delta=delta,
            model=self.getModel(), epochs=self.getEpochs(), batch_size=self.getBatchSize(),
            max_training_rows=self.getMaxTrainingRows(), model_params=self.getModelParams(),
            chunk_size=self.getChunkSize(), seed=self.getOrDefault(self.seed),
            max_context_cols=self.getMaxContextCols(), table_params=self.getTableParams(),
            context_cols=ctx_override, epochs_given=self.isSet(self.epochs))
        state, table_models, card_models, references = fit_tables(md, frames, graph, settings)
        model = RelationalSynthesizerModel()
        self._copyValues(model)
        model._metadata = md
        model._state = state
        model._table_models = table_models
        model._card_models = card_models
        model._references = references
        return model


class RelationalSynthesizerModel(_RelationalParams, PersistentStage):
    """A fitted database: ``sample`` generates every table, ``save``/``load`` persist it.

    Saved as ``metadata/`` and ``data/`` (the database metadata, the state, the reference
    tables' rows) with each table's model under ``tables/<name>`` and each cardinality model
    under ``cardinality/<name>``.
    """

    #: the saved state.json (snake_case on disk, these names in memory); PII specs, key specs
    #: and degree models are kept as they are
    _STATE = Record(order=None, privacy=None, tables=MapOf(Record(
        schema=None, columns=None, learned=None, pii=None, dropped=None, primaryKey=None,
        pkSpec=None, realRows=None, reference=None, model=None, conditionCols=None, privacy=None,
        sequenceIndex=None, parentConstants=None, relative=MapOf(Record(parent=None, kind=None, decimals=None, min=None,
                                                  max=None)),
        driver=Record(column=None, parentTable=None, parentKey=None, contextCols=None,
                      prefix=None, nullShare=None, orphanShare=None, orphans=None,
                      ancestors=None),
        secondary=MapOf(Record(parentTable=None, degree=None, orphanShare=None,
                               uniqueWithDriver=None, context=None)),
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
    def privacy(self) -> Optional[dict[str, Any]]:
        """What a differentially private fit of the database spent and guarantees: ``epsilon``
        and ``delta`` in total (basic composition over the tables), per table under ``tables``,
        ``covered`` and ``not_covered``; None without epsilon."""
        return self._state.get("privacy")

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

        With ``rejectCopies`` or ``minDCR`` (by default the metadata's
        ``privacy.exact_copy_tolerance``, when set, and ``privacy.min_dcr``), ``reference`` is
        required: each table's generated rows that copy one of its real rows (beyond the
        tolerated share), or come closer than ``minDCR`` to one, are generated again on the
        executors, against at most 50,000 distinct real rows per table chosen by a hash of
        their values; learned columns are compared (not keys, personal data, labels, nor columns
        copied from a parent or derived from children), and reference tables are kept as they
        are.

        With ``minQuality`` above 0, the generated database is first validated against
        ``reference`` (table name -> real DataFrame, catalog table or path) with the multi-table
        quality report; below the gate a ``QualityGateError`` names what fell short and nothing
        is written to ``output``.

        Root tables get ``round(real rows * scale)`` rows unless ``numRows`` names them; child
        tables follow from the cardinality models. With ``output`` (a path, or a catalog database)
        each table is written as soon as it is generated (``format``; ``mode`` 'errorifexists' or
        'overwrite'), under a temporary name moved into place once every table is written (a
        failure half way leaves none of them; see ``synthohive_spark.io.writers``), and the
        returned DataFrames read the written tables; otherwise they are
        persisted on the executors (call ``unpersist()`` when done). ``format='delta'`` writes
        each table as one Delta commit (an overwrite is a new version of the table, never a
        deletion) and, last, a manifest that makes the set complete; the returned DataFrames read
        the versions written, and ``synthohive_spark.io.read_output(output)`` reads the database
        back through its manifest. ``output=JdbcOutput(url, schema, properties)`` (or a
        ``jdbc:postgresql:`` URL: schema public) writes the database into a PostgreSQL schema with
        its primary and foreign keys declared, all tables at once or none
        (:class:`synthohive_spark.io.JdbcDatabaseWriter`; ``format`` does not apply).
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
        guards = self._copy_guards(spark, reference, seed)
        writer = None
        if output is not None:
            # a path or catalog database (io.writers), or a PostgreSQL schema (io.jdbc)
            writer = database_writer(spark, output, self.tables, format, mode, self.metadata)
        generated: dict[str, DataFrame] = {}
        counts: dict[str, int] = {}
        md = self.metadata
        small = {t for t in self.tables if graph.is_reference(t)}
        # a table is final (derived columns computed, then written) once the tables its derived
        # columns aggregate are final themselves
        rules_of = {t: {c.derived.table for c in md.tables[t].columns.values() if c.derived}
                    for t in self.tables}
        final: set[str] = set()
        stale: list[DataFrame] = []   # persisted frames no table reads once its rows are cached

        def settle() -> None:
            progress = True
            while progress:
                progress = False
                for t in self.tables:
                    if t in generated and t not in final and rules_of[t] <= final:
                        if rules_of[t]:
                            df = apply_derived(generated[t], md.tables[t], generated,
                                                self._schema(t))
                            stale.append(generated[t])
                            generated[t] = df.persist(StorageLevel.MEMORY_AND_DISK)
                            logger.info("table %s: derived columns computed from %s", t,
                                        sorted(rules_of[t]))
                        if writer is not None and gate == 0:
                            writer.write(t, generated[t])
                        final.add(t)
                        progress = True

        try:  # a failure half way: the tables written so far under temporary names go
            for name in self.tables:
                df, n = self._generate_table(spark, graph, name, generated, counts, sizes, seed,
                                             numPartitions, guards.get(name), stale)
                if name not in small:
                    df = apply_copies(df, name, md.tables[name], generated, self._schema(name),
                                       seed, md.tables[name].primary_key, small)
                generated[name] = df.persist(StorageLevel.MEMORY_AND_DISK)
                counts[name] = n
                logger.info("generated table %s: %d rows", name, n)
                settle()
            if gate > 0:
                from synthohive_spark.validation import quality_gate
                real = {t: read_table(src, spark, name=t) for t, src in reference.items()}
                quality_gate(real, generated, gate, metadata=self.metadata)
                if writer is not None:
                    for name in self.tables:
                        writer.write(name, generated[name])
        except BaseException:
            if writer is not None:
                writer.abort()
            for df in [*generated.values(), *stale]:
                df.unpersist()
            raise
        if writer is None:
            for df in stale:
                df.unpersist()
            return generated
        writer.finish()
        out = {}
        for name in self.tables:
            out[name] = writer.read_back(name, T.StructType.fromJson(json.loads(
                self._state["tables"][name]["schema"])))
        for df in [*generated.values(), *stale]:
            df.unpersist()
        return out

    def _copy_guards(self, spark: SparkSession, reference: Optional[Mapping[str, Any]],
                     seed: int) -> dict[str, Any]:
        """Per generated table, what rejectCopies / minDCR (or the metadata's exact_copy_tolerance
        / min_dcr) keep its rows away from: that table's real rows in ``reference``; none when
        both are off. Reference tables are kept as they are and not checked."""
        from synthohive_spark.ml._copies import build_guard, copy_settings, needs_reference

        where = "RelationalSynthesizerModel.sample"
        settings = copy_settings(where, self, self.metadata.privacy)
        if not settings.active:
            return {}
        compared = {t: self._compared_columns(t) for t in self.tables}
        compared = {t: cols for t, cols in compared.items() if cols}
        if reference is None:
            raise needs_reference(where, settings, "reference={table: real DataFrame, ...}")
        missing = [t for t in compared if t not in reference]
        if missing:
            raise ValueError(f"{where}: {settings.describe()} compares each table's generated "
                             f"rows with its real rows, but reference lacks table(s) {missing} "
                             f"(it has {sorted(reference)}).")
        return {t: build_guard(t, read_table(reference[t], spark, name=t), cols, self._schema(t),
                               self.metadata.tables[t].columns, settings, seed,
                               f"reference[{t!r}]", private=self.privacy is not None)
                for t, cols in compared.items()}

    def _compared_columns(self, table: str) -> list[str]:
        """The columns of ``table`` its generated rows are compared on with the real rows: the
        learned ones, less free text and the columns copied from a parent or derived from
        children (set after the rows are generated)."""
        ts = self._state["tables"][table]
        tmodel = self._table_models.get(table)
        if ts.get("reference") or tmodel is None:
            return []
        text = set(tmodel._state.get("piiSpecs", {}))
        cols = self.metadata.tables[table].columns
        return [c for c in ts["learned"] if c not in text and c in cols
                and cols[c].copy_of is None and cols[c].derived is None]

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
        for child in graph.generated_under(table):
            total += float(self._card_models[child].stats["mean"]) * self._subtree_rows(graph, child)
        return total

    def _generate_table(self, spark: SparkSession, graph: SchemaGraph, name: str,
                        generated: dict[str, DataFrame], counts: dict[str, int],
                        sizes: dict[str, int], seed: int, num_partitions: Optional[int],
                        guard: Any = None, cached: Optional[list] = None) -> tuple[DataFrame, int]:
        """The rows of table ``name`` (not computed yet) and their number. A child's rows are
        generated in the tasks that draw its parents' children, where no rows without a parent
        are added and no secondary key is drawn first; otherwise over a skeleton frame, persisted
        (and added to ``cached``, for the caller to unpersist once the table's own rows are
        cached or written) so that counting its rows per partition computes it once."""
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
            plan = table_plan(self._state, self._table_models, name, seed, n, counts,
                              self.getChunkSize())
            plan.copy_guard = guard
            source = gen.partition_frame(spark, n, parts)
            df = source.mapInPandas(lambda it: generate_root(plan, it), schema=schema)
        else:
            parent = generated[drv["parentTable"]]
            if drv.get("ancestors"):  # the parent's ancestors' columns beside each parent row
                parent = with_ancestors(generated, graph, drv["parentTable"],
                                        {c: tuple(t) for c, t in drv["ancestors"].items()},
                                        broadcast=True)
            cmodel = self._card_models[name].copy({self._card_models[name].seed: seed})
            orphans = adds_orphan_rows(name, drv)
            if not orphans and not draws_secondary_first(ts):
                # the children are drawn in the task that generates them, from their parents'
                # rows: no skeleton frame goes through Spark (storms at scale 100, best of four
                # interleaved: the whole sample 13.2 s -> 12.0 s with the copula, 19.2 s -> 18.0 s
                # as sequences), and none is held in the executors' memory
                source, per_part, skeleton_of = cmodel.in_task_skeleton(parent)
                offsets = gen.offsets_of(per_part)
            else:
                source = cmodel.transform(parent)
                if orphans:
                    source = with_orphan_rows(spark, name, source, drv, counts[drv["parentTable"]],
                                              self._state["tables"][drv["parentTable"]]["pkSpec"],
                                              self.getRowsPerPartition())
                # each skeleton row's partition and position in the skeleton itself: the child
                # rows' seeds and keys follow them, whatever task Spark computes them in
                source = gen.with_row_positions(source).persist(StorageLevel.MEMORY_AND_DISK)
                skeleton_of = iter   # the input rows are the skeleton
                if cached is not None:
                    cached.append(source)
                offsets = gen.partition_offsets(source)
            n = sum(rows for _, rows in offsets.values())
            plan = table_plan(self._state, self._table_models, name, seed, n, counts,
                              self.getChunkSize())
            plan.copy_guard = guard
            plan.offsets = offsets
            if plan.secondary_drawn:
                source = self._with_secondary_parents(graph, name, plan, source, schema,
                                                      generated, counts, len(offsets))
            df = source.mapInPandas(lambda it: generate_child(plan, skeleton_of(it)),
                                    schema=schema)
        return df, n

    def _with_secondary_parents(self, graph: SchemaGraph, name: str, plan: Any,
                                skeleton: DataFrame, schema: T.StructType,
                                generated: dict[str, DataFrame], counts: dict[str, int],
                                parts: int) -> DataFrame:
        """The skeleton of ``name`` with its secondary keys drawn (the same keys the rows would
        get without context) and the generated columns of those secondary parents that the table
        model is conditioned on. Parents of up to ``SECONDARY_BROADCAST_ROWS`` generated rows are
        broadcast (the skeleton keeps its partitions and order); a larger one is joined by a
        shuffle and each skeleton partition's rows are put back together in their order, so the
        rows are the same either way."""
        ts = self._state["tables"][name]
        fields = list(skeleton.schema.fields) + [schema[c] for c in ts["secondary"]]
        keyed = skeleton.mapInPandas(lambda it: draw_secondary_keys(plan, it),
                                     schema=T.StructType(fields))
        sec = {n: (col, s["parentTable"], pcol) for col, s in ts["secondary"].items()
               for n, pcol in s.get("context") or []}
        small = all(counts[t] <= SECONDARY_BROADCAST_ROWS for _, t, _ in sec.values())
        joined = with_secondary(keyed, generated, graph, name, sec, broadcast=small)
        if small:
            return joined
        logger.info("table %s: a secondary parent has more than %d generated rows: joined by a "
                    "shuffle, the skeleton's order restored after it", name,
                    SECONDARY_BROADCAST_ROWS)
        return (joined.repartition(max(1, parts), gen.PART_COL)
                .sortWithinPartitions(gen.PART_COL, gen.POS_COL))

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
