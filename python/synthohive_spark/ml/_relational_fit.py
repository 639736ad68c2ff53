"""Fitting a relational database: the work :class:`~synthohive_spark.ml.relational.RelationalSynthesizer`
does per table (the table's columns sorted into learned, PII, labels and identifiers; its key
formats; the driver relationship's context and cardinality model; the degree of every secondary
key and self-reference), reference tables kept as they are, and the derived-column rules checked
against the real data.
"""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import Window

from synthohive_spark._spark import qcol
from synthohive_spark.metadata import PII_KINDS, Metadata
from synthohive_spark.ml._relational_gen import (SIZE_BINS, aggregate_children, derived_value,
                                                value_key)
from synthohive_spark.ml._keys import infer_key_spec
from synthohive_spark.ml._spark_schema import SchemaError
from synthohive_spark.ml.cardinality import CardinalityEstimator, CardinalityModel, with_child_counts
from synthohive_spark.ml._table_fit import fit_labels
from synthohive_spark.ml.table import TableSynthesizer
from synthohive_spark.models import get_model_class
from synthohive_spark.relational.graph import SchemaGraph
from synthohive_spark.relational.keys import DegreeModel

logger = logging.getLogger("synthohive_spark.ml.relational")


@dataclass(frozen=True)
class FitSettings:
    """The stage's params that the fit of every table reads (plain values)."""

    model: str
    epochs: int
    batch_size: int
    max_training_rows: int
    model_params: dict[str, Any]
    chunk_size: int
    seed: int
    max_context_cols: int
    table_params: dict[str, dict[str, Any]]
    context_cols: dict[str, list[str]]
    #: whether ``epochs`` was set by the user (a sequence model otherwise trains its own default)
    epochs_given: bool = True
    #: differential privacy of the whole database (0: none), split evenly over its tables
    epsilon: float = 0.0
    delta: float = 0.0


def fit_tables(md: Metadata, frames: dict[str, DataFrame], graph: SchemaGraph,
               settings: FitSettings) -> tuple[dict[str, Any], dict[str, Any],
                                               dict[str, CardinalityModel], dict[str, pd.DataFrame]]:
    """Every table in foreign-key order: (the model state, table models, cardinality models,
    reference tables' rows). ``frames`` is narrowed to the metadata's columns in place."""
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
        check_derived_rules(md, frames)
        for name in graph.order:
            t0 = time.perf_counter()
            if graph.is_reference(name):
                state["tables"][name], references[name] = fit_reference(name, frames[name])
                logger.info("table %s: reference table, %d rows kept as they are", name,
                            len(references[name]))
                continue
            logger.info("fitting table %s", name)
            tstate, tmodel, cmodel = fit_table(md, name, frames, graph,
                                               settings.context_cols.get(name), settings)
            logger.info("table %s: fitted in %.1f s", name, time.perf_counter() - t0)
            state["tables"][name] = tstate
            if tmodel is not None:
                table_models[name] = tmodel
            if cmodel is not None:
                card_models[name] = cmodel
    finally:
        for df in persisted:
            df.unpersist()
    if settings.epsilon > 0:
        state["privacy"] = database_privacy(state, graph, settings)
    return state, table_models, card_models, references


#: under epsilon, the share of a child table's budget that its child-count model spends, and
#: that each of its second parents' degree models spends (the table's model spends the rest)
COUNT_MODEL_SHARE = 0.1
DEGREE_MODEL_SHARE = 0.05


def table_shares(graph: SchemaGraph, name: str, settings: FitSettings, has_model: bool
                 ) -> dict[str, tuple[float, float]]:
    """(epsilon, delta) of each part of table ``name`` that reads its rows under the database's
    budget: ``childCounts``, ``degree:<foreign key>`` per second parent, ``model`` (the rest);
    without a model the other parts share the table's whole share."""
    eps, delta = private_share(graph, settings)
    shares = {}
    if graph.driver(name) is not None:
        shares["childCounts"] = COUNT_MODEL_SHARE
    for sfk in graph.secondary_fks(name):
        shares[f"degree:{sfk.column}"] = DEGREE_MODEL_SHARE
    if has_model:
        shares["model"] = 1.0 - sum(shares.values())
    total = sum(shares.values()) or 1.0
    return {k: (eps * v / total, delta * v / total) for k, v in shares.items()}


def private_share(graph: SchemaGraph, settings: FitSettings) -> tuple[float, float]:
    """Each table's (epsilon, delta) when the database's budget is split evenly over the tables
    that are not reference tables (delta 0: each table's own default)."""
    learned = [t for t in graph.order if not graph.is_reference(t)]
    k = max(len(learned), 1)
    return settings.epsilon / k, settings.delta / k


def database_privacy(state: dict[str, Any], graph: SchemaGraph,
                     settings: FitSettings) -> dict[str, Any]:
    """The database's privacy statement from its tables' (basic composition: the epsilons and
    deltas add up), with what the relational fit itself reads from the real rows."""
    from synthohive_spark.privacy.dp import composed_statement

    parts = [(t, t, ts["privacy"]) for t, ts in state["tables"].items() if ts.get("privacy")]
    refs = [t for t in graph.order if graph.is_reference(t)]
    not_covered = [f"reference tables {refs}: their real rows are kept as they are"] if refs else []
    labels = {t: sorted(ts["labels"]) for t, ts in state["tables"].items() if ts.get("labels")}
    if labels:
        not_covered.append(f"unique labels {labels}: their real values are kept")
    not_covered += [
        "primary key formats (shape, width, range start; a name key's syllables that two or "
        "more real values share)",
        "the degree models of self-references",
        "which parent columns a child is generated under (dependence measured on a sample), "
        "copied, derived and relative column rules, sequence detection",
        "orphan and null-key shares"]
    out = composed_statement(parts, settings.epsilon, "one row of one table", "tables",
                             not_covered)
    out["parent_context"] = (
        "a child row is learned under its parents' columns: a parent with k children is in k "
        "training rows of the child table, so the child model's epsilon holds for a parent row "
        "only as k x epsilon (group privacy); the parent's own table model covers it at its "
        "share")
    return out


