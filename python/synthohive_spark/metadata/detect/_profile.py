"""Table profiles for detection: row counts, types, nulls, bounds and a bounded sample of a
pandas or Spark table, with the exact key checks (distinct counts, containment, ranks) done by
the engine that holds the table. pyspark is imported inside the Spark methods only."""
from __future__ import annotations

import datetime as _dt
import decimal as _decimal
from typing import Any, Sequence

from synthohive_spark._spark import qcol
from synthohive_spark.errors import MetadataError
from synthohive_spark.metadata.schema import _UNSUPPORTED_DTYPE, dtype_family

__all__ = ["PANDAS_TIMESTAMP_BOUNDS", "check_case_distinct"]


class _Profile:
    """What detection needs from one table, whatever engine holds it."""

    name: str
    n_rows: int
    sample: Any  # pandas DataFrame, at most sample_rows rows
    dtypes: dict[str, str]
    nulls: dict[str, int]
    mins: dict[str, Any]
    maxs: dict[str, Any]

    def n_distinct(self, columns: list[str]) -> dict[str, int]:  # pragma: no cover - abstract
        raise NotImplementedError

    def missing_in(self, column: str, parent: "_Profile", parent_column: str) -> int:
        raise NotImplementedError  # pragma: no cover

    def count_below(self, column: str, value: Any, inclusive: bool) -> int:
        raise NotImplementedError  # pragma: no cover

    def rank(self, column: str, value: Any, inclusive: bool) -> int:
        """Rows of a unique key column below ``value`` (at or below when ``inclusive``)."""
        if dtype_family(self.dtypes[column]) == "integer" and self.n_rows > 0:
            lo, hi = self.mins.get(column), self.maxs.get(column)
            if lo is not None and hi is not None and int(hi) - int(lo) + 1 == self.n_rows:
                r = int(value) - int(lo) + (1 if inclusive else 0)
                return max(0, min(self.n_rows, r))
        return self.count_below(column, value, inclusive)


class _PandasProfile(_Profile):
    def __init__(self, name: str, df: Any, sample_rows: int, seed: int) -> None:
        duplicated = sorted({str(c) for c in df.columns if list(df.columns).count(c) > 1})
        if duplicated:
            raise MetadataError(f"table {name!r}: duplicate column names {duplicated}; expected "
                                f"unique names")
        if any(not isinstance(c, str) for c in df.columns):
            df = df.rename(columns=str)
        self.name = name
        self.df = df
        self.n_rows = int(len(df))
        self.sample = df if len(df) <= sample_rows else df.sample(n=sample_rows,
                                                                  random_state=seed)
        self.dtypes = {str(c): _pandas_dtype(name, str(c), df[c]) for c in df.columns}
        self.nulls, self.mins, self.maxs = {}, {}, {}
        for c in df.columns:
            s = df[c]
            self.nulls[str(c)] = int(s.isna().sum())
            fam = dtype_family(self.dtypes[str(c)])
            if fam in ("integer", "float", "decimal", "date", "timestamp", "string"):
                nn = s.dropna()
                if len(nn):
                    self.mins[str(c)] = _scalar(nn.min())
                    self.maxs[str(c)] = _scalar(nn.max())
        self._distinct: dict[str, int] = {}
        self._sorted: dict[str, Any] = {}

    def n_distinct(self, columns: list[str]) -> dict[str, int]:
        for c in columns:
            if c not in self._distinct:
                self._distinct[c] = int(self.df[c].nunique(dropna=True))
        return {c: self._distinct[c] for c in columns}

    def missing_in(self, column: str, parent: "_Profile", parent_column: str) -> int:
        return _pandas_missing(self.df[column], _full_frame(parent)[parent_column])

    def count_below(self, column: str, value: Any, inclusive: bool) -> int:
        if column not in self._sorted:
            self._sorted[column] = _sorted_values(self.df[column])
        return _pandas_count_below(self._sorted[column], value, inclusive)


def _full_frame(p: _Profile) -> Any:
    """The whole table as pandas, for a pandas table or a Spark table that fits its sample."""
    if isinstance(p, _PandasProfile):
        return p.df
    assert isinstance(p, _SparkProfile) and p.complete
    return p.sample


def _pandas_missing(child: Any, keys: Any) -> int:
    import pandas as pd

    values = pd.Series(child.dropna().unique())
    return int((~values.isin(pd.Index(keys.dropna().unique()))).sum())


def _sorted_values(series: Any) -> Any:
    import numpy as np

    return np.sort(np.asarray(series.dropna().tolist(), dtype=object))


def _pandas_count_below(sorted_values: Any, value: Any, inclusive: bool) -> int:
    import numpy as np

    return int(np.searchsorted(sorted_values, value, side="right" if inclusive else "left"))


