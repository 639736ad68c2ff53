"""Per-column codecs: a pandas Series <-> a plain numeric base representation, dtype-exact.

A :class:`ColumnCodec` knows the column's pandas dtype (as Spark's ``toPandas()`` with Arrow gives it:
numpy ints/floats/bools, nullable ``Int64``/``boolean``, strings, ``datetime64`` with or without a
time zone, object columns of ``datetime.date`` or ``decimal.Decimal``) and its learned kind:

- ``numerical``: values become float64 (NaN for missing); back: rounded to the column's step or
  decimals, clipped to its range, cast to the original dtype;
- ``categorical``: values become integer codes ``0..K-1``, ``K`` for missing (when the column had
  missing values), ``-1`` for values never seen at fit; back: the category values in the original
  dtype.

Its fitted state is a JSON-able dict (no pickle).
"""
from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import functools
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from synthohive_spark.errors import TransformError  # noqa: F401 (re-exported)

logger = logging.getLogger("synthohive_spark.transform.columns")

SDTYPES = ("numerical", "categorical", "boolean", "datetime", "id", "text")
#: ``overridden``: the column's generated value is replaced after sampling (copied from the
#: parent row, aggregated from the children: the relational rules), so no row formula reads it
SPEC_KEYS = ("sdtype", "min", "max", "integer", "decimals", "overridden")

# dtype families whose base representation is a float64 array (NaN = missing)
_NUMBER_FAMILIES = (
    "int", "nullable_int", "float", "nullable_float", "bool", "nullable_bool",
    "datetime", "timedelta", "date", "decimal",
)
# dtype families whose base representation is an object array of JSON scalars (None = missing)
_LABEL_FAMILIES = ("string", "object", "category")

_NAT = np.iinfo(np.int64).min
_DATETIME_STEPS_NS = (86_400 * 10**9, 3_600 * 10**9, 60 * 10**9, 10**9, 10**6, 10**3, 1)
_UNIT_NS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


def _json_scalar(value: Any) -> Any:
    """A JSON-able Python scalar for a category value (numpy scalars become Python ones)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise TransformError(f"non-finite category value {value!r}")
    return value


def _check_object_values(name: str, values: np.ndarray) -> str:
    """The family of an object column from the Python types of its non-null values."""
    nonnull = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))
               and v is not pd.NA and v is not pd.NaT]
    if not nonnull:
        return "object"
    types = {type(v) for v in nonnull}
    if types <= {_dt.date}:
        return "date"
    if all(issubclass(t, _decimal.Decimal) for t in types):
        return "decimal"
    allowed = (str, bool, int, float, np.integer, np.floating, np.bool_)
    bad = [t for t in types if not issubclass(t, allowed)]
    if bad:
        names = ", ".join(sorted(t.__name__ for t in bad))
        raise TransformError(
            f"column {name!r}: unsupported values of type {names}; expected numbers, strings, booleans, "
            "datetime.date, decimal.Decimal or datetime64 values (drop the column or convert it first)")
    return "object"


def describe_dtype(name: str, series: pd.Series) -> dict[str, Any]:
    """A JSON-able description of a column's dtype, enough to rebuild the exact dtype."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = [_json_scalar(c) for c in dtype.categories.tolist()]
        for c in cats:
            if not isinstance(c, (str, int, float, bool)):
                raise TransformError(f"column {name!r}: categorical dtype with unsupported category {c!r}")
        return {"family": "category", "categories": cats, "ordered": bool(dtype.ordered)}
    if isinstance(dtype, pd.StringDtype):
        na_nan = isinstance(dtype.na_value, float) and math.isnan(dtype.na_value)
        return {"family": "string", "storage": dtype.storage, "na_nan": bool(na_nan)}
    if isinstance(dtype, pd.DatetimeTZDtype):
        return {"family": "datetime", "unit": dtype.unit, "tz": str(dtype.tz)}
    if isinstance(dtype, pd.BooleanDtype):
        return {"family": "nullable_bool"}
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and getattr(dtype, "_is_numeric", False) \
            and hasattr(dtype, "numpy_dtype"):
        kind = np.dtype(dtype.numpy_dtype).kind
        if kind in "iu":
            return {"family": "nullable_int", "dtype": dtype.name}
        if kind == "f":
            return {"family": "nullable_float", "dtype": dtype.name}
    if isinstance(dtype, np.dtype):
        if dtype.kind in "iu":
            return {"family": "int", "dtype": dtype.name}
        if dtype.kind == "f":
            return {"family": "float", "dtype": dtype.name}
        if dtype.kind == "b":
            return {"family": "bool"}
        if dtype.kind == "M":
            unit = np.datetime_data(dtype)[0]
            return {"family": "datetime", "unit": unit, "tz": None}
        if dtype.kind == "m":
            unit = np.datetime_data(dtype)[0]
            return {"family": "timedelta", "unit": unit}
        if dtype.kind == "O":
            family = _check_object_values(name, series.to_numpy())
            if family == "decimal":
                import pyarrow as pa

                try:
                    arr = pa.array(series, from_pandas=True)
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    raise TransformError(f"column {name!r}: decimal values Arrow cannot read: {exc}") from exc
                scale = int(getattr(arr.type, "scale", 0))
                return {"family": "decimal", "scale": scale}
            return {"family": family}
    raise TransformError(
        f"column {name!r}: unsupported dtype {dtype}; expected integers, floats, booleans, strings, "
        "datetimes, dates or decimals")


