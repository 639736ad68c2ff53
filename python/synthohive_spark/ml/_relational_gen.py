"""Executor-side generation of a relational database: the plan of one table and the functions
``mapInPandas`` runs over it (roots from their partitions, children over their skeleton), and the
Spark steps around them (rows without a parent, columns copied from a parent, columns derived
from the children).

Every row depends only on (seed, table, partition, position): see
:mod:`synthohive_spark.ml.relational`.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from synthohive_spark._spark import qcol
from synthohive_spark.ml import _generation as gen
from synthohive_spark.ml._copies import subset, without_close_rows
from synthohive_spark.ml._keys import key_values_at
from synthohive_spark.relational.keys import DegreeModel

logger = logging.getLogger("synthohive_spark.ml.relational")


def aggregate_children(child: DataFrame, rule: Any) -> DataFrame:
    """``__dk`` (the parent key), ``__dv`` (the rule's aggregate: a double, or for ``min`` /
    ``max`` the child column's own type, null where the parent's children have no value) and
    ``__dn`` (the number of children) per parent with children."""
    if rule.aggregate == "count":
        value = F.count(F.lit(1)).cast("double")
    elif rule.extreme:
        value = getattr(F, rule.aggregate)(qcol(rule.columns[0]))
    else:
        term = qcol(rule.columns[0]).cast("double")
        for c in rule.columns[1:]:
            term = term * qcol(c).cast("double")
        value = F.sum(term).cast("double")
    return (child.where(qcol(rule.foreign_key).isNotNull())
            .groupBy(qcol(rule.foreign_key).alias("__dk"))
            .agg(value.alias("__dv"), F.count(F.lit(1)).alias("__dn")))


def derived_value(rule: Any, own: Any, decimals: Optional[int]) -> Any:
    """The column a derived rule gives a parent row joined with :func:`aggregate_children`: a
    count or sum (0 without children, rounded to ``decimals``), or the least or greatest value
    of its children, or that value's year (a parent without children keeps ``own``, its
    generated value)."""
    if rule.extreme:
        extreme = F.year(F.col("__dv")) if rule.part == "year" else F.col("__dv")
        value = F.when(F.col("__dn").isNotNull(), extreme).otherwise(own)
    else:
        value = F.coalesce(F.col("__dv"), F.lit(0.0))
    if decimals is not None:
        value = F.round(value, decimals)
    return value


def row_uniform(seed: int, what: str, columns: list[str]) -> Any:
    """A uniform number in [0, 1) per row from the seed and the row's own values (the same
    wherever Spark computes the row)."""
    h = F.xxhash64(F.lit(int(seed)), F.lit(what), *[qcol(c) for c in columns])
    return F.pmod(h, F.lit(1_000_003)).cast("double") / F.lit(1_000_003.0)


def apply_copies(df: DataFrame, table: str, cfg: Any, generated: dict[str, DataFrame],
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
                take = take & (row_uniform(seed, f"copy/{table}/{col}", row_key)
                               < F.lit(float(rule.agreement)))
            df = df.withColumn(col, F.when(take, F.col(f"__cp{i}_{col}").cast(
                schema[col].dataType)).otherwise(qcol(col)))
        df = df.select(*[qcol(c) for c in names])
    return df


def apply_derived(df: DataFrame, cfg: Any, generated: dict[str, DataFrame],
                   schema: T.StructType) -> DataFrame:
    """Parent columns that aggregate their children, computed from the generated children (one
    aggregation and join per rule); a parent without children gets 0 (a count or sum) or keeps
    its own value (a least or greatest one)."""
    names = schema.fieldNames()
    pk = cfg.primary_key
    for col, cc in cfg.columns.items():
        rule = cc.derived
        if rule is None:
            continue
        agg = aggregate_children(generated[rule.table], rule)
        value = derived_value(rule, qcol(col), 0 if cc.integer else cc.decimals)
        df = (df.join(agg, qcol(pk) == F.col("__dk"), "left")
              .withColumn(col, value.cast(schema[col].dataType))
              .select(*[qcol(c) for c in names]))
    return df


# ====================================================================================== model
@dataclass
class TablePlan:
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
    # the secondary keys come with the skeleton (draw_secondary_keys: the rows are generated
    # under their secondary parents' columns)
    secondary_drawn: bool = False
    # columns learned relative to a context column: (col, context col, "ratio"|"offset",
    # decimals, min, max), see relational.rules.find_relative
    relative: list[tuple] = field(default_factory=list)
    time_zone: Optional[str] = None
    # categorical columns that hold one value per driver parent, how their values are drawn
    # per parent and for rows without one (see parent_lookup), and whether the table model
    # generates the rows under them (its context; else they are set on its rows, with_targets)
    parent_constants: list[str] = field(default_factory=list)
    parent_lookup: Optional[ParentLookup] = None
    parent_conditioned: bool = False
    # rejectCopies / minDCR: the table's real rows to keep away from (ml._copies.CopyGuard), set
    # at sample time, never saved
    copy_guard: Any = None



def distinct_per_group(groups: np.ndarray, idx: np.ndarray, ok: np.ndarray, n_parents: int,
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


def degree_model(state: dict) -> DegreeModel:
    """The degree model of a secondary key or self-reference, built once per Python worker."""
    return gen.worker_cached("degree", json.dumps(state, sort_keys=True),
                             lambda: DegreeModel.from_dict(state))


def pii_spec(state: dict) -> dict:
    """The generation spec of a PII column; models saved before formats were kept hold only the
    sdtype, the physical family and the null share: default formats then."""
    if "kind" in state:
        return state
    family = state.get("family", "string")
    target = {"date": "date", "timestamp": "timestamp", "integer": "integer"}.get(family, "string")
    return {"kind": state["sdtype"], "fmt": None, "spark_type": target,
            "null_share": float(state.get("nullShare", 0.0))}


def key_column(spec: dict, idx: np.ndarray, null: np.ndarray, integer: bool) -> pd.Series:
    values = key_values_at(spec, np.where(null, 0, idx))
    if integer:
        arr = pd.array(values.to_numpy(dtype="int64"), dtype="Int64")
        arr[null] = pd.NA
        return pd.Series(arr)
    out = values.astype(object)
    out[null] = None
    return out.reset_index(drop=True)


def from_relative(learned: pd.Series, base: pd.Series, kind: str, decimals: Optional[int],
                  lo: Optional[float], hi: Optional[float], integer: bool) -> pd.Series:
    """A column learned relative to a context column (a factor to it or an offset from it) back
    to its own values: rounded to its decimals (or to whole numbers) and kept in its bounds; null
    where the factor or the context value is."""
    f = pd.to_numeric(learned, errors="coerce").to_numpy(dtype="float64")
    b = pd.to_numeric(base, errors="coerce").to_numpy(dtype="float64")
    v = f * b if kind == "ratio" else f + b
    if lo is not None or hi is not None:
        v = np.clip(v, lo, hi)
    if integer:
        return pd.Series(pd.array(np.round(v), dtype="Int64"))
    return pd.Series(v if decimals is None else np.round(v, decimals))


def chunk_seed(plan: TablePlan, what: str, part: int, chunk: int) -> int:
    """The seed of one random stream (``what``) of one chunk of ``plan.table``."""
    return gen.row_seed(plan.seed, f"relational/{plan.table}/{what}", part, chunk)


def key_series(values: pd.Series, integer: bool) -> pd.Series:
    """A key column read back from the skeleton (Arrow may give a nullable integer as float)."""
    values = values.reset_index(drop=True)
    if integer:
        return pd.Series(pd.array(values, dtype="Int64"))
    return values.astype(object).where(values.notna(), None)


def secondary_keys(plan: TablePlan, drivers: Optional[pd.Series], positions: np.ndarray,
                   seed_of: Any, carry: dict) -> dict[str, pd.Series]:
    """The secondary foreign keys of the rows at global ``positions`` (``drivers``: their driver
    keys, for keys unique per driver parent; ``carry``: see :func:`generate_chunk`), dealt by
    each key's degree model over the table's ``total_rows`` (every parent its share of the
    references)."""
    out: dict[str, pd.Series] = {}
    m = len(positions)
    for col, dstate, pspec, n_parents, orphan_share in plan.secondary:
        dm = degree_model(dstate)
        perm_seed = gen.row_seed(plan.seed, f"relational/{plan.table}/perm/{col}")
        idx = dm.deal_parents(positions, plan.total_rows, n_parents, seed=perm_seed)
        null = idx < 0  # stays -1 below: only rows with a parent are redrawn or made orphans
        if col in plan.unique_pairs and drivers is not None and m:
            rng = np.random.default_rng(seed_of("fk/" + col))  # the repeats' redraws
            groups = drivers.to_numpy(dtype=object)
            ok = ~null & pd.notna(groups)
            idx, carry[col] = distinct_per_group(
                groups, idx, ok, n_parents,
                lambda k: np.maximum(dm.sample_parents(rng, k, n_parents, seed=perm_seed), 0),
                rng, carry.get(col, (None, set())))
        if orphan_share > 0:  # orphans: keep: keys past the generated parents', matching none
            dangling = ~null & (np.random.default_rng(seed_of("orphan/" + col)).random(m)
                                < orphan_share)
            idx = np.where(dangling, n_parents + np.maximum(idx, 0), idx)
        out[col] = key_column(pspec, idx, null, col in plan.int_cols)
    return out


def draw_secondary_keys(plan: TablePlan, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``mapInPandas`` body over a child's skeleton: the skeleton rows plus their secondary
    foreign keys, drawn per chunk as :func:`generate_chunk` would draw them, so that each
    secondary parent's generated columns can be joined to the rows before they are generated."""
    gen.set_task_threads()
    carries: dict[int, dict] = {}
    for part, piece, pos, positions in gen.row_chunks(batches, plan.chunk_size, plan.offsets,
                                                      sequence_group(plan)):
        chunk = int(pos[0])
        keys = secondary_keys(plan, piece[plan.driver_col].reset_index(drop=True), positions,
                              lambda what: chunk_seed(plan, what, part, chunk),
                              carries.setdefault(part, {}))
        yield piece.reset_index(drop=True).assign(**keys)


