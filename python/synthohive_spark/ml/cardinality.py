"""Spark ML stages for one parent -> child relationship: ``CardinalityEstimator`` -> ``CardinalityModel``.

The estimator learns how many children a parent has given the parent's context columns (zeros
included). Spark ML estimators fit one DataFrame, so it fits the parent table with a child-count
column (:func:`with_child_counts` computes it in Spark: a group-by of the child table joined back to
the parents). ``CardinalityModel.transform(parents)`` emits one skeleton row per generated child
(the foreign key equal to the parent's key, plus the parent's context columns) inside
``mapInPandas``, seeded per partition so a recomputed partition emits the same rows;
``CardinalityModel.in_task_skeleton(parents)`` gives the same rows inside the task that uses them
(the relational sample generates a child table's rows there, without a skeleton DataFrame).
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np
import pandas as pd
from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from synthohive_spark.errors import ParamError
from synthohive_spark.ml._generation import (PART_COL, POS_COL, row_chunks, row_seed,
                                             with_row_positions, worker_cached)
from synthohive_spark.ml._params import (DEFAULT_SEED, HasDefaultSeed, HasPrivacyBudget,
                                        check_at_least_one)
from synthohive_spark.ml._persist import PersistentStage, Record, SavedStage, json_blob, state_to_saved
from synthohive_spark.ml._spark_schema import SchemaError, check_columns
from synthohive_spark.relational.cardinality import ChildCountModel

logger = logging.getLogger("synthohive_spark.ml.cardinality")

__all__ = ["CardinalityEstimator", "CardinalityModel", "with_child_counts"]


def with_child_counts(parents: DataFrame, children: DataFrame, parentKey: str, foreignKey: str,
                      countCol: str = "childCount") -> DataFrame:
    """``parents`` with ``countCol``: how many rows of ``children`` reference each parent (0 for
    none); computed in Spark, nothing is collected."""
    check_columns(parents.schema, [parentKey], "parent", "parentKey")
    check_columns(children.schema, [foreignKey], "child", "foreignKey")
    if countCol in parents.columns:
        raise SchemaError(f"the parent table already has a column {countCol!r}; choose another "
                          f"countCol")
    key = "__synthohive_parent_key"
    counts = (children.where(F.col(foreignKey).isNotNull())
              .groupBy(F.col(foreignKey).alias(key)).agg(F.count(F.lit(1)).alias(countCol)))
    joined = parents.join(counts, parents[parentKey] == counts[key], "left").drop(key)
    return joined.withColumn(countCol, F.coalesce(F.col(countCol), F.lit(0)).cast("long"))


class _CardinalityParams(HasDefaultSeed, HasPrivacyBudget):
    parentTable = Param(Params._dummy(), "parentTable", "name of the parent table",
                        typeConverter=TypeConverters.toString)
    childTable = Param(Params._dummy(), "childTable", "name of the child table",
                       typeConverter=TypeConverters.toString)
    foreignKey = Param(Params._dummy(), "foreignKey",
                       "the child's foreign-key column (the name of the key in emitted rows)",
                       typeConverter=TypeConverters.toString)
    parentKey = Param(Params._dummy(), "parentKey", "the parent's primary-key column",
                      typeConverter=TypeConverters.toString)
    contextCols = Param(Params._dummy(), "contextCols",
                        "parent columns the child count is conditioned on (default: the parent's "
                        "columns other than the key and the count, at most maxContextCols)",
                        typeConverter=TypeConverters.toListString)
    maxContextCols = Param(Params._dummy(), "maxContextCols",
                           "cap on the default context columns", typeConverter=TypeConverters.toInt)
    contextPrefix = Param(Params._dummy(), "contextPrefix",
                          "prefix of the context columns in the rows transform() emits",
                          typeConverter=TypeConverters.toString)
    countCol = Param(Params._dummy(), "countCol", "column of the fitted DataFrame holding the "
                     "number of children of each parent", typeConverter=TypeConverters.toString)
    maxTrainingRows = Param(Params._dummy(), "maxTrainingRows",
                            "at most this many parents, sampled with the seed, go to the driver",
                            typeConverter=TypeConverters.toInt)
    maxLeaves = Param(Params._dummy(), "maxLeaves", "leaves of the count tree",
                      typeConverter=TypeConverters.toInt)
    minSamplesLeaf = Param(Params._dummy(), "minSamplesLeaf", "parents per leaf, at least",
                           typeConverter=TypeConverters.toInt)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(parentTable="parent", childTable="child", foreignKey="parent_id",
                         parentKey="id", contextCols=[], maxContextCols=5, contextPrefix="",
                         countCol="childCount", maxTrainingRows=1_000_000, maxLeaves=32,
                         minSamplesLeaf=20)

    def getParentTable(self) -> str:
        return self.getOrDefault(self.parentTable)

    def getChildTable(self) -> str:
        return self.getOrDefault(self.childTable)

    def getForeignKey(self) -> str:
        return self.getOrDefault(self.foreignKey)

    def getParentKey(self) -> str:
        return self.getOrDefault(self.parentKey)

    def getContextCols(self) -> list[str]:
        return self.getOrDefault(self.contextCols)

    def getMaxContextCols(self) -> int:
        return self.getOrDefault(self.maxContextCols)

    def getContextPrefix(self) -> str:
        return self.getOrDefault(self.contextPrefix)

    def getCountCol(self) -> str:
        return self.getOrDefault(self.countCol)

    def getMaxTrainingRows(self) -> int:
        return self.getOrDefault(self.maxTrainingRows)

    def getMaxLeaves(self) -> int:
        return self.getOrDefault(self.maxLeaves)

    def getMinSamplesLeaf(self) -> int:
        return self.getOrDefault(self.minSamplesLeaf)

    def _where(self) -> str:
        return f"relationship {self.getParentTable()} -> {self.getChildTable()}.{self.getForeignKey()}"


class CardinalityEstimator(Estimator, _CardinalityParams, DefaultParamsReadable,
                           DefaultParamsWritable):
    """Learns the number of children per parent, conditioned on the parent's context columns.

    >>> est = CardinalityEstimator(parentTable="customers", childTable="orders",
    ...                            foreignKey="customer_id", parentKey="customer_id",
    ...                            contextCols=["segment"], seed=7)
    >>> model = est.fit(with_child_counts(customers, orders, "customer_id", "customer_id"))  # doctest: +SKIP
    >>> skeleton = model.transform(synthetic_customers)     # doctest: +SKIP
    """

    @keyword_only
    def __init__(self, *, parentTable: str = "parent", childTable: str = "child",
                 foreignKey: str = "parent_id", parentKey: str = "id",
                 contextCols: list[str] | None = None, maxContextCols: int = 5,
                 contextPrefix: str = "", countCol: str = "childCount",
                 maxTrainingRows: int = 1_000_000, maxLeaves: int = 32, minSamplesLeaf: int = 20,
                 seed: int = DEFAULT_SEED, epsilon: float = 0.0,
                 delta: float = 0.0) -> None:
        super().__init__()
        self.setParams(**self._input_kwargs)

    @keyword_only
    def setParams(self, *, parentTable: str = "parent", childTable: str = "child",
                  foreignKey: str = "parent_id", parentKey: str = "id",
                  contextCols: list[str] | None = None, maxContextCols: int = 5,
                  contextPrefix: str = "", countCol: str = "childCount",
                  maxTrainingRows: int = 1_000_000, maxLeaves: int = 32, minSamplesLeaf: int = 20,
                  seed: int = DEFAULT_SEED, epsilon: float = 0.0,
                  delta: float = 0.0) -> "CardinalityEstimator":
        kwargs = {k: v for k, v in self._input_kwargs.items() if v is not None}
        self._set(**kwargs)
        check_at_least_one(f"CardinalityEstimator ({self._where()})", self,
                           ("maxContextCols", "maxTrainingRows", "maxLeaves", "minSamplesLeaf"))
        if self.getEpsilon() < 0 or not 0 <= self.getDelta() < 1:
            raise ParamError(f"CardinalityEstimator ({self._where()}): epsilon must be >= 0 (0: "
                             f"no differential privacy) and delta in [0, 1), got "
                             f"epsilon={self.getEpsilon()}, delta={self.getDelta()}")
        return self

    def setContextCols(self, value: list[str]) -> "CardinalityEstimator":
        return self._set(contextCols=value)

    def setSeed(self, value: int) -> "CardinalityEstimator":
        return self._set(seed=value)

    def _context_cols(self, schema: T.StructType) -> list[str]:
        cols = list(self.getContextCols())
        if cols:
            return cols
        skip = {self.getParentKey(), self.getCountCol()}
        return [f.name for f in schema.fields if f.name not in skip][:self.getMaxContextCols()]

    def _fit(self, dataset: DataFrame) -> "CardinalityModel":
        where = self._where()
        schema = dataset.schema
        count_col = self.getCountCol()
        if count_col not in schema.fieldNames():
            raise SchemaError(
                f"{where}: the fitted DataFrame has no {count_col!r} column; fit on the parent "
                f"table joined with its child counts, e.g. "
                f"with_child_counts(parents, children, {self.getParentKey()!r}, "
                f"{self.getForeignKey()!r})")
        if not isinstance(schema[count_col].dataType, T.IntegralType):
            raise SchemaError(f"{where}: column {count_col!r} has type "
                              f"{schema[count_col].dataType.simpleString()}; expected an integer "
                              f"child count")
        ctx = self._context_cols(schema)
        check_columns(schema, ctx, self.getParentTable(), "contextCols")
        frame = dataset.select(*ctx, count_col)
        total = int(frame.count())
        if total == 0:
            raise SchemaError(f"{where}: the parent table is empty; nothing to learn")
        limit = self.getMaxTrainingRows()
        if total > limit:
            frame = frame.sample(False, min(1.0, limit * 1.05 / total),
                                 seed=self.getOrDefault(self.seed)).limit(limit)
        pdf = frame.toPandas()
        core = ChildCountModel(max_leaves=self.getMaxLeaves(),
                               min_samples_leaf=self.getMinSamplesLeaf())
        if self.getEpsilon() > 0:
            # the context columns still go into the skeleton (the child's model is conditioned on
            # them); the counts are learned without them
            from synthohive_spark.privacy.dp import default_delta

            core.fit_private(pdf[count_col].to_numpy(), self.getEpsilon(),
                             self.getDelta() or default_delta(len(pdf)))
        else:
            core.fit(pdf[ctx] if ctx else None, pdf[count_col].to_numpy())
        model = CardinalityModel()
        self._copyValues(model)
        model._set(contextCols=ctx)
        model._state = {"core": core.to_dict(),
                        "contextSchema": T.StructType([schema[c] for c in ctx]).json()}
        return model


class CardinalityModel(Model, _CardinalityParams, PersistentStage):
    """Emits one skeleton row per generated child of every parent row it transforms."""

    #: the saved state.json: the child-count core (kept as it is) and the context schema
    _STATE = Record(core=None, contextSchema=None)

    def __init__(self) -> None:
        super().__init__()
        self._state: dict[str, Any] = {}
        self._core: ChildCountModel | None = None

    @property
    def core(self) -> ChildCountModel:
        if self._core is None:
            self._core = ChildCountModel.from_dict(self._state["core"])
        return self._core

    @property
    def privacy(self) -> dict[str, Any] | None:
        """What a differentially private fit (``epsilon`` set) spent and covers; else None."""
        return self.core.privacy

    @property
    def stats(self) -> dict[str, Any]:
        """Training summary: parents, children, mean count, share of parents without children."""
        return dict(self._state["core"]["stats"])

    def outputSchema(self, parents: T.StructType) -> T.StructType:
        pk = self.getParentKey()
        prefix = self.getContextPrefix()
        fields = [T.StructField(self.getForeignKey(), parents[pk].dataType, True)]
        fields += [T.StructField(prefix + c, parents[c].dataType, True)
                   for c in self.getContextCols()]
        return T.StructType(fields)

    def _emitter(self, dataset: DataFrame) -> tuple[T.StructType, "_Emit", DataFrame]:
        """The emitted rows' schema, the executor-side arguments of :func:`_skeleton_pieces` and
        the parents they read: ``dataset``'s key and context columns (checked) with each row's
        partition and position in ``dataset`` itself, which the seeds follow (never the task
        number Spark gives it: a union of the result renumbers tasks)."""
        where = self._where()
        pk = self.getParentKey()
        ctx = list(self.getContextCols())
        check_columns(dataset.schema, [pk] + ctx, self.getParentTable(), "parentKey/contextCols")
        schema = self.outputSchema(dataset.schema)
        if len(set(schema.fieldNames())) != len(schema.fieldNames()):
            raise SchemaError(f"{where}: emitted columns {schema.fieldNames()} clash; set a "
                              f"contextPrefix")
        stream = f"cardinality/{self.getParentTable()}/{self.getChildTable()}/{self.getForeignKey()}"
        args = _Emit(json.dumps(self._state["core"]), int(self.getOrDefault(self.seed)), stream,
                     pk, ctx, schema.fieldNames())
        return schema, args, with_row_positions(dataset.select(pk, *ctx))

    def _transform(self, dataset: DataFrame) -> DataFrame:
        schema, args, parents = self._emitter(dataset)

        def emit(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            yield from _skeleton_pieces(batches, args, positioned=False)

        return parents.mapInPandas(emit, schema=schema)

    def in_task_skeleton(self, dataset: DataFrame
                         ) -> tuple[DataFrame, dict[int, int], Callable[[Iterator[pd.DataFrame]],
                                                                       Iterator[pd.DataFrame]]]:
        """For generating the children in the task that draws them, with no skeleton DataFrame:
        the parents as the generation reads them (with their partition and position), how many
        children each partition of them has (one small aggregate; the counts are drawn, never
        the rows), and the function (run on the executors) from those parents' Arrow batches to
        the skeleton's rows, each with its partition and position among the partition's children:
        the rows, partitions and positions ``with_row_positions(self.transform(dataset))`` has."""
        _, args, parents = self._emitter(dataset)

        def count(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            totals: dict[int, int] = {}
            for part, _, counts in _child_counts(batches, args):
                totals[part] = totals.get(part, 0) + int(counts.sum())
            yield pd.DataFrame({"part": list(totals), "rows": list(totals.values())},
                               dtype="int64")

        per_part = {int(r[0]): int(r[1]) for r in
                    parents.mapInPandas(count, schema="part long, rows long").collect()}

        def skeleton(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            return _skeleton_pieces(batches, args, positioned=True)

        return parents, per_part, skeleton

    # -------------------------------------------------------------- persistence
    def _to_blobs(self) -> tuple[dict[str, bytes], dict[str, Any]]:
        return {"state.json": json_blob(state_to_saved(self._state, self._STATE))}, {}

    def _from_blobs(self, saved: SavedStage) -> None:
        self._state = saved.state("state.json", self._STATE)
        self.core  # validate the state now rather than on the executors

    def copy(self, extra: dict | None = None) -> "CardinalityModel":
        that = super().copy(extra)
        that._state = self._state
        that._core = self._core
        return that


#: parents whose child counts are drawn at once (aligned to their positions, see aligned_pieces)
_PARENTS_PER_PIECE = 50_000


class _Emit(NamedTuple):
    """What the executors need to draw a relationship's children (see CardinalityModel._emitter)."""
    state: str
    seed: int
    stream: str
    pk: str
    ctx: list[str]
    out_names: list[str]