def _string_dtype(info: dict[str, Any]) -> pd.StringDtype:
    if info.get("na_nan"):
        try:
            return pd.StringDtype(storage=info.get("storage", "python"), na_value=np.nan)
        except TypeError:  # pandas < 2.3 has no na_value; the plain string dtype is the closest
            return pd.StringDtype(storage=info.get("storage", "python"))
    return pd.StringDtype(storage=info.get("storage", "python"))


def to_base(series: pd.Series, info: dict[str, Any]) -> np.ndarray:
    """Base representation: float64 with NaN (number families) or an object array with None."""
    fam = info["family"]
    if fam in ("int", "float"):
        return series.to_numpy(dtype=np.float64, copy=True)
    if fam in ("nullable_int", "nullable_float", "nullable_bool"):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    if fam == "bool":
        return series.to_numpy().astype(np.float64)
    if fam in ("datetime", "timedelta"):
        series = series.dt.as_unit(info["unit"])
        if fam == "datetime" and info.get("tz") is not None:
            raw = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
        else:
            raw = series.to_numpy()
        ints = raw.view(np.int64)
        out = ints.astype(np.float64)
        out[ints == _NAT] = np.nan
        return out
    if fam == "date":
        vals = series.to_numpy(dtype=object)
        mask = pd.isna(vals)
        vals = np.where(mask, None, vals)
        days = np.array(vals, dtype="datetime64[D]").view(np.int64)
        out = days.astype(np.float64)
        out[mask] = np.nan
        return out
    if fam == "decimal":
        import pyarrow as pa

        return np.asarray(pa.array(series, from_pandas=True).cast(pa.float64()).to_numpy(zero_copy_only=False),
                          dtype=np.float64)
    # label families
    vals = series.to_numpy(dtype=object)
    mask = pd.isna(vals)
    if mask.any():
        vals = vals.copy()
        vals[mask] = None
    return vals


