"""Spark schema checks and key-format inference shared by the ML stages."""
from __future__ import annotations

import re
from typing import Any

import pandas as pd
from pyspark.sql import types as T

from synthohive_spark.errors import SchemaError  # noqa: F401 (re-exported)

_UNSUPPORTED = (T.MapType, T.StructType, T.ArrayType, T.BinaryType, T.NullType)


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


def _affix_key_spec(strs: pd.Series) -> dict[str, Any] | None:
    """Keys of one shape around a number, such as ``2015-000002`` or ``INV/2020/0042``: the
    prefix and suffix every value shares, and a zero-padded number between them."""
    vals = strs.tolist()
    if len(vals) < 2 or len({len(v) for v in vals}) != 1:
        return None
    import os.path

    prefix = os.path.commonprefix(vals)
    suffix = os.path.commonprefix([v[::-1] for v in vals])[::-1]
    width = len(vals[0]) - len(prefix) - len(suffix)
    if width <= 0:
        return None
    middles = [v[len(prefix):len(v) - len(suffix)] for v in vals]
    if not all(m.isdigit() for m in middles):
        return None
    return {"kind": "pattern", "prefix": prefix, "suffix": suffix, "width": width,
            "offset": min(int(m) for m in middles)}


def _shape_key_spec(strs: pd.Series) -> dict[str, Any] | None:
    """Codes of mixed shapes (``N10156``, ``N102UW``): the most common shape, with the characters
    every value of that shape shares kept as they are and the others as digit (``9``) or letter
    (``A``/``a``) slots that count up through the row positions."""
    vals = [v for v in strs.tolist() if 0 < len(v) <= 32]
    if not vals:
        return None

    def shape(v: str) -> str:
        return "".join("9" if ch.isdigit() else "A" if "A" <= ch <= "Z" else "a" if "a" <= ch <= "z"
                       else ch for ch in v)

    shapes = pd.Series([shape(v) for v in vals])
    top = shapes.value_counts().index[0]
    same = [v for v, sh in zip(vals, shapes) if sh == top]
    template = "".join(ch if len({v[k] for v in same}) == 1 else top[k]
                       for k, ch in enumerate(same[0]))
    # a shared literal that is itself a digit or letter must not be read as a slot
    literal = [len({v[k] for v in same}) == 1 for k in range(len(template))]
    if all(literal):
        return None
    return {"kind": "shape", "template": template, "literal": literal, "offset": 0}


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
        spec = _affix_key_spec(strs) or _shape_key_spec(strs)
        if spec is not None:
            return spec
        return {"kind": "pattern", "prefix": "", "suffix": "", "width": 0, "offset": 1}
    raise SchemaError(
        f"Table {table!r}: primary key column {column!r} has type {dtype.simpleString()}; "
        "expected an integer or string key.")