#: a reference table is kept in the model as it is: at most this many rows
REFERENCE_MAX_ROWS = 100_000


def fit_reference(name: str, df: DataFrame) -> tuple[dict, pd.DataFrame]:
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


def _seconds(column: Any, dtype: T.DataType) -> Any:
    """A number, timestamp (seconds since the epoch) or date (its midnight's) as a double."""
    if isinstance(dtype, T.DateType):
        column = column.cast("timestamp")
    return column.cast("double")


def check_derived_rules(md: Metadata, frames: dict[str, DataFrame]) -> None:
    """Every derived column must hold in the real data (on DERIVED_MIN_SHARE of its rows): a rule
    that does not is refused, naming the table, the column and the share that breaks it."""
    from synthohive_spark.relational.rules import DERIVED_MIN_SHARE, tolerance

    for pname, pcfg in md.tables.items():
        for col, cc in pcfg.columns.items():
            rule = cc.derived
            if rule is None:
                continue
            parent = frames[pname]
            agg = aggregate_children(frames[rule.table], rule)
            decimals = 0 if cc.integer else cc.decimals
            # datetimes compare as seconds (a date at its midnight); a least or greatest value is
            # judged where there is one
            value = _seconds(derived_value(rule, F.lit(None), decimals),
                             T.IntegerType() if rule.part else agg.schema["__dv"].dataType)
            pk = pcfg.primary_key
            pv = _seconds(qcol(col), parent.schema[col].dataType)
            j = parent.select(qcol(pk).alias("__pk"), pv.alias("__pv")) \
                .where(F.col("__pv").isNotNull()) \
                .join(agg, F.col("__pk") == F.col("__dk"), "left")
            if rule.extreme:
                j = j.where(F.col("__dv").isNotNull())
            bad_expr = F.abs(F.col("__pv") - value) > F.lit(tolerance(decimals)) \
                + F.lit(1e-9) * F.abs(value)
            st = j.agg(F.count(F.lit(1)).alias("n"),
                       F.sum(bad_expr.cast("long")).alias("bad")).first()
            n, bad = int(st["n"] or 0), int(st["bad"] or 0)
            if n and bad / n > 1.0 - DERIVED_MIN_SHARE:
                what = ("the count of its rows" if rule.aggregate == "count" else
                        (f"the {rule.part} of " if rule.part else "")
                        + f"the {'least' if rule.aggregate == 'min' else 'greatest'} "
                        f"{rule.columns[0]}" if rule.extreme else
                        "the sum of " + " x ".join(rule.columns))
                raise SchemaError(
                    f"Table {pname!r}, column {col!r}: declared derived as {what} in "
                    f"{rule.table!r} (foreign key {rule.foreign_key!r}), but {bad} of {n} rows "
                    f"({100 * bad / n:.1f}%) break the rule in the real data; expected at most "
                    f"{100 * (1 - DERIVED_MIN_SHARE):.0f}%. Fix the rule or remove it")


def count_orphans(name: str, df: DataFrame, fk: Any, parent_df: DataFrame, rows: int) -> int:
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


def pairs_unique(df: DataFrame, driver_col: str, col: str) -> bool:
    """Whether no (driver key, ``col``) pair occurs twice among the rows where both are set."""
    both = df.where(qcol(driver_col).isNotNull() & qcol(col).isNotNull())
    pairs = both.groupBy(qcol(driver_col).alias("d"), qcol(col).alias("s")).count()
    # int(): pyspark 3.5's Connect client returns count() as a numpy integer (not JSON-able)
    return int(pairs.where(F.col("count") > 1).limit(1).count()) == 0