#: skeleton rows given at once at most: a piece of parents with many children each is given in
#: slices, so a task never holds its children's whole skeleton
_SKELETON_ROWS_PER_SLICE = 200_000


def _child_counts(batches: Iterator[pd.DataFrame], args: _Emit
                  ) -> Iterator[tuple[int, pd.DataFrame, np.ndarray]]:
    """(partition, parents, their child counts) of pieces of the positioned parents, each piece's
    counts drawn at once from the seed of its partition and first position."""
    core = worker_cached("child-counts", args.state,
                         lambda: ChildCountModel.from_dict(json.loads(args.state)))
    for part, piece, pos, _ in row_chunks(batches, _PARENTS_PER_PIECE, None):
        counts = core.sample(piece[args.ctx] if args.ctx else None,
                             seed=row_seed(args.seed, args.stream, part, int(pos[0])),
                             n=len(piece))
        yield part, piece, np.asarray(counts, dtype=np.int64)


def _skeleton_pieces(batches: Iterator[pd.DataFrame], args: _Emit,
                     positioned: bool) -> Iterator[pd.DataFrame]:
    """One row per drawn child of the positioned parents in ``batches`` (the parent's key as the
    foreign key, its context columns), in the parents' order; ``positioned``: each row also
    carries its partition and its position among that partition's children."""
    emitted: dict[int, int] = {}
    for part, piece, counts in _child_counts(batches, args):
        rep = np.repeat(np.arange(len(piece)), counts)
        emitted_cols = piece[[args.pk, *args.ctx]].set_axis(args.out_names, axis=1)
        for lo in range(0, len(rep), _SKELETON_ROWS_PER_SLICE):
            out = emitted_cols.iloc[rep[lo:lo + _SKELETON_ROWS_PER_SLICE]].reset_index(drop=True)
            if positioned:
                first = emitted.get(part, 0)
                out[PART_COL] = np.full(len(out), part, dtype=np.int32)
                out[POS_COL] = np.arange(first, first + len(out), dtype=np.int64)
                emitted[part] = first + len(out)
            yield out
