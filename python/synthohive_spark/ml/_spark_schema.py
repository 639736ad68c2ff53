"""Spark schema checks shared by the ML stages (key formats: :mod:`ml._keys`)."""
from __future__ import annotations

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