def from_base(values: np.ndarray, info: dict[str, Any], index: pd.Index | None = None,
              name: str | None = None, arrow: bool = False) -> pd.Series:
    """Inverse of :func:`to_base`: a Series in the original dtype (NaN/None in ``values`` = missing).

    With ``arrow``, dates and decimals come back Arrow-backed (``pd.ArrowDtype`` date32 /
    decimal128) instead of as Python ``date``/``Decimal`` objects: same values, no per-row
    objects, and Spark's Arrow writer takes them as they are.
    """
    fam = info["family"]
    n = len(values)
    if fam in _NUMBER_FAMILIES:
        values = np.asarray(values, dtype=np.float64)
        mask = np.isnan(values)
    if fam == "int":
        arr = np.where(mask, 0.0, values)
        dt = np.dtype(info["dtype"])
        lo, hi = np.iinfo(dt).min, np.iinfo(dt).max
        arr = np.clip(np.rint(arr), lo, hi).astype(dt)
        return pd.Series(arr, index=index, name=name)
    if fam == "float":
        return pd.Series(values.astype(np.dtype(info["dtype"])), index=index, name=name)
    if fam in ("nullable_int", "nullable_float"):
        dtype = pd.api.types.pandas_dtype(info["dtype"])
        np_dt = np.dtype(dtype.numpy_dtype)
        arr = np.where(mask, 0.0, values)
        if np_dt.kind in "iu":
            lo, hi = np.iinfo(np_dt).min, np.iinfo(np_dt).max
            arr = np.clip(np.rint(arr), lo, hi)
        arr = arr.astype(np_dt)
        cls = pd.arrays.IntegerArray if np_dt.kind in "iu" else pd.arrays.FloatingArray
        return pd.Series(cls(arr, mask.copy()), index=index, name=name)
    if fam == "bool":
        return pd.Series(np.where(mask, 0.0, values) > 0.5, index=index, name=name)
    if fam == "nullable_bool":
        arr = np.where(mask, 0.0, values) > 0.5
        return pd.Series(pd.arrays.BooleanArray(arr, mask.copy()), index=index, name=name)
    if fam in ("datetime", "timedelta"):
        ints = np.where(mask, 0.0, np.rint(values))
        ints = np.clip(ints, -(2.0**63) + 2**11, 2.0**63 - 2**11).astype(np.int64)
        ints[mask] = _NAT
        unit = info["unit"]
        if fam == "timedelta":
            return pd.Series(ints.view(f"timedelta64[{unit}]"), index=index, name=name)
        s = pd.Series(ints.view(f"datetime64[{unit}]"), index=index, name=name)
        if info.get("tz") is not None:
            s = s.dt.tz_localize("UTC").dt.tz_convert(info["tz"])
        return s
    if fam == "date":
        days = np.where(mask, 0.0, np.rint(values)).astype(np.int64)
        if arrow:
            import pyarrow as pa

            arr = pa.array(days.astype(np.int32), type=pa.int32(), mask=mask).view(pa.date32())
            return pd.Series(pd.arrays.ArrowExtensionArray(arr), index=index, name=name)
        out = days.view("datetime64[D]").astype(object)
        out[mask] = None
        return pd.Series(out, index=index, name=name, dtype=object)
    if fam == "decimal":
        import pyarrow as pa

        scale = int(info["scale"])
        rounded = np.round(values, scale)
        arr = pa.array(rounded, mask=mask, type=pa.float64()).cast(pa.decimal128(38, scale), safe=False)
        if arrow:
            return pd.Series(pd.arrays.ArrowExtensionArray(arr), index=index, name=name)
        out = np.empty(n, dtype=object)
        out[:] = arr.to_pylist()
        return pd.Series(out, index=index, name=name, dtype=object)
    # label families
    vals = np.asarray(values, dtype=object)
    if fam == "string":
        return pd.Series(vals, index=index, name=name, dtype=_string_dtype(info))
    if fam == "category":
        cat = pd.Categorical(vals, categories=info["categories"], ordered=info["ordered"])
        return pd.Series(cat, index=index, name=name)
    return pd.Series(vals, index=index, name=name, dtype=object)


def units_per_day(unit: str) -> int | None:
    """How many of a datetime64 ``unit`` make a day (None: a unit this module does not step)."""
    unit_ns = _UNIT_NS.get(unit)
    return None if unit_ns is None else _DATETIME_STEPS_NS[0] // unit_ns


def _datetime_step(values: np.ndarray, unit: str, days: bool = False) -> float:
    """The coarsest calendar step (day, hour, ..., 1 unit) that every observed value is a multiple of."""
    if days:
        return 1.0
    ints = values.astype(np.int64)
    unit_ns = _UNIT_NS.get(unit, 1)
    for step_ns in _DATETIME_STEPS_NS:
        if step_ns < unit_ns or step_ns % unit_ns:
            continue
        step = step_ns // unit_ns
        if np.all(ints % step == 0):
            return float(step)
    return 1.0