#: Timestamps pandas can hold (nanoseconds since 1970 in 64 bits), with a day's margin.
PANDAS_TIMESTAMP_BOUNDS = (_dt.datetime(1677, 9, 22), _dt.datetime(2262, 4, 11))


class _SparkProfile(_Profile):
    def __init__(self, name: str, df: Any, sample_rows: int, seed: int) -> None:
        from pyspark.sql import functions as F

        self.name = name
        self.df = df
        self.dtypes = {}
        for field in df.schema.fields:
            dtype = field.dataType.simpleString()
            if _UNSUPPORTED_DTYPE.match(dtype):
                raise _unsupported(name, field.name, dtype)
            self.dtypes[field.name] = dtype
        exprs = [F.count(F.lit(1)).alias("__n")]
        for i, (c, dtype) in enumerate(self.dtypes.items()):
            col = qcol(c)
            fam = dtype_family(dtype)
            is_null = (col.isNull() | F.isnan(col)) if fam == "float" else col.isNull()
            exprs.append(F.sum(F.when(is_null, 1).otherwise(0)).alias(f"__null{i}"))
            if fam in ("integer", "decimal", "date", "string"):
                exprs += [F.min(col).alias(f"__min{i}"), F.max(col).alias(f"__max{i}")]
            elif fam == "float":
                ok = F.when(~F.isnan(col), col)
                exprs += [F.min(ok).alias(f"__min{i}"), F.max(ok).alias(f"__max{i}")]
            elif fam == "timestamp":
                exprs += [F.min(col).cast("string").alias(f"__min{i}"),
                          F.max(col).cast("string").alias(f"__max{i}")]
        row = df.agg(*exprs).collect()[0].asDict()
        self.n_rows = int(row["__n"])
        self.nulls, self.mins, self.maxs = {}, {}, {}
        for i, (c, dtype) in enumerate(self.dtypes.items()):
            self.nulls[c] = int(row[f"__null{i}"] or 0)
            if row.get(f"__min{i}") is not None:
                lo, hi = row[f"__min{i}"], row[f"__max{i}"]
                if dtype_family(dtype) == "timestamp":
                    import pandas as pd

                    lo, hi = pd.Timestamp(lo), pd.Timestamp(hi)
                self.mins[c], self.maxs[c] = lo, hi
        # A table that fits the sample is collected whole (at most sample_rows rows): its exact
        # checks then run on that copy instead of as Spark jobs.
        self.complete = self.n_rows <= sample_rows
        if self.complete:
            sdf = df
        else:
            fraction = min(1.0, 1.2 * sample_rows / self.n_rows)
            sdf = df.sample(withReplacement=False, fraction=fraction, seed=seed).limit(sample_rows)
        # A timestamp outside pandas' range (a 9999-12-31 sentinel) cannot come to the driver:
        # the profile's sample reads those values as null (min and max above are the real ones);
        # fitting such a column fails with a clear error.
        lo_ok, hi_ok = PANDAS_TIMESTAMP_BOUNDS
        wide = [c for c, d in self.dtypes.items() if dtype_family(d) == "timestamp" and c in self.mins
                and (self.mins[c] < lo_ok or self.maxs[c] > hi_ok)]
        if wide:
            sdf = sdf.select(*[
                F.when(qcol(c).between(F.lit(str(lo_ok)).cast(self.dtypes[c]),
                                        F.lit(str(hi_ok)).cast(self.dtypes[c])), qcol(c)).alias(c)
                if c in wide else qcol(c) for c in self.dtypes])
        self.sample = sdf.toPandas()
        self._distinct: dict[str, int] = {}
        self._sorted: dict[str, Any] = {}

    def n_distinct(self, columns: list[str]) -> dict[str, int]:
        from pyspark.sql import functions as F

        todo = [c for c in columns if c not in self._distinct]
        if todo and self.complete:
            for c in todo:
                self._distinct[c] = int(self.sample[c].nunique(dropna=True))
        elif todo:
            row = self.df.agg(*[F.countDistinct(qcol(c)).alias(f"d{i}")
                                for i, c in enumerate(todo)]).collect()[0]
            for i, c in enumerate(todo):
                self._distinct[c] = int(row[f"d{i}"])
        return {c: self._distinct[c] for c in columns}

    def missing_in(self, column: str, parent: "_Profile", parent_column: str) -> int:
        from pyspark.sql import functions as F

        assert isinstance(parent, _SparkProfile)
        if self.complete and parent.complete:
            return _pandas_missing(self.sample[column], parent.sample[parent_column])
        child = (self.df.select(qcol(column).alias("__k")).where(F.col("__k").isNotNull())
                 .distinct())
        keys = parent.df.select(qcol(parent_column).alias("__k"))
        return int(child.join(keys, on="__k", how="left_anti").count())

    def count_below(self, column: str, value: Any, inclusive: bool) -> int:
        from pyspark.sql import functions as F

        if self.complete:
            if column not in self._sorted:
                self._sorted[column] = _sorted_values(self.sample[column])
            return _pandas_count_below(self._sorted[column], value, inclusive)
        col = qcol(column)
        cond = col <= F.lit(value) if inclusive else col < F.lit(value)
        return int(self.df.where(cond).count())