def sequence_group(plan: TablePlan) -> Optional[str]:
    """The skeleton column whose runs are generated whole: a sequence per driver parent, or the
    children of a parent that share its one value of a column (:func:`looked_up_targets`)."""
    if plan.gen_plan is None:
        return None
    whole = bool(plan.gen_plan.sequence_key) or bool(plan.parent_constants)
    return plan.driver_col if whole else None


def parent_targets(rows: pd.DataFrame, columns: list[str], codes: np.ndarray
                   ) -> tuple[pd.DataFrame, np.ndarray]:
    """Per row, the values of ``columns`` in the first row of its parent (``codes``: the driver
    keys factorized, -1 for none; a parent's rows in one chunk), and which rows have a parent."""
    bound = codes >= 0
    first = np.arange(len(rows))
    if bound.any():
        uniq, at = np.unique(codes[bound], return_index=True)
        lookup = np.zeros(int(uniq.max()) + 1, dtype=np.int64)
        lookup[uniq] = np.flatnonzero(bound)[at]
        first[bound] = lookup[codes[bound]]
    return subset(rows[columns], first), bound


def value_key(value: Any) -> str:
    """A category's value as one text whatever carried it (a Spark row, numpy, a float column
    of integers): the key of :func:`parent_lookup`'s table."""
    if value is None or (not isinstance(value, str) and bool(pd.isna(value))):
        return "null"
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return json.dumps(value)


