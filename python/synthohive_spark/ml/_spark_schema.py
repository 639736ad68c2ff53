"""Spark schema checks and key-format inference shared by the ML stages."""
from __future__ import annotations

import re
from typing import Any

import pandas as pd
from pyspark.sql import types as T

_UNSUPPORTED = (T.MapType, T.StructType, T.ArrayType, T.BinaryType, T.NullType)


class SchemaError(ValueError):
    """A DataFrame does not have the columns or types a stage expects."""


def check_supported(schema: T.StructType, table: str) -> None:
    """Raise :class:`SchemaError` naming every column whose type the synthesizers cannot learn."""
    bad = [f"{f.name} ({f.dataType.simpleString()})" for f in schema.fields
           if isinstance(f.dataType, _UNSUPPORTED)
           or type(f.dataType).__name__ in ("VariantType", "CalendarIntervalType")]
    if bad:
        raise SchemaError(
            f"Table {table!r}: unsupported column type(s): {', '.join(bad)}. Expected numeric, "
            "string, boolean, date, timestamp or decimal columns; flatten structs/maps/arrays "
            "(e.g. with select('col.*') or explode) or drop binary columns before fitting.")


def check_columns(schema: T.StructType, cols: list[str], table: str, what: str) -> None:
    names = schema.fieldNames()
    missing = [c for c in cols if c not in names]
    if missing:
        raise SchemaError(
            f"Table {table!r}: {what} {missing} not found in the input; its columns are {names}.")


_KEY_RE = re.compile(r"^(\D*?)(\d+)(\D*)$")


def infer_key_spec(values: pd.Series, dtype: T.DataType, table: str, column: str) -> dict[str, Any]:
    """How to generate unique values of a primary key in the real column's type and format."""
    nonnull = values.dropna()
    if isinstance(dtype, T.IntegralType):
        start = int(nonnull.min()) if len(nonnull) else 1
        return {"kind": "int", "offset": max(start, 0) if start >= 0 else start}
    if isinstance(dtype, T.StringType):
        strs = nonnull.astype(str)
        matches = strs.str.extract(_KEY_RE.pattern)
        if len(strs) and matches.notna().all(axis=None):
            prefixes = matches[0].unique()
            suffixes = matches[2].unique()
            if len(prefixes) == 1 and len(suffixes) == 1:
                digits = matches[1]
                lengths = digits.str.len()
                padded = digits.str.startswith("0").any() or lengths.nunique() == 1
                width = int(lengths.max()) if padded else 0
                return {"kind": "pattern", "prefix": str(prefixes[0]), "suffix": str(suffixes[0]),
                        "width": width, "offset": int(digits.astype("int64").min())}
        return {"kind": "pattern", "prefix": "", "suffix": "", "width": 0, "offset": 1}
    raise SchemaError(
        f"Table {table!r}: primary key column {column!r} has type {dtype.simpleString()}; "
        "expected an integer or string key.")
