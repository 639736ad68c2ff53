"""The two engines of the PII stages, with identical output: the Scala ``PIIScanner`` and
``PIIReplacer`` of the synthohive-spark jar (a classic session that has it loaded), and Spark SQL
plus pandas UDFs over the same pure-Python rules of :mod:`synthohive_spark.privacy` (Spark Connect,
a cluster without the jar). ``fake`` always runs in a pandas UDF.
"""
from __future__ import annotations

import logging
from typing import Any, Optional, Sequence

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from synthohive_spark._spark import quote
from synthohive_spark.privacy import strategies as S
from synthohive_spark.privacy import validators as V
from synthohive_spark.session import jvm_available

logger = logging.getLogger("synthohive_spark.ml.pii")

_STAGE = "PIISanitizer"
_REPLACER = "com.synthohive.spark.pii.PIIReplacer"
_JVM_STRATEGIES = ("hash", "hash:truncate", "hash:format", "mask", "redact", "redact:null")
_RULE_BITS = {"email": V.EMAIL, "phone": V.PHONE, "ssn": V.SSN, "ssn_digits": V.SSN_DIGITS,
              "credit_card": V.CREDIT_CARD, "ip": V.IP, "iban": V.IBAN,
              "date_of_birth": V.DATE_OF_BIRTH}
_BIT_SUFFIX = "__pii_bits"


def _scannable(dt: T.DataType) -> bool:
    """Types whose string form can hold PII: strings, integers, decimals, dates, timestamps."""
    if isinstance(dt, (T.StringType, T.IntegralType, T.DecimalType, T.DateType, T.TimestampType)):
        return True
    return dt.typeName() in ("timestamp_ntz", "varchar", "char")


def _replaceable(dt: T.DataType) -> bool:
    return _scannable(dt) or isinstance(dt, (T.BooleanType, T.FloatType, T.DoubleType))


# -- the Python engine ------------------------------------------------------------------------------

def scan_bits_python(df: DataFrame, columns: Sequence[str], ref_year: int) -> DataFrame:
    """Appends ``<col>__pii_bits`` int columns (pandas UDF); identical to the Scala PIIScanner."""
    @F.pandas_udf(T.IntegerType())  # type: ignore[call-overload]
    def bits(values: pd.Series) -> pd.Series:
        return pd.Series([V.classify(v, ref_year) if isinstance(v, str) else 0 for v in values],
                         index=values.index, dtype="int32")

    return df.select(F.col("*"), *[bits(F.col(quote(c)).cast("string")).alias(c + _BIT_SUFFIX)
                                   for c in columns])


def _scan_bits_jvm(df: DataFrame, columns: Sequence[str], ref_year: int) -> DataFrame:
    spark = df.sparkSession
    jvm = spark.sparkContext._jvm
    scanner = jvm.com.synthohive.spark.pii.PIIScanner()
    gateway = spark.sparkContext._gateway
    scanner.setInputCols(_java_strings(gateway, columns))
    scanner.setOutputCols(_java_strings(gateway, [c + _BIT_SUFFIX for c in columns]))
    scanner.setRefYear(int(ref_year))
    return DataFrame(scanner.transform(df._jdf), spark)


def _pii_classes_loaded(spark: SparkSession) -> bool:
    """True on a classic session whose JVM has the PII classes of the synthohive-spark jar (an
    older jar may have the other stages only)."""
    if not jvm_available(spark):
        return False
    jvm = spark.sparkContext._jvm
    try:
        jvm.java.lang.Class.forName(_REPLACER, True,
                                    jvm.Thread.currentThread().getContextClassLoader())
        return True
    except Exception as exc:  # py4j wraps ClassNotFoundException
        logger.warning("%s: the synthohive-spark jar has no %s (rebuild it with `python "
                       "jvm/build_jar.py`); using the Python engine. %s", _STAGE, _REPLACER, exc)
        return False