#: bins of a parent's number of children n: floor(2 log2 n), the last open
SIZE_BINS = 24


def size_bins(n: np.ndarray) -> np.ndarray:
    return np.minimum(np.floor(2 * np.log2(np.maximum(n, 1))), SIZE_BINS - 1).astype(np.int64)


@dataclass
class ParentLookup:
    """The saved parent-constant state, ready to draw from (:func:`parent_lookup`): per value
    key of the parent column ``given`` (None: none explains them), the value tuples, their
    parents' counts and their parents' children-count likelihoods (tuples x SIZE_BINS); the same
    over all parents (``overall``; None in a model saved before it was kept); and the (value
    tuples, counts) of the rows without a parent (``free``, None where the table has none)."""

    given: Optional[str]
    table: Optional[dict[str, tuple]]
    overall: Optional[tuple]
    free: Optional[tuple]


def parent_lookup(spec: dict[str, Any]) -> Optional[ParentLookup]:
    """The parent-constant state ``spec`` as a :class:`ParentLookup` (None without one). A bin no
    parent of a tuple fell in keeps a little weight (half a parent)."""
    if not spec.get("columns"):
        return None
    hists = {json.dumps(t): np.asarray(h, dtype=np.float64) + 0.5 for t, h in spec.get("sizes", [])}

    def entry(rows: list) -> tuple[list, np.ndarray, np.ndarray]:
        likes = []
        for consts, _ in rows:
            h = hists.get(json.dumps(list(consts)), np.ones(SIZE_BINS))
            likes.append(h / h.sum())
        return ([list(t) for t, _ in rows], np.asarray([float(n) for _, n in rows]),
                np.vstack(likes))

    table: Optional[dict[str, tuple]] = None
    if spec.get("given"):
        grouped: dict[str, list] = {}
        for value, consts, count in spec["values"]:
            grouped.setdefault(value_key(value), []).append((consts, count))
        table = {k: entry(rows) for k, rows in grouped.items()}
    free = None
    if spec.get("free"):
        free = ([list(t) for t, _ in spec["free"]], np.asarray([float(n) for _, n in spec["free"]]))
    overall = entry(spec["overall"]) if spec.get("overall") else None
    return ParentLookup(spec.get("given") or None, table, overall, free)