def fit_table(md: Metadata, name: str, frames: dict[str, DataFrame], graph: SchemaGraph,
              ctx_override: Optional[list[str]],
              settings: FitSettings) -> tuple[dict, Any, Optional[CardinalityModel]]:
    """One table's state, its table model (None when nothing is learned) and the cardinality
    model of its driver relationship (None for a root)."""
    cfg = md.tables[name]
    df = frames[name]
    schema = df.schema
    keys = graph.key_columns(name)
    pii, learned, dropped, labels, unique_ids = {}, [], [], [], []
    kept = set()  # PII the database's strategy keeps: learned, told so to the table's stage
    privacy = md.privacy
    for col, cc in cfg.columns.items():
        if col in keys:
            continue
        strategy = cc.pii_strategy or privacy.pii_strategy
        is_pii = cc.pii or str(cc.sdtype) in PII_KINDS
        if is_pii and strategy == "keep":
            kept.add(col)
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
        from synthohive_spark.ml._table_fit import (attach_birth_anchors, attach_pii_context,
                                                    infer_pii_specs)
        from synthohive_spark.privacy.contextual import is_country_column_name

        countries = [c for c in learned if is_country_column_name(c)]  # may drive the PII
        # the learned numbers and dates a birth date may give in its row (an age at a visit),
        # none that the relational rules set after sampling (a copied date, a children's total)
        anchored = [c for c in learned if c not in countries
                    and any(p["sdtype"] == "date_of_birth" for p in pii.values())
                    and settings.epsilon <= 0  # a choice that reads the rows: not under DP
                    and cfg.columns[c].copy_of is None and cfg.columns[c].derived is None
                    and isinstance(schema[c].dataType, (T.NumericType, T.DateType,
                                                        T.TimestampType, T.TimestampNTZType))]
        sample = df.select(*pii, *countries, *anchored).limit(5000).toPandas()
        cfg_cols = {c: {"sdtype": p["sdtype"], "pii": True, "unique": p["unique"]}
                    for c, p in pii.items()}
        specs = infer_pii_specs({"columns": cfg_cols}, sample, schema, name, exclude=set())
        for c in pii:
            specs[c]["null_share"] = float(stats[f"__null_{c}"] or 0) / rows
            specs[c]["locale"] = privacy.locale
            pii[c] = specs[c]
        attach_pii_context(pii, sample, countries, name, privacy.locale)
        attach_birth_anchors(pii, sample, anchored, name)
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
    sec_ctx: dict[str, tuple[str, str, str]] = {}
    col_cfgs = {c: cfg.columns[c].model_dump(mode="json") for c in learned}
    for c in kept & set(col_cfgs):
        col_cfgs[c]["pii_strategy"] = "keep"  # else the stage fakes it by its own default
    for rfk in graph.reference_fks(name):  # a key to a lookup table is one of its categories
        col_cfgs[rfk.column] = {"sdtype": "categorical", "dtype": cfg.columns[rfk.column].dtype,
                                "nullable": cfg.columns[rfk.column].nullable}
    fk = graph.driver(name)
    if fk is not None:
        parent = fk.parent_table
        pcfg = md.tables[parent]
        anc = ancestor_columns(md, graph, parent)
        pdf = with_ancestors(frames, graph, parent, anc)
        sec_all = (secondary_candidates(md, graph, name, frames, anc) if learned else {})
        ctx = (list(ctx_override) if ctx_override is not None
               else default_context(md, name, parent, graph, pdf, frames, learned,
                                    settings.max_context_cols, settings.seed, anc, sec_all))
        bad = [c for c in ctx if c not in pcfg.columns and c not in anc and c not in sec_all]
        if bad:
            raise SchemaError(f"Table {name!r}: context columns {bad} are neither columns of its "
                              f"driver parent {parent!r}, of its ancestors along the driver "
                              f"keys ({', '.join(sorted(anc)) or 'none'}) nor of its secondary "
                              f"parents ({', '.join(sorted(sec_all)) or 'none'})")
        sec_ctx = {c: sec_all[c] for c in ctx if c in sec_all}  # (foreign key, table, column)
        ctx = [c for c in ctx if c not in sec_all]
        used = {c: anc[c] for c in ctx if c in anc}  # ancestor columns: (table, column)
        prefix = f"{parent}__"
        while any(c.startswith(prefix) for c in schema.fieldNames()):
            prefix = "_" + prefix
        # a parent column derived from this very table (an order's total, its item count)
        # is computed from the children after they exist: the count model may read it, the
        # children's own model does not condition on it (it would pull each sibling
        # towards a total that the siblings, drawn independently, never add up to)
        # (a least or greatest value is kept: children drawn under a storm's peak category
        # reach about it, and the peak is then theirs exactly)
        derived_here = {c for c in ctx if ctx_override is None and c not in used
                        and pcfg.columns[c].derived is not None
                        and pcfg.columns[c].derived.table == name
                        and not pcfg.columns[c].derived.extreme}
        cond = [prefix + c for c in ctx if c not in derived_here]
        # a secondary parent's column derived from this table does not exist yet either
        sec_ctx = {c: v for c, v in sec_ctx.items()
                   if ctx_override is not None or md.tables[v[1]].columns[v[2]].derived is None
                   or md.tables[v[1]].columns[v[2]].derived.table != name
                   or md.tables[v[1]].columns[v[2]].derived.extreme}
        cond += list(sec_ctx)
        null_fk = int(df.where(F.col(fk.column).isNull()).count())
        if null_fk:
            logger.info("table %s: %d of %d rows (%.1f%%) have no %s (null %s): generated "
                        "at the same share", name, null_fk, rows, 100 * null_fk / rows,
                        parent, fk.column)
        orphans = count_orphans(name, df, fk, pdf, rows)
        tstate["driver"] = {"column": fk.column, "parentTable": parent,
                            "parentKey": fk.parent_column, "contextCols": ctx,
                            "ancestors": {c: list(t) for c, t in used.items()},
                            "prefix": prefix, "nullShare": null_fk / rows,
                            "orphanShare": orphans / rows, "orphans": fk.orphans}
        overrides = settings.table_params.get(name, {})
        seq_index = cfg.sequence_index
        if seq_index is not None and seq_index in learned and settings.epsilon > 0:
            logger.warning("table %s: epsilon: the sequence model has no differentially private "
                           "training; its rows are generated one by one under their %s, not as "
                           "sequences in %s order", name, parent, seq_index)
            seq_index = None
        if seq_index is not None and seq_index in learned:
            chosen = overrides.get("model", settings.model)
            if chosen != "auto" and not getattr(get_model_class(chosen), "sequential", False):
                logger.info("table %s: model %s does not learn sequences: its rows are generated "
                            "one by one under their %s, not in %s order", name, chosen, parent,
                            seq_index)
                seq_index = None
        else:
            seq_index = None
        if seq_index:
            tstate["sequenceIndex"] = seq_index
            logger.info("table %s: the rows of each %s are generated as a sequence in %s order",
                        name, parent, seq_index)
        if learned:
            pkey = "__synthohive_pk"
            ptab = pdf.select(F.col(fk.parent_column).alias(pkey),
                              *[F.col(c).alias(prefix + c) for c in ctx])
            sec_fks = sorted({v[0] for v in sec_ctx.values()})
            kids = with_secondary(df.select(*learned, fk.column, *sec_fks), frames, graph,
                                  name, sec_ctx)
            frame = (kids.join(ptab, kids[fk.column] == ptab[pkey], "left")
                     .select(*learned, *cond, *([fk.column] if seq_index else [])))
            for c in ctx:
                if c not in derived_here:
                    src = md.tables[used[c][0]].columns[used[c][1]] if c in used else pcfg.columns[c]
                    col_cfgs[prefix + c] = src.model_dump(mode="json")
            for c, (_, ptable, pcol) in sec_ctx.items():
                col_cfgs[c] = md.tables[ptable].columns[pcol].model_dump(mode="json")
            if sec_ctx:
                logger.info("table %s: generated under its secondary parents' columns too: %s",
                            name, ", ".join(sec_ctx))
            for f in find_relative_columns(md, name, frame, learned, cond, col_cfgs,
                                           settings.seed):
                c, p = qcol(f.column), qcol(f.parent_column)
                frame = frame.withColumn(f.column, c / p if f.kind == "ratio" else c - p)
                cc = cfg.columns[f.column]
                col_cfgs[f.column] = {"sdtype": "numerical", "dtype": "double", "nullable": True}
                tstate.setdefault("relative", {})[f.column] = {
                    "parent": f.parent_column, "kind": f.kind, "decimals": cc.decimals,
                    "min": _number_or_none(cc.min), "max": _number_or_none(cc.max)}
                logger.info("table %s: column %s follows %s: learned as the %s (spread %.3f of "
                            "its own)", name, f.column, f.parent_column,
                            "factor to it" if f.kind == "ratio" else "offset from it", f.spread)
        card = CardinalityEstimator(parentTable=parent, childTable=name,
                                    foreignKey=fk.column, parentKey=fk.parent_column,
                                    contextCols=ctx, contextPrefix=prefix,
                                    maxTrainingRows=settings.max_training_rows,
                                    seed=settings.seed)
        if settings.epsilon > 0:
            eps, delta = table_shares(graph, name, settings, bool(learned))["childCounts"]
            card._set(epsilon=eps, delta=delta)
        if not ctx:
            card._set(maxContextCols=1)
        cmodel = card.fit(with_child_counts(pdf.select(fk.parent_column, *ctx), df,
                                            fk.parent_column, fk.column))
        logger.info("table %s: %s children per %s parent on average (%.1f%% without)",
                    name, round(cmodel.stats["mean"], 3), parent,
                    100 * cmodel.stats["zero_share"])
    tstate["conditionCols"] = cond
    model_cond = cond  # the table model's context: the skeleton's columns, then parent constants
    if fk is not None and learned and not tstate.get("sequenceIndex"):
        cats = [c for c in learned if col_cfgs[c].get("sdtype") in ("categorical", "boolean")
                and c not in (tstate.get("relative") or {})]
        if cats and settings.epsilon > 0:
            logger.info("table %s: epsilon: columns constant within each %s are not looked for "
                        "(the finding is not differentially private)", name, parent)
        elif cats:
            per_parent = parent_values(df, fk.column, cats).persist()  # read by both below
            try:
                consts = fit_parent_constants(name, df, fk.column, parent, cats, per_parent)
                if consts:
                    given = [c for c in ctx if c not in derived_here
                             and col_cfgs.get(prefix + c, {}).get("sdtype") in ("categorical",
                                                                                  "boolean")]
                    free = tstate["driver"]["nullShare"] + tstate["driver"]["orphanShare"] > 0
                    lookup = parent_constant_lookup(
                        name, df, fk.column, consts, per_parent,
                        [f"__lo{cats.index(c)}" for c in consts], pdf, fk.parent_column, given,
                        prefix, free)
                    if lookup is not None:
                        # drawn per parent first, the table model generates the siblings' other
                        # columns under them (as context); a table of nothing else has no model
                        # to condition: the drawn values are set on its rows
                        lookup["conditioned"] = bool(set(learned) - set(consts))
                        tstate["parentConstants"] = {"columns": consts, **lookup}
                        if lookup["conditioned"]:
                            model_cond = [*cond, *consts]
            finally:
                per_parent.unpersist()

    degrees = {}
    for sfk in graph.secondary_fks(name):
        orphans = count_orphans(name, df, sfk, frames[sfk.parent_table], rows)
        budget = (table_shares(graph, name, settings, bool(learned))[f"degree:{sfk.column}"]
                  if settings.epsilon > 0 else (None, None))
        degrees[sfk.column] = fit_secondary(df, sfk.column, frames[sfk.parent_table],
                                            sfk.parent_column,
                                            orphans if sfk.orphans == "null" else 0, *budget)
        tstate["secondary"][sfk.column] = {
            "parentTable": sfk.parent_table,
            "degree": degrees[sfk.column].to_dict(),
            "orphanShare": orphans / rows if sfk.orphans == "keep" else 0.0,
            "uniqueWithDriver": (tstate["driver"] is not None and
                                 pairs_unique(df, tstate["driver"]["column"], sfk.column)),
            # the secondary parent's columns this table is generated under: the parent is drawn
            # first, its generated row joined to the child's (name in the child's context, column)
            "context": [[c, v[2]] for c, v in sec_ctx.items() if v[0] == sfk.column]}
    for rfk in graph.self_references(name):
        degree, earlier = fit_self_reference(name, df, rfk.column, rfk.parent_column, rows)
        tstate["selfRefs"][rfk.column] = {"degree": degree.to_dict(), "earlier": earlier}

    tmodel = None
    if learned:
        params = {"model": settings.model, "epochs": settings.epochs,
                  "batchSize": settings.batch_size, "maxTrainingRows": settings.max_training_rows,
                  "modelParams": dict(settings.model_params), "chunkSize": settings.chunk_size}
        overrides = dict(settings.table_params.get(name, {}))
        if isinstance(overrides.get("modelParams"), dict):
            params["modelParams"] = {**params["modelParams"], **overrides.pop("modelParams")}
        seq = {}
        if tstate.get("sequenceIndex"):
            seq = {"sequenceKey": fk.column, "sequenceIndex": tstate["sequenceIndex"]}
            col_cfgs[fk.column] = cfg.columns[fk.column].model_dump(mode="json")
            if not settings.epochs_given and "epochs" not in overrides:
                params.pop("epochs")  # the sequence model's own default
        params.update(overrides)
        if settings.epsilon > 0:
            params["epsilon"], params["delta"] = table_shares(graph, name, settings,
                                                              True)["model"]
        table_cfg = {"columns": col_cfgs, "primary_key": None, "foreign_keys": []}
        stage = TableSynthesizer(seed=settings.seed, tableName=name,
                                 conditionCols=model_cond, keyCols=[], tableMetadata=table_cfg,
                                 **params, **seq)
        tmodel = stage.fit(frame)
        tstate["model"] = tmodel._state.get("model")  # None: every column is a label or PII

        why = ("tableParams" if "model" in overrides else "model param"
               if params["model"] != "auto" else tmodel._state.get("modelChoice", "nothing to learn"))
        logger.info("table %s: model %s (%s)", name, tstate["model"], why)
    if settings.epsilon > 0:
        tstate["privacy"] = _table_statement(graph, name, settings, tmodel, cmodel, degrees)
    return tstate, tmodel, cmodel


