"""Keyed HMAC-SHA256 pseudonymization of columns: the Scala stage and its pure-Python twin.

:class:`HmacPseudonymizer` wraps the Scala transformer ``com.synthohive.spark.HmacPseudonymizer``.
When the synthohive-spark jar is not loaded (Spark Connect, a cluster without the jar) it runs
:func:`pseudonymize_python` instead, which gives byte-identical output.

The function, on both sides, for a non-null value ``v`` of a chosen column:

- ``s = CAST(v AS STRING)`` in Spark SQL (strings are used as they are; numbers, booleans, dates
  and timestamps get Spark's string form, timestamps in the session time zone);
- ``h = lowercase hex of HMAC-SHA256(key=UTF-8(key), msg=UTF-8(s))``, 64 characters;
- output format ``"hex"``: ``h``; ``"truncate"``: ``h[:max(1, min(64, number of characters of s))]``.

Null stays null; output columns are strings. The same value and key give the same pseudonym in
every table and run, so joins between pseudonymized tables still match.

The secret key is never saved: a saved stage keeps only a public key fingerprint and needs
``setKey`` again after loading; a different key is refused.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any, Optional, Sequence

import pandas as pd
from pyspark import keyword_only
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCols, HasOutputCols
from pyspark.ml.util import JavaMLReadable, JavaMLWritable, JavaMLWriter
from pyspark.ml.wrapper import JavaTransformer
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from synthohive_spark._spark import quote
from synthohive_spark.ml._secret import HasSecretKey, key_fingerprint, require_key  # noqa: F401 (key_fingerprint re-exported)
from synthohive_spark.ml._java import (active_classic_session_with_jar, java_reader,
                                       missing_jar_message, register_jvm_package)
from synthohive_spark.session import jvm_available

logger = logging.getLogger("synthohive_spark.ml.pseudonymizer")

__all__ = ["HmacPseudonymizer", "pseudonymize_python", "key_fingerprint", "OUTPUT_FORMATS"]

#: The values ``outputFormat`` accepts.
OUTPUT_FORMATS = ("hex", "truncate")

_HEX_LENGTH = 64
_STAGE = "HmacPseudonymizer"


def _hashable_type(data_type: T.DataType) -> bool:
    if isinstance(data_type, (T.StringType, T.NumericType, T.BooleanType, T.DateType,
                              T.TimestampType)):
        return True
    return data_type.typeName() == "timestamp_ntz"


def _output_schema(schema: T.StructType, input_cols: Sequence[str],
                   output_cols: Optional[Sequence[str]]) -> T.StructType:
    """The output schema; raises ValueError naming the column when the input does not fit.

    Mirrors ``HmacPseudonymizer.transformSchema`` in Scala.
    """
    names = schema.fieldNames()
    available = ", ".join(f"'{n}'" for n in names)
    inputs = list(input_cols or [])
    _require_distinct_non_empty(inputs, "inputCols")
    by_name = {f.name: f for f in schema.fields}
    for c in inputs:
        if c not in by_name:
            raise ValueError(f"{_STAGE}: input column '{c}' does not exist. "
                             f"Available columns: {available}.")
        if not _hashable_type(by_name[c].dataType):
            raise ValueError(f"{_STAGE}: input column '{c}' has type "
                             f"{by_name[c].dataType.simpleString()}; expected a string, number, "
                             "boolean, date or timestamp.")
    if output_cols is None:
        replaced = set(inputs)
        return T.StructType([T.StructField(f.name, T.StringType(), True) if f.name in replaced
                             else f for f in schema.fields])
    outputs = list(output_cols)
    if len(outputs) != len(inputs):
        raise ValueError(f"{_STAGE}: outputCols has {len(outputs)} names but inputCols has "
                         f"{len(inputs)}; give one output column per input column.")
    _require_distinct_non_empty([o.lower() for o in outputs], "outputCols")
    lower = {n.lower(): n for n in names}
    for o in outputs:
        if o.lower() in lower:
            raise ValueError(f"{_STAGE}: output column '{o}' clashes with the existing column "
                             f"'{lower[o.lower()]}'; choose another name, or leave outputCols "
                             "unset to replace the input columns in place.")
    return T.StructType(list(schema.fields) + [T.StructField(o, T.StringType(), True)
                                               for o in outputs])


def _require_distinct_non_empty(names: list[str], what: str) -> None:
    if not names:
        raise ValueError(f"{_STAGE}: {what} must name at least one column.")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{_STAGE}: {what} repeats column "
                         f"{', '.join(repr(n) for n in repeated)}.")


def _hmac_udf(key: str, truncate: bool) -> Any:
    """A pandas UDF string -> pseudonym. The key travels inside the UDF's serialized closure only
    (never as a SQL literal, which would show in query plans and the Spark UI)."""
    key_bytes = key.encode("utf-8")

    def pseudonymize(values: pd.Series) -> pd.Series:
        base = hmac.new(key_bytes, digestmod=hashlib.sha256)  # keyed once per batch, copied per row
        out: list[Optional[str]] = []
        # pandas 3 hands string batches over as its str dtype, whose missing value is NaN
        for value in values.astype(object).where(values.notna(), None):
            if value is None:
                out.append(None)
                continue
            mac = base.copy()
            mac.update(value.encode("utf-8"))
            digest = mac.hexdigest()
            if truncate:
                digest = digest[:max(1, min(_HEX_LENGTH, len(value)))]
            out.append(digest)
        return pd.Series(out, index=values.index, dtype=object)

    return F.pandas_udf(pseudonymize, T.StringType())  # type: ignore[call-overload]


def pseudonymize_python(df: DataFrame, input_cols: Sequence[str], key: str,
                        output_format: str = "hex",
                        output_cols: Optional[Sequence[str]] = None) -> DataFrame:
    """Pseudonymizes ``input_cols`` of ``df`` in pure Python (a pandas UDF), no jar needed.

    Byte-identical to the Scala ``HmacPseudonymizer`` with the same key and settings; works on
    classic and Spark Connect sessions. ``output_cols=None`` replaces the input columns in place.
    """
    require_key(key)
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"{_STAGE}: outputFormat must be one of {', '.join(OUTPUT_FORMATS)}, "
                         f"got {output_format!r}.")
    schema = df.schema
    _output_schema(schema, input_cols, output_cols)
    fn = _hmac_udf(key, output_format == "truncate")
    types = {f.name: f.dataType for f in schema.fields}

    def hashed(name: str) -> Any:
        source = F.col(quote(name))
        if not isinstance(types[name], T.StringType):
            source = source.cast("string")
        return fn(source)

    inputs = list(input_cols)
    if output_cols is not None:
        return df.select(F.col("*"), *[hashed(i).alias(o) for i, o in zip(inputs, output_cols)])
    replaced = set(inputs)
    return df.select(*[hashed(n).alias(n) if n in replaced else F.col(quote(n))
                       for n in schema.fieldNames()])


class _HmacPseudonymizerParams(HasInputCols, HasOutputCols, HasSecretKey):
    """Params of :class:`HmacPseudonymizer`; the secret key is deliberately not one of them."""

    outputFormat: "Param[str]" = Param(
        Params._dummy(), "outputFormat",
        "hex: full 64-character hex HMAC-SHA256; truncate: hex cut to the length of the value's "
        "string form (1 to 64 characters)", typeConverter=TypeConverters.toString)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(outputFormat="hex")

    def getOutputFormat(self) -> str:
        return self.getOrDefault(self.outputFormat)


class HmacPseudonymizer(JavaTransformer, _HmacPseudonymizerParams, JavaMLReadable, JavaMLWritable):
    """Replaces the values of ``inputCols`` with keyed HMAC-SHA256 pseudonyms (lowercase hex).

    Runs the Scala stage ``com.synthohive.spark.HmacPseudonymizer`` when the synthohive-spark jar
    is loaded, and the identical pure-Python function :func:`pseudonymize_python` otherwise.
    Values are hashed as Spark's ``CAST(x AS STRING)``; null stays null; output columns are
    strings. The key is never saved: after ``load`` call ``setKey`` with the same key again.

    >>> from synthohive_spark.ml.pseudonymizer import HmacPseudonymizer
    >>> df = spark.createDataFrame([("ann@example.com", 7), (None, 8)], "email string, id int")
    >>> pseudo = HmacPseudonymizer(inputCols=["email", "id"], key="a-long-random-secret")
    >>> out = pseudo.transform(df)          # email and id replaced by 64-character hex strings
    >>> pseudo.write().save("/tmp/pseudo")  # saves params and the key fingerprint, not the key
    >>> again = HmacPseudonymizer.load("/tmp/pseudo").setKey("a-long-random-secret")
    """

    _java_class = "com.synthohive.spark.HmacPseudonymizer"

    @keyword_only
    def __init__(self, *, inputCols: Optional[list[str]] = None,
                 outputCols: Optional[list[str]] = None, outputFormat: str = "hex",
                 keyId: Optional[str] = None, key: Optional[str] = None) -> None:
        super().__init__()
        self._java_obj = None
        self._init_key()
        spark = active_classic_session_with_jar()
        self._java_obj = (self._new_java_obj(self._java_class, self.uid)
                          if spark is not None else None)
        kwargs = self._input_kwargs
        self._input_kwargs = {}  # never keep the key in a second place
        self.setParams(**kwargs)

    @keyword_only
    def setParams(self, *, inputCols: Optional[list[str]] = None,
                  outputCols: Optional[list[str]] = None, outputFormat: str = "hex",
                  keyId: Optional[str] = None, key: Optional[str] = None) -> "HmacPseudonymizer":
        """Sets params (and the key, when given) of this stage."""
        kwargs = dict(self._input_kwargs)
        self._input_kwargs = {}
        secret = kwargs.pop("key", None)
        if outputFormat not in OUTPUT_FORMATS:
            raise ValueError(f"{_STAGE}: outputFormat must be one of {', '.join(OUTPUT_FORMATS)}, "
                             f"got {outputFormat!r}.")
        self._set(**{k: v for k, v in kwargs.items() if v is not None})
        if secret is not None:
            self.setKey(secret)
        return self

    def setInputCols(self, value: list[str]) -> "HmacPseudonymizer":
        return self._set(inputCols=value)

    def setOutputCols(self, value: list[str]) -> "HmacPseudonymizer":
        return self._set(outputCols=value)

    def setOutputFormat(self, value: str) -> "HmacPseudonymizer":
        if value not in OUTPUT_FORMATS:
            raise ValueError(f"{_STAGE}: outputFormat must be one of {', '.join(OUTPUT_FORMATS)}, "
                             f"got {value!r}.")
        return self._set(outputFormat=value)

    def _key_changed(self) -> None:
        if self._java_obj is None:
            return
        if self._secret_key is not None:
            self._transfer_params_to_java()
        else:
            self._java_obj.clearKey()

    def clear(self, param: Param) -> None:
        Params.clear(self, param)
        if self._java_obj is not None:
            self._java_obj.clear(self._java_obj.getParam(param.name))

    # -- JVM plumbing ------------------------------------------------------------------------

    def _ensure_java_obj(self) -> Any:
        if self._java_obj is None:
            if active_classic_session_with_jar() is None:
                raise RuntimeError(missing_jar_message(_STAGE))
            self._java_obj = self._new_java_obj(self._java_class, self.uid)
        return self._java_obj

    def _transfer_params_to_java(self) -> None:
        super()._transfer_params_to_java()
        if self._secret_key is not None:
            self._java_obj.setKey(self._secret_key)
        else:
            self._java_obj.clearKey()

    def _to_java(self) -> Any:
        self._ensure_java_obj()
        return super()._to_java()

    def _transform(self, dataset: DataFrame) -> DataFrame:
        if not self._key_from_env():
            saved = ""
            if self.isDefined(self.keyFingerprint):
                saved = (f" This stage was configured with the key whose fingerprint is "
                         f"{self.getKeyFingerprint()}; a saved stage never contains its key, so "
                         "set it again after loading.")
            raise ValueError(f"{_STAGE} {self.uid}: no key is set; {self._key_hint()} before "
                             f"transform.{saved}")
        if not self.isDefined(self.inputCols):
            raise ValueError(f"{_STAGE} {self.uid}: inputCols is not set; name the columns to "
                             f"pseudonymize. Available columns: "
                             f"{', '.join(repr(n) for n in dataset.columns)}.")
        spark = dataset.sparkSession
        if jvm_available(spark):
            self._ensure_java_obj()
            self._transfer_params_to_java()
            return DataFrame(self._java_obj.transform(dataset._jdf), spark)
        logger.info("%s %s: the synthohive-spark jar is not loaded; using the identical "
                    "pure-Python implementation.", _STAGE, self.uid)
        output_cols = self.getOutputCols() if self.isDefined(self.outputCols) else None
        return pseudonymize_python(dataset, self.getInputCols(), self._secret_key,
                                   self.getOutputFormat(), output_cols)

    def write(self) -> JavaMLWriter:
        """Writes the params and key fingerprint (never the key) through the Scala stage."""
        return JavaMLWriter(self)

    @classmethod
    def read(cls) -> Any:
        """Reads a saved stage; call ``setKey`` with the original key before ``transform``."""
        return java_reader(cls)


register_jvm_package()