def looked_up_targets(target: pd.DataFrame, bound: np.ndarray, codes: np.ndarray,
                      given: Optional[pd.Series], lookup: ParentLookup, seed: int
                      ) -> tuple[pd.DataFrame, np.ndarray]:
    """``target`` (values per row, None where not known yet) with each parent's values drawn
    from their real frequencies among the parents of its ``given`` value (where the lookup has
    it, else among all the parents), weighted by how likely the parent's number of rows here is
    for parents of each tuple (one draw per parent, for all its rows), and each row without a
    parent values drawn from the real shares of such rows; and the rows that must hold their
    target (under a parent, or given one here)."""
    rng = np.random.default_rng(seed)
    out = {c: target[c].astype(object).to_numpy().copy() for c in target.columns}
    held = bound.copy()
    shares = lookup.free if lookup.free is not None else (
        None if lookup.overall is None else lookup.overall[:2])  # too many to keep: all parents'
    if shares is not None and not bound.all():
        loose = np.flatnonzero(~bound)
        for c, column in _drawn_from_shares(shares, target.columns, len(loose), rng).items():
            out[c][loose] = column
        held[:] = True
    if bound.any() and (lookup.overall is not None or
                        (lookup.table is not None and given is not None)):
        _draw_per_parent(out, target.columns, bound, codes, given, lookup, rng)
    frame = pd.DataFrame({c: pd.Series(out[c]).astype(target[c].dtype) for c in target.columns})
    return frame, held


