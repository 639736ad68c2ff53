"""What ``TableSynthesizer.fit`` does besides the model: the training sample, the column and PII
specs, unique labels, the country context of personal data, and training across executors.

Shared with the relational fit (``ml/_relational_fit.py``). Logs under the stage's logger.
"""
from __future__ import annotations

import logging
import math
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from synthohive_spark._spark import qcol
from synthohive_spark.ml._spark_schema import SchemaError

logger = logging.getLogger("synthohive_spark.ml.table")

__all__ = ["LABELS_MAX", "attach_birth_anchors", "attach_pii_context", "column_specs_of", "fit_distributed", "fit_labels",
           "infer_pii_specs", "sequence_sample", "training_sample"]


def column_specs_of(table_cfg: dict[str, Any], cols: list[str]) -> dict[str, dict]:
    """Model-core column specs (sdtype and constraints) from a TableConfig dict."""
    specs: dict[str, dict] = {}
    columns = table_cfg.get("columns", {}) or {}
    for c in cols:
        cc = columns.get(c)
        if not cc:
            continue
        spec: dict[str, Any] = {}
        sdtype = cc.get("sdtype")
        if sdtype in ("numerical", "categorical", "boolean", "datetime", "text"):
            spec["sdtype"] = sdtype
        elif sdtype:  # a non-key id or a PII kind that is learned: treat its values as categories
            spec["sdtype"] = "categorical"
        constraints = dict(cc.get("constraints") or {})
        for k in ("min", "max", "integer", "decimals"):
            if k in cc and cc[k] is not None:
                constraints.setdefault(k, cc[k])
        for k in ("integer", "decimals"):
            if constraints.get(k) is not None:
                spec[k] = constraints[k]
        for k in ("min", "max"):  # numeric bounds only; dates are bounded by the data itself
            v = constraints.get(k)  # (an infinite bound is left to the column's own check)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                spec[k] = v
        if cc.get("copy_of") or cc.get("derived"):
            spec["overridden"] = True  # set after sampling from the parent or the children
        specs[c] = spec
    return specs


def infer_pii_specs(table_cfg: dict[str, Any], pdf: pd.DataFrame, schema: T.StructType, table: str,
               exclude: set[str], vocabulary: bool = True) -> dict[str, dict]:
    """PII columns (marked in the metadata, or detected) and free-text columns are never learned:
    at sample time they are generated fresh in the real column's format (PII) or length profile
    and common words (text; ``vocabulary=False``, under differential privacy: the length profile
    only). Only the format is kept, never a value."""
    from synthohive_spark.ml._generation import UNIQUE_PII_KINDS
    from synthohive_spark.privacy import GENERATED_KINDS, infer_format

    specs: dict[str, dict] = {}
    from synthohive_spark.privacy import text_format
    from synthohive_spark.privacy.text import TEXT_MIN_ROWS

    for col, cc in (table_cfg.get("columns") or {}).items():
        if col in exclude:
            continue
        if (cc.get("sdtype") == "text" and not cc.get("pii")
                and isinstance(schema[col].dataType, T.StringType)):
            # free text is never learned either: a model would copy real sentences verbatim
            values = pdf[col]
            fmt = text_format(values, vocabulary)
            specs[col] = {"kind": "text", "fmt": fmt, "spark_type": "string",
                          "null_share": float(values.isna().mean()) if len(values) else 0.0}
            logger.info("table %s: free-text column %s: fresh text of %s", table, col,
                        f"its {len(fmt['words'])} common words (each in at least "
                        f"{TEXT_MIN_ROWS} rows)" if fmt.get("words") else "filler words")
            continue
        if not cc.get("pii"):
            continue
        if cc.get("pii_strategy") == "keep":
            continue  # the user asked for this column to be learned as it is
        dtype = schema[col].dataType
        target = ("string" if isinstance(dtype, T.StringType) else
                  "date" if isinstance(dtype, T.DateType) else
                  "timestamp" if isinstance(dtype, (T.TimestampType, T.TimestampNTZType)) else
                  "integer" if isinstance(dtype, T.IntegralType) else None)
        if target is None:
            raise SchemaError(
                f"Table {table!r}: PII column {col!r} has type {dtype.simpleString()}; expected a "
                "string, date, timestamp or integer column (or mark it pii: false / "
                "pii_strategy: keep in the metadata).")
        kind = cc.get("sdtype")
        values = pdf[col]
        null_share = float(values.isna().mean()) if len(values) else 0.0
        if cc.get("unique") and (kind not in UNIQUE_PII_KINDS or target != "string"):
            raise SchemaError(
                f"Table {table!r}: PII column {col!r} ({kind}) is declared unique; generated "
                f"values are made unique for string {', '.join(UNIQUE_PII_KINDS)} columns only "
                "(remove unique: true, or keep the column with pii_strategy: keep)")
        if kind in GENERATED_KINDS:
            fmt = infer_format(kind, values)
            specs[col] = {"kind": kind, "fmt": fmt, "spark_type": target, "null_share": null_share}
            if cc.get("unique"):
                specs[col]["unique"] = True
        elif target == "string":
            specs[col] = {"kind": "token", "spark_type": target, "null_share": null_share}
        else:
            raise SchemaError(
                f"Table {table!r}: column {col!r} is marked PII but its kind {kind!r} has no "
                f"generator; expected one of {', '.join(GENERATED_KINDS)} or a string column.")
    return specs


