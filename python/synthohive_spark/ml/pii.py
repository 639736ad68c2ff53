"""PII detection and replacement as Spark ML stages: :class:`PIISanitizer` / :class:`PIISanitizerModel`.

``fit`` scans a distributed sample of the whole table (``df.sample``, bounded by
``maxSampleRows``) with the value rules of :mod:`synthohive_spark.privacy.validators` and the
column-name hints of :mod:`synthohive_spark.privacy.detect`; ``transform`` replaces the values of
the PII columns with the chosen strategy.

Two engines, identical output:

- ``jvm``: the Scala stages ``com.synthohive.spark.pii.PIIScanner`` (scanning) and
  ``com.synthohive.spark.pii.PIIReplacer`` (hash, mask, redact) of the synthohive-spark jar, on a
  classic session that has the jar loaded;
- ``python``: Spark SQL and pandas UDFs over the same pure-Python functions (Spark Connect, a
  cluster without the jar).

``fake`` always runs in a pandas UDF. ``engine="auto"`` (default) takes the JVM when it can.

The secret key is never a Param and never saved: a saved model keeps a public key fingerprint
and needs ``setKey`` with the same key after loading (as :class:`HmacPseudonymizer`).
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
from typing import Any, Mapping, Optional, Sequence, Union

from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from synthohive_spark._spark import quote
from synthohive_spark.ml._params import (DEFAULT_SEED, HasDefaultSeed, check_at_least_one,
                                         check_unit_interval, dict_param, dict_value)
from synthohive_spark.ml._persist import ModelLoadError, PersistentStage, SavedStage, json_blob
from synthohive_spark.ml._pii_engines import (_BIT_SUFFIX, _JVM_STRATEGIES, _RULE_BITS, _fake_column,
                                              _pii_classes_loaded, _replace_jvm, _replaceable,
                                              _scan_bits_jvm, _scannable, replace_python,
                                              scan_bits_python)
from synthohive_spark.ml._secret import HasKeyEnv, HasSecretKey
from synthohive_spark.privacy import strategies as S
from synthohive_spark.privacy import validators as V
from synthohive_spark.privacy.detect import (PII_KINDS, ColumnEvidence, Finding, decide,
                                             is_quasi_identifier, name_hint)

logger = logging.getLogger("synthohive_spark.ml.pii")

__all__ = ["PIISanitizer", "PIISanitizerModel", "ENGINES", "scan_bits_python",
           "replace_python"]

ENGINES = ("auto", "jvm", "python")
_STAGE = "PIISanitizer"
def _to_dict(value: Any) -> dict:
    if value is None:
        return {}
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a dict of column or kind -> value, got {type(value).__name__}")
    return {str(k): str(v) for k, v in value.items()}


def _to_forced(value: Any) -> dict:
    """piiColumns: a list of columns (kind found by detection, else 'other') or col -> kind."""
    if value is None:
        return {}
    if isinstance(value, str):
        value = json.loads(value) if value.strip().startswith(("{", "[")) else [value]
    if isinstance(value, Mapping):
        return {str(k): (str(v) if v is not None else "") for k, v in value.items()}
    return {str(c): "" for c in value}


# -- params -------------------------------------------------------------------------------------------

class _PIISanitizerParams(HasDefaultSeed, HasSecretKey, HasKeyEnv):
    """Params shared by :class:`PIISanitizer` and :class:`PIISanitizerModel`."""

    inputCols: "Param[list[str]]" = Param(
        Params._dummy(), "inputCols", "columns to examine (default: every string, integer, "
        "decimal, date and timestamp column)", typeConverter=TypeConverters.toListString)
    sampleFraction: "Param[float]" = Param(
        Params._dummy(), "sampleFraction", "least fraction of the rows sampled (Bernoulli, over "
        "every partition) for value-based detection, in (0, 1]; tables that fit maxSampleRows are "
        "read whole", typeConverter=TypeConverters.toFloat)
    maxSampleRows: "Param[int]" = Param(
        Params._dummy(), "maxSampleRows", "upper bound of the sampled rows",
        typeConverter=TypeConverters.toInt)
    maxCheckValues: "Param[int]" = Param(
        Params._dummy(), "maxCheckValues", "sampled rows checked on the driver for person names "
        "and phone numbers (phonenumbers)", typeConverter=TypeConverters.toInt)
    locale: "Param[str]" = Param(Params._dummy(), "locale", "faker locale of fakes and names, "
                                 "e.g. en_US", typeConverter=TypeConverters.toString)
    phoneRegion: "Param[str]" = Param(
        Params._dummy(), "phoneRegion", "region of national phone numbers (default: the "
        "locale's country)", typeConverter=TypeConverters.toString)
    strategies: "Param[str]" = dict_param(
        _STAGE, "strategies", "dict (or JSON object) column name or PII kind -> strategy (fake, "
        "hash, hash:truncate, hash:format, mask, redact, redact:null, drop, keep)",
        normalize=_to_dict)
    defaultStrategy: "Param[str]" = Param(
        Params._dummy(), "defaultStrategy", "strategy of PII columns not named in strategies",
        typeConverter=TypeConverters.toString)
    redactToken: "Param[str]" = Param(Params._dummy(), "redactToken", "text of redact",
                                      typeConverter=TypeConverters.toString)
    minHitRate: "Param[float]" = Param(
        Params._dummy(), "minHitRate", "share of sampled non-null values that must pass a kind's "
        "rule for the values to count as that kind", typeConverter=TypeConverters.toFloat)
    minConfidence: "Param[float]" = Param(
        Params._dummy(), "minConfidence", "confidence from which a finding is PII",
        typeConverter=TypeConverters.toFloat)
    piiColumns: "Param[str]" = dict_param(
        _STAGE, "piiColumns", "columns forced to be PII: dict (or JSON object) column -> kind ('' "
        "or 'other': the detected kind, else generic), or a list of columns",
        normalize=_to_forced)
    nonPiiColumns: "Param[list[str]]" = Param(
        Params._dummy(), "nonPiiColumns", "columns forced not to be PII",
        typeConverter=TypeConverters.toListString)
    refYear: "Param[int]" = Param(
        Params._dummy(), "refYear", "year dates of birth are measured from (default: the "
        "current year at fit)", typeConverter=TypeConverters.toInt)
    engine: "Param[str]" = Param(Params._dummy(), "engine", "auto, jvm or python",
                                 typeConverter=TypeConverters.toString)
    kAnonymity: "Param[int]" = Param(
        Params._dummy(), "kAnonymity", "k of the k-anonymity check of sanitized output "
        "(PIISanitizerModel.k_anonymity) when none is passed; 0: none (fromMetadata: the "
        "metadata's privacy.k_anonymity)", typeConverter=TypeConverters.toInt)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(sampleFraction=0.05, maxSampleRows=100_000, maxCheckValues=1000,
                         locale="en_US", strategies={}, defaultStrategy="fake",
                         redactToken=S.DEFAULT_REDACT_TOKEN, minHitRate=0.6,
                         minConfidence=0.5, piiColumns={}, nonPiiColumns=[], engine="auto",
                         kAnonymity=0)

    def getSampleFraction(self) -> float:
        return self.getOrDefault(self.sampleFraction)

    def getMaxSampleRows(self) -> int:
        return self.getOrDefault(self.maxSampleRows)

    def getLocale(self) -> str:
        return self.getOrDefault(self.locale)

    def getStrategies(self) -> dict:
        return dict_value(self, self.strategies)

    def getPiiColumns(self) -> dict:
        return dict_value(self, self.piiColumns)

    def getDefaultStrategy(self) -> str:
        return self.getOrDefault(self.defaultStrategy)

    def getRedactToken(self) -> str:
        return self.getOrDefault(self.redactToken)

    def getMinHitRate(self) -> float:
        return self.getOrDefault(self.minHitRate)

    def getMinConfidence(self) -> float:
        return self.getOrDefault(self.minConfidence)

    def getEngine(self) -> str:
        return self.getOrDefault(self.engine)

    def _validate(self) -> None:
        check_unit_interval(_STAGE, self, ("sampleFraction",), open_low=True)
        check_at_least_one(_STAGE, self, ("maxSampleRows",))
        check_unit_interval(_STAGE, self, ("minHitRate", "minConfidence"))
        if self.getOrDefault(self.kAnonymity) < 0:
            raise ValueError(f"{_STAGE}: kAnonymity must be >= 0 (0: none), got "
                             f"{self.getOrDefault(self.kAnonymity)}.")
        if self.getEngine() not in ENGINES:
            raise ValueError(f"{_STAGE}: engine must be one of {', '.join(ENGINES)}, got "
                             f"{self.getEngine()!r}.")
        S.check_locale(self.getLocale(), f"{_STAGE}: ")
        S.parse_strategy(self.getDefaultStrategy(), f"{_STAGE}: defaultStrategy: ")
        for target, spec in self.getStrategies().items():
            S.parse_strategy(spec, f"{_STAGE}: strategies[{target!r}]: ")
        for col, kind in self.getPiiColumns().items():
            if kind and kind != "other" and kind not in PII_KINDS:
                raise ValueError(f"{_STAGE}: piiColumns[{col!r}] has unknown kind {kind!r}; "
                                 f"expected one of {', '.join(PII_KINDS)} or 'other'.")

    def _engine_for(self, spark: SparkSession) -> str:
        """The engine to run: the JVM when asked or when 'auto' finds the jar, else Python."""
        engine = self.getEngine()
        if engine == "python":
            return "python"
        available = _pii_classes_loaded(spark)
        if engine == "jvm" and not available:
            from synthohive_spark.ml._java import missing_jar_message
            raise RuntimeError(missing_jar_message(_STAGE + " (engine='jvm')"))
        return "jvm" if available else "python"



# -- the estimator --------------------------------------------------------------------------------

class PIISanitizer(Estimator, _PIISanitizerParams, DefaultParamsReadable, DefaultParamsWritable):
    """Finds the PII columns of a table (by name and by values over a distributed sample) and
    fits a :class:`PIISanitizerModel` that replaces them.

    >>> san = PIISanitizer(key="a-long-random-secret", locale="en_US",
    ...                    strategies={"email": "fake", "ssn": "hash", "card": "mask"})
    >>> model = san.fit(customers)
    >>> model.report["email"]        # {'kind': 'email', 'confidence': 1.0, 'hit_rate': 1.0, ...}
    >>> clean = model.transform(customers)
    """

    @keyword_only
    def __init__(self, *, inputCols: Optional[list[str]] = None,
                 sampleFraction: float = 0.05, maxSampleRows: int = 100_000,
                 maxCheckValues: int = 1000, seed: int = DEFAULT_SEED, locale: str = "en_US",
                 phoneRegion: Optional[str] = None,
                 strategies: Optional[Mapping[str, str]] = None,
                 defaultStrategy: str = "fake", redactToken: str = S.DEFAULT_REDACT_TOKEN,
                 minHitRate: float = 0.6, minConfidence: float = 0.5,
                 piiColumns: Optional[Union[Mapping[str, str], Sequence[str]]] = None,
                 nonPiiColumns: Optional[Sequence[str]] = None, refYear: Optional[int] = None,
                 engine: str = "auto", keyId: Optional[str] = None,
                 keyEnv: Optional[str] = None, key: Optional[str] = None,
                 kAnonymity: int = 0) -> None:
        super().__init__()
        self._init_key()
        kwargs = self._input_kwargs
        self._input_kwargs = {}  # never keep the key in a second place
        self.setParams(**kwargs)

    @keyword_only
    def setParams(self, *, inputCols: Optional[list[str]] = None,
                  sampleFraction: float = 0.05, maxSampleRows: int = 100_000,
                  maxCheckValues: int = 1000, seed: int = DEFAULT_SEED, locale: str = "en_US",
                  phoneRegion: Optional[str] = None,
                  strategies: Optional[Mapping[str, str]] = None,
                  defaultStrategy: str = "fake", redactToken: str = S.DEFAULT_REDACT_TOKEN,
                  minHitRate: float = 0.6, minConfidence: float = 0.5,
                  piiColumns: Optional[Union[Mapping[str, str], Sequence[str]]] = None,
                  nonPiiColumns: Optional[Sequence[str]] = None, refYear: Optional[int] = None,
                  engine: str = "auto", keyId: Optional[str] = None,
                  keyEnv: Optional[str] = None, key: Optional[str] = None,
                  kAnonymity: int = 0) -> "PIISanitizer":
        """Sets params (and the key, when given)."""
        kwargs = dict(self._input_kwargs)
        self._input_kwargs = {}
        secret = kwargs.pop("key", None)
        self._set(**{k: v for k, v in kwargs.items() if v is not None})
        self._validate()
        if secret is not None:
            self.setKey(secret)
        return self

    @classmethod
    def fromMetadata(cls, metadata: Any, table: str, **kwargs: Any) -> "PIISanitizer":
        """A sanitizer whose forced columns and strategies come from ``metadata`` (a
        :class:`synthohive_spark.metadata.Metadata`): columns marked ``pii`` are forced in (kind =
        their PII sdtype, strategy = their ``pii_strategy``), every other column is forced out."""
        tcfg = metadata.table(table)
        forced: dict[str, str] = {}
        non_pii: list[str] = []
        strategies = dict(kwargs.pop("strategies", None) or {})
        for name, col in tcfg.columns.items():
            if col.pii:
                sd = col.sdtype.value
                forced[name] = sd if sd in PII_KINDS else ""  # "": the detected kind
                if col.pii_strategy and name not in strategies:
                    strategies[name] = col.pii_strategy
            else:
                non_pii.append(name)
        default = kwargs.pop("defaultStrategy", None)
        if default is None and getattr(metadata, "privacy", None) is not None:
            default = getattr(metadata.privacy, "pii_strategy", None)
        if default is not None:
            kwargs["defaultStrategy"] = default
        privacy = getattr(metadata, "privacy", None)
        if privacy is not None:  # the database's settings, where the call names none
            kwargs.setdefault("keyEnv", privacy.hmac_key_env)  # the key's variable
            kwargs.setdefault("locale", privacy.locale)  # the fakes' locale
            if privacy.k_anonymity:
                kwargs.setdefault("kAnonymity", int(privacy.k_anonymity))
        return cls(piiColumns=forced, nonPiiColumns=non_pii, strategies=strategies, **kwargs)

    def copy(self, extra: Optional[dict] = None) -> "PIISanitizer":
        that = super().copy(extra)
        that._secret_key = self._secret_key
        return that

    # -- fit
    def _fit(self, dataset: DataFrame) -> "PIISanitizerModel":
        self._validate()
        spark = dataset.sparkSession
        schema = dataset.schema
        names = schema.fieldNames()
        forced = self.getPiiColumns()
        non_pii = set(self.getOrDefault(self.nonPiiColumns))
        for col in list(forced) + sorted(non_pii):
            if col not in names:
                raise ValueError(f"{_STAGE}: forced column {col!r} (piiColumns/nonPiiColumns) "
                                 f"does not exist; available columns: "
                                 f"{', '.join(repr(n) for n in names)}.")
        if self.isDefined(self.inputCols):
            columns = list(self.getOrDefault(self.inputCols))
            for c in columns:
                if c not in names:
                    raise ValueError(f"{_STAGE}: input column {c!r} does not exist; available "
                                     f"columns: {', '.join(repr(n) for n in names)}.")
        else:
            columns = [f.name for f in schema.fields if _scannable(f.dataType)]
        columns = [c for c in columns if c not in non_pii]
        scan_cols = [c for c in columns if _scannable(schema[c].dataType)]
        ref_year = (self.getOrDefault(self.refYear) if self.isDefined(self.refYear)
                    else _dt.datetime.now(_dt.timezone.utc).year)
        engine = self._engine_for(spark)
        evidence = self._scan(dataset, scan_cols, ref_year, engine)
        findings: list[Finding] = []
        for c in names:
            if c in non_pii:
                findings.append(Finding(c, None, 0.0, 0.0, "metadata", False))
                continue
            ev = evidence.get(c)
            if c in forced:
                detected = decide(ev, self.getMinHitRate(), self.getMinConfidence()) if ev else None
                kind = forced[c] or (detected.kind if detected and detected.kind else "other")
                findings.append(Finding(c, kind, 1.0, detected.hit_rate if detected else 0.0,
                                        "metadata", True, sampled=ev.non_null if ev else 0))
                continue
            if c not in columns:
                continue
            if ev is None:  # replaceable but not scannable (e.g. boolean): the name only
                ev = ColumnEvidence(c, schema[c].dataType.simpleString())
            findings.append(decide(ev, self.getMinHitRate(), self.getMinConfidence()))
        self._choose_strategies(findings, names)
        model = PIISanitizerModel()
        self._copyValues(model)
        model._set(refYear=int(ref_year))
        model._secret_key = self._secret_key
        model._findings = findings
        logger.info("%s: %d PII column(s) of %d: %s", _STAGE,
                    sum(f.is_pii for f in findings), len(names),
                    ", ".join(f"{f.column}={f.kind}/{f.strategy}" for f in findings if f.is_pii))
        return model

    def _choose_strategies(self, findings: list[Finding], names: list[str]) -> None:
        targets = self.getStrategies()
        for target in targets:
            if target not in names and target not in PII_KINDS and target != "other":
                raise ValueError(
                    f"{_STAGE}: strategies names {target!r}, which is neither a column of the "
                    f"table ({', '.join(repr(n) for n in names)}) nor a PII kind "
                    f"({', '.join(PII_KINDS)}).")
        for f in findings:
            if not f.is_pii:
                continue
            spec = targets.get(f.column) or targets.get(f.kind or "") or self.getDefaultStrategy()
            strategy = S.parse_strategy(spec, f"{_STAGE}: column {f.column!r}: ")
            f.strategy = strategy.spec
            if strategy.needs_key and not self._key_from_env():
                raise ValueError(
                    f"{_STAGE}: column {f.column!r} (kind {f.kind}) uses strategy "
                    f"{strategy.spec!r}, which needs the secret key (fakes and hashes are keyed "
                    f"so that they are consistent and cannot be recomputed without it); "
                    f"{self._key_hint()}, or choose mask, redact or drop.")

    def _scan(self, dataset: DataFrame, columns: list[str], ref_year: int,
              engine: str) -> dict[str, ColumnEvidence]:
        if not columns:
            return {}
        total = int(dataset.count())
        if total == 0:
            return {c: ColumnEvidence(c, dataset.schema[c].dataType.simpleString())
                    for c in columns}
        max_rows = self.getMaxSampleRows()
        # at least sampleFraction of the rows, and every row of a table that fits maxSampleRows
        # (a 59-row table is read whole, not 3 of its rows); never more than maxSampleRows
        fraction = min(1.0, max(self.getSampleFraction(), max_rows * 1.1 / total))
        sample = (dataset.select(*[F.col(quote(c)) for c in columns])
                  .sample(withReplacement=False, fraction=fraction,
                          seed=self.getOrDefault(self.seed)).limit(max_rows))
        scanned = (_scan_bits_jvm(sample, columns, ref_year) if engine == "jvm"
                   else scan_bits_python(sample, columns, ref_year))
        scanned = scanned.persist()
        try:
            aggs = []
            for c in columns:
                b = F.col(quote(c + _BIT_SUFFIX))
                aggs.append(F.count(F.col(quote(c))).alias(f"{c}|non_null"))
                for rule, bit in _RULE_BITS.items():
                    aggs.append(F.sum(F.when((b.bitwiseAND(F.lit(bit))) != 0, 1).otherwise(0))
                                .alias(f"{c}|{rule}"))
            row = scanned.agg(*aggs).first()
            counts = row.asDict() if row is not None else {}
            check = scanned.select(*[F.col(quote(c)).cast("string").alias(c)
                                     for c in columns]).limit(
                self.getOrDefault(self.maxCheckValues)).toPandas()
        finally:
            scanned.unpersist()
        region = (self.getOrDefault(self.phoneRegion) if self.isDefined(self.phoneRegion)
                  else self.getLocale().split("_")[-1].upper())
        out: dict[str, ColumnEvidence] = {}
        for c in columns:
            ev = ColumnEvidence(c, dataset.schema[c].dataType.simpleString(),
                                non_null=int(counts.get(f"{c}|non_null") or 0),
                                rule_hits={r: int(counts.get(f"{c}|{r}") or 0)
                                           for r in _RULE_BITS})
            values = [v for v in check[c].tolist() if isinstance(v, str)]
            candidates = [v for v in values if V.is_phone_candidate(V._trim(v))]
            if ev.non_null and (ev.rule_hits["phone"] / ev.non_null >= 0.3
                                or name_hint(c) == "phone"):
                ev.phone_checked = len(candidates)
                ev.phone_valid = sum(1 for v in candidates if V.is_phone_number(v, region))
            strongest = max((ev.rate(k) for k in ("email", "credit_card", "iban", "ssn", "ip")),
                            default=0.0)
            if isinstance(dataset.schema[c].dataType, T.StringType) and strongest < 0.5:
                ev.names_checked = len(values)
                hits: dict[str, int] = {}
                for v in values:
                    kind = V.person_name_kind(v, self.getLocale())
                    if kind is not None:
                        hits[kind] = hits.get(kind, 0) + 1
                ev.name_hits = hits
            out[c] = ev
        return out


# -- the model --------------------------------------------------------------------------------------

class PIISanitizerModel(Model, _PIISanitizerParams, PersistentStage):
    """Replaces the PII columns found by :class:`PIISanitizer`; ``report`` says what it found.

    Values are read as ``CAST(x AS STRING)``; null stays null. Replaced columns become strings,
    except ``redact:null`` (the column keeps its type), ``keep``, ``drop`` (removed) and ``fake``
    of a date column of kind date_of_birth (stays a date). Other columns are untouched.

    Saved as params (with the key fingerprint, never the key) and ``report.json``; set the key
    again after ``load`` before a keyed strategy (fake, hash) can run.
    """

    def __init__(self) -> None:
        super().__init__()
        self._init_key()
        self._findings: list[Finding] = []

    @property
    def findings(self) -> list[Finding]:
        """Every examined column's finding (PII or not)."""
        return list(self._findings)

    @property
    def report(self) -> dict[str, dict[str, Any]]:
        """PII column -> kind, confidence, hit_rate, strategy, source, sampled."""
        return {f.column: {k: v for k, v in f.to_dict().items() if k not in ("column", "is_pii")}
                for f in self._findings if f.is_pii}

    @property
    def piiColumns_(self) -> list[str]:
        return [f.column for f in self._findings if f.is_pii]

    def k_anonymity(self, df_out: DataFrame, k: Optional[int] = None,
                    quasi_identifiers: Optional[Sequence[str]] = None) -> dict[str, Any]:
        """k-anonymity of sanitized output ``df_out`` (this model's ``transform``) over
        ``quasi_identifiers``, as :func:`synthohive_spark.validation.k_anonymity` reports it.
        ``k``: the stage's ``kAnonymity`` when none is passed (from the metadata's
        ``privacy.k_anonymity`` with ``PIISanitizer.fromMetadata``). Default quasi-identifiers:
        the columns of ``df_out`` whose finding is a quasi-identifier kind (city, zip,
        date_of_birth) or whose name says age, gender, sex, job or occupation."""
        from synthohive_spark.validation import k_anonymity

        if k is None:
            k = self.getOrDefault(self.kAnonymity) or None
        if k is None:
            raise ValueError(f"{_STAGE}Model.k_anonymity: no k passed and none set (kAnonymity, "
                             "or privacy.k_anonymity in the metadata given to fromMetadata).")
        if quasi_identifiers is None:
            kinds = {f.column: f.kind for f in self._findings}
            quasi_identifiers = [c for c in df_out.columns if is_quasi_identifier(c, kinds.get(c))]
        return k_anonymity(df_out, quasi_identifiers, k)

    def setEngine(self, value: str) -> "PIISanitizerModel":
        if value not in ENGINES:
            raise ValueError(f"{_STAGE}: engine must be one of {', '.join(ENGINES)}, got "
                             f"{value!r}.")
        return self._set(engine=value)

    def setRedactToken(self, value: str) -> "PIISanitizerModel":
        return self._set(redactToken=value)

    def copy(self, extra: Optional[dict] = None) -> "PIISanitizerModel":
        that = super().copy(extra)
        that._secret_key = self._secret_key
        that._findings = [Finding.from_dict(f.to_dict()) for f in self._findings]
        return that

    def _plan(self, dataset: DataFrame) -> list[tuple[str, str, str]]:
        names = dataset.columns
        plan = []
        for f in self._findings:
            if not f.is_pii or f.strategy in (None, "keep"):
                continue
            if f.column not in names:
                raise ValueError(f"{_STAGE}: PII column {f.column!r} (kind {f.kind}) found at fit "
                                 f"is missing from the input; available columns: "
                                 f"{', '.join(repr(n) for n in names)}.")
            dt = dataset.schema[f.column].dataType
            if f.strategy != "drop" and not _replaceable(dt):
                raise ValueError(f"{_STAGE}: PII column {f.column!r} has type "
                                 f"{dt.simpleString()}; expected a string, number, boolean, "
                                 "date or timestamp (or use strategy 'drop').")
            plan.append((f.column, f.kind or "other", f.strategy))
        return plan

    def _transform(self, dataset: DataFrame) -> DataFrame:
        plan = self._plan(dataset)
        needs_key = [c for c, _, s in plan if s.split(":")[0] in S.KEYED_STRATEGIES]
        if needs_key and not self._key_from_env():
            saved = (f" This model was fitted with the key whose fingerprint is "
                     f"{self.getKeyFingerprint()}; a saved model never contains its key, so set "
                     "it again after loading." if self.isDefined(self.keyFingerprint) else "")
            raise ValueError(f"{_STAGE} {self.uid}: columns {', '.join(needs_key)} need the "
                             f"secret key (strategies fake/hash); {self._key_hint()}.{saved}")
        spark = dataset.sparkSession
        engine = self._engine_for(spark)
        key = self._secret_key
        token = self.getRedactToken()
        sql_plan = [p for p in plan if p[2] in _JVM_STRATEGIES]
        out = dataset
        if sql_plan:
            out = (_replace_jvm(out, sql_plan, key, token) if engine == "jvm"
                   else replace_python(out, sql_plan, key, token))
        fakes = {c: k for c, k, s in plan if s == "fake"}
        if fakes:
            locale = self.getLocale()
            out = out.select(*[_fake_column(out, n, fakes[n], key, locale).alias(n)  # type: ignore[arg-type]
                               if n in fakes else F.col(quote(n)) for n in out.columns])
        drops = [c for c, _, s in plan if s == "drop"]
        if drops:
            out = out.drop(*drops)
        return out

    # -- persistence: the findings (snake_case dataclass fields), never the key
    def _to_blobs(self) -> tuple[dict[str, bytes], dict[str, Any]]:
        return {"report.json": json_blob([f.to_dict() for f in self._findings])}, {}

    def _from_blobs(self, saved: SavedStage) -> None:
        try:
            self._findings = [Finding.from_dict(d) for d in saved.json("report.json")]
        except (TypeError, AttributeError) as exc:
            raise ModelLoadError(f"The model at {saved.path!r} has no readable report.json.") from exc