def _table_statement(graph: SchemaGraph, name: str, settings: FitSettings, tmodel: Any,
                     cmodel: Optional[CardinalityModel], degrees: dict[str, Any]
                     ) -> Optional[dict[str, Any]]:
    """The table's DP statement: its model's, its child counts' and its second parents' degree
    models' (basic composition); the model's own when it is the only part."""
    from synthohive_spark.privacy.dp import composed_statement

    parts = []
    if tmodel is not None and tmodel.privacy:
        parts.append(("model", "model", tmodel.privacy))
    if cmodel is not None and cmodel.privacy:
        parts.append(("childCounts", f"child counts per {cmodel.getParentTable()}",
                      cmodel.privacy))
    for col, deg in degrees.items():
        if deg.privacy:
            parts.append((f"degree:{col}", f"references of {col}", deg.privacy))
    if not parts:
        return None
    if len(parts) == 1 and parts[0][0] == "model":
        return parts[0][2]
    return composed_statement(parts, private_share(graph, settings)[0], "one row of the table",
                              "models", [])


def eligible_context(md: Metadata, graph: SchemaGraph, table: str) -> list[str]:
    """The columns of ``table`` a child may be generated under: not a key, not personal data,
    not free text (a key to a reference table is: it is one of its categories)."""
    cfg = md.tables[table]
    keys = set(graph.key_columns(table))
    refs = {fk.column for fk in graph.reference_fks(table)}
    out = []
    for c, cc in cfg.columns.items():
        if c in keys or cc.pii or str(cc.sdtype) in PII_KINDS:
            continue
        if str(cc.sdtype) in ("text", "id") and c not in refs:
            continue
        out.append(c)
    return out