def float_decimals(values: Any) -> int | None:
    """The fewest decimals (0..6) that represent every finite value exactly (within 1e-9 of its
    own size), or None (no finite value, or more decimals). Metadata detection uses it too."""
    arr = np.asarray(values, dtype="float64")
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return None
    tol = 1e-9 * np.maximum(1.0, np.abs(arr))
    for k in range(7):
        if np.all(np.abs(np.round(arr, k) - arr) <= tol):
            return k
    return None


def _has_nul(values: np.ndarray) -> bool:
    """Whether any string in an object array holds a NUL character."""
    strs = pd.Series(np.asarray(values, dtype=object), dtype=object)
    found = strs.str.contains("\x00", regex=False, na=False)
    return bool(found.any())


def _hash_keys(values: np.ndarray, force: bool = False) -> np.ndarray:
    """Keys for pandas' hash tables: pandas hashes strings as C strings, so ``''`` and ``'\\x00'``
    (or ``'a'`` and ``'a\\x00b'``) would collide. When a string holds a NUL, every string is keyed by its
    ``repr`` (injective on str, and never equal to a non-string value)."""
    arr = np.asarray(values, dtype=object)
    if not force and not _has_nul(arr):
        return arr
    out = np.empty(len(arr), dtype=object)
    out[:] = [repr(v) if isinstance(v, str) else v for v in arr.tolist()]
    return out