def _draw_per_parent(out: dict[str, np.ndarray], columns: Any, bound: np.ndarray,
                     codes: np.ndarray, given: Optional[pd.Series], lookup: ParentLookup,
                     rng: np.random.Generator) -> None:
    uniq, first, sizes = np.unique(codes[bound], return_index=True, return_counts=True)
    first = np.flatnonzero(bound)[first]
    bins = size_bins(sizes)
    table = lookup.table if lookup.table is not None and given is not None else {}
    keys = (np.array([value_key(v) for v in given.reset_index(drop=True).iloc[first]],
                     dtype=object) if table else np.full(len(uniq), None, dtype=object))
    drawn = np.full(len(uniq), -1, dtype=np.int64)
    tuples: list[Optional[list]] = [None] * len(uniq)
    for k in pd.unique(keys):
        entry = table.get(k, lookup.overall) if k is not None else lookup.overall
        if entry is None:
            continue
        vals, counts, likes = entry
        at = np.flatnonzero(keys == k) if k is not None else np.flatnonzero(pd.isna(keys))
        w = counts[None, :] * likes[:, bins[at]].T  # parents x tuples
        cum = np.cumsum(w, axis=1)
        u = rng.random(len(at)) * cum[:, -1]
        drawn[at] = np.minimum((cum < u[:, None]).sum(axis=1), len(vals) - 1)
        for i in at:
            tuples[i] = vals[drawn[i]]
    has = drawn >= 0
    if not has.any():
        return
    group_of = np.full(int(codes.max()) + 1, -1, dtype=np.int64)
    group_of[uniq] = np.arange(len(uniq))
    g = np.where(bound, group_of[np.maximum(codes, 0)], -1)
    rows = np.flatnonzero((g >= 0) & has[np.maximum(g, 0)])
    for j, c in enumerate(columns):
        per_group = np.empty(len(uniq), dtype=object)
        for i in np.flatnonzero(has):
            per_group[i] = tuples[i][j]
        out[c][rows] = per_group[g[rows]]


def free_targets(lookup: ParentLookup, columns: list[str], n: int, seed: int) -> pd.DataFrame:
    """``n`` rows of parent-constant values drawn one by one from their shares over all the
    parents (or, in a model saved before those were kept, over the rows without a parent)."""
    shares = lookup.overall[:2] if lookup.overall is not None else lookup.free
    return pd.DataFrame(_drawn_from_shares(shares, columns, n, np.random.default_rng(seed)),
                        index=pd.RangeIndex(n))


def _drawn_from_shares(shares: tuple, columns: Any, n: int, rng: np.random.Generator
                       ) -> dict[str, np.ndarray]:
    """``n`` value tuples drawn one by one from ``shares`` (tuples, their counts), as one object
    array per column of ``columns``."""
    vals, counts = shares
    pick = rng.choice(len(vals), size=n, p=counts / counts.sum())
    out = {}
    for j, c in enumerate(columns):
        column = np.empty(len(vals), dtype=object)
        column[:] = [v[j] for v in vals]
        out[c] = column[pick]
    return out


def with_targets(rows: pd.DataFrame, target: pd.DataFrame, bound: np.ndarray) -> pd.DataFrame:
    """``rows`` with each row that must (``bound``: under a parent, or given values here)
    holding its ``target`` values (a model that did not generate the rows under them)."""
    from synthohive_spark.ml._copies import _replaced

    idx = np.flatnonzero(bound)
    if not len(idx):
        return rows
    fixed = subset(rows, idx)
    for c in target.columns:
        fixed[c] = subset(target[c], idx).array
    return _replaced(rows, idx, fixed)