def attach_pii_context(specs: dict[str, dict], pdf: pd.DataFrame, candidates: list[str],
                           table: str, locale: str | None = None) -> None:
    """Marks the PII specs generated together (one persona per row, in the locale of the row's
    country column when the table has one: see ``privacy.contextual``), learning postal code and
    phone patterns per country from ``pdf``; logs the chosen column and the country values that
    fall back to the default locale. ``locale``: the default (else the specs' own, else en_US)."""
    from synthohive_spark.privacy.contextual import attach_country_context as attach

    default = locale or next((s["locale"] for s in specs.values() if s.get("locale")), "en_US")
    report = attach(specs, pdf, candidates, default)
    if report["country_col"] is not None:
        logger.info("Table %r: PII columns %s follow the country in column %r (one persona per "
                    "row, in its country's locale and formats)", table, report["columns"],
                    report["country_col"])
        if report["fallback"]:
            logger.warning("Table %r: Faker has no locale for the countries %s of column %r: their "
                           "rows get %s names, cities and addresses (postal code and phone "
                           "patterns are still learned per country)", table, report["fallback"],
                           report["country_col"], default)
        if report["unrecognised"]:
            logger.warning("Table %r: values %s of column %r are not countries: their rows get %s "
                           "PII in the column's overall formats", table, report["unrecognised"],
                           report["country_col"], default)
    elif report["columns"]:
        logger.info("Table %r: PII columns %s are generated as one person per row", table,
                    report["columns"])


def attach_birth_anchors(specs: dict[str, dict], pdf: pd.DataFrame, candidates: list[str],
                         table: str) -> None:
    """Records on each faked date of birth the learned ``candidates`` (generated in the same row,
    never set after sampling) its real values give in their row (an age at a visit, a birth
    year: ``privacy.birth_dates``), so that its fakes agree with them."""
    from synthohive_spark.privacy.birth_dates import birth_anchors
    from synthohive_spark.transform.row_formula import RowFormula

    for col, spec in specs.items():
        if spec.get("kind") != "date_of_birth" or col not in pdf.columns:
            continue
        rows = pdf[[c for c in candidates if c in pdf.columns and c != col]]
        anchors = birth_anchors(col, pdf[col], rows, spec.get("fmt"))
        if anchors:
            spec["anchors"] = anchors
            logger.info("Table %r: the fake birth dates of column %r agree with their row: %s",
                        table, col, "; ".join(RowFormula.from_state(a).describe()
                                              for a in anchors))


#: a unique label column keeps at most this many real values (more are learned as a category)
LABELS_MAX = 200_000


def fit_labels(name: str, df: DataFrame, columns: list[str], rows: int,
                learned: list[str]) -> dict[str, dict]:
    """The real values of unique label columns (non-personal, all distinct: a product's or an
    artist's name), generated each once by row position. A column with more than LABELS_MAX
    values is learned as a category instead (appended to ``learned``)."""

    out = {}
    for c in columns:
        vals = [r[0] for r in df.select(qcol(c)).where(qcol(c).isNotNull()).distinct()
                .limit(LABELS_MAX + 1).collect()]
        if len(vals) > LABELS_MAX:
            logger.info("table %s: unique column %s has more than %d values: learned as a "
                        "category", name, c, LABELS_MAX)
            learned.append(c)
            continue
        out[c] = {"values": sorted(vals), "nullShare": (rows - len(vals)) / rows}
        logger.info("table %s: unique label column %s: its %d real values, each once", name, c,
                    len(vals))
    return out


