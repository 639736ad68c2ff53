"""Which columns each metric looks at, and how their values are normalised in Spark.

Column kinds come from the metadata (duck typed: ``tables[name].columns[col].sdtype``, ``.pii``,
``.primary_key``, ``.foreign_keys``) when it is given, and are inferred from Spark types otherwise.
Every evaluated column is projected to an internal name (``c0``, ``c1``...) so that column names with
dots, quotes or markup never reach a SQL expression.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from synthohive_spark._spark import quote  # noqa: F401 (validation's modules import it from here)
from synthohive_spark.privacy.detect import PII_KINDS, PII_SDTYPE_ALIASES
from .errors import ValidationInputError

logger = logging.getLogger("synthohive_spark.validation.columns")

CONTINUOUS_SDTYPES = ("numerical", "datetime")
DISCRETE_SDTYPES = ("categorical", "ordinal", "boolean")
PII_SDTYPES = frozenset(PII_KINDS) | frozenset(PII_SDTYPE_ALIASES)

_ID_NAME = re.compile(r"(^id$)|(_id$)|(Id$)|(_key$)|(^uuid$)|(_uuid$)", re.IGNORECASE)


@dataclass
class ColumnPlan:
    """One real column: its kind for the metrics, or why no shape/pair metric applies."""

    name: str
    sdtype: str
    internal: str = ""
    kind: str | None = None          # "continuous" | "discrete" | None (not applicable)
    reason: str | None = None        # why not applicable
    real_type: str = ""
    synthetic_type: str = ""
    inferred: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def applicable(self) -> bool:
        return self.kind is not None


def table_config(metadata: Any, table: str) -> Any:
    """The metadata's configuration of ``table`` (duck typed), or None."""
    if metadata is None:
        return None
    tables = getattr(metadata, "tables", None)
    if tables is None and isinstance(metadata, dict):
        tables = metadata.get("tables")
    if tables is None:
        # a TableConfig given directly for a single table
        return metadata if _columns_of(metadata) is not None else None
    if isinstance(tables, dict):
        return tables.get(table)
    return None


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _columns_of(cfg: Any) -> dict[str, Any] | None:
    cols = _get(cfg, "columns")
    return cols if isinstance(cols, dict) else None


def foreign_keys(cfg: Any) -> list[Any]:
    fks = _get(cfg, "foreign_keys") if cfg is not None else None
    return list(fks or [])


def fk_fields(fk: Any) -> tuple[str, str, str]:
    """(column, parent_table, parent_column) of a ForeignKey (duck typed)."""
    return _get(fk, "column"), _get(fk, "parent_table"), _get(fk, "parent_column")


def primary_key(cfg: Any) -> str | None:
    pk = _get(cfg, "primary_key") if cfg is not None else None
    if isinstance(pk, (list, tuple)):
        return pk[0] if len(pk) == 1 else None
    return pk


def _spark_family(dtype: T.DataType) -> str:
    if isinstance(dtype, T.BooleanType):
        return "boolean"
    if isinstance(dtype, T.NumericType):
        return "numeric"
    if isinstance(dtype, (T.DateType, T.TimestampType)) or type(dtype).__name__ == "TimestampNTZType":
        return "datetime"
    if isinstance(dtype, T.StringType) or type(dtype).__name__ in ("VarcharType", "CharType"):
        return "string"
    return "other"


