"""Metadata detection: profile every table (pandas or Spark), type its columns, find primary
and foreign keys, reference tables and copied / derived columns, and build a :class:`Metadata`.

Entry point of :meth:`Metadata.detect`.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping, Optional

from synthohive_spark.errors import MetadataError
from synthohive_spark.metadata.detect._profile import (PANDAS_TIMESTAMP_BOUNDS, _is_pandas_frame,
                                                       _is_spark_frame, _PandasProfile, _Profile,
                                                       _SparkProfile, check_case_distinct)
from synthohive_spark.metadata.detect.columns import _infer_column
from synthohive_spark.metadata.detect.keys import _depths, _detect_foreign_keys, _detect_primary_key
from synthohive_spark.metadata.detect.rules import _detect_rules, _reference_tables
from synthohive_spark.metadata.schema import Metadata, PrivacyConfig, SDType, dtype_family

logger = logging.getLogger("synthohive_spark.metadata")

__all__ = ["detect_metadata", "check_case_distinct", "PANDAS_TIMESTAMP_BOUNDS"]


def detect_metadata(tables: Mapping[str, Any], sample_rows: int = 100_000, seed: int = 0,
                    privacy: Optional[PrivacyConfig] = None) -> Metadata:
    """Metadata inferred from a dict of pandas or Spark frames (see :meth:`Metadata.detect`)."""
    if not isinstance(tables, Mapping) or not tables:
        raise MetadataError("detect expects a non-empty dict of table name -> DataFrame")
    if sample_rows < 1:
        raise MetadataError(f"sample_rows must be at least 1, got {sample_rows}")
    profiles: dict[str, _Profile] = {}
    for name, df in tables.items():
        if _is_pandas_frame(df):
            profiles[name] = _PandasProfile(name, df, sample_rows, seed)
        elif _is_spark_frame(df):
            check_case_distinct(name, df.columns, df.sparkSession)
            profiles[name] = _SparkProfile(name, df, sample_rows, seed)
        else:
            raise MetadataError(f"table {name!r}: expected a pandas or Spark DataFrame, got "
                                f"{type(df).__name__}")
        logger.info("profiled table %s: %d rows, %d columns", name, profiles[name].n_rows,
                    len(profiles[name].dtypes))
    kinds = {type(p) for p in profiles.values()}
    if len(kinds) > 1:
        raise MetadataError("detect expects all tables as pandas DataFrames or all as Spark "
                            "DataFrames, not a mix")

    guesses = {t: {c: _infer_column(p, c) for c in p.dtypes} for t, p in profiles.items()}
    pks = {t: _detect_primary_key(p, guesses[t]) for t, p in profiles.items()}
    edges = _detect_foreign_keys(profiles, pks, guesses)
    depth = _depths(list(profiles), edges)
    reference = _reference_tables(profiles, guesses, edges)

    out: dict[str, Any] = {}
    for t, p in profiles.items():
        columns: dict[str, Any] = {}
        own = [e for e in edges if e.child == t]
        fk_cols = {e.column: e for e in own}
        for c in p.dtypes:
            cfg = dict(guesses[t][c].config)
            if c == pks[t] or c in fk_cols:
                regex = guesses[t][c].regex
                if c in fk_cols:
                    e = fk_cols[c]
                    regex = guesses[e.parent][e.parent_column].regex or regex
                cfg = {"sdtype": SDType.ID, "dtype": cfg["dtype"], "nullable": cfg["nullable"],
                       "integer": dtype_family(cfg["dtype"]) == "integer", "regex": regex}
            columns[c] = {k: v for k, v in cfg.items() if v is not None}
        order = {c: i for i, c in enumerate(p.dtypes)}
        own.sort(key=lambda e: order[e.column])
        # a reference table does not drive its children: a foreign key to it is a category
        others = [e for e in own if e.parent != t and e.parent not in reference]
        driver = max(others, key=lambda e: (depth[e.parent], e.name_score >= 2,
                                            profiles[e.parent].n_rows, -order[e.column]),
                     default=None)
        out[t] = {"columns": columns, "primary_key": pks[t],
                  "foreign_keys": [{"column": e.column, "parent_table": e.parent,
                                    "parent_column": e.parent_column, "driver": e is driver}
                                   for e in own]}
        if t in reference:
            out[t]["reference"] = True
    _detect_rules(profiles, out, edges)
    data: dict[str, Any] = {"tables": out}
    if privacy is not None:
        data["privacy"] = privacy
    return Metadata(**data)