def _scalar(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return value.item()
        except (ValueError, TypeError):
            return value
    return value


def _unsupported(table: str, column: str, dtype: str) -> MetadataError:
    return MetadataError(
        f"table {table!r}, column {column!r}: type {dtype!r} is not supported (expected a number, "
        f"string, boolean, date or timestamp column); drop it or flatten it (e.g. to_json or "
        f"explode) before detecting metadata")


def _pandas_dtype(table: str, column: str, series: Any) -> str:
    """The Spark type name a pandas column maps to; unsupported content raises MetadataError."""
    import numpy as np
    import pandas as pd
    from pandas.api import types as pdt

    dt = series.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return _pandas_dtype(table, column, pd.Series(np.asarray(dt.categories)))
    if pdt.is_bool_dtype(dt):
        return "boolean"
    if pdt.is_integer_dtype(dt):
        size = np.dtype(dt.numpy_dtype if hasattr(dt, "numpy_dtype") else dt).itemsize
        unsigned = pdt.is_unsigned_integer_dtype(dt)
        if unsigned:
            size *= 2
        return {1: "tinyint", 2: "smallint", 4: "int"}.get(size, "bigint") if size <= 8 \
            else "decimal(20,0)"
    if pdt.is_float_dtype(dt):
        return "float" if np.dtype(getattr(dt, "numpy_dtype", dt)).itemsize == 4 else "double"
    if pdt.is_datetime64_any_dtype(dt):
        return "timestamp"
    if pdt.is_timedelta64_dtype(dt):
        raise _unsupported(table, column, "interval (timedelta)")
    if pdt.is_complex_dtype(dt):
        raise _unsupported(table, column, "complex")
    if pdt.is_string_dtype(dt) or dt == object:
        values = series.dropna()
        if len(values) == 0:
            return "string"
        kinds = {type(v) for v in values.head(10_000)}
        if all(issubclass(k, str) for k in kinds):  # numpy's str_ too (numpy 1 in object columns)
            return "string"
        for bad, label in ((dict, "map/struct (dict values)"), (list, "array (list values)"),
                           (tuple, "array (tuple values)"), (np.ndarray, "array"),
                           (bytes, "binary"), (bytearray, "binary"), (memoryview, "binary"),
                           (set, "array (set values)")):
            if any(issubclass(k, bad) for k in kinds):
                raise _unsupported(table, column, label)
        if kinds <= {bool, np.bool_}:
            return "boolean"
        if all(issubclass(k, _dt.datetime) for k in kinds):
            return "timestamp"
        if all(issubclass(k, _dt.date) and not issubclass(k, _dt.datetime) for k in kinds):
            return "date"
        if all(issubclass(k, _decimal.Decimal) for k in kinds):
            scale, digits = 0, 1
            for v in values.head(10_000):
                t = v.as_tuple()
                if isinstance(t.exponent, int):
                    scale = max(scale, -t.exponent)
                    digits = max(digits, len(t.digits))
            return f"decimal({max(digits, scale + 1, 10)},{scale})"
        if all(issubclass(k, (int, np.integer)) and not issubclass(k, bool) for k in kinds):
            return "bigint"
        if all(issubclass(k, (int, float, np.integer, np.floating)) for k in kinds):
            return "double"
        names = ", ".join(sorted(k.__name__ for k in kinds))
        raise MetadataError(f"table {table!r}, column {column!r}: mixed value types ({names}); "
                            f"expected one type per column")
    raise _unsupported(table, column, str(dt))


def _is_spark_frame(obj: Any) -> bool:
    return (hasattr(obj, "schema") and hasattr(obj, "toPandas") and hasattr(obj, "agg")
            and hasattr(getattr(obj, "schema"), "fields"))


def _is_pandas_frame(obj: Any) -> bool:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        return False
    return isinstance(obj, pd.DataFrame)


def check_case_distinct(table: str, columns: Sequence[str], spark: Any) -> None:
    """Columns whose names differ only in case (``x``, ``X``) are one column to a Spark session
    that resolves names case-insensitively (the default): refused naming them, not left to a
    raw AMBIGUOUS_REFERENCE in the middle of a job."""
    if str(spark.conf.get("spark.sql.caseSensitive", "false")).lower() == "true":
        return
    seen: dict[str, str] = {}
    for c in columns:
        other = seen.setdefault(c.lower(), c)
        if other != c:
            raise MetadataError(
                f"Table {table!r}: columns {other!r} and {c!r} differ only in case, and this "
                "Spark session resolves column names case-insensitively "
                "(spark.sql.caseSensitive=false): rename one of them, or set "
                "spark.sql.caseSensitive=true for the session")