def plan_table(table: str, real: DataFrame, synthetic: DataFrame, cfg: Any,
               max_string_ratio: float = 0.5, min_string_distinct: int = 50) -> list[ColumnPlan]:
    """Resolve the kind of every real column of ``table`` and check the synthetic schema.

    Raises ValidationInputError when the synthetic table lacks a real column or holds an
    incompatible type for an evaluated column.
    """
    real_fields = {f.name: f.dataType for f in real.schema.fields}
    syn_fields = {f.name: f.dataType for f in synthetic.schema.fields}
    missing = [c for c in real_fields if c not in syn_fields]
    if missing:
        raise ValidationInputError(
            f"Table '{table}': the synthetic data lacks real column(s) {missing}; synthetic columns "
            f"are {sorted(syn_fields)}.")
    columns_cfg = _columns_of(cfg) or {}
    pk = primary_key(cfg)
    fk_cols = {fk_fields(fk)[0]: fk_fields(fk) for fk in foreign_keys(cfg)}

    plans: list[ColumnPlan] = []
    to_infer: list[ColumnPlan] = []
    for i, (name, rtype) in enumerate(real_fields.items()):
        stype = syn_fields[name]
        plan = ColumnPlan(name=name, sdtype="unknown", internal=f"c{i}",
                          real_type=rtype.simpleString(), synthetic_type=stype.simpleString())
        ccfg = columns_cfg.get(name)
        if name == pk:
            plan.sdtype, plan.reason = "id", "primary key"
        elif name in fk_cols:
            _, ptable, pcol = fk_cols[name]
            plan.sdtype, plan.reason = "id", f"foreign key to {ptable}.{pcol}"
        elif ccfg is not None:
            raw = _get(ccfg, "sdtype", "unknown")
            sdtype = str(getattr(raw, "value", raw))
            plan.sdtype = sdtype
            if bool(_get(ccfg, "pii", False)) or sdtype in PII_SDTYPES:
                plan.reason = f"PII column (sdtype '{sdtype}'): regenerated, never learned"
            elif sdtype == "id":
                plan.reason = "key column (sdtype 'id')"
            elif sdtype == "text":
                plan.reason = "free text (sdtype 'text')"
            elif sdtype in CONTINUOUS_SDTYPES:
                plan.kind = "continuous"
            elif sdtype in DISCRETE_SDTYPES:
                plan.kind = "discrete"
            else:
                plan.reason = f"sdtype '{sdtype}' has no shape metric"
            fmt = _get(ccfg, "datetime_format")
            if fmt:
                plan.extra["datetime_format"] = fmt
        else:
            plan.inferred = True
            to_infer.append(plan)
        plans.append(plan)

    if to_infer:
        _infer(table, real, plans, to_infer, real_fields, max_string_ratio, min_string_distinct)

    for plan in plans:
        if plan.kind is not None:
            _check_compatible(table, plan, real_fields[plan.name], syn_fields[plan.name])
    return plans


def check_same_columns(table: str, plans: list[ColumnPlan], other: DataFrame, what: str) -> None:
    """``other`` (e.g. the holdout) holds every evaluated column with a compatible type."""
    types = {f.name: f.dataType for f in other.schema.fields}
    missing = [p.name for p in plans if p.applicable and p.name not in types]
    if missing:
        raise ValidationInputError(
            f"Table '{table}': the {what} data lacks column(s) {missing}; it has {sorted(types)}.")
    for p in plans:
        if p.applicable:
            _check_compatible(table, p, _family_type(p.real_type), types[p.name], what)


def _family_type(simple: str) -> T.DataType:
    """A representative Spark type for a ``simpleString`` (only its family matters here)."""
    s = simple.lower()
    if s == "boolean":
        return T.BooleanType()
    if s in ("tinyint", "smallint", "int", "bigint", "float", "double") or s.startswith("decimal"):
        return T.DoubleType()
    if s == "date":
        return T.DateType()
    if s.startswith("timestamp"):
        return T.TimestampType()
    if s == "string" or s.startswith("varchar") or s.startswith("char"):
        return T.StringType()
    return T.BinaryType()


def _infer(table: str, real: DataFrame, plans: list[ColumnPlan], to_infer: list[ColumnPlan],
           real_fields: dict[str, T.DataType], max_ratio: float, min_distinct: int) -> None:
    """Infer kinds from Spark types; one aggregate over the real table for cardinalities."""
    need_card = []
    for plan in to_infer:
        fam = _spark_family(real_fields[plan.name])
        if fam == "numeric":
            plan.sdtype, plan.kind = "numerical", "continuous"
            if _ID_NAME.search(plan.name):
                need_card.append(plan)
        elif fam == "datetime":
            plan.sdtype, plan.kind = "datetime", "continuous"
        elif fam == "boolean":
            plan.sdtype, plan.kind = "boolean", "discrete"
        elif fam == "string":
            plan.sdtype, plan.kind = "categorical", "discrete"
            need_card.append(plan)
        else:
            plan.sdtype = "other"
            plan.reason = f"Spark type {plan.real_type} has no shape metric"
    if not need_card:
        return
    aggs = [F.count(F.lit(1)).alias("__n")]
    for plan in need_card:
        col = F.col(quote(plan.name))
        aggs += [F.count(col).alias(f"nn_{plan.internal}"),
                 F.approx_count_distinct(col, 0.01).alias(f"d_{plan.internal}")]
    row = real.agg(*aggs).collect()[0].asDict()
    for plan in need_card:
        nonnull = row[f"nn_{plan.internal}"] or 0
        distinct = row[f"d_{plan.internal}"] or 0
        if _ID_NAME.search(plan.name) and nonnull > 0 and distinct >= 0.9 * nonnull and distinct > 1:
            plan.sdtype, plan.kind = "id", None
            plan.reason = (f"inferred key: name looks like an identifier and ~{distinct} of "
                           f"{nonnull} values are distinct")
        elif plan.sdtype == "categorical" and distinct > min_distinct and distinct > max_ratio * nonnull:
            plan.sdtype, plan.kind = "text", None
            plan.reason = (f"inferred identifier/free text: string with ~{distinct} distinct values "
                           f"in {nonnull} non-null rows")


