"""evaluate(): quality (and, with a holdout, privacy) of synthetic Spark DataFrames against real ones.

Definitions are SDMetrics' (QualityReport properties and their metrics); everything is computed in
Spark and only aggregates reach the driver. See ``ValidationReport`` for what comes back.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import time
from typing import Any, Mapping

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from synthohive_spark.privacy.detect import quasi_identifiers

from . import _kanon, _multi, _pairs, _privacy, _shapes
from ._columns import (ColumnPlan, check_same_columns, fk_fields, foreign_keys, plan_table, primary_key, project, quote,
                       table_config, value_expr)
from .errors import ValidationInputError
from .report import PROPERTY_DESCRIPTIONS, ValidationReport

logger = logging.getLogger("synthohive_spark.validation.evaluate")

DEFAULT_TABLE = "table"


def _is_frame(obj: Any) -> bool:
    return hasattr(obj, "schema") and hasattr(obj, "select") and hasattr(obj, "agg")


def _as_dict(obj: Any, what: str, name: str | None) -> dict[str, DataFrame]:
    if isinstance(obj, Mapping):
        out = dict(obj)
    elif _is_frame(obj):
        out = {name or DEFAULT_TABLE: obj}
    else:
        raise ValidationInputError(
            f"{what} must be a Spark DataFrame or a dict of table name -> DataFrame, got "
            f"{type(obj).__name__}.")
    for t, df in out.items():
        if not _is_frame(df):
            raise ValidationInputError(
                f"{what} table '{t}' must be a Spark DataFrame, got {type(df).__name__}.")
    return out


def _single_table_name(metadata: Any) -> str | None:
    tables = getattr(metadata, "tables", None)
    if tables is None and isinstance(metadata, Mapping):
        tables = metadata.get("tables")
    if isinstance(tables, Mapping) and len(tables) == 1:
        return next(iter(tables))
    return None


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else None


class _Settings:
    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def evaluate(
    real: DataFrame | Mapping[str, DataFrame],
    synthetic: DataFrame | Mapping[str, DataFrame],
    metadata: Any = None,
    holdout: DataFrame | Mapping[str, DataFrame] | None = None,
    *,
    table_name: str | None = None,
    privacy: bool | None = None,
    exact_ks_max_distinct: int = 100_000,
    ks_buckets: int = 1000,
    quantile_accuracy: int = 10_000,
    quantile_sample_rows: int = 500_000,
    max_categories: int = 100,
    real_correlation_threshold: float = 0.5,
    real_association_threshold: float = 0.3,
    plot_categories: int = 12,
    histogram_bins: int = 30,
    dcr_synthetic_rows: int = 1000,
    dcr_reference_rows: int = 5000,
    seed: int = 42,
    cache: bool = False,
    model: Any = None,
) -> ValidationReport:
    """Compare synthetic tables with real ones and return a ValidationReport.

    ``real``/``synthetic`` are DataFrames (one table) or dicts of table name -> DataFrame with the
    same tables. ``metadata`` (a synthohive_spark Metadata, or anything with the same shape) gives
    column kinds and relationships; without it, kinds are inferred from Spark types and only
    single-table properties are computed. ``holdout`` holds real rows that were not used for
    training; with it, the privacy section (distance to closest record, exact copies, and the AUC
    of a distance-based membership-inference attack) is computed. When the metadata sets
    ``privacy.k_anonymity``, the k-anonymity of each synthetic table over its quasi-identifier
    columns is checked too (``report.privacy["k_anonymity"]``, holdout or not; ``privacy=False``
    skips it, as the quality gate does); when it sets ``privacy.min_dcr`` or
    ``exact_copy_tolerance``, ``report.privacy["copy_settings"][table]`` says whether
    they hold (the share of sampled synthetic rows whose DCR to the sampled training rows is
    below ``min_dcr``, and the exact-copy rate of all rows against the tolerance; holdout or not). ``model``: the fitted model that generated
    ``synthetic``; when it was fitted with epsilon, its privacy statement (epsilon and delta spent,
    what is and is not covered) is ``report.privacy["differential_privacy"]``.

    KS statistics are exact when a column has at most ``exact_ks_max_distinct`` distinct values
    (real + synthetic), and otherwise bounded from about 2 x ``ks_buckets`` buckets whose edges
    are approximate quantiles of each side (sketched on ``quantile_sample_rows`` sampled rows per
    side) and whose counts are exact; the report states each column's bound. Pairs with a categorical column of more than ``max_categories``
    categories keep its ``max_categories - 1`` most frequent real categories and lump the rest.
    As in SDMetrics' QualityReport, a pair counts towards Column Pair Trends (and Intertable
    Trends) only when the real data shows a trend: |Pearson r| above ``real_correlation_threshold``
    or Cramer's V above ``real_association_threshold`` (0 counts every pair).

    Example:
        >>> report = evaluate(real_df, synthetic_df)              # doctest: +SKIP
        >>> report.score, report.details["column_shapes"][0]       # doctest: +SKIP
        >>> report.save_html("report.html"); report.check(min_score=0.8)  # doctest: +SKIP
    """
    name = table_name or _single_table_name(metadata)
    real_d = _as_dict(real, "real", name)
    syn_d = _as_dict(synthetic, "synthetic", name)
    hold_d = _as_dict(holdout, "holdout", name) if holdout is not None else {}
    multi = isinstance(real, Mapping)
    only_real = sorted(set(real_d) - set(syn_d))
    only_syn = sorted(set(syn_d) - set(real_d))
    if only_real or only_syn:
        raise ValidationInputError(
            "real and synthetic must hold the same tables: "
            + (f"missing from synthetic: {only_real}" if only_real else "")
            + ("; " if only_real and only_syn else "")
            + (f"missing from real: {only_syn}" if only_syn else ""))
    unknown_hold = sorted(set(hold_d) - set(real_d))
    if unknown_hold:
        raise ValidationInputError(f"holdout holds table(s) {unknown_hold} that are not in real.")
    do_privacy = bool(hold_d) if privacy is None else privacy
    k_anon = _k_anonymity_of(metadata) if privacy is not False else None
    copies = _copy_settings_of(metadata) if privacy is not False else None
    if do_privacy and not hold_d:
        raise ValidationInputError("privacy=True needs a holdout (real rows not used for training).")

    settings = _Settings(
        tables=sorted(real_d), metadata_given=metadata is not None, holdout_given=bool(hold_d),
        exact_ks_max_distinct=exact_ks_max_distinct, ks_buckets=ks_buckets,
        quantile_accuracy=quantile_accuracy, quantile_sample_rows=quantile_sample_rows,
        max_categories=max_categories,
        real_correlation_threshold=real_correlation_threshold,
        real_association_threshold=real_association_threshold,
        plot_categories=plot_categories, histogram_bins=histogram_bins,
        dcr_synthetic_rows=dcr_synthetic_rows, dcr_reference_rows=dcr_reference_rows, seed=seed,
        contingency_bins=_pairs.N_BINS, privacy=do_privacy, k_anonymity=k_anon,
        copy_settings=copies, cache=cache)
    ev = _Evaluation(settings)
    for t in real_d:
        cfg = table_config(metadata, t)
        ev.table(t, real_d[t], syn_d[t], cfg)
    if metadata is not None and multi:
        ev.relationships(metadata, real_d, syn_d)
    if do_privacy:
        for t, hdf in hold_d.items():
            ev.privacy(t, real_d[t], syn_d[t], hdf)
    if k_anon is not None:
        for t in syn_d:
            ev.k_anonymity(t, syn_d[t], table_config(metadata, t), k_anon)
    if copies is not None:
        for t in syn_d:
            ev.copy_settings(t, real_d[t], syn_d[t], *copies)
    statement = getattr(model, "privacy", None) if model is not None else None
    if statement:
        ev.privacy_out["differential_privacy"] = statement
    return ev.report(multi)


def _privacy_setting(metadata: Any, name: str) -> Any:
    """``privacy.<name>`` of a Metadata (or a dict of the same shape), or None."""
    priv = metadata.get("privacy") if isinstance(metadata, Mapping) else getattr(metadata, "privacy", None)
    return priv.get(name) if isinstance(priv, Mapping) else getattr(priv, name, None)


def _k_anonymity_of(metadata: Any) -> int | None:
    """``privacy.k_anonymity`` of a Metadata (or a dict of the same shape), or None."""
    k = _privacy_setting(metadata, "k_anonymity")
    return None if k is None else int(k)


def _copy_settings_of(metadata: Any) -> tuple[float | None, float] | None:
    """(``privacy.min_dcr``, ``privacy.exact_copy_tolerance``: 0 when unset) when the metadata
    sets either, else None (a mapping is read as :meth:`Metadata.from_dict` reads it)."""
    if isinstance(metadata, Mapping):
        from synthohive_spark.metadata.schema import migrate_metadata_dict

        metadata = migrate_metadata_dict(metadata)
    min_dcr = _privacy_setting(metadata, "min_dcr")
    setting = _privacy_setting(metadata, "exact_copy_tolerance")
    if min_dcr is None and setting is None:
        return None
    tolerance = float(setting or 0.0)
    return (None if min_dcr is None else float(min_dcr)), tolerance


class _Evaluation:
    def __init__(self, settings: _Settings) -> None:
        self.s = settings
        self.rows: dict[str, list[dict[str, Any]]] = {
            "column_shapes": [], "missing_values": [], "column_pair_trends": [],
            "referential_integrity": [], "cardinality": [], "intertable_trends": [],
            "not_applicable": []}
        self.tables: dict[str, dict[str, Any]] = {}
        self.plots: dict[str, Any] = {"tables": {}, "cardinality": []}
        self.privacy_out: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self.plans: dict[str, list[ColumnPlan]] = {}
        self.keep: dict[str, dict[str, list[str]]] = {}
        self.stats: dict[str, _shapes.SideStats] = {}
        # table -> (sampled synthetic rows' DCR to sampled training rows, training rows sampled)
        self.dcr_train: dict[str, tuple[np.ndarray, int]] = {}

    def _time(self, key: str, start: float) -> None:
        self.timings[key] = self.timings.get(key, 0.0) + (time.perf_counter() - start)

    # ---------------------------------------------------------------- one table
    def table(self, t: str, real: DataFrame, syn: DataFrame, cfg: Any) -> None:
        s = self.s
        start = time.perf_counter()
        plans = plan_table(t, real, syn, cfg)
        self.plans[t] = plans
        rp, sp = project(real, plans), project(syn, plans)
        if s.cache:
            rp, sp = rp.cache(), sp.cache()
        app = [p for p in plans if p.applicable]
        pairs = [(a, b) for a, b in itertools.combinations(app, 2)]
        corr_pairs = _corr_pairs(pairs)
        rs = _shapes.side_stats(rp, plans, corr_pairs=corr_pairs)
        ss = _shapes.side_stats(sp, plans, corr_pairs=corr_pairs)
        self.stats[t] = rs
        self._time("statistics", start)
        if rs.rows == 0:
            raise ValidationInputError(f"Table '{t}': the real data has no rows.")
        if ss.rows == 0:
            raise ValidationInputError(f"Table '{t}': the synthetic data has no rows.")
        self.tables[t] = {"real_rows": rs.rows, "synthetic_rows": ss.rows,
                          "columns": [{"name": p.name, "sdtype": p.sdtype, "evaluated": p.applicable,
                                       "inferred": p.inferred, "real_type": p.real_type,
                                       "synthetic_type": p.synthetic_type} for p in plans]}
        for p in plans:
            if not p.applicable:
                self.rows["not_applicable"].append(
                    {"table": t, "column": p.name, "sdtype": p.sdtype, "reason": p.reason})

        start = time.perf_counter()
        shape_rows, plot = self._shapes(t, rp, sp, app, rs, ss)
        self._time("column_shapes", start)
        self.rows["column_shapes"].extend(shape_rows)
        for p in app:
            rm = 1 - rs.nonnull[p.internal] / rs.rows
            sm = 1 - ss.nonnull[p.internal] / ss.rows
            self.rows["missing_values"].append(
                {"table": t, "column": p.name, "sdtype": p.sdtype, "metric": "MissingValueSimilarity",
                 "real_missing": rm, "synthetic_missing": sm, "score": 1 - abs(rm - sm)})

        start = time.perf_counter()
        pair_rows = self._pair_trends(rp, sp, pairs, rs, ss, self.keep.get(t, {}))
        for r in pair_rows:
            r["table"] = t
        self.rows["column_pair_trends"].extend(pair_rows)
        self._time("column_pair_trends", start)
        plot["correlation"] = _corr_matrices(app, pair_rows)
        self.plots["tables"][t] = plot
        if s.cache:
            rp.unpersist()
            sp.unpersist()

    def _shapes(self, t: str, rp: DataFrame, sp: DataFrame, app: list[ColumnPlan],
                rs: _shapes.SideStats, ss: _shapes.SideStats) -> tuple[list[dict], dict]:
        s = self.s
        rows: dict[str, dict[str, Any]] = {}
        ok_cont, ok_disc = [], []
        for p in app:
            metric = "KSComplement" if p.kind == "continuous" else "TVComplement"
            row = {"table": t, "column": p.name, "sdtype": p.sdtype, "metric": metric, "score": None,
                   "method": None, "error_bound": None, "reason": None}
            if rs.nonnull[p.internal] == 0:
                row["reason"] = "all values are missing in the real data"
            elif ss.nonnull[p.internal] == 0:
                row["reason"] = "all values are missing in the synthetic data"
                row["synthetic_all_missing"] = True
            elif p.kind == "continuous":
                ok_cont.append(p)
            else:
                ok_disc.append(p)
            rows[p.internal] = row

        exact = [p.internal for p in ok_cont
                 if rs.distinct[p.internal] + ss.distinct[p.internal] <= s.exact_ks_max_distinct]
        bucketed = [p.internal for p in ok_cont if p.internal not in exact]
        for c, d in _shapes.ks_exact(rp, sp, exact, rs.nonnull, ss.nonnull).items():
            rows[c].update(score=1.0 - d, method="exact", error_bound=0.0, ks_statistic=d)
        edges = _shapes.sample_quantiles(rp, sp, bucketed, rs.rows, ss.rows, s.ks_buckets,
                                         s.quantile_accuracy, s.quantile_sample_rows, s.seed)
        for c, (lo, hi) in _shapes.ks_bucketed(rp, sp, bucketed, rs.nonnull, ss.nonnull, edges).items():
            d = (lo + hi) / 2.0
            rows[c].update(score=1.0 - d, method=f"bucketed ({len(set(edges[c])) + 1} quantile buckets)",
                           error_bound=(hi - lo) / 2.0, ks_statistic=d, ks_lower=lo, ks_upper=hi)

        disc_all = [p.internal for p in app if p.kind == "discrete"]
        plot: dict[str, Any] = {"columns": {}}
        keep: dict[str, list[str]] = {}
        hist = {p.internal: (min(rs.minimum[p.internal], ss.minimum[p.internal]),
                             max(rs.maximum[p.internal], ss.maximum[p.internal])) for p in ok_cont}
        top: dict[str, list] = {}
        hists: dict[str, dict[str, Any]] = {}
        if disc_all or hist:
            counts = _shapes.discrete_counts(rp, sp, disc_all, hist, s.histogram_bins).cache()
            try:
                tv = _shapes.tv_complement(counts.where(F.col("__col").isin(disc_all)),
                                           [p.internal for p in ok_disc], rs.nonnull, ss.nonnull)
                for c, v in tv.items():
                    rows[c].update(score=v, method="exact", error_bound=0.0)
                top = _shapes.top_categories(counts.where(F.col("__col").isin(disc_all)), disc_all,
                                             max(s.plot_categories, s.max_categories))
                hists = _shapes.histograms_from_counts(counts, hist, s.histogram_bins)
            finally:
                counts.unpersist()
        for p in app:
            if p.kind == "discrete":
                cats = top.get(p.internal, [])
                plot["columns"][p.name] = {
                    "kind": "discrete", "sdtype": p.sdtype,
                    "categories": [c[0] for c in cats[: s.plot_categories]],
                    "real": [c[1] / max(rs.nonnull[p.internal], 1) for c in cats[: s.plot_categories]],
                    "synthetic": [c[2] / max(ss.nonnull[p.internal], 1) for c in cats[: s.plot_categories]],
                    "distinct_real": rs.distinct[p.internal]}
                if rs.distinct[p.internal] > s.max_categories:
                    real_top = sorted((c for c in cats if c[1] > 0), key=lambda c: -c[1])
                    keep[p.internal] = [c[0] for c in real_top[: s.max_categories - 1]]
            elif p.internal in hists:
                h = hists[p.internal]
                nr, ns = max(sum(h["real"]), 1), max(sum(h["synthetic"]), 1)
                plot["columns"][p.name] = {"kind": "continuous", "sdtype": p.sdtype, "edges": h["edges"],
                                           "real": [x / nr for x in h["real"]],
                                           "synthetic": [x / ns for x in h["synthetic"]]}
        self.keep[t] = keep
        self.keep[t + "\x00names"] = {p.name: keep[p.internal] for p in app if p.internal in keep}
        ordered = [rows[p.internal] for p in app]
        plot["order"] = [p.name for p in app if p.name in plot["columns"]]
        return ordered, plot

    def _pair_trends(self, rp: DataFrame, sp: DataFrame, pairs: list[tuple[ColumnPlan, ColumnPlan]],
                     rs: _shapes.SideStats, ss: _shapes.SideStats, keep: dict[str, list[str]]
                     ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        corr_specs, cont_specs = [], []
        for i, (a, b) in enumerate(pairs):
            spec = _pairs.PairSpec(a=a, b=b, a_col=a.internal, b_col=b.internal, pid=f"p{i}")
            both_cont = a.kind == "continuous" and b.kind == "continuous"
            row = {"column_1": a.name, "column_2": b.name,
                   "metric": "CorrelationSimilarity" if both_cont else "ContingencySimilarity",
                   "score": None, "real_correlation": None, "synthetic_correlation": None,
                   "real_association": None, "meets_threshold": None, "reason": None,
                   "_pid": spec.pid}
            if both_cont:
                reason = None
                for p in (a, b):
                    for side, st in (("real", rs), ("synthetic", ss)):
                        mn, mx = st.minimum.get(p.internal), st.maximum.get(p.internal)
                        if reason is None and mn is not None and mn == mx:
                            reason = f"column '{p.name}' is constant in the {side} data"
                if reason:
                    row["reason"] = reason
                    row["meets_threshold"] = False
                else:
                    corr_specs.append(spec)
            else:
                cont_specs.append(spec)
            out.append(row)
        by_pid = {r["_pid"]: r for r in out}
        if corr_specs:
            for spec in corr_specs:
                row = by_pid[spec.pid]
                r_, s_ = rs.corr.get(spec.pid), ss.corr.get(spec.pid)
                row["real_correlation"], row["synthetic_correlation"] = r_, s_
                thr = self.s.real_correlation_threshold
                if r_ is None or s_ is None:
                    row["reason"] = "correlation undefined (no rows with both values, or no variance)"
                    row["meets_threshold"] = False
                else:
                    row["score"] = 1.0 - abs(r_ - s_) / 2.0
                    row["meets_threshold"] = thr <= 0 or abs(r_) > thr
                    if not row["meets_threshold"]:
                        row["reason"] = (f"real correlation {r_:.3f} is not above the threshold "
                                         f"{thr} in absolute value: not counted in the score")
        if cont_specs:
            used = {c.internal: c for sp_ in cont_specs for c in (sp_.a, sp_.b)}
            rx, sx = {}, {}
            for p in used.values():
                rx[p.internal] = _pairs.discrete_expr(p, p.internal, rs.minimum, rs.maximum, keep)
                sx[p.internal] = _pairs.discrete_expr(p, p.internal, ss.minimum, ss.maximum, keep)
            res = _pairs.contingency(rp, sp, cont_specs, rx, sx, rs.rows, ss.rows)
            thr = self.s.real_association_threshold
            for spec in cont_specs:
                row = by_pid[spec.pid]
                score, assoc = res.get(spec.pid, (None, None))
                row["score"], row["real_association"] = score, assoc
                if thr > 0:
                    row["meets_threshold"] = assoc is not None and assoc > thr
                    if not row["meets_threshold"]:
                        row["reason"] = (f"real association (Cramer's V) {_fmt(assoc)} is not above "
                                         f"the threshold {thr}: not counted in the score")
                else:
                    row["meets_threshold"] = True
                lumped = [p.name for p in (spec.a, spec.b) if p.internal in keep]
                if lumped:
                    row["note"] = (f"categories beyond the {self.s.max_categories - 1} most frequent "
                                   f"lumped together for {lumped}")
        for r in out:
            r.pop("_pid")
        return out

    # ---------------------------------------------------------------- relationships
    def relationships(self, metadata: Any, real_d: dict[str, DataFrame],
                      syn_d: dict[str, DataFrame]) -> None:
        for child in real_d:
            cfg = table_config(metadata, child)
            for fk in foreign_keys(cfg):
                col, parent, pcol = fk_fields(fk)
                if parent not in real_d:
                    raise ValidationInputError(
                        f"Table '{child}': foreign key '{col}' refers to table '{parent}', which is "
                        f"not among the evaluated tables {sorted(real_d)}.")
                pcfg = table_config(metadata, parent)
                pcol = pcol or primary_key(pcfg)
                for tbl, c in ((child, col), (parent, pcol)):
                    for side, d in (("real", real_d), ("synthetic", syn_d)):
                        if c is None or c not in d[tbl].columns:
                            raise ValidationInputError(
                                f"Table '{tbl}' ({side}): key column '{c}' of relationship "
                                f"{child}.{col} -> {parent}.{pcol} is missing.")
                self._relationship(child, col, parent, pcol, real_d, syn_d)

    def _relationship(self, child: str, fk: str, parent: str, pk: str,
                      real_d: dict[str, DataFrame], syn_d: dict[str, DataFrame]) -> None:
        base = {"child_table": child, "foreign_key": fk, "parent_table": parent, "primary_key": pk}
        start = time.perf_counter()
        ri_s = _multi.referential_integrity(syn_d[child], fk, syn_d[parent], pk)
        ri_r = _multi.referential_integrity(real_d[child], fk, real_d[parent], pk)
        self.rows["referential_integrity"].append(
            {**base, "metric": "ReferentialIntegrity", "score": ri_s["score"],
             "synthetic_orphans": ri_s["orphans"], "synthetic_foreign_keys": ri_s["foreign_keys"],
             "real_score": ri_r["score"], "real_orphans": ri_r["orphans"],
             "reason": None if ri_s["score"] is not None else "no non-null foreign keys in the synthetic data"})
        self._time("referential_integrity", start)

        start = time.perf_counter()
        hr = _multi.cardinality_histogram(real_d[child], fk, real_d[parent], pk)
        hs = _multi.cardinality_histogram(syn_d[child], fk, syn_d[parent], pk)
        d = _multi.ks_from_histograms(hr, hs)
        self.rows["cardinality"].append(
            {**base, "metric": "CardinalityShapeSimilarity", "score": None if d is None else 1.0 - d,
             "reason": None if d is not None else "a parent table has no rows"})
        self.plots["cardinality"].append(
            {**base, "real": {str(k): v for k, v in sorted(hr.items())},
             "synthetic": {str(k): v for k, v in sorted(hs.items())}})
        self._time("cardinality", start)

        start = time.perf_counter()
        rows = self._intertable(child, fk, parent, pk, real_d, syn_d)
        for r in rows:
            r.update(base)
        self.rows["intertable_trends"].extend(rows)
        self._time("intertable_trends", start)

    def _intertable(self, child: str, fk: str, parent: str, pk: str,
                    real_d: dict[str, DataFrame], syn_d: dict[str, DataFrame]) -> list[dict[str, Any]]:
        pa = [dataclasses.replace(p, internal="pa_" + p.internal) for p in self.plans[parent] if p.applicable]
        ch = [dataclasses.replace(p, internal="ch_" + p.internal) for p in self.plans[child] if p.applicable]
        if not pa or not ch:
            return []

        def joined(d: dict[str, DataFrame]) -> DataFrame:
            cdf, pdf = d[child], d[parent]
            ct = {f.name: f.dataType for f in cdf.schema.fields}
            pt = {f.name: f.dataType for f in pdf.schema.fields}
            c = cdf.select(F.col(quote(fk)).alias("__fk"), *[value_expr(p, ct[p.name]).alias(p.internal) for p in ch])
            p_ = pdf.select(F.col(quote(pk)).alias("__pk"), *[value_expr(p, pt[p.name]).alias(p.internal) for p in pa])
            return c.join(p_, F.col("__fk") == F.col("__pk"), "inner").drop("__fk", "__pk")

        jr, js = joined(real_d), joined(syn_d)
        pairs = [(a, b) for a in pa for b in ch]
        corr_pairs = _corr_pairs(pairs)
        rs = _shapes.side_stats(jr, pa + ch, corr_pairs=corr_pairs)
        ss = _shapes.side_stats(js, pa + ch, corr_pairs=corr_pairs)
        if rs.rows == 0 or ss.rows == 0:
            side = "real" if rs.rows == 0 else "synthetic"
            return [{"column_1": a.name, "column_2": b.name, "metric": None, "score": None,
                     "reason": f"no {side} child row joins a parent row"} for a in pa for b in ch]
        names_keep = self.keep.get(parent + "\x00names", {})
        names_keep_c = self.keep.get(child + "\x00names", {})
        keep = {p.internal: names_keep[p.name] for p in pa if p.name in names_keep}
        keep.update({p.internal: names_keep_c[p.name] for p in ch if p.name in names_keep_c})
        return self._pair_trends(jr, js, pairs, rs, ss, keep)

    # ---------------------------------------------------------------- privacy
    def privacy(self, t: str, real: DataFrame, syn: DataFrame, hold: DataFrame) -> None:
        s = self.s
        plans = self.plans[t]
        start = time.perf_counter()
        check_same_columns(t, plans, hold, "holdout")
        app = [p for p in plans if p.applicable]
        if not app:
            self.privacy_out[t] = {"applicable": False, "reason": "no evaluated columns"}
            return
        rp, sp, hpj = project(real, plans), project(syn, plans), project(hold, plans)
        rs = self.stats[t]
        hs = _shapes.side_stats(hpj, plans)
        n_syn = self.tables[t]["synthetic_rows"]
        if hs.rows == 0:
            raise ValidationInputError(f"Table '{t}': the holdout data has no rows.")
        distances = _privacy.sampled_distances(rp, hpj, sp, plans, self._ranges(t), rs.rows,
                                               hs.rows, n_syn, s.dcr_synthetic_rows,
                                               s.dcr_reference_rows, s.seed)
        self.dcr_train[t] = (distances["train"], distances["m"])
        out = _privacy.dcr(distances, plans)
        self._time("privacy_dcr", start)
        start = time.perf_counter()
        out["exact_copy_rate"] = _privacy.exact_copy_rate(rp, sp, plans, n_syn)
        out["holdout_exact_copy_rate"] = _privacy.exact_copy_rate(rp, hpj, plans, hs.rows)
        out["synthetic_exact_copies_of_holdout_rate"] = _privacy.exact_copy_rate(hpj, sp, plans, n_syn)
        out["holdout_rows"] = hs.rows
        self._time("privacy_exact_copies", start)
        self.privacy_out[t] = out
        if out.get("membership_inference_auc") is not None:
            self.privacy_out.setdefault("membership_inference_auc", {})[t] = out["membership_inference_auc"]

    def _ranges(self, t: str) -> dict[str, float]:
        """Each continuous column's range in the real (training) table, by internal name."""
        rs = self.stats[t]
        return {p.internal: (rs.maximum[p.internal] - rs.minimum[p.internal])
                for p in self.plans[t] if p.kind == "continuous"
                and rs.minimum.get(p.internal) is not None}

    def copy_settings(self, t: str, real: DataFrame, syn: DataFrame, min_dcr: float | None,
                      tolerance: float) -> None:
        """Whether ``privacy.min_dcr`` and ``privacy.exact_copy_tolerance`` hold for table ``t``
        (the DCR of the privacy section when it was computed, else of the same samples against
        the training rows only)."""
        s, plans = self.s, self.plans[t]
        if not any(p.applicable for p in plans):
            self.privacy_out.setdefault("copy_settings", {})[t] = {
                "applicable": False, "reason": "no evaluated columns"}
            return
        start = time.perf_counter()
        rp, sp = project(real, plans), project(syn, plans)
        n_syn = self.tables[t]["synthetic_rows"]
        if t not in self.dcr_train and min_dcr is not None:
            d = _privacy.sampled_distances(rp, None, sp, plans, self._ranges(t),
                                           self.stats[t].rows, 0, n_syn, s.dcr_synthetic_rows,
                                           s.dcr_reference_rows, s.seed)
            self.dcr_train[t] = (d["train"], d["m"])
        dt, m = self.dcr_train.get(t, (np.zeros(0), 0))
        rate = (self.privacy_out.get(t) or {}).get("exact_copy_rate")
        if rate is None:
            rate = _privacy.exact_copy_rate(rp, sp, plans, n_syn)
        self.privacy_out.setdefault("copy_settings", {})[t] = _privacy.copy_settings_check(
            dt, rate, min_dcr, tolerance, m)
        self._time("privacy_copy_settings", start)

    def k_anonymity(self, t: str, syn: DataFrame, cfg: Any, k: int) -> None:
        start = time.perf_counter()
        qi = quasi_identifiers(cfg) if cfg is not None else []
        missing = [c for c in qi if c not in syn.columns]
        res = _kanon.k_anonymity(syn, [c for c in qi if c not in missing], k)
        if missing:
            res["missing_columns"] = missing
        self.privacy_out.setdefault("k_anonymity", {})[t] = res
        self._time("privacy_k_anonymity", start)

    # ---------------------------------------------------------------- result
    def report(self, multi: bool) -> ValidationReport:
        props: dict[str, float | None] = {
            "Column Shapes": _mean([r["score"] for r in self.rows["column_shapes"]]),
            "Column Pair Trends": _mean([r["score"] for r in self.rows["column_pair_trends"]
                                         if r.get("meets_threshold")]),
        }
        if multi:
            props["Cardinality"] = _mean([r["score"] for r in self.rows["cardinality"]])
            props["Intertable Trends"] = _mean([r["score"] for r in self.rows["intertable_trends"]
                                                if r.get("meets_threshold")])
        notes = {
            "Column Shapes": "no column has a shape metric (see not applicable columns)",
            "Column Pair Trends": "no column pair shows a real trend above the thresholds "
                                  f"(|r| > {self.s.real_correlation_threshold}, Cramer's V > "
                                  f"{self.s.real_association_threshold}), or fewer than two columns",
            "Cardinality": "no relationship in the metadata",
            "Intertable Trends": "no parent-child column pair shows a real trend above the thresholds",
            "Missing Values": "no evaluated column",
            "Referential Integrity": "no relationship in the metadata",
        }
        score = _mean(list(props.values()))
        extra = {
            "Missing Values": _mean([r["score"] for r in self.rows["missing_values"]]),
            "Referential Integrity": _mean([r["score"] for r in self.rows["referential_integrity"]]),
        }
        data = {
            "score": score,
            "properties": {k: {"score": v, "in_overall_score": True,
                               "description": PROPERTY_DESCRIPTIONS[k],
                               "note": notes[k] if v is None else None} for k, v in props.items()},
            "additional_properties": {k: {"score": v, "in_overall_score": False,
                                          "description": PROPERTY_DESCRIPTIONS[k],
                                          "note": notes[k] if v is None else None}
                                      for k, v in extra.items()},
            "details": self.rows,
            "tables": self.tables,
            "privacy": self.privacy_out,
            "plots": self.plots,
            "settings": self.s.as_dict(),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
        }
        return ValidationReport(data)


