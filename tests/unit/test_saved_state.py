"""The saved state's spelling: snake_case written (format 2), both spellings read; no Spark."""
from __future__ import annotations

from synthohive_spark.ml._persist import MapOf, Record, state_from_saved, state_to_saved


SCHEMA = Record(keySpecs=None, tables=MapOf(Record(realRows=None, driver=Record(nullShare=None),
                                                    labels=MapOf(Record(nullShare=None)))))


def test_saved_state_is_snake_case_and_both_spellings_read_back():
    state = {"keySpecs": {"orderId": {"kind": "int"}},
             "tables": {"myTable": {"realRows": 3, "driver": {"nullShare": 0.5},
                                    "labels": {"shopName": {"nullShare": 0.1}}, "extraKey": 1}}}
    saved = state_to_saved(state, SCHEMA)
    # fields renamed; data keys (tables, columns) and what is kept as it is, never
    assert saved == {"key_specs": {"orderId": {"kind": "int"}},
                     "tables": {"myTable": {"real_rows": 3, "driver": {"null_share": 0.5},
                                            "labels": {"shopName": {"null_share": 0.1}},
                                            "extraKey": 1}}}
    assert state_from_saved(saved, SCHEMA) == state  # format 2
    assert state_from_saved(state, SCHEMA) == state  # format 1 (camelCase)
    assert state_to_saved({"tables": {"t": {"driver": None}}}, SCHEMA) == {"tables": {"t": {"driver": None}}}