def as_context(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """Parent-constant values (Python objects) in the dtype the table model gives its context
    column of the same name, as the model's rows would carry them (its codec's round trip)."""
    out = {}
    for codec in model.context_transformer.codecs:
        if codec.name in frame.columns:
            out[codec.name] = codec.from_codes(codec.codes(frame[codec.name]))
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def generate_chunk(plan: TablePlan, piece: Optional[pd.DataFrame], m: int, start: int,
                    part: int, chunk: int, carry: Optional[dict] = None) -> pd.DataFrame:
    """``m`` rows of ``plan.table``. ``carry`` holds, per unique-pair key, the previous chunk's last
    driver parent and the parents it used (child tables pass one dict through a partition)."""
    carry = {} if carry is None else carry

    def seed_of(what: str) -> int:
        return chunk_seed(plan, what, part, chunk)

    out: dict[str, Any] = {}
    if plan.gen_plan is not None:
        context = piece[plan.cond_cols].reset_index(drop=True) if plan.cond_cols else None
        groups = (piece[plan.driver_col].reset_index(drop=True)
                  if plan.gen_plan.sequence_key and plan.driver_col else None)

        def again(idx: np.ndarray, s: int) -> pd.DataFrame:
            return learned_rows(plan, len(idx), subset(context, idx), subset(groups, idx), s)

        regenerate = again
        if plan.parent_constants and plan.parent_conditioned:
            # drawn once per parent first, the rows generated under them (the model's context)
            codes = pd.factorize(piece[plan.driver_col].reset_index(drop=True))[0]
            lookup = plan.parent_lookup
            none = pd.DataFrame({c: pd.Series([None] * m, dtype=object)
                                 for c in plan.parent_constants})
            target, _ = looked_up_targets(
                none, codes >= 0, codes, None if lookup.given is None else context[lookup.given],
                lookup, seed_of("parent-lookup"))
            model = gen._model_for(plan.gen_plan)
            context = pd.concat([context, as_context(model, target)], axis=1)
            rows = learned_rows(plan, m, context, groups, seed_of("rows"))
            rounds = [0]

            def regenerate(idx: np.ndarray, s: int) -> pd.DataFrame:
                # rows the copy guard draws again keep their parent's values for three rounds,
                # then are drawn under values drawn free of it: no copy of a real row outweighs
                # one value per parent
                rounds[0] += 1
                if rounds[0] <= 3:
                    return again(idx, s)
                ctx = subset(context, idx)
                free = as_context(model, free_targets(lookup, plan.parent_constants, len(idx), s))
                ctx[plan.parent_constants] = free[plan.parent_constants]
                return learned_rows(plan, len(idx), ctx, subset(groups, idx), s)
        elif plan.parent_constants:  # a model that did not learn the rows under them
            rows = learned_rows(plan, m, context, groups, seed_of("rows"))
            codes = pd.factorize(piece[plan.driver_col].reset_index(drop=True))[0]
            target, bound = parent_targets(rows, plan.parent_constants, codes)
            lookup = plan.parent_lookup
            if lookup is not None:
                target, bound = looked_up_targets(
                    target, bound, codes,
                    None if lookup.given is None else context[lookup.given], lookup,
                    seed_of("parent-lookup"))
            rows = with_targets(rows, target, bound)
            rounds = [0]

            def regenerate(idx: np.ndarray, s: int) -> pd.DataFrame:
                rounds[0] += 1  # as above: the parent's values for three rounds, then free
                if rounds[0] > 3:
                    return again(idx, s)
                return with_targets(again(idx, s), subset(target, idx), bound[idx])
        else:
            rows = learned_rows(plan, m, context, groups, seed_of("rows"))
        rows = without_close_rows(plan.copy_guard, rows, regenerate, seed_of("rows"), groups)
        out.update({c: rows[c] for c in plan.learned})
    positions = np.arange(start, start + m, dtype=np.int64)
    if plan.pk is not None:
        out[plan.pk] = key_column(plan.pk_spec, positions, np.zeros(m, bool),
                                   plan.pk in plan.int_cols)
    for col, spec, null_share in plan.unique_ids:
        null = np.random.default_rng(seed_of("id-null/" + col)).random(m) < null_share
        out[col] = key_column(spec, positions, null, False)
    for col, values, null_share in plan.labels:
        null = np.random.default_rng(seed_of("label-null/" + col)).random(m) < null_share
        out[col] = gen.label_values(plan.seed, f"relational/{plan.table}", col, values,
                                    positions, null)
    if plan.driver_col is not None:
        out[plan.driver_col] = piece[plan.driver_col].reset_index(drop=True)
    if plan.secondary_drawn:  # drawn before the rows (the rows are generated under them)
        for col, *_ in plan.secondary:
            out[col] = key_series(piece[col], col in plan.int_cols)
    else:
        out.update(secondary_keys(plan, out.get(plan.driver_col), positions, seed_of, carry))
    for col, dstate, earlier in plan.self_refs:
        dm = degree_model(dstate)
        if earlier:  # each row's own earlier rows: drawn under its limit
            rng = np.random.default_rng(seed_of("self/" + col))
            null = dm.null_mask(rng, m)
            idx = dm.sample_parents(rng, m, plan.total_rows, seed=0, limit=positions)
        else:
            idx = dm.deal_parents(positions, plan.total_rows, plan.total_rows,
                                  seed=gen.row_seed(plan.seed, f"relational/{plan.table}/self/{col}"))
            null = idx < 0
        out[col] = key_column(plan.pk_spec, idx, null | (idx < 0), col in plan.int_cols)
    # after the learned columns: contextual PII follows the row's country
    out.update(gen.pii_frame(plan.pii, m, lambda c: seed_of("pii/" + c), out, positions))
    for col in plan.dropped:
        out[col] = pd.Series([None] * m, dtype=object)
    frame = pd.DataFrame({c: out[c] for c in plan.columns}, columns=plan.columns)
    return gen.localize_timestamps(frame, plan.local_timestamps, plan.time_zone)


def learned_rows(plan: TablePlan, m: int, context: Optional[pd.DataFrame], groups: Any,
                 seed: int) -> pd.DataFrame:
    """The learned columns of ``m`` rows from the table model (under ``context``), columns
    learned relative to a context column back in their own values."""
    rows = gen.generate_rows(plan.gen_plan, m, context, seed, gen.arrow_columns_ok(), groups)
    out: dict[str, Any] = {}
    for c in plan.learned:
        if c in plan.gen_plan.pii_specs:  # free text: generated by the table stage, not learned
            out[c] = gen.pii_values(plan.gen_plan, c, m, seed)
        elif plan.parent_conditioned and c in plan.parent_constants:  # the rows' context
            out[c] = context[c]
        else:
            out[c] = rows[c].reset_index(drop=True)
    for c, base, kind, decimals, lo, hi in plan.relative:
        out[c] = from_relative(out[c], context[base], kind, decimals, lo, hi, c in plan.int_cols)
    return pd.DataFrame(out, columns=plan.learned, index=pd.RangeIndex(m))


def generate_root(plan: TablePlan, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``mapInPandas`` body for a root table over :func:`~synthohive_spark.ml._generation.partition_frame`."""
    gen.set_task_threads()
    for part, chunk, start, m in gen.partition_chunks(batches, plan.chunk_size):
        yield generate_chunk(plan, None, m, start, part, chunk)


def generate_child(plan: TablePlan, batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``mapInPandas`` body for a child table over its skeleton (one row per child: the driver
    key and the parent's context, with each row's partition and position in the skeleton)."""
    gen.set_task_threads()
    carries: dict[int, dict] = {}  # per partition and unique-pair key: the previous chunk's parents
    # a sequence (the children of one parent) is generated whole, in one chunk
    for part, piece, pos, positions in gen.row_chunks(batches, plan.chunk_size, plan.offsets,
                                                      sequence_group(plan)):
        carry = carries.setdefault(part, {})
        if int(pos[-1]) - int(pos[0]) != len(pos) - 1:
            raise RuntimeError(f"table {plan.table}: skeleton rows of partition {part} "
                               "arrive out of order; persist the parent table")
        yield generate_chunk(plan, piece, len(piece), int(positions[0]), part, int(pos[0]), carry)


def table_plan(state: dict[str, Any], table_models: dict[str, Any], name: str, seed: int,
               total: int, counts: dict[str, int], chunk_size: int) -> TablePlan:
    """What the executors need to generate ``total`` rows of table ``name`` (``counts``: the rows
    of the tables generated before it)."""
    ts = state["tables"][name]
    schema = T.StructType.fromJson(json.loads(ts["schema"]))
    int_cols = [f.name for f in schema.fields if isinstance(f.dataType, T.IntegralType)]
    tmodel = table_models.get(name)
    gen_plan = None
    if tmodel is not None:
        gen_plan = tmodel.copy({tmodel.seed: seed}).generation_plan(f"relational/{name}")
    secondary = []
    for col, s in ts["secondary"].items():
        ptable = s["parentTable"]
        secondary.append((col, s["degree"], state["tables"][ptable]["pkSpec"],
                          counts[ptable], float(s.get("orphanShare", 0.0))))
    drv = ts["driver"]
    return TablePlan(
        table=name, seed=seed, columns=ts["columns"], int_cols=int_cols,
        learned=ts["learned"], cond_cols=ts["conditionCols"], gen_plan=gen_plan,
        pk=ts["primaryKey"], pk_spec=ts["pkSpec"], total_rows=total,
        chunk_size=gen.chunk_rows(chunk_size, gen_plan is not None and bool(gen_plan.sequence_key)),
        driver_col=drv["column"] if drv else None,
        secondary=secondary,
        self_refs=[(c, s["degree"], bool(s["earlier"])) for c, s in ts["selfRefs"].items()],
        pii=[(c, pii_spec(p)) for c, p in ts["pii"].items()],
        dropped=list(ts["dropped"]),
        unique_pairs=[c for c, s in ts["secondary"].items() if s.get("uniqueWithDriver")],
        secondary_drawn=draws_secondary_first(ts),
        relative=[(c, r["parent"], r["kind"], r.get("decimals"), r.get("min"), r.get("max"))
                  for c, r in (ts.get("relative") or {}).items()],
        labels=[(c, s["values"], float(s["nullShare"])) for c, s in ts.get("labels", {}).items()],
        unique_ids=[(c, s["spec"], float(s["nullShare"]))
                    for c, s in ts.get("uniqueIds", {}).items()],
        local_timestamps=gen.local_timestamp_columns(schema), time_zone=gen.session_time_zone(),
        parent_constants=list((ts.get("parentConstants") or {}).get("columns", [])),
        parent_lookup=parent_lookup(ts.get("parentConstants") or {}),
        parent_conditioned=bool((ts.get("parentConstants") or {}).get("conditioned")))


def draws_secondary_first(ts: dict[str, Any]) -> bool:
    """Whether a table's secondary keys are drawn on its skeleton before its rows (its rows are
    generated under the second parent's context)."""
    return any(s.get("context") for s in ts["secondary"].values())


def adds_orphan_rows(name: str, drv: dict[str, Any]) -> bool:
    """Whether :func:`with_orphan_rows` adds rows without a generated parent to the skeleton of
    table ``name`` (a warning where nearly all of its real rows have none: only rows under a
    parent are generated)."""
    share = float(drv.get("nullShare", 0.0)) + float(drv.get("orphanShare", 0.0))
    if share >= 0.999:
        logger.warning("table %s: its driver foreign key is null or matches no parent in "
                       "%.1f%% of the real rows; only rows under a parent are generated",
                       name, 100 * share)
    return 0 < share < 0.999


def with_orphan_rows(spark: SparkSession, name: str, skeleton: DataFrame, drv: dict[str, Any],
                     parent_rows: int, parent_pk_spec: Optional[dict],
                     rows_per_partition: int) -> DataFrame:
    """The skeleton plus the rows that have no parent in the real table, at the real share (a
    table for which :func:`adds_orphan_rows`): rows whose driver key is null, and orphans (a
    key that matches no parent row: null keys, or with ``orphans: keep`` keys past the
    generated parents' that match none). They have no parent to be counted under, so they are
    added beside the parents' children (no parent context), as many as the real share asks."""
    null_share = float(drv.get("nullShare", 0.0))
    orphan_share = float(drv.get("orphanShare", 0.0))
    share = null_share + orphan_share
    with_parent = int(skeleton.count())
    extra = int(round(with_parent * share / (1.0 - share)))
    if extra == 0:
        return skeleton
    dangling = (int(round(extra * orphan_share / share))
                if drv.get("orphans") == "keep" else 0)
    parts = max(1, math.ceil(extra / rows_per_partition))
    rows = spark.range(0, extra, 1, numPartitions=parts)
    fields = skeleton.schema.fields
    if dangling:
        spec = parent_pk_spec
        col = drv["column"]
        schema = skeleton.schema

        def emit(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            for b in batches:
                ids = b["id"].to_numpy(dtype=np.int64)
                out = pd.DataFrame({f.name: pd.Series([None] * len(b), dtype=object)
                                    for f in fields})
                keep = ids < dangling
                if keep.any():
                    keys = key_values_at(spec, parent_rows + ids[keep])
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