def ancestor_columns(md: Metadata, graph: SchemaGraph, parent: str) -> dict[str, tuple[str, str]]:
    """The context candidates above ``parent`` along its driver keys (its parent, that one's,
    ...): name in the parent frame (``<table>__<column>``, made unique) -> (table, column)."""
    out: dict[str, tuple[str, str]] = {}
    taken = set(md.tables[parent].columns)
    table, seen = parent, {parent}
    while True:
        fk = graph.driver(table)
        if fk is None or fk.parent_table in seen or graph.is_reference(fk.parent_table):
            return out
        table = fk.parent_table
        seen.add(table)
        for c in eligible_context(md, graph, table):
            name = f"{table}__{c}"
            while name in taken:
                name = "_" + name
            taken.add(name)
            out[name] = (table, c)


def with_ancestors(frames: dict[str, DataFrame], graph: SchemaGraph, parent: str,
                   anc: dict[str, tuple[str, str]], broadcast: bool = False) -> DataFrame:
    """``frames[parent]`` with the columns ``anc`` of its driver ancestors, each row beside its
    own ancestors' values (left joins up the driver keys). ``broadcast``: each ancestor table is
    broadcast, so the parent's rows keep their partitions and order (generation: the child rows'
    seeds and keys follow them)."""
    df = frames[parent]
    if not anc:
        return df
    names = list(df.columns)
    needed = {t for t, _ in anc.values()}
    link, table, level = None, parent, 0
    while needed:
        fk = graph.driver(table)
        up = fk.parent_table
        key, up_link = f"__anc{level}_k", f"__anc{level}_up"
        sel = [qcol(fk.parent_column).alias(key)]
        sel += [qcol(c).alias(n) for n, (t, c) in anc.items() if t == up]
        needed.discard(up)
        if needed:
            sel.append(qcol(graph.driver(up).column).alias(up_link))
        right = frames[up].select(*sel)
        if broadcast:
            right = F.broadcast(right)
        on = qcol(fk.column) if link is None else F.col(link)
        df = df.join(right, on == F.col(key), "left").drop(key)
        if link is not None:
            df = df.drop(link)
        link = up_link if needed else None
        table, level = up, level + 1
    return df.select(*[qcol(c) for c in names], *[F.col(n) for n in anc])