def training_sample(df: DataFrame, max_rows: int, seed: int, table: str) -> pd.DataFrame:
    """At most ``max_rows`` rows of ``df``, sampled reproducibly with ``seed``, as pandas (Arrow).
    Timestamps must fit pandas' nanosecond range: the row count and their bounds come in one pass."""
    stamps = [f.name for f in df.schema.fields
              if isinstance(f.dataType, (T.TimestampType, T.TimestampNTZType))]
    from synthohive_spark.metadata import PANDAS_TIMESTAMP_BOUNDS

    floats = [f.name for f in df.schema.fields
              if isinstance(f.dataType, (T.DoubleType, T.FloatType))]
    aggs = [F.count(F.lit(1))]
    for c in stamps:
        aggs += [F.min(qcol(c)), F.max(qcol(c))]
    aggs += [F.sum(F.isnan(qcol(c)).cast("long")) for c in floats]
    stats = df.agg(*aggs).first()
    total = int(stats[0])
    for i, c in enumerate(floats):
        nans = int(stats[1 + 2 * len(stamps) + i] or 0)
        if nans:  # pandas holds NaN and NULL alike: the model cannot keep them apart
            logger.warning("Table %r: column %r holds %d NaN values (not NULL); they are learned "
                           "and generated as NULL (missing), at their share", table, c, nans)
    lo_ok, hi_ok = PANDAS_TIMESTAMP_BOUNDS
    for i, c in enumerate(stamps):
        lo, hi = stats[1 + 2 * i], stats[2 + 2 * i]
        if lo is None:
            continue
        lo, hi = lo.replace(tzinfo=None), hi.replace(tzinfo=None)
        if lo < lo_ok or hi > hi_ok:
            raise SchemaError(
                f"Table {table!r}: column {c!r} holds timestamps from {lo} to {hi}; supported are "
                f"{lo_ok:%Y-%m-%d} to {hi_ok:%Y-%m-%d} (pandas' nanosecond range). Replace sentinel "
                "values such as 9999-12-31 or 0001-01-01 with null, or cast the column to date.")
    if total == 0:
        raise SchemaError(f"Table {table!r}: the DataFrame is empty; nothing to learn.")
    if total > max_rows:
        fraction = min(1.0, max_rows * 1.05 / total)
        df = df.sample(withReplacement=False, fraction=fraction, seed=seed).limit(max_rows)
        logger.info("Table %r: training on a %d-row sample of %d rows", table, max_rows, total)
    pdf = df.toPandas()
    pdf.attrs["total_rows"] = total
    return pdf


def sequence_sample(df: DataFrame, key: str, index: str, max_rows: int, seed: int,
                    table: str) -> pd.DataFrame:
    """Whole sequences (every row of a sampled ``key`` value, or none of them), about ``max_rows``
    rows, as pandas sorted by ``key`` then ``index`` (rows without a key last)."""
    total = int(df.count())
    if total > max_rows:
        share = max_rows / total
        picked = F.pmod(F.xxhash64(F.lit(int(seed)), qcol(key)), F.lit(1_000_000)) \
            < F.lit(int(share * 1_000_000))
        df = df.where(picked)
        logger.info("Table %r: training on the whole sequences of about %.1f%% of the %s "
                    "values (%d rows in all)", table, 100 * share, key, total)
    pdf = training_sample(df, 2**62, seed, table)
    order = [key] + ([index] if index else [])
    pdf = pdf.sort_values(order, kind="stable", na_position="last").reset_index(drop=True)
    pdf.attrs["total_rows"] = total
    return pdf


def ddp_train(blobs: dict[str, bytes], data_ipc: bytes, context_ipc: bytes | None,
               use_gpu: bool) -> dict[str, bytes]:
    """Runs in each TorchDistributor process: train on this rank's shard, return rank 0's state."""
    import io

    import pyarrow as pa
    import torch
    import torch.distributed as dist

    from synthohive_spark.models import model_from_blobs, model_to_blobs

    backend = "nccl" if use_gpu and torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        model = model_from_blobs(blobs)
        data = pa.ipc.open_stream(io.BytesIO(data_ipc)).read_pandas()
        context = pa.ipc.open_stream(io.BytesIO(context_ipc)).read_pandas() if context_ipc else None
        shard = data.iloc[rank::world].reset_index(drop=True)
        shard_ctx = context.iloc[rank::world].reset_index(drop=True) if context is not None else None
        model.train(shard, shard_ctx)
        return model_to_blobs(model) if rank == 0 else {}
    finally:
        dist.destroy_process_group()


def fit_distributed(model: Any, data: pd.DataFrame, context: pd.DataFrame | None,
                     num_processes: int, use_gpu: bool) -> dict[str, bytes]:
    """Fit the encoders once on the driver, then train across executors with TorchDistributor."""
    from pyspark.ml.torch.distributor import TorchDistributor

    from synthohive_spark.models import model_to_blobs

    model.fit_transformers(data, context)
    distributor = TorchDistributor(num_processes=num_processes, local_mode=False, use_gpu=use_gpu)
    from synthohive_spark.ml._persist import frame_to_ipc

    result = distributor.run(ddp_train, model_to_blobs(model), frame_to_ipc(data),
                             frame_to_ipc(context) if context is not None else None, use_gpu)
    if not result:
        raise RuntimeError("Distributed training returned no model state from rank 0.")
    return result