def _java_strings(gateway: Any, values: Sequence[str]) -> Any:
    arr = gateway.new_array(gateway.jvm.java.lang.String, len(values))
    for i, v in enumerate(values):
        arr[i] = v
    return arr


def _string_udf(fn: Any) -> Any:
    def apply(values: pd.Series) -> pd.Series:
        # pandas 3 hands string batches over as its str dtype, whose missing value is NaN
        values = values.astype(object).where(values.notna(), None)
        return pd.Series([None if v is None else fn(v) for v in values], index=values.index,
                         dtype=object)

    return F.pandas_udf(apply, T.StringType())  # type: ignore[call-overload]


def replace_python(df: DataFrame, plan: Sequence[tuple[str, str, str]], key: Optional[str],
                   redact_token: str) -> DataFrame:
    """Applies ``(column, kind, strategy)`` with strategies among hash, hash:truncate,
    hash:format, mask, redact, redact:null in Spark SQL and pandas UDFs; byte-identical to the
    Scala PIIReplacer."""
    by_col = {c: (k, s) for c, k, s in plan}
    needs_key = any(s.startswith("hash") for _, _, s in plan)
    if needs_key and not key:
        raise ValueError(f"{_STAGE}: the hash strategy needs the secret key; set key=<secret>.")
    key_bytes = key.encode("utf-8") if key else b""
    types = {f.name: f.dataType for f in df.schema.fields}

    def replaced(name: str, kind: str, strategy: str) -> Any:
        as_string = F.col(quote(name)).cast("string")
        if strategy == "hash":
            return _string_udf(lambda v: S.hash_hex(key_bytes, v))(as_string)
        if strategy == "hash:truncate":
            return _string_udf(lambda v: S.hash_hex(key_bytes, v, True))(as_string)
        if strategy == "hash:format":
            return _string_udf(lambda v: S.hash_format(key_bytes, v))(as_string)
        if strategy == "mask":
            return _string_udf(lambda v: S.mask_value(v, kind))(as_string)
        if strategy == "redact":
            return F.when(as_string.isNull(), F.lit(None).cast("string")).otherwise(
                F.lit(redact_token))
        if strategy == "redact:null":
            return F.lit(None).cast(types[name])
        raise ValueError(f"{_STAGE}: strategy {strategy!r} of column {name!r} does not run in "
                         f"this engine; expected one of {', '.join(_JVM_STRATEGIES)}.")

    return df.select(*[replaced(n, *by_col[n]).alias(n) if n in by_col else F.col(quote(n))
                       for n in df.columns])


def _replace_jvm(df: DataFrame, plan: Sequence[tuple[str, str, str]], key: Optional[str],
                 redact_token: str) -> DataFrame:
    spark = df.sparkSession
    gateway = spark.sparkContext._gateway
    replacer = spark.sparkContext._jvm.com.synthohive.spark.pii.PIIReplacer()
    replacer.setInputCols(_java_strings(gateway, [c for c, _, _ in plan]))
    replacer.setKinds(_java_strings(gateway, [k for _, k, _ in plan]))
    replacer.setStrategies(_java_strings(gateway, [s for _, _, s in plan]))
    replacer.setRedactToken(redact_token)
    if key:
        replacer.setKey(key)
    return DataFrame(replacer.transform(df._jdf), spark)


def _fake_column(df: DataFrame, name: str, kind: str, key: str, locale: str) -> Any:
    key_bytes = key.encode("utf-8")
    dt = df.schema[name].dataType

    @F.pandas_udf(T.StringType())  # type: ignore[call-overload]
    def fake(values: pd.Series) -> pd.Series:
        return S.fake_series(kind, values, key_bytes, locale)

    out = fake(F.col(quote(name)).cast("string"))
    if isinstance(dt, T.DateType) and kind == "date_of_birth":
        out = F.to_date(out)  # fakes of a date column keep ISO layout: cast back to date
    return out