def default_context(md: Metadata, child: str, parent: str, graph: SchemaGraph,
                    parent_df: DataFrame, frames: dict[str, DataFrame], learned: list[str],
                    max_cols: int, seed: int, anc: dict[str, tuple[str, str]],
                    secondary: dict[str, tuple[str, str, str]]) -> list[str]:
    """The columns a child is generated under by default: all of its driver parent's, its
    ancestors' (along the driver keys) and its secondary parents' (``secondary``) non-key,
    non-PII, non-text columns; when there are more than ``max_cols``, the ``max_cols`` most
    dependent on the child's learned columns (measured on a bounded sample of child rows joined
    to their parents, :func:`~synthohive_spark.relational.context.rank_context`)."""
    out = eligible_context(md, graph, parent) + list(anc) + list(secondary)
    if len(out) <= max_cols or not learned:
        return out[:max_cols]
    from synthohive_spark.relational.context import dependence, rank_context

    fk = graph.driver(child)
    sec_fks = sorted({v[0] for v in secondary.values()})
    kids = frames[child].select(*learned, F.col(fk.column).alias("__fk"), *sec_fks)
    kids = (kids.where(F.col("__fk").isNotNull())
            .where(F.pmod(F.xxhash64(F.lit(int(seed)), F.col("__fk")), F.lit(1000)) < 200)
            .limit(CONTEXT_SAMPLE_ROWS))
    kids = with_secondary(kids, frames, graph, child, secondary)
    kids = kids.select(*[F.col(c).alias(f"c__{c}") for c in learned], "__fk",
                       *[F.col(c).alias(f"p__{c}") for c in secondary])
    direct = [c for c in out if c not in secondary]
    parents = parent_df.select(F.col(fk.parent_column).alias("__fk"),
                               *[F.col(c).alias(f"p__{c}") for c in direct])
    sample = kids.join(parents, "__fk").toPandas()
    if sample.empty:
        return out[:max_cols]
    kid = sample[[f"c__{c}" for c in learned]]
    par = sample[[f"p__{c}" for c in out]].set_axis(out, axis=1)
    kept = rank_context(kid, par, max_cols)
    score = dependence(kid, par)
    logger.info("table %s: %d of %d columns of %s, its ancestors and secondary parents are its "
                "context, by dependence with its own columns: %s (left out: %s)", child,
                len(kept), len(out), parent, ", ".join(f"{c} {score[c]:.2f}" for c in kept),
                ", ".join(f"{c} {score[c]:.2f}" for c in out if c not in kept))
    return kept


#: a secondary parent with more real rows than this is not a context candidate: its generated
#: rows are joined to the child's at generation (see relational.SECONDARY_BROADCAST_ROWS)
SECONDARY_CONTEXT_MAX_ROWS = 1_000_000


def secondary_candidates(md: Metadata, graph: SchemaGraph, table: str,
                         frames: dict[str, DataFrame], anc: dict[str, tuple[str, str]]
                         ) -> dict[str, tuple[str, str, str]]:
    """The context candidates of ``table`` on its secondary parents (an order item's product, an
    order's account manager): name in the child's context (``<foreign key>__<column>``, made
    unique) -> (foreign key, parent table, column). A parent with more than
    ``SECONDARY_CONTEXT_MAX_ROWS`` real rows is left out (logged)."""
    out: dict[str, tuple[str, str, str]] = {}
    if graph.driver(table) is None:
        return out
    parent = graph.driver(table).parent_table
    taken = set(md.tables[table].columns) | set(md.tables[parent].columns) | set(anc)
    taken |= {f"{parent}__{c}" for c in [*md.tables[parent].columns, *anc]}  # driver's
    for sfk in graph.secondary_fks(table):
        cols = eligible_context(md, graph, sfk.parent_table)
        if not cols:
            continue
        rows = int(frames[sfk.parent_table].count())
        if rows > SECONDARY_CONTEXT_MAX_ROWS:
            logger.info("table %s: %s has %d rows (more than %d): its columns are not context of "
                        "%s; its rows are drawn for %s by their number of children only",
                        table, sfk.parent_table, rows, SECONDARY_CONTEXT_MAX_ROWS, table,
                        sfk.column)
            continue
        for c in cols:
            name = f"{sfk.column}__{c}"
            while name in taken:
                name = "_" + name
            taken.add(name)
            out[name] = (sfk.column, sfk.parent_table, c)
    return out


def with_secondary(df: DataFrame, frames: dict[str, DataFrame], graph: SchemaGraph, table: str,
                   secondary: dict[str, tuple[str, str, str]], broadcast: bool = False
                   ) -> DataFrame:
    """``df`` (rows of ``table`` with its secondary foreign keys) plus the ``secondary`` columns
    of each row's secondary parents (left joins: a null or orphan key gives nulls).
    ``broadcast``: each parent is broadcast, so ``df``'s rows keep their partitions and order."""
    names = list(df.columns)
    keys = {fk.column: fk for fk in graph.secondary_fks(table)}
    for i, col in enumerate(sorted({v[0] for v in secondary.values()})):
        fk = keys[col]
        key = f"__sec{i}_k"
        right = frames[fk.parent_table].select(
            qcol(fk.parent_column).alias(key),
            *[qcol(c).alias(n) for n, (k, _, c) in secondary.items() if k == col])
        if broadcast:
            right = F.broadcast(right)
        df = df.join(right, qcol(col) == F.col(key), "left").drop(key)
    return df.select(*[qcol(c) for c in names], *[F.col(n) for n in secondary])


def _number_or_none(v: Any) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


#: child rows (with their parents' columns) on which relative columns are looked for
RELATIVE_SAMPLE_ROWS = 20_000


def find_relative_columns(md: Metadata, name: str, frame: DataFrame, learned: list[str],
                          cond: list[str], col_cfgs: dict[str, Any], seed: int) -> list[Any]:
    """The learned numerical columns of ``name`` that follow a numerical context column
    (:func:`~synthohive_spark.relational.rules.find_relative`), measured on a bounded sample of
    ``frame`` (the training rows beside their context, chosen by a hash of their values)."""
    from synthohive_spark.relational.rules import find_relative

    cfg = md.tables[name]
    kids = [c for c in learned if str(cfg.columns[c].sdtype) == "numerical"
            and cfg.columns[c].copy_of is None and cfg.columns[c].derived is None]
    pars = [c for c in cond if col_cfgs.get(c, {}).get("sdtype") == "numerical"]
    if not kids or not pars:
        return []
    sample = (frame.select(*[qcol(c) for c in kids + pars])
              .where(F.pmod(F.xxhash64(F.lit(int(seed)), *[qcol(c) for c in kids + pars]),
                            F.lit(1000)) < 500)
              .limit(RELATIVE_SAMPLE_ROWS).toPandas())
    return find_relative(sample, kids, pars)