@dataclass
class ColumnCodec:
    """A fitted column: dtype description, kind and the kind's statistics (all JSON-able)."""

    name: str
    dtype: dict[str, Any]
    kind: str  # "numerical" | "categorical"
    has_null: bool = False
    null_count: int = 0
    count: int = 0
    # numerical
    min: float | None = None
    max: float | None = None
    step: float | None = None  # round to multiples of step (relative to offset)
    decimals: int | None = None
    offset: float = 0.0  # subtracted from the base values before modelling (keeps datetimes precise)
    # categorical
    categories: list[Any] = field(default_factory=list)
    frequencies: list[int] = field(default_factory=list)
    # runtime only (never saved): decode dates/decimals as Arrow-backed Series, see from_base
    arrow_output: bool = field(default=False, compare=False, repr=False)

    # ------------------------------------------------------------------ fit
    @classmethod
    def fit(cls, name: str, series: pd.Series, spec: dict[str, Any] | None = None,
            sample_rng: np.random.Generator | None = None) -> "ColumnCodec":
        spec = dict(spec or {})
        unknown = set(spec) - set(SPEC_KEYS)
        if unknown:
            raise TransformError(f"column {name!r}: unknown column spec keys {sorted(unknown)}; "
                                 f"expected some of {list(SPEC_KEYS)}")
        sdtype = spec.get("sdtype")
        if sdtype is not None and sdtype not in SDTYPES:
            raise TransformError(f"column {name!r}: unknown sdtype {sdtype!r}; expected one of {list(SDTYPES)}")
        info = describe_dtype(name, series)
        base = to_base(series, info)
        fam = info["family"]
        n = len(base)
        if fam in _NUMBER_FAMILIES:
            nullmask = np.isnan(base)
        else:
            nullmask = pd.isna(base)
        null_count = int(nullmask.sum())
        nonnull = base[~nullmask]
        if sdtype == "numerical" and fam in _LABEL_FAMILIES:
            raise TransformError(f"column {name!r}: sdtype 'numerical' in the column spec, but the column "
                                 f"holds {fam} values (dtype {series.dtype}); expected numbers")
        if sdtype in ("categorical", "boolean", "id", "text") or fam in _LABEL_FAMILIES:
            kind = "categorical"
        elif sdtype in ("numerical", "datetime"):
            kind = "numerical"
        elif fam in ("bool", "nullable_bool"):
            kind = "categorical"
        else:
            kind = "numerical"
        if kind == "numerical" and len(np.unique(nonnull)) <= 1:
            kind = "categorical"  # constant or all-null: nothing to model but the value and the null rate
        codec = cls(name=name, dtype=info, kind=kind, has_null=null_count > 0, null_count=null_count, count=n)
        if kind == "categorical":
            codec._fit_categories(nonnull, fam)
        else:
            codec._fit_numerical(nonnull, fam, spec)
        return codec

    def _fit_categories(self, nonnull: np.ndarray, fam: str) -> None:
        if len(nonnull) == 0:
            return
        if fam in _NUMBER_FAMILIES:
            uniq, counts = np.unique(nonnull, return_counts=True)
            cats = uniq.tolist()
        else:
            keys = _hash_keys(nonnull)
            codes, _ = pd.factorize(pd.Series(keys, dtype=object), sort=False)
            counts = np.bincount(codes, minlength=int(codes.max()) + 1)
            first = np.unique(codes, return_index=True)[1]  # first row of each code
            cats = [_json_scalar(v) for v in np.asarray(nonnull, dtype=object)[first].tolist()]
        order = np.argsort(-counts, kind="stable")
        self.categories = [cats[i] for i in order]
        self.frequencies = [int(counts[i]) for i in order]

    def _fit_numerical(self, nonnull: np.ndarray, fam: str, spec: dict[str, Any]) -> None:
        if not np.isfinite(nonnull).all():
            raise TransformError(f"column {self.name!r}: holds infinite values; expected finite numbers "
                                 "(replace them with nulls, or declare the column categorical)")
        lo, hi = float(nonnull.min()), float(nonnull.max())
        if fam in ("datetime", "timedelta", "date"):
            self.offset = lo
            self.step = _datetime_step(nonnull - lo, self.dtype.get("unit", "D"), days=fam == "date")
        elif fam in ("int", "nullable_int") or spec.get("integer"):
            self.step = 1.0
        elif fam == "decimal":
            self.decimals = int(self.dtype["scale"])
        else:
            sample = nonnull if len(nonnull) <= 10_000 else nonnull[:10_000]
            self.decimals = float_decimals(sample)
        if spec.get("decimals") is not None:
            self.decimals = int(spec["decimals"])
        if spec.get("integer") is False and fam not in ("int", "nullable_int", "datetime", "timedelta", "date"):
            # "integer: false" is about numbers; a timestamp's calendar step (whole hours, days) stays
            self.step = None
        for key, val in (("min", spec.get("min")), ("max", spec.get("max"))):
            if val is None:
                continue
            if not isinstance(val, (int, float)) or isinstance(val, bool):
                raise TransformError(f"column {self.name!r}: spec {key}={val!r} must be a number")
        self.min = float(spec["min"]) if spec.get("min") is not None else lo
        self.max = float(spec["max"]) if spec.get("max") is not None else hi
        if self.min > self.max:
            raise TransformError(f"column {self.name!r}: spec min {self.min} is above max {self.max}")

    # ------------------------------------------------------------ properties
    @property
    def n_categories(self) -> int:
        """Categories including the missing-value category, when the column has missing values."""
        return len(self.categories) + (1 if self.has_null else 0)

    @property
    def null_code(self) -> int:
        return len(self.categories) if self.has_null else -1

    # ------------------------------------------------------------- encode
    def _base(self, series: pd.Series) -> np.ndarray:
        try:
            return to_base(series, self.dtype)
        except (TypeError, ValueError, AttributeError) as exc:
            raise TransformError(f"column {self.name!r}: cannot read values of dtype {series.dtype} as the "
                                 f"fit-time {self.dtype['family']} column: {exc}") from exc

    def numeric_values(self, series: pd.Series) -> np.ndarray:
        """float64 values minus the offset, NaN for missing (numerical columns)."""
        return self._base(series) - self.offset

    def codes(self, series: pd.Series) -> np.ndarray:
        """int64 codes: 0..K-1 categories, K missing (when seen at fit), -1 unseen."""
        base = self._base(series)
        if self.dtype["family"] in _NUMBER_FAMILIES:
            nullmask = np.isnan(base)
            index = pd.Index(np.asarray(self.categories, dtype=np.float64))
        else:
            nullmask = pd.isna(base)
            cats = np.empty(len(self.categories), dtype=object)
            cats[:] = self.categories
            if _has_nul(cats) or _has_nul(base):
                base = _hash_keys(base, force=True)
                cats = _hash_keys(cats, force=True)
            index = pd.Index(cats, dtype=object)
        codes = np.full(len(base), -1, dtype=np.int64)
        if len(index):
            codes = index.get_indexer(base).astype(np.int64)
        codes[nullmask] = self.null_code
        return codes

    # ------------------------------------------------------------- decode
    def from_numeric(self, values: np.ndarray, null_mask: np.ndarray | None = None,
                     index: pd.Index | None = None) -> pd.Series:
        """Values (offset removed) -> Series: rounded, clipped to [min, max], missing where null_mask."""
        vals = np.asarray(values, dtype=np.float64) + self.offset
        if self.min is not None:
            vals = np.clip(vals, self.min, self.max)
        if self.step:
            vals = self.offset + np.rint((vals - self.offset) / self.step) * self.step
            if self.min is not None:  # rounding may leave the range; step back inside it
                vals = np.where(vals > self.max, vals - self.step, vals)
                vals = np.where(vals < self.min, vals + self.step, vals)
        if self.decimals is not None:
            vals = np.round(vals, self.decimals)
        if null_mask is not None and null_mask.any():
            vals = np.where(null_mask, np.nan, vals)
        return from_base(vals, self.dtype, index=index, name=self.name, arrow=self.arrow_output)

    def from_codes(self, codes: np.ndarray, index: pd.Index | None = None) -> pd.Series:
        codes = np.asarray(codes, dtype=np.int64)
        k = len(self.categories)
        null = (codes < 0) | (codes >= k)
        if self.arrow_output and self.dtype["family"] in ("object", "string"):
            table = self._arrow_categories
            if table is not None:  # an Arrow take: no per-row Python strings on the way to Spark
                import pyarrow as pa

                taken = table.take(pa.array(np.where(null, k, codes)))
                return pd.Series(pd.arrays.ArrowExtensionArray(taken), index=index, name=self.name)
        if self.dtype["family"] in _NUMBER_FAMILIES:
            table = np.asarray(self.categories + [np.nan], dtype=np.float64)
        else:
            table = np.empty(k + 1, dtype=object)
            table[:k] = self.categories
            table[k] = None
        vals = table[np.where(null, k, codes)]
        return from_base(vals, self.dtype, index=index, name=self.name, arrow=self.arrow_output)

    @functools.cached_property
    def _arrow_categories(self) -> Any:
        """The categories as an Arrow string array plus a trailing null, or None when some category
        is not a string (decoding only; the categories are fixed once fitted)."""
        if not all(isinstance(c, str) for c in self.categories):
            return None
        import pyarrow as pa

        return pa.array(list(self.categories) + [None], type=pa.string())

    # -------------------------------------------------------------- state
    def to_state(self) -> dict[str, Any]:
        return {
            "name": self.name, "dtype": self.dtype, "kind": self.kind, "has_null": self.has_null,
            "null_count": self.null_count, "count": self.count, "min": self.min, "max": self.max,
            "step": self.step, "decimals": self.decimals, "offset": self.offset,
            "categories": self.categories, "frequencies": self.frequencies,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "ColumnCodec":
        return cls(**state)


def check_frame(data: pd.DataFrame, what: str = "data") -> None:
    """Fail clearly on an empty frame, duplicate or non-string column names."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(data).__name__}")
    if len(data.columns) == 0:
        raise TransformError(f"{what} has no columns; expected at least one column to learn")
    if len(data) == 0:
        raise TransformError(f"{what} has no rows (columns {list(data.columns)}); expected at least one row")
    dup = data.columns[data.columns.duplicated()].tolist()
    if dup:
        raise TransformError(f"{what} has duplicate column names {dup}")
    bad = [c for c in data.columns if not isinstance(c, str)]
    if bad:
        raise TransformError(f"{what} column names must be strings, got {bad}")
