"""Metadata detection: profile every table (pandas or Spark), type its columns, find primary
and foreign keys, reference tables, copied / derived columns and the sequence index of child tables
that are histories of their parents, and build a :class:`Metadata`.

Entry point of :meth:`Metadata.detect`.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping, Optional

from synthohive_spark.errors import MetadataError
from synthohive_spark.metadata.detect._profile import (PANDAS_TIMESTAMP_BOUNDS, _is_pandas_frame,
                                                       _is_spark_frame, _PandasProfile, _Profile,
                                                       _SparkProfile, check_case_distinct)
from synthohive_spark.metadata.detect.columns import _infer_column, _name_parts_of_names
from synthohive_spark.metadata.detect.keys import _depths, _detect_foreign_keys, _detect_primary_key
from synthohive_spark.metadata.detect.rules import _detect_rules, _reference_tables
from synthohive_spark.metadata.detect.sequences import _detect_sequences, _history_parents
from synthohive_spark.metadata.schema import Metadata, PrivacyConfig, SDType, dtype_family

logger = logging.getLogger("synthohive_spark.metadata")

__all__ = ["detect_metadata", "detect_sequences", "check_case_distinct",
           "PANDAS_TIMESTAMP_BOUNDS"]


def _profile(name: str, df: Any, sample_rows: int, seed: int) -> _Profile:
    if _is_pandas_frame(df):
        return _PandasProfile(name, df, sample_rows, seed)
    if _is_spark_frame(df):
        check_case_distinct(name, df.columns, df.sparkSession)
        return _SparkProfile(name, df, sample_rows, seed)
    raise MetadataError(f"table {name!r}: expected a pandas or Spark DataFrame, got "
                        f"{type(df).__name__}")


def detect_metadata(tables: Mapping[str, Any], sample_rows: int = 100_000, seed: int = 0,
                    privacy: Optional[PrivacyConfig] = None) -> Metadata:
    """Metadata inferred from a dict of pandas or Spark frames (see :meth:`Metadata.detect`)."""
    if not isinstance(tables, Mapping) or not tables:
        raise MetadataError("detect expects a non-empty dict of table name -> DataFrame")
    if sample_rows < 1:
        raise MetadataError(f"sample_rows must be at least 1, got {sample_rows}")
    profiles: dict[str, _Profile] = {}
    for name, df in tables.items():
        profiles[name] = _profile(name, df, sample_rows, seed)
        logger.info("profiled table %s: %d rows, %d columns", name, profiles[name].n_rows,
                    len(profiles[name].dtypes))
    kinds = {type(p) for p in profiles.values()}
    if len(kinds) > 1:
        raise MetadataError("detect expects all tables as pandas DataFrames or all as Spark "
                            "DataFrames, not a mix")

    guesses = {t: {c: _infer_column(p, c) for c in p.dtypes} for t, p in profiles.items()}
    for t, p in profiles.items():
        _name_parts_of_names(p, guesses[t])
    pks = {t: _detect_primary_key(p, guesses[t]) for t, p in profiles.items()}
    edges = _detect_foreign_keys(profiles, pks, guesses)
    depth = _depths(list(profiles), edges)
    reference = _reference_tables(profiles, guesses, edges)
    # a small table whose rows each own an ordered block of child rows (a storm and its track) is
    # an entity with a history, not a lookup
    sequences: dict = {}
    reference -= _history_parents(profiles, {t: {c: g.config for c, g in cols.items()}
                                             for t, cols in guesses.items()},
                                  pks, edges, reference, sequences)

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
    _detect_sequences(profiles, out, sequences)
    data: dict[str, Any] = {"tables": out}
    if privacy is not None:
        data["privacy"] = privacy
    return Metadata(**data)


def detect_sequences(metadata: Metadata, tables: Mapping[str, Any], sample_rows: int = 100_000,
                     seed: int = 0) -> Metadata:
    """A copy of ``metadata`` with the ``sequence_index`` of each child table that is a history
    of its parent (see :meth:`Metadata.detect`), found in ``tables`` (pandas or Spark frames by
    table name); declared sequence indexes are kept. For metadata whose keys were declared or
    corrected by hand."""
    data = metadata.to_dict()
    wanted = [t for t, cfg in data["tables"].items()
              if "sequence_index" not in cfg and metadata.driver_fk(t) is not None]
    missing = [t for t in wanted if t not in tables]
    if missing:
        raise MetadataError(f"detect_sequences: no data for tables {sorted(missing)} (given: "
                            f"{sorted(tables)}); expected a DataFrame for every child table")
    profiles = {t: _profile(t, tables[t], sample_rows, seed) for t in wanted}
    _detect_sequences(profiles, data["tables"])
    return Metadata.from_dict(data)