def _check_compatible(table: str, plan: ColumnPlan, rtype: T.DataType, stype: T.DataType,
                      what: str = "synthetic") -> None:
    rf, sf = _spark_family(rtype), _spark_family(stype)
    if plan.kind == "continuous":
        if plan.sdtype == "numerical":
            ok = sf in ("numeric",) or (rf == "string" and sf == "string") or (
                rf == "boolean" and sf == "boolean")
        else:  # datetime
            ok = sf in ("datetime", "string") and (rf in ("datetime", "string"))
        if not ok:
            raise ValidationInputError(
                f"Table '{table}', column '{plan.name}': real type {rtype.simpleString()} "
                f"({plan.sdtype}) but {what} type {stype.simpleString()}; expected a "
                f"{'numeric' if plan.sdtype == 'numerical' else 'date/timestamp'} type on both sides.")
    else:
        if sf == "other" or rf == "other":
            raise ValidationInputError(
                f"Table '{table}', column '{plan.name}': categorical column needs atomic types, "
                f"got real {rtype.simpleString()} and {what} {stype.simpleString()}.")
        if (rf == "numeric") != (sf == "numeric") and "string" not in (rf, sf):
            raise ValidationInputError(
                f"Table '{table}', column '{plan.name}': real type {rtype.simpleString()} and "
                f"{what} type {stype.simpleString()} are not comparable.")


def value_expr(plan: ColumnPlan, dtype: T.DataType) -> Column:
    """The normalised value: double for continuous kinds (NaN -> null, datetimes as epoch
    microseconds), string for discrete kinds; null stays null."""
    col = F.col(quote(plan.name))
    fam = _spark_family(dtype)
    if plan.kind == "continuous":
        if plan.sdtype == "datetime":
            if fam == "string":
                fmt = plan.extra.get("datetime_format")
                ts = F.try_to_timestamp(col, F.lit(fmt)) if fmt else F.try_to_timestamp(col)
            elif isinstance(dtype, T.TimestampType):
                ts = col
            else:
                ts = col.cast("timestamp")
            return F.unix_micros(ts).cast("double")
        if fam == "numeric":
            d = col.cast("double")
        elif fam == "boolean":
            d = col.cast("int").cast("double")
        else:
            d = F.expr(f"try_cast({quote(plan.name)} AS double)")
        return F.when(F.isnan(d), F.lit(None).cast("double")).otherwise(d)
    if fam == "numeric" and isinstance(dtype, (T.FloatType, T.DoubleType)):
        col = F.when(F.isnan(col), F.lit(None)).otherwise(col)
        # 1.0 and 1 should be the same category on both sides
        return F.when(col == F.floor(col), col.cast("long").cast("string")).otherwise(col.cast("string"))
    if fam == "boolean":
        return F.lower(col.cast("string"))
    return col.cast("string")


def project(df: DataFrame, plans: list[ColumnPlan]) -> DataFrame:
    """The evaluated columns of ``df`` under their internal names, normalised."""
    types = {f.name: f.dataType for f in df.schema.fields}
    cols = [value_expr(p, types[p.name]).alias(p.internal) for p in plans if p.applicable]
    if not cols:
        return df.select(F.lit(1).alias("__dummy"))
    return df.select(*cols)