def _corr_pairs(pairs: list[tuple[ColumnPlan, ColumnPlan]]) -> list[tuple[str, str, str]]:
    """(pair id, col a, col b) of the continuous pairs; ids match _pair_trends' ``p{i}``."""
    return [(f"p{i}", a.internal, b.internal) for i, (a, b) in enumerate(pairs)
            if a.kind == "continuous" and b.kind == "continuous"]


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _corr_matrices(app: list[ColumnPlan], pair_rows: list[dict[str, Any]]) -> dict[str, Any]:
    cols = [p.name for p in app if p.kind == "continuous"]
    idx = {c: i for i, c in enumerate(cols)}
    n = len(cols)
    real = [[1.0 if i == j else None for j in range(n)] for i in range(n)]
    syn = [[1.0 if i == j else None for j in range(n)] for i in range(n)]
    for r in pair_rows:
        if r["metric"] != "CorrelationSimilarity":
            continue
        i, j = idx[r["column_1"]], idx[r["column_2"]]
        real[i][j] = real[j][i] = r["real_correlation"]
        syn[i][j] = syn[j][i] = r["synthetic_correlation"]
    return {"columns": cols, "real": real, "synthetic": syn}


def quality_gate(
    real: DataFrame | Mapping[str, DataFrame],
    synthetic: DataFrame | Mapping[str, DataFrame],
    min_quality: float,
    metadata: Any = None,
    sample_rows: int | None = 100_000,
    seed: int = 42,
    **evaluate_kwargs: Any,
) -> ValidationReport:
    """The synthesizers' ``minQuality`` check: evaluate (on row samples of at most ``sample_rows``
    rows per side; related tables given with metadata are kept whole) and raise QualityGateError
    when the score is below ``min_quality``.

    Returns the report when the gate passes.
    """
    if not 0.0 <= float(min_quality) <= 1.0:
        raise ValueError(f"min_quality must lie in [0, 1], got {min_quality!r}.")

    def bounded(obj: Any) -> Any:
        if sample_rows is None:
            return obj
        if isinstance(obj, Mapping):
            return {k: _bounded(v, sample_rows, seed) for k, v in obj.items()}
        return _bounded(obj, sample_rows, seed)

    if isinstance(real, Mapping) and metadata is not None and sample_rows is not None:
        # independent row samples would cut parent-child links: keep related tables whole
        logger.info("quality_gate: multi-table data with metadata is evaluated without sampling "
                    "so that relationships stay intact.")
        r, s = real, synthetic
    else:
        r, s = bounded(real), bounded(synthetic)
    report = evaluate(r, s, metadata=metadata, privacy=False, seed=seed, **evaluate_kwargs)
    report.check(min_score=float(min_quality))
    return report


def _bounded(df: DataFrame, n: int, seed: int) -> DataFrame:
    total = int(df.count())
    if total <= n:
        return df
    return df.sample(withReplacement=False, fraction=min(1.0, 1.1 * n / total), seed=seed).limit(n)