#: child rows (joined to their parents) that measure which parent columns are a child's context
CONTEXT_SAMPLE_ROWS = 20_000


def fit_secondary(df: DataFrame, column: str, parent_df: DataFrame, parent_key: str,
                  orphans_as_nulls: int, epsilon: Optional[float] = None,
                  delta: Optional[float] = None) -> DegreeModel:
    """The degree model of a secondary key (``orphans_as_nulls``: orphan rows counted as
    null keys; ``epsilon``: differentially private, see :meth:`DegreeModel.fit_runs`)."""
    refs = df.where(F.col(column).isNotNull()).groupBy(F.col(column).alias("__k")).agg(
        F.count(F.lit(1)).alias("__deg"))
    keys = parent_df.select(F.col(parent_key).alias("__k")).distinct()
    degs = keys.join(refs, "__k", "left").select(
        F.coalesce(F.col("__deg"), F.lit(0)).alias("__deg"))
    hist = degs.groupBy("__deg").count().collect()
    nulls = int(df.where(F.col(column).isNull()).count()) + int(orphans_as_nulls)
    values = [int(r["__deg"]) for r in hist]
    mults = [int(r["count"]) for r in hist]
    return DegreeModel().fit_runs(values, mults, nulls, epsilon, delta)


#: a child column is one value per parent when it is on this share of the children of parents
#: with two or more of them (and those hold at least PARENT_CONSTANT_MIN_SHARED of the children)
PARENT_CONSTANT_MIN_SHARE = 0.99
PARENT_CONSTANT_MIN_SHARED = 0.5
#: ... and on this share of the children that chance (the values shuffled) leaves varying
PARENT_CONSTANT_MIN_BEYOND_CHANCE = 0.9


def parent_values(df: DataFrame, fk: str, columns: list[str]) -> DataFrame:
    """One row per parent key of child table ``df``: its children (``__n``) and, for column i of
    ``columns``, their least and greatest value (``__lo{i}``, ``__hi{i}``) and non-null count
    (``__k{i}``)."""
    return df.where(F.col(fk).isNotNull()).groupBy(fk).agg(
        F.count(F.lit(1)).alias("__n"),
        *[agg(qcol(c)).alias(f"__{what}{i}") for i, c in enumerate(columns)
          for what, agg in (("lo", F.min), ("hi", F.max), ("k", F.count))])


def fit_parent_constants(name: str, df: DataFrame, fk: str, parent: str,
                         columns: list[str], per_parent: DataFrame) -> list[str]:
    """The categorical ``columns`` of child table ``name`` that hold one value (or only nulls)
    for all the children of each ``parent`` row (a flight's airline for its plane, an order's
    account manager for its customer): on at least 99% of the children of parents with two or
    more, those parents holding at least half of the children, with at least two values over the
    parents, and on 90% of the children whose values would differ by chance (the share of
    constant parents with the values shuffled, from the parents' sizes and the values' shares,
    taken out). ``per_parent``: :func:`parent_values` of ``columns``."""
    multi = F.col("__n") >= 2

    def constant(i: int) -> Any:
        return (F.col(f"__k{i}") == 0) | ((F.col(f"__k{i}") == F.col("__n"))
                                           & (F.col(f"__lo{i}") == F.col(f"__hi{i}")))

    st = per_parent.agg(
        F.sum("__n").alias("kids"),
        F.sum(F.when(multi, F.col("__n"))).alias("shared"),
        *[F.sum(F.when(multi & constant(i), F.col("__n"))).alias(f"c{i}")
          for i in range(len(columns))],
        *[F.countDistinct(F.col(f"__lo{i}")).alias(f"v{i}") for i in range(len(columns))],
    ).first()
    kids, shared = int(st["kids"] or 0), int(st["shared"] or 0)
    if kids == 0 or shared < PARENT_CONSTANT_MIN_SHARED * kids:
        return []
    out = []
    sizes = None
    for i, c in enumerate(columns):
        share = int(st[f"c{i}"] or 0) / shared
        if share < PARENT_CONSTANT_MIN_SHARE or int(st[f"v{i}"] or 0) < 2:
            continue
        # beyond chance: a value on 99.5% of the rows is "one per parent" for most parents anyway
        if sizes is None:
            sizes = [(int(r["__n"]), int(r["count"]))
                     for r in per_parent.where(multi).groupBy("__n").count().collect()]
        counts = [int(r["count"]) for r in df.where(F.col(fk).isNotNull()).groupBy(qcol(c))
                  .count().orderBy(F.desc("count")).limit(1000).collect()]
        p = np.asarray(counts, dtype=np.float64) / max(1, kids)
        chance = sum(k * n * float(np.sum(p ** n)) for n, k in sizes) / shared
        beyond = (share - chance) / (1.0 - chance) if chance < 1.0 else 0.0
        if beyond < PARENT_CONSTANT_MIN_BEYOND_CHANCE:
            logger.info("table %s: column %s is one value per %s on %.1f%% of the children of "
                        "parents with two or more, about what chance gives (%.1f%%): left to "
                        "the rows", name, c, parent, 100 * share, 100 * chance)
            continue
        out.append(c)
        logger.info("table %s: column %s is one value per %s on %.1f%% of the children of "
                    "parents with two or more (chance: %.1f%%): drawn once per parent, the "
                    "siblings generated under it", name, c, parent, 100 * share, 100 * chance)
    return out


#: a parent's categorical column gives the parent constants' values when it explains at least
#: this share of their entropy over the parents, with at least PARENT_LOOKUP_MIN_ROWS parents per
#: value on average and at most PARENT_LOOKUP_MAX_CELLS (value, constants) pairs
PARENT_LOOKUP_MIN_EXPLAINED = 0.5
PARENT_LOOKUP_MIN_ROWS = 5
PARENT_LOOKUP_MAX_CELLS = 20_000


def _plain(value: Any) -> Any:
    """A value as JSON keeps it (None for a missing one), or KeyError for one it would not."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    raise KeyError(type(value).__name__)


def parent_constant_lookup(name: str, df: DataFrame, fk: str, consts: list[str],
                           per: DataFrame, vals: list[str], parents: DataFrame, parent_key: str,
                           given: list[str], prefix: str, free_rows: bool
                           ) -> Optional[dict[str, Any]]:
    """How the parent constants of table ``name`` are drawn for a generated parent, before its
    children: from their real frequencies among the parents (``overall``: value tuples and
    their parents' counts), weighted by how likely the parent's number of children is for each
    (``sizes``: a histogram per tuple); where a categorical parent column (of ``given``)
    explains at least half of their entropy over the parents, among the parents that share the
    generated parent's value of it (``given``, ``values``: a plane's airline by its model, most
    models fly for one airline). Rows without a parent (``free_rows``: the table has some) draw
    them from their own real shares (``free``), one by one. ``per``: :func:`parent_values`,
    ``vals`` its columns of the constants' values. None when a value does not keep as JSON (a
    date): the constants are then left to the rows."""
    def plain_rows(rows: list, head: str) -> Optional[list]:
        try:  # collect() has no set order: sorted, so one seed gives one model
            return sorted(([_plain(r[head]), [_plain(r[v]) for v in vals], int(r["count"])]
                           for r in rows), key=json.dumps)
        except KeyError:
            return None

    overall = plain_rows(per.groupBy(F.lit(None).alias("__a"), *vals).count()
                         .limit(PARENT_LOOKUP_MAX_CELLS + 1).collect(), "__a")
    if not overall or len(overall) > PARENT_LOOKUP_MAX_CELLS:
        logger.info("table %s: %s hold one value per parent, but their values (%s) are too "
                    "many or do not keep in the model's state: left to the rows", name,
                    ", ".join(consts), "more than %d" % PARENT_LOOKUP_MAX_CELLS
                    if overall else "not JSON")
        return None
    best: tuple[float, Optional[str], list] = (PARENT_LOOKUP_MIN_EXPLAINED, None, [])
    for a in given:
        joined = per.join(parents.select(F.col(parent_key).alias(fk), F.col(a).alias("__a")), fk)
        rows = (joined.where(F.col("__a").isNotNull()).groupBy("__a", *vals).count()
                .limit(PARENT_LOOKUP_MAX_CELLS + 1).collect())
        if not rows or len(rows) > PARENT_LOOKUP_MAX_CELLS:
            continue
        table = plain_rows(rows, "__a")
        if table is None:
            continue
        counts = pd.DataFrame({"a": [value_key(t[0]) for t in table],
                               "t": [json.dumps(t[1]) for t in table],
                               "n": [t[2] for t in table]})
        total = counts["n"].sum()
        if total < PARENT_LOOKUP_MIN_ROWS * counts["a"].nunique():
            continue

        def entropy(n: pd.Series) -> float:
            p = n[n > 0] / n.sum()
            return float(-(p * np.log(p)).sum())

        h_t = entropy(counts.groupby("t")["n"].sum())
        if h_t <= 0:
            continue
        h_t_a = sum(g["n"].sum() / total * entropy(g["n"]) for _, g in counts.groupby("a"))
        u = (h_t - h_t_a) / h_t
        if u > best[0]:
            best = (u, a, table)
    u, a, table = best
    # how many children the parents of each value have (a plane of a busy airline flies more)
    size_bin = F.least(F.floor(F.log2(F.col("__n")) * 2), F.lit(SIZE_BINS - 1)).cast("int")
    sizes: dict[str, list] = {}
    for r in per.groupBy(*vals, size_bin.alias("__b")).count().collect():
        key = json.dumps([_plain(r[v]) for v in vals])
        hist = sizes.setdefault(key, [[_plain(r[v]) for v in vals], [0] * SIZE_BINS])[1]
        hist[int(r["__b"])] += int(r["count"])
    out: dict[str, Any] = {"overall": [t[1:] for t in overall],
                           "sizes": [sizes[k] for k in sorted(sizes)]}
    # the rows without a parent (a null key, or one that matches none) have their own shares
    # (the flights of planes missing from the register are mostly two airlines')
    free = [] if not free_rows else plain_rows(
        df.join(parents.select(F.col(parent_key).alias(fk)).distinct(), fk, "left_anti")
        .groupBy(F.lit(None).alias("__a"), *[qcol(c).alias(v) for c, v in zip(consts, vals)])
        .count().limit(PARENT_LOOKUP_MAX_CELLS + 1).collect(), "__a")
    if free and len(free) <= PARENT_LOOKUP_MAX_CELLS:
        out["free"] = [t[1:] for t in free]
    if a is None:
        logger.info("table %s: %s drawn per parent from their frequencies among the parents "
                    "of about as many children", name, ", ".join(consts))
        return out
    logger.info("table %s: %s drawn per parent from their frequencies among the parents of the "
                "same %s (it explains %.0f%% of their entropy) and of about as many children",
                name, ", ".join(consts), a, 100 * u)
    return {**out, "given": prefix + a, "values": table}


def fit_self_reference(name: str, df: DataFrame, column: str, key: str,
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
