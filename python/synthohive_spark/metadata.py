"""Metadata of a relational database: tables, columns, keys and privacy settings.

``Metadata`` is a pydantic model that describes every table (its columns with their semantic type,
physical type and constraints, its primary key and its foreign keys) and the privacy settings used
when the synthetic copy is generated. It is validated on construction (keys that exist, parents
that exist, compatible key types, no foreign-key cycle across tables), reads and writes YAML/JSON
losslessly, and can be inferred from data with :meth:`Metadata.detect` (pandas or Spark frames).

This module imports no pyspark at load time; Spark frames passed to ``detect`` are recognised by
duck typing and profiled with Spark aggregations (bounded samples, exact key checks in Spark).
"""
from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import json
import logging
import math
import os
import re
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Optional, Sequence, Union

import yaml
from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator,
                      model_validator)

from synthohive_spark.privacy.detect import PII_KINDS as _DETECT_KINDS
from synthohive_spark.privacy.detect import name_hint, normalize_name
from synthohive_spark.privacy.validators import is_credit_card, is_email, is_iban, is_ip, is_ssn
from synthohive_spark._spark import qcol
from synthohive_spark.errors import MetadataError, UnknownTableError  # noqa: F401 (re-exported)

logger = logging.getLogger("synthohive_spark.metadata")

__all__ = [
    "SDType",
    "PII_KINDS",
    "MetadataError",
    "UnknownTableError",
    "ColumnConfig",
    "CopyRule",
    "DerivedRule",
    "ForeignKey",
    "TableConfig",
    "PrivacyConfig",
    "Metadata",
]


# --------------------------------------------------------------------------------------------
# Errors and semantic types
# --------------------------------------------------------------------------------------------


class SDType(str, Enum):
    """Semantic type of a column."""

    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    ID = "id"
    TEXT = "text"
    EMAIL = "email"
    PHONE = "phone"
    NAME = "name"
    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    ADDRESS = "address"
    CITY = "city"
    ZIP = "zip"
    SSN = "ssn"
    CREDIT_CARD = "credit_card"
    IP = "ip"
    IBAN = "iban"
    DATE_OF_BIRTH = "date_of_birth"
    USERNAME = "username"

    def __str__(self) -> str:
        return self.value


#: Semantic types that always describe personal data (the kinds of ``privacy.detect``).
PII_KINDS: frozenset[str] = frozenset(_DETECT_KINDS)

#: What happens to a personal-data column in the synthetic copy ("hmac" is read as "hash", the
#: name the PII stages use).
PIIStrategy = Literal["fake", "hash", "mask", "drop", "keep"]


def _strategy_name(value: Any) -> Any:
    return "hash" if value == "hmac" else value


_Bound = Optional[Union[int, float, str]]


# --------------------------------------------------------------------------------------------
# Physical types
# --------------------------------------------------------------------------------------------

_INTEGER_DTYPES = {"tinyint", "smallint", "int", "integer", "bigint", "long", "short", "byte",
                   "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}
_FLOAT_DTYPES = {"float", "double", "real", "float32", "float64"}
_STRING_DTYPES = {"string", "varchar", "char", "text", "str", "object", "void"}
_UNSUPPORTED_DTYPE = re.compile(r"^(map|struct|array|binary|variant|interval|calendarinterval)",
                                re.IGNORECASE)


def dtype_family(dtype: Optional[str]) -> Optional[str]:
    """Family of a physical type string: integer, float, decimal, string, boolean, date,
    timestamp, or None when unknown."""
    if not dtype:
        return None
    d = dtype.strip().lower()
    base = re.split(r"[(<\s]", d, maxsplit=1)[0]
    if base in _INTEGER_DTYPES:
        return "integer"
    if base in _FLOAT_DTYPES:
        return "float"
    if base in ("decimal", "numeric", "number"):
        m = re.match(r"^\w+\(\s*\d+\s*,\s*(\d+)\s*\)", d)
        if m is not None and int(m.group(1)) == 0:
            return "integer"
        return "decimal"
    if base in _STRING_DTYPES:
        return "string"
    if base in ("boolean", "bool"):
        return "boolean"
    if base == "date":
        return "date"
    if base.startswith("timestamp") or base == "datetime":
        return "timestamp"
    return None


def _decimal_scale(dtype: str) -> Optional[int]:
    m = re.match(r"^\s*(?:decimal|numeric|number)\(\s*\d+\s*,\s*(\d+)\s*\)", dtype.lower())
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------------------------
# Pydantic models
# --------------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_enum_values=False)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise MetadataError(_format_validation_error(exc, type(self)),
                                _validation_messages(exc, type(self))) from None

    # Nested models are validated by pydantic-core without this __init__; only a direct
    # construction goes through it (and gets a MetadataError instead of a ValidationError).
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]


class CopyRule(_Model):
    """A child column that repeats a column of its parent row: ``column`` of the parent that the
    child's foreign key ``foreign_key`` points at. ``agreement`` is the real share of rows where
    the two are equal; generation copies the parent's generated value into that share of rows."""

    foreign_key: str
    column: str
    agreement: float = Field(default=1.0, ge=0, le=1)


class DerivedRule(_Model):
    """A parent column that aggregates its children in ``table`` (linked by that table's foreign
    key ``foreign_key``): ``count`` of children, or ``sum`` of ``columns`` (one column, or the
    product of two: unit price x quantity). Generation computes it from the generated children."""

    aggregate: Literal["count", "sum"]
    table: str
    foreign_key: str
    columns: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _arity(self) -> "DerivedRule":
        if self.aggregate == "count" and self.columns:
            raise ValueError("a 'count' rule counts child rows and takes no columns")
        if self.aggregate == "sum" and len(self.columns) not in (1, 2):
            raise ValueError(f"a 'sum' rule adds one child column or the product of two, got "
                             f"{len(self.columns)} columns")
        return self


class ColumnConfig(_Model):
    """One column: semantic type, physical type and constraints."""

    sdtype: SDType
    dtype: Optional[str] = None
    pii: bool = False
    nullable: bool = True
    min: _Bound = None
    max: _Bound = None
    integer: bool = False
    decimals: Optional[int] = Field(default=None, ge=0)
    regex: Optional[str] = None
    datetime_format: Optional[str] = None
    unique: bool = False
    pii_strategy: Optional[PIIStrategy] = None
    copy_of: Optional[CopyRule] = None
    derived: Optional[DerivedRule] = None

    _strategy = field_validator("pii_strategy", mode="before")(_strategy_name)

    @model_validator(mode="before")
    @classmethod
    def _pii_kinds_are_pii(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            sdtype = data.get("sdtype")
            kind = sdtype.value if isinstance(sdtype, SDType) else sdtype
            if kind in PII_KINDS:
                if data.get("pii") is False:
                    raise ValueError(
                        f"sdtype {kind!r} always holds personal data, so 'pii: false' is not "
                        f"allowed; to treat the values as ordinary data use sdtype 'categorical' "
                        f"or 'text'")
                data = {**data, "pii": True}
        return data

    @field_validator("regex")
    @classmethod
    def _check_regex(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"regex {value!r} does not compile: {exc}") from None
        return value

    @property
    def is_pii(self) -> bool:
        return bool(self.pii)

    @property
    def family(self) -> Optional[str]:
        """Physical type family (see :func:`dtype_family`)."""
        return dtype_family(self.dtype)


class ForeignKey(_Model):
    """``column`` of the child table references ``parent_table.parent_column``."""

    column: str
    parent_table: str
    parent_column: str
    driver: bool = False
    #: rows of the real child whose key matches no parent row ("orphans"): generated at their
    #: real share as null keys ("null", the default: every generated key joins), or as keys
    #: that match no generated parent ("keep": the dangling references of the real data)
    orphans: Literal["null", "keep"] = "null"


class TableConfig(_Model):
    """One table: ordered columns, primary key and foreign keys."""

    columns: dict[str, ColumnConfig]
    primary_key: Optional[str] = None
    foreign_keys: list[ForeignKey] = Field(default_factory=list)
    #: a small lookup table without personal data (genres, species, a menu): kept as it is, at
    #: every scale, and a foreign key to it is learned as a category of the child
    reference: bool = False
    _name: Optional[str] = PrivateAttr(default=None)

    @property
    def name(self) -> Optional[str]:
        """The table's name in its Metadata (None for a table not yet part of one)."""
        return self._name

    @property
    def self_references(self) -> list[ForeignKey]:
        """Foreign keys of this table that reference this same table."""
        if self._name is None:
            raise MetadataError("this TableConfig is not part of a Metadata, so its name is "
                                "unknown; use self_references_of(table_name)")
        return self.self_references_of(self._name)

    @property
    def column_names(self) -> list[str]:
        return list(self.columns)

    @property
    def driver(self) -> Optional[ForeignKey]:
        """The foreign key the table is generated under, if any."""
        for fk in self.foreign_keys:
            if fk.driver:
                return fk
        return None

    def self_references_of(self, table_name: str) -> list[ForeignKey]:
        return [fk for fk in self.foreign_keys if fk.parent_table == table_name]

    @property
    def pii_columns(self) -> list[str]:
        return [name for name, col in self.columns.items() if col.pii]

    def foreign_key(self, column: str) -> Optional[ForeignKey]:
        for fk in self.foreign_keys:
            if fk.column == column:
                return fk
        return None


class PrivacyConfig(_Model):
    """How personal data is handled when the synthetic copy is generated."""

    pii_strategy: PIIStrategy = "fake"
    hmac_key_env: str = "SYNTHOHIVE_HMAC_KEY"

    _strategy = field_validator("pii_strategy", mode="before")(_strategy_name)
    locale: str = "en_US"
    k_anonymity: Optional[int] = Field(default=None, ge=2)
    min_dcr: Optional[float] = Field(default=None, ge=0)
    exact_copy_tolerance: float = Field(default=0.0, ge=0, le=1)


class Metadata(_Model):
    """Tables, keys and privacy settings of a relational database.

    >>> md = Metadata.from_dict({"tables": {
    ...     "customers": {"primary_key": "id", "columns": {"id": {"sdtype": "id", "dtype": "bigint"}}},
    ...     "orders": {"primary_key": "order_id",
    ...                "columns": {"order_id": {"sdtype": "id", "dtype": "bigint"},
    ...                            "customer_id": {"sdtype": "id", "dtype": "bigint"}},
    ...                "foreign_keys": [{"column": "customer_id", "parent_table": "customers",
    ...                                  "parent_column": "id"}]}}})
    >>> md.topological_order()
    ['customers', 'orders']
    >>> md.driver_fk("orders").parent_table
    'customers'
    """

    tables: dict[str, TableConfig]
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self._assign_drivers()
        self.validate()

    # ------------------------------------------------------------------ construction helpers

    def _assign_drivers(self) -> None:
        """Mark the first foreign key to another table, not a reference table, as the driver
        where none is marked."""
        for name, table in self.tables.items():
            table._name = name
            if not table.foreign_keys or any(fk.driver for fk in table.foreign_keys):
                continue
            for i, fk in enumerate(table.foreign_keys):
                ptab = self.tables.get(fk.parent_table)
                if fk.parent_table != name and not (ptab is not None and ptab.reference):
                    table.foreign_keys[i] = fk.model_copy(update={"driver": True})
                    break

    # ------------------------------------------------------------------ validation

    def validate(self) -> "Metadata":  # type: ignore[override]
        """Check keys, references, key types and cycles; raise one MetadataError listing all
        problems. Returns ``self``."""
        errors: list[str] = []
        names = list(self.tables)
        for tname, table in self.tables.items():
            cols = table.columns
            if not cols:
                errors.append(f"table {tname!r}: has no columns")
            if table.primary_key is not None and table.primary_key not in cols:
                errors.append(
                    f"table {tname!r}: primary key {table.primary_key!r} is not a column of the "
                    f"table (columns: {_fmt_list(cols)})")
            for cname, col in cols.items():
                errors.extend(_check_column(tname, cname, col))
            drivers = [fk for fk in table.foreign_keys if fk.driver]
            if len(drivers) > 1:
                errors.append(
                    f"table {tname!r}: {len(drivers)} foreign keys are marked driver "
                    f"({_fmt_list(fk.column for fk in drivers)}); at most one is allowed")
            seen: dict[str, ForeignKey] = {}
            for fk in table.foreign_keys:
                where = f"table {tname!r}, column {fk.column!r}"
                if fk.column in seen:
                    errors.append(f"{where}: has more than one foreign key; a column references "
                                  f"at most one parent")
                seen[fk.column] = fk
                if fk.column not in cols:
                    errors.append(f"table {tname!r}: foreign key column {fk.column!r} is not a "
                                  f"column of the table (columns: {_fmt_list(cols)})")
                if fk.driver and fk.parent_table == tname:
                    errors.append(f"{where}: a self-reference cannot be the driver foreign key")
                parent = self.tables.get(fk.parent_table)
                if fk.driver and parent is not None and parent.reference:
                    errors.append(f"{where}: the driver foreign key points at reference table "
                                  f"{fk.parent_table!r}, which is kept as it is and drives no "
                                  f"children (a key to it is learned as a category); set "
                                  f"'driver: false' or 'reference: false' on {fk.parent_table!r}")
                if parent is None:
                    errors.append(f"{where}: foreign key refers to table {fk.parent_table!r}, "
                                  f"which is not in the metadata (tables: {_fmt_list(names)})")
                    continue
                pcol = parent.columns.get(fk.parent_column)
                if pcol is None:
                    errors.append(
                        f"{where}: foreign key refers to {fk.parent_table}.{fk.parent_column}, "
                        f"which is not a column of {fk.parent_table!r} (expected its primary key "
                        f"{parent.primary_key!r})")
                    continue
                if fk.parent_column != parent.primary_key and not pcol.unique:
                    errors.append(
                        f"{where}: foreign key refers to {fk.parent_table}.{fk.parent_column}, "
                        f"which is neither the primary key of {fk.parent_table!r} "
                        f"({parent.primary_key!r}) nor declared unique")
                if fk.column in cols:
                    problem = _key_type_problem(cols[fk.column], pcol)
                    if problem:
                        errors.append(
                            f"{where}: type does not match the parent key "
                            f"{fk.parent_table}.{fk.parent_column}: {problem}")
        for tname, table in self.tables.items():
            errors.extend(self._rule_problems(tname, table))
        for cycle in self._cycles():
            errors.append("foreign keys form a cycle across tables: "
                          + " -> ".join(cycle + [cycle[0]])
                          + " (child -> parent); break it by removing one foreign key")
        if errors:
            raise MetadataError(
                f"invalid metadata ({len(errors)} problem{'s' if len(errors) > 1 else ''}):\n"
                + "\n".join(f"  - {e}" for e in errors), errors)
        return self

    def _rule_problems(self, tname: str, table: TableConfig) -> list[str]:
        """Copied and derived column rules that name keys, tables or columns that do not exist."""
        errors: list[str] = []
        for cname, col in table.columns.items():
            where = f"table {tname!r}, column {cname!r}"
            if col.copy_of is not None:
                rule = col.copy_of
                fk = table.foreign_key(rule.foreign_key)
                if fk is None or fk.parent_table == tname:
                    errors.append(f"{where}: copy_of names foreign key {rule.foreign_key!r}, which "
                                  f"is not a foreign key of {tname!r} to another table (foreign "
                                  f"keys: {_fmt_list(f.column for f in table.foreign_keys)})")
                elif fk.parent_table in self.tables and \
                        rule.column not in self.tables[fk.parent_table].columns:
                    errors.append(f"{where}: copy_of names {fk.parent_table}.{rule.column}, which "
                                  f"is not a column of {fk.parent_table!r}")
                if col.derived is not None:
                    errors.append(f"{where}: a column is copied or derived, not both")
            if col.derived is not None:
                rule = col.derived
                child = self.tables.get(rule.table)
                fk = child.foreign_key(rule.foreign_key) if child is not None else None
                if child is None:
                    errors.append(f"{where}: derived from table {rule.table!r}, which is not in "
                                  f"the metadata (tables: {_fmt_list(self.tables)})")
                elif fk is None or fk.parent_table != tname or rule.table == tname:
                    errors.append(f"{where}: derived from {rule.table}.{rule.foreign_key}, which "
                                  f"is not a foreign key of {rule.table!r} to {tname!r}")
                else:
                    bad = [c for c in rule.columns if c not in child.columns]
                    if bad:
                        errors.append(f"{where}: derived from columns {bad}, which are not "
                                      f"columns of {rule.table!r}")
                if str(col.sdtype) != "numerical":
                    errors.append(f"{where}: a derived column is numerical, got sdtype "
                                  f"{col.sdtype.value!r}")
        if table.reference and table.pii_columns:
            errors.append(f"table {tname!r}: is marked reference (kept as it is) but holds "
                          f"personal data in {_fmt_list(table.pii_columns)}; a reference table "
                          f"is copied verbatim, so it may not")
        return errors

    def _cycles(self) -> list[list[str]]:
        """Strongly connected components of more than one table (child -> parent edges)."""
        graph: dict[str, list[str]] = {t: [] for t in self.tables}
        for tname, table in self.tables.items():
            for fk in table.foreign_keys:
                if fk.parent_table != tname and fk.parent_table in self.tables:
                    if fk.parent_table not in graph[tname]:
                        graph[tname].append(fk.parent_table)
        return [c for c in _tarjan(graph) if len(c) > 1]

    # ------------------------------------------------------------------ lookups

    def table(self, name: str) -> TableConfig:
        """The table called ``name``; an UnknownTableError lists the known tables otherwise."""
        try:
            return self.tables[name]
        except KeyError:
            raise UnknownTableError(
                f"table {name!r} is not in the metadata (tables: {_fmt_list(self.tables)})") from None

    def relationships(self, include_self: bool = True) -> list[tuple[str, str, ForeignKey]]:
        """Every foreign key as ``(parent_table, child_table, fk)``, in declaration order."""
        out = []
        for child, table in self.tables.items():
            for fk in table.foreign_keys:
                if include_self or fk.parent_table != child:
                    out.append((fk.parent_table, child, fk))
        return out

    def children(self, table: str) -> list[str]:
        """Tables with a foreign key to ``table`` (self-references excluded)."""
        self.table(table)
        out: list[str] = []
        for parent, child, _ in self.relationships(include_self=False):
            if parent == table and child not in out:
                out.append(child)
        return out

    def parents(self, table: str) -> list[str]:
        """Tables that ``table`` references (self-references excluded)."""
        out: list[str] = []
        for fk in self.table(table).foreign_keys:
            if fk.parent_table != table and fk.parent_table not in out:
                out.append(fk.parent_table)
        return out

    def self_references(self, table: str) -> list[ForeignKey]:
        """Foreign keys of ``table`` that reference ``table`` itself."""
        return self.table(table).self_references_of(table)

    def driver_fk(self, table: str) -> Optional[ForeignKey]:
        """The foreign key ``table`` is generated under (None for a root table)."""
        return self.table(table).driver

    def pii_columns(self, table: str) -> list[str]:
        """Columns of ``table`` that hold personal data."""
        return self.table(table).pii_columns

    def topological_order(self) -> list[str]:
        """Tables with every parent before its children (self-references ignored); ties keep the
        declaration order."""
        indeg = {t: 0 for t in self.tables}
        for t in self.tables:
            indeg[t] = len(self.parents(t))
        order: list[str] = []
        ready = [t for t in self.tables if indeg[t] == 0]
        while ready:
            t = ready.pop(0)
            order.append(t)
            for child in self.children(t):
                indeg[child] -= 1
                if indeg[child] == 0:
                    ready.append(child)
            ready.sort(key=list(self.tables).index)
        if len(order) != len(self.tables):  # validate() forbids cycles; keep the guard explicit
            rest = [t for t in self.tables if t not in order]
            raise MetadataError(f"foreign keys form a cycle among tables {_fmt_list(rest)}")
        return order

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON types only); default-valued settings are left out."""
        tables: dict[str, Any] = {}
        for tname, table in self.tables.items():
            entry: dict[str, Any] = {}
            if table.primary_key is not None:
                entry["primary_key"] = table.primary_key
            entry["columns"] = {c: _column_dict(col) for c, col in table.columns.items()}
            if table.foreign_keys:
                entry["foreign_keys"] = [fk.model_dump(mode="json") for fk in table.foreign_keys]
            if table.reference:
                entry["reference"] = True
            tables[tname] = entry
        return {"tables": tables, "privacy": self.privacy.model_dump(mode="json")}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Metadata":
        """Build and validate metadata from a dict as written by :meth:`to_dict`."""
        if not isinstance(data, Mapping):
            raise MetadataError(f"metadata must be a mapping with a 'tables' key, got "
                                f"{type(data).__name__}")
        return cls(**dict(data))

    def to_yaml(self, path: Union[str, Path, None] = None) -> str:
        """YAML text of :meth:`to_dict`; also written to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False,
                              allow_unicode=True)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_yaml(cls, source: Union[str, Path]) -> "Metadata":
        """Metadata from YAML text or a path to a YAML file."""
        text, origin = _read_source(source, (".yaml", ".yml"))
        try:
            data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = " ".join(p for p in (exc.context, exc.problem) if p)
            raise MetadataError(f"malformed YAML in {origin}{where}: {problem}") from None
        except yaml.YAMLError as exc:
            raise MetadataError(f"malformed YAML in {origin}: {exc}") from None
        if data is None:
            raise MetadataError(f"{origin} is empty; expected a mapping with a 'tables' key")
        return cls.from_dict(data)

    def to_json(self, path: Union[str, Path, None] = None, indent: int = 2) -> str:
        """JSON text of :meth:`to_dict`; also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, source: Union[str, Path]) -> "Metadata":
        """Metadata from JSON text or a path to a JSON file."""
        text, origin = _read_source(source, (".json",))
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MetadataError(f"malformed JSON in {origin} at line {exc.lineno}, column "
                                f"{exc.colno}: {exc.msg}") from None
        return cls.from_dict(data)

    # ------------------------------------------------------------------ detection

    @classmethod
    def detect(cls, tables: Mapping[str, Any], sample_rows: int = 100_000, *, seed: int = 0,
               privacy: Optional[PrivacyConfig] = None) -> "Metadata":
        """Infer metadata from data: column types, PII, primary keys and foreign keys.

        ``tables`` maps table names to pandas or Spark DataFrames. Column types are inferred from
        a sample of at most ``sample_rows`` rows per table; key uniqueness and foreign-key
        containment are checked exactly on the whole tables (in Spark for Spark frames).
        """
        return _detect_metadata(tables, sample_rows=sample_rows, seed=seed, privacy=privacy)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _fmt_list(items: Iterable[Any]) -> str:
    items = list(items)
    return ", ".join(str(i) for i in items) if items else "none"


def _column_dict(col: ColumnConfig) -> dict[str, Any]:
    out = col.model_dump(mode="json", exclude_defaults=True)
    out["sdtype"] = col.sdtype.value
    # sdtype first, for readable YAML
    return {"sdtype": out.pop("sdtype"), **out}


def _check_column(tname: str, cname: str, col: ColumnConfig) -> list[str]:
    where = f"table {tname!r}, column {cname!r}"
    errors = []
    if col.min is not None and col.max is not None:
        try:
            if col.min > col.max:  # type: ignore[operator]
                errors.append(f"{where}: min {col.min!r} is greater than max {col.max!r}")
        except TypeError:
            errors.append(f"{where}: min {col.min!r} and max {col.max!r} are not comparable")
    if _UNSUPPORTED_DTYPE.match(col.dtype or ""):
        errors.append(f"{where}: physical type {col.dtype!r} is not supported (expected a "
                      f"number, string, boolean, date or timestamp)")
    return errors


_KEY_INCOMPATIBLE_SDTYPES = {SDType.BOOLEAN, SDType.DATETIME, SDType.TEXT}


def _key_type_problem(child: ColumnConfig, parent: ColumnConfig) -> Optional[str]:
    cf, pf = child.family, parent.family
    if cf is not None and pf is not None and cf != pf:
        return (f"the column is {child.dtype} ({cf}) but the parent key is {parent.dtype} ({pf}); "
                f"expected the same type")
    for side, col in (("the column", child), ("the parent key", parent)):
        if col.sdtype in _KEY_INCOMPATIBLE_SDTYPES and child.sdtype != parent.sdtype:
            return (f"{side} has sdtype {col.sdtype.value!r}; the column has "
                    f"{child.sdtype.value!r} and the parent key {parent.sdtype.value!r}, "
                    f"expected matching key types")
    return None


def _tarjan(graph: Mapping[str, list[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            order = list(graph)
            comp.sort(key=order.index)
            result.append(comp)

    for v in graph:
        if v not in index:
            visit(v)
    return result


def _read_source(source: Union[str, Path], suffixes: tuple[str, ...]) -> tuple[str, str]:
    if isinstance(source, Path):
        path = source
    elif isinstance(source, str) and "\n" not in source and (
            source.lower().endswith(suffixes) or os.path.isfile(source)):
        path = Path(source)
    else:
        if not isinstance(source, str):
            raise MetadataError(f"expected text or a path, got {type(source).__name__}")
        return source, "the given text"
    if not path.is_file():
        raise MetadataError(f"metadata file {str(path)!r} does not exist")
    return path.read_text(encoding="utf-8"), repr(str(path))


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    mapping: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"found duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _loc_model(loc: tuple, root: type) -> Optional[type]:
    """The model class whose field the last element of ``loc`` names."""
    if root is not Metadata:
        return root if len(loc) == 1 else None
    if len(loc) == 1:
        return Metadata
    if loc[0] == "privacy" and len(loc) == 2:
        return PrivacyConfig
    if loc[0] == "tables":
        if len(loc) == 3:
            return TableConfig
        if len(loc) == 5 and loc[2] == "columns":
            return ColumnConfig
        if len(loc) == 5 and loc[2] == "foreign_keys":
            return ForeignKey
    return None


def _describe_loc(loc: tuple, root: type) -> str:
    if root is Metadata and len(loc) >= 2 and loc[0] == "tables":
        parts = [f"table {loc[1]!r}"]
        if len(loc) >= 4 and loc[2] == "columns":
            parts.append(f"column {loc[3]!r}")
            rest = loc[4:]
        elif len(loc) >= 4 and loc[2] == "foreign_keys":
            parts.append(f"foreign key #{loc[3]}")
            rest = loc[4:]
        else:
            rest = loc[2:]
        if rest:
            parts.append("field " + ".".join(str(x) for x in rest))
        return ", ".join(parts)
    return ("field " + ".".join(str(x) for x in loc)) if loc else "metadata"


def _validation_messages(exc: ValidationError, root: type) -> list[str]:
    msgs = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "extra_forbidden":
            model = _loc_model(loc, root)
            allowed = f" (allowed keys: {_fmt_list(model.model_fields)})" if model else ""
            msgs.append(f"{_describe_loc(loc[:-1], root)}: unknown key {loc[-1]!r}{allowed}")
        else:
            msg = str(err.get("msg", "invalid value"))
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            msgs.append(f"{_describe_loc(loc, root)}: {msg}")
    return msgs


def _format_validation_error(exc: ValidationError, root: type) -> str:
    msgs = _validation_messages(exc, root)
    return (f"invalid {root.__name__} ({len(msgs)} problem{'s' if len(msgs) > 1 else ''}):\n"
            + "\n".join(f"  - {m}" for m in msgs))


def _normalise_bound(value: Any) -> _Bound:
    """A JSON-friendly min/max value: ints, floats, or ISO strings for dates and timestamps."""
    if value is None:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, TypeError):
            pass
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return None if math.isnan(value) else float(value)
    if isinstance(value, _decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


# ============================================================================================
# Detection
# ============================================================================================

_FK_SUFFIXES = {"id", "key", "code", "no", "num", "number", "fk", "ref", "sk", "uuid", "guid"}
_PK_STRONG_SUFFIXES = {"id", "uuid", "guid", "key", "pk"}
_PK_WEAK_SUFFIXES = {"code", "no", "num", "number", "sku"}
_ID_NAME_SUFFIXES = {"id", "uuid", "guid", "key", "pk", "fk"}
#: one-word key names that say nothing of the table they belong to
_GENERIC_KEY_NAMES = {"id", "key", "code", "no", "num", "number", "uuid", "guid", "pk", "name",
                      "value", "ref", "sk", "fk"}
_SELF_HINTS = {"parent", "manager", "reports", "supervisor", "boss", "mentor", "referrer",
               "referred", "predecessor", "successor", "superior", "lead", "head", "sponsor"}
#: Names of measures and counts: such a column is never a foreign key without a name hint.
_MEASURE_TOKENS = {"quantity", "qty", "count", "cnt", "amount", "amt", "total", "sum", "price",
                   "cost", "age", "year", "years", "month", "day", "days", "hour", "hours",
                   "minute", "minutes", "second", "seconds", "score", "rating", "rank", "level",
                   "size", "weight", "height", "width", "length", "duration", "priority",
                   "version", "seq", "sequence", "position", "pos", "percent", "pct", "rate",
                   "balance", "salary", "points", "units", "num", "number", "floor", "stock",
                   "nights", "visits"}
#: Names of counts and amounts: an integer column so named stays numerical with few values.
_COUNT_TOKENS = {"quantity", "qty", "count", "cnt", "amount", "amt", "total", "units", "age",
                 "year", "years", "days", "nights", "visits", "points", "size", "num", "number",
                 "price", "cost", "balance", "salary", "weight", "length", "duration"}
_NAME_PREFIXES = {"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "mx"}
_PERSON_TOKENS = {"customer", "client", "employee", "user", "person", "contact", "owner",
                  "member", "patient", "student", "author", "manager", "agent", "staff"}

_PHONE_RE = re.compile(
    r"^(\+|00)?(\d{1,3}[\s.-]?)?(\(\d{1,4}\)|\d{1,4})[\s.-]?\d{2,4}[\s.-]?\d{3,5}"
    r"(\s*(x|ext\.?|extension)\s*\d{1,6})?$", re.IGNORECASE)
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
                      re.IGNORECASE)
_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
                 "%Y/%m/%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y%m%d")
_PII_MATCH_SHARE = 0.9
_NAMELESS_MIN_P = 0.01
_NAMELESS_MIN_COVERAGE = 0.8
_NAMELESS_MIN_DISTINCT = 3


def _tokens(name: str) -> list[str]:
    """Lower-case word tokens of an identifier: camelCase, PascalCase and snake_case."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", str(name))
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return [t for t in re.split(r"[^0-9A-Za-z]+", s.lower()) if t]


def _singular(word: str) -> str:
    irregular = {"people": "person", "children": "child", "men": "man", "women": "woman",
                 "staff": "staff", "data": "data", "news": "news", "series": "series"}
    if word in irregular:
        return irregular[word]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if re.search(r"(ss|sh|ch|x|z)es$", word) or word.endswith("sses"):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 2:
        return word[:-1]
    return word


def _plural(word: str) -> str:
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if re.search(r"(s|sh|ch|x|z)$", word):
        return word + "es"
    return word + "s"


def _forms(table: str) -> set[tuple[str, ...]]:
    toks = _tokens(table)
    if not toks:
        return set()
    head, last = toks[:-1], toks[-1]
    return {tuple(toks), tuple(head + [_singular(last)]), tuple(head + [_plural(_singular(last))])}


def _ends_with(seq: tuple[str, ...], tail: tuple[str, ...]) -> bool:
    return 0 < len(tail) < len(seq) and seq[-len(tail):] == tail


def _fk_name_score(col: str, child: str, parent: str, parent_pk: str) -> int:
    """3: the name names the parent; 2: it names it with a role or prefix; 1: a self-reference
    word (``reports_to``, ``manager_id``) on the parent table itself; 0: no hint."""
    toks = tuple(_tokens(col))
    if not toks:
        return 0
    pk_toks = tuple(_tokens(parent_pk))
    pforms = _forms(parent)
    if toks == pk_toks and (len(pk_toks) > 1 or toks[0] not in _GENERIC_KEY_NAMES):
        return 3 if parent != child else 0
    entity = toks[:-1] if (len(toks) > 1 and toks[-1] in _FK_SUFFIXES) else toks
    last = toks[-1]
    if last not in _FK_SUFFIXES and not re.search(r"(ss|us|is)$", last) and _singular(last) != last:
        return 0  # a plural names a count of rows (orders.items), a reference names one row
    if parent == child:
        # a column named after its own table (flights.flight, a trip number) is an attribute;
        # a reference to another row of the table says so (parent_id, reports_to, manager_id)
        return 1 if any(t in _SELF_HINTS for t in toks) else 0
    if entity in pforms:
        return 3
    if any(_ends_with(entity, f) or _ends_with(f, entity) for f in pforms):
        return 2
    return 0


def _pk_name_score(col: str, table: str, position: int, family: Optional[str],
                   is_pattern_id: bool) -> int:
    toks = tuple(_tokens(col))
    if not toks:
        return 0
    if toks == ("id",):
        return 100
    last, entity = toks[-1], toks[:-1]
    forms = _forms(table)
    if last in _PK_STRONG_SUFFIXES | _PK_WEAK_SUFFIXES and entity:
        if entity in forms:
            return 95
        if any(_ends_with(f, entity) or _ends_with(entity, f) for f in forms):
            return 85
    if last in _PK_STRONG_SUFFIXES:
        return 70
    if last in _PK_WEAK_SUFFIXES:
        return 50
    if is_pattern_id:
        return 40
    if position == 0 and family in ("integer", "code"):
        return 30  # the first column, unique: an integer id or a natural code (N10156, UA)
    return 0


def _is_phone(v: str) -> bool:
    return bool(_PHONE_RE.match(v)) and sum(ch.isdigit() for ch in v) >= 7


_NAME_LISTS: dict[str, frozenset[str]] = {}


def _name_list(kind: str) -> frozenset[str]:
    """Lower-case first or last names known to faker (en_US plus a few common locales)."""
    if kind not in _NAME_LISTS:
        import importlib

        names: set[str] = set()
        for locale in ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT"):
            try:
                provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
            except ImportError:
                continue
            attr = "first_names" if kind == "first" else "last_names"
            names.update(n.lower() for n in getattr(provider, attr, ()))
        _NAME_LISTS[kind] = frozenset(names)
    return _NAME_LISTS[kind]


def _share(values: list[str], predicate) -> float:
    if not values:
        return 0.0
    return sum(1 for v in values if predicate(v)) / len(values)


def _person_name_share(values: list[str]) -> float:
    first, last = _name_list("first"), _name_list("last")

    def is_name(v: str) -> bool:
        parts = [p.strip(".,").lower() for p in v.split()]
        parts = [p for p in parts if p and p not in _NAME_PREFIXES]
        return 2 <= len(parts) <= 4 and parts[0] in first and (parts[-1] in last
                                                              or parts[-1] in first)

    return _share(values, is_name)


def _pii_from_values(values: list[str], phone: bool = True) -> Optional[SDType]:
    """The PII kind the values show; ``phone=False`` skips the phone shape, which codes such as
    ``2015-000001`` share (a column whose name says it is an identifier)."""
    if len(values) < 5:
        return None
    checks = (
        (SDType.EMAIL, is_email),
        (SDType.SSN, is_ssn),
        (SDType.CREDIT_CARD, is_credit_card),
        (SDType.IBAN, is_iban),
        (SDType.IP, is_ip),
    )
    for kind, pred in checks:
        if _share(values, pred) >= _PII_MATCH_SHARE:
            return kind
    # phone numbers: the pattern, and separators or a '+' so that plain digit ids do not match
    if (phone and _share(values, _is_phone) >= _PII_MATCH_SHARE
            and _share(values, lambda v: bool(re.search(r"[\s().+-]", v))) >= 0.5):
        return SDType.PHONE
    return None


def _person_from_values(values: list[str]) -> Optional[SDType]:
    """Person names recognised from the values alone (checked after the name hints)."""
    distinct = len(set(values))
    if distinct >= 10:
        if _person_name_share(values) >= 0.7:
            return SDType.NAME
        if _share(values, lambda v: v.strip().lower() in _name_list("first")) >= 0.8:
            return SDType.FIRST_NAME
        if _share(values, lambda v: v.strip().lower() in _name_list("last")) >= 0.8:
            return SDType.LAST_NAME
    return None


def _pii_from_name(toks: list[str], values: list[str], column: Optional[str] = None
                   ) -> Optional[SDType]:
    """The PII kind a column's name says, when its values do not contradict it. The hints of
    ``privacy.detect`` (many languages, glued names such as ``billingpostalcode``) come first."""
    t = set(toks)
    joined = "_".join(toks)
    digits = lambda v: sum(ch.isdigit() for ch in v)  # noqa: E731

    def loose(pred, share: float = 0.5) -> bool:
        return not values or _share(values, pred) >= share

    plausible = {
        SDType.EMAIL: lambda: loose(lambda v: "@" in v),
        SDType.PHONE: lambda: loose(lambda v: digits(v) >= 7),
        SDType.SSN: lambda: loose(lambda v: digits(v) >= 8),
        SDType.IBAN: lambda: loose(is_iban),
        SDType.CREDIT_CARD: lambda: loose(lambda v: 13 <= digits(v) <= 19),
        SDType.IP: lambda: loose(is_ip),
    }
    if column is not None:
        hint = name_hint(column)
        # person names are left to the rules below: a bare "name" is a product's or a genre's
        # as often as a person's, and the values decide
        if hint is not None and hint not in (SDType.DATE_OF_BIRTH.value, SDType.NAME.value,
                                             SDType.FIRST_NAME.value, SDType.LAST_NAME.value):
            kind = SDType(hint)
            if plausible.get(kind, lambda: True)():
                return kind

    if ("email" in t or "mail" in t or joined.endswith("e_mail")) and loose(lambda v: "@" in v):
        return SDType.EMAIL
    if t & {"phone", "mobile", "telephone", "tel", "cell", "fax"} and loose(
            lambda v: digits(v) >= 7):
        return SDType.PHONE
    if ("ssn" in t or "social_security" in joined) and loose(lambda v: digits(v) == 9):
        return SDType.SSN
    if ("iban" in t) and loose(is_iban):
        return SDType.IBAN
    if ("credit_card" in joined or "card_number" in joined or t & {"ccn", "cc"}) and loose(
            lambda v: 13 <= digits(v) <= 19):
        return SDType.CREDIT_CARD
    if t & {"ip", "ipv4", "ipv6"} and loose(is_ip):
        return SDType.IP
    if t & {"zip", "zipcode", "postcode"} or "postal_code" in joined:
        return SDType.ZIP
    if t & {"city", "town"}:
        return SDType.CITY
    if t & {"address", "street", "addr"} or joined.startswith("address_line"):
        return SDType.ADDRESS
    if joined in {"first_name", "firstname", "given_name", "fname", "forename"} or \
            joined.endswith("_first_name"):
        return SDType.FIRST_NAME
    if joined in {"last_name", "lastname", "surname", "family_name", "lname"} or \
            joined.endswith("_last_name"):
        return SDType.LAST_NAME
    if joined in {"full_name", "fullname"} or joined.endswith("_full_name") or (
            toks and toks[-1] == "name" and len(toks) == 2 and toks[0] in _PERSON_TOKENS):
        return SDType.NAME
    if toks and toks[-1] == "name" and values and _person_name_share(values) >= 0.5:
        return SDType.NAME
    return None


def _dob_hint(toks: list[str]) -> bool:
    joined = "_".join(toks)
    return joined in {"dob", "date_of_birth", "birth_date", "birthdate", "birthday",
                      "birth_day"} or joined.endswith("_dob") or joined.endswith("_birth_date")


_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./:-]{0,23}$")


def _is_code(values: Any) -> bool:
    """Whether string values look like codes (``UA``, ``N10156``, ``2015-000002``, ``NL``): short,
    no blanks, and at least one holding a digit or in capitals, so that plain words do not."""
    vals = [str(v) for v in values.dropna().tolist()[:5000]]
    if not vals or not all(_CODE_RE.match(v) for v in vals):
        return False
    return _share(vals, lambda v: any(ch.isdigit() for ch in v) or v.isupper()) >= 0.8


def _is_id_name(toks: list[str]) -> bool:
    return bool(toks) and toks[-1] in _ID_NAME_SUFFIXES


def _is_measure_name(toks: list[str]) -> bool:
    return any(t in _MEASURE_TOKENS for t in toks) or (bool(toks) and toks[0] in {"n", "num"})


_REGEX_SPECIALS = set(".^$*+?{}[]\\|()")


def _escape(text: str) -> str:
    return "".join("\\" + ch if ch in _REGEX_SPECIALS else ch for ch in text)


def _infer_regex(values: list[str]) -> Optional[str]:
    """A regex shared by every value, for identifiers such as ``CUST-000123``."""
    if not values:
        return None
    if all(_UUID_RE.match(v) for v in values):
        return "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    token_re = re.compile(r"[0-9]+|[A-Z]+|[a-z]+|.", re.DOTALL)
    first_sig = None
    columns: list[list[str]] = []
    for v in values:
        toks = token_re.findall(v)
        sig = tuple("D" if t[0].isdigit() else "U" if t[0].isupper() and t.isalpha()
                    else "L" if t[0].islower() and t.isalpha() else "O:" + t for t in toks)
        if first_sig is None:
            first_sig = sig
            columns = [[] for _ in toks]
        elif sig != first_sig:
            return None
        for i, t in enumerate(toks):
            columns[i].append(t)
    if not first_sig or "D" not in first_sig:
        return None
    parts = []
    variable = False
    for kind, texts in zip(first_sig, columns):
        distinct = set(texts)
        if len(distinct) == 1:
            parts.append(_escape(texts[0]))
            continue
        variable = True
        cls = {"D": "[0-9]", "U": "[A-Z]", "L": "[a-z]"}[kind]
        lo, hi = min(map(len, texts)), max(map(len, texts))
        parts.append(f"{cls}{{{lo}}}" if lo == hi else f"{cls}{{{lo},{hi}}}")
    return "".join(parts) if variable else None


def _date_format(values: list[str]) -> Optional[str]:
    probe = values[:200]
    if not probe or not all(6 <= len(v) <= 26 and any(c.isdigit() for c in v) for v in probe):
        return None
    for fmt in _DATE_FORMATS:
        try:
            for v in probe:
                _dt.datetime.strptime(v, fmt)
        except ValueError:
            continue
        return fmt
    return None


def _float_decimals(values) -> Optional[int]:
    import numpy as np

    arr = np.asarray(values, dtype="float64")
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return None
    tol = 1e-9 * np.maximum(1.0, np.abs(arr))
    for k in range(0, 7):
        if np.all(np.abs(np.round(arr, k) - arr) <= tol):
            return k
    return None


# -------------------------------------------------------------------------------- profiles


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


# -------------------------------------------------------------------------------- inference


class _ColumnGuess:
    def __init__(self, config: dict[str, Any], regex: Optional[str]) -> None:
        self.config = config
        self.regex = regex


def _token_like(values: list[str]) -> bool:
    """Machine identifiers, not labels: no blanks, at least 6 characters, and letters mixed with
    digits in nearly every value (``u3f9a1c0``, ``Zx81_kQ2...``), unlike names (``Iron Maiden``,
    ``Rock``)."""
    if not values:
        return False
    mixed = sum(1 for v in values if any(c.isdigit() for c in v) and any(c.isalpha() for c in v))
    return (all(len(v) >= 6 and not any(c.isspace() for c in v) for v in values)
            and mixed >= 0.9 * len(values))


def _all_distinct(p: _Profile, column: str, values: list[str]) -> bool:
    """Every non-null value of ``column`` differs from the others, in the whole table (the
    profile's sample and its distinct count), and there are at least 3."""
    return (len(values) >= 3 and len(set(values)) == len(values)
            and p.n_distinct([column])[column] == p.n_rows - p.nulls[column])


def _infer_column(p: _Profile, column: str) -> _ColumnGuess:
    dtype = p.dtypes[column]
    fam = dtype_family(dtype)
    toks = _tokens(column)
    series = p.sample[column]
    nonnull = series.dropna()
    if fam == "float":
        nonnull = nonnull[nonnull == nonnull]
    base: dict[str, Any] = {"dtype": dtype, "nullable": p.nulls[column] > 0}
    lo, hi = _normalise_bound(p.mins.get(column)), _normalise_bound(p.maxs.get(column))

    if fam == "boolean":
        return _ColumnGuess({**base, "sdtype": SDType.BOOLEAN}, None)
    if fam in ("date", "timestamp"):
        kind = SDType.DATE_OF_BIRTH if _dob_hint(toks) else SDType.DATETIME
        extra = {} if kind in PII_KINDS else {"min": lo, "max": hi}
        return _ColumnGuess({**base, "sdtype": kind, **extra}, None)
    if fam == "string":
        values = [str(v) for v in nonnull.tolist()]
        probe = values[:2000]
        kind = (_pii_from_values(probe, phone=not _is_id_name(toks))
                or _pii_from_name(list(normalize_name(column)), probe, column)
                or _person_from_values(probe))
        if kind is not None:
            cfg = {**base, "sdtype": kind}
            if kind in (SDType.EMAIL, SDType.USERNAME) and _all_distinct(p, column, values):
                cfg["unique"] = True  # one account each: generated ones stay distinct
            return _ColumnGuess(cfg, None)
        fmt = _date_format(probe)
        if fmt is not None:
            if _dob_hint(toks):
                return _ColumnGuess({**base, "sdtype": SDType.DATE_OF_BIRTH,
                                     "datetime_format": fmt}, None)
            import pandas as pd

            parsed = pd.to_datetime(pd.Series(values), format=fmt, errors="coerce").dropna()
            bounds = ({"min": parsed.min().isoformat(), "max": parsed.max().isoformat()}
                      if len(parsed) else {})
            return _ColumnGuess({**base, "sdtype": SDType.DATETIME, "datetime_format": fmt,
                                 **bounds}, None)
        distinct = len(set(values))
        regex = _infer_regex(values[:5000]) if values else None
        if regex is not None and any(ch.isspace() for v in probe for ch in v):
            regex = None  # identifiers hold no blanks; a shared sentence template is not an id
        ratio = distinct / len(values) if values else 0.0
        if _is_id_name(toks) or (regex is not None and ratio > 0.2 and len(values) >= 10):
            return _ColumnGuess({**base, "sdtype": SDType.ID, "regex": regex}, regex)
        if not values:
            return _ColumnGuess({**base, "sdtype": SDType.CATEGORICAL}, None)
        # free text is long and multi-word and mostly unique (reviews, notes, descriptions);
        # anything else is a label: a category (values repeat: country, genre, size) or, when
        # every value is distinct, a unique label (a genre's name in its lookup table)
        avg_words = sum(len(v.split()) for v in probe) / len(probe)
        avg_len = sum(len(v) for v in probe) / len(probe)
        if (avg_words >= 4 or avg_len >= 40) and ratio > 0.5:
            return _ColumnGuess({**base, "sdtype": SDType.TEXT}, regex)
        if _all_distinct(p, column, values) and _token_like(probe):
            # an identifier (a session id, a hash, an API token): fresh values in its shape,
            # unique, never the real ones (which may be secrets)
            return _ColumnGuess({**base, "sdtype": SDType.ID, "unique": True, "regex": regex},
                                regex)
        cfg = {**base, "sdtype": SDType.CATEGORICAL}
        if _all_distinct(p, column, values):
            cfg["unique"] = True
        return _ColumnGuess(cfg, regex)
    if fam == "integer":
        base["integer"] = True
        if _is_id_name(toks):
            return _ColumnGuess({**base, "sdtype": SDType.ID}, None)
        if nonnull.nunique() <= 10 and not any(t in _COUNT_TOKENS for t in toks) \
                and len(nonnull) > 0:
            return _ColumnGuess({**base, "sdtype": SDType.CATEGORICAL}, None)
        return _ColumnGuess({**base, "sdtype": SDType.NUMERICAL, "min": lo, "max": hi}, None)
    if fam in ("float", "decimal"):
        if fam == "decimal":
            decimals = _decimal_scale(dtype)
        else:
            decimals = _float_decimals(nonnull.tolist())
        cfg = {**base, "sdtype": SDType.NUMERICAL, "min": lo, "max": hi}
        if decimals == 0 and len(nonnull) > 0:
            cfg["integer"] = True
        elif decimals is not None:
            cfg["decimals"] = decimals
        return _ColumnGuess(cfg, None)
    raise _unsupported(p.name, column, dtype)


class _Candidate:
    def __init__(self, child: str, column: str, parent: str, parent_column: str,
                 name_score: int) -> None:
        self.child, self.column = child, column
        self.parent, self.parent_column = parent, parent_column
        self.name_score = name_score
        self.p_spread = 0.0
        self.coverage = 0.0
        self.distinct = 0

    def key(self) -> tuple:
        return (self.name_score, self.p_spread, self.coverage)


def _spread_probability(d: int, span: int, k: int) -> float:
    """Chance that ``d`` keys drawn at random from ``k`` parent keys fall within a window of
    ``span`` consecutive keys (the window the child's values actually occupy)."""
    if d <= 1 or k <= 1:
        return 1.0
    w = (span - 1) / (k - 1)
    if w >= 1:
        return 1.0
    if w <= 0:
        return 0.0
    log_p = (d - 1) * math.log(w) + math.log(max(d - (d - 1) * w, 1e-300))
    return math.exp(log_p) if log_p > -700 else 0.0


def _detect_primary_key(p: _Profile, guesses: dict[str, _ColumnGuess]) -> Optional[str]:
    scored = []
    for pos, column in enumerate(p.dtypes):
        fam = dtype_family(p.dtypes[column])
        if fam not in ("integer", "string"):
            continue
        cfg = guesses[column].config
        if cfg["sdtype"] in (SDType.TEXT, SDType.BOOLEAN, SDType.DATETIME) or \
                cfg["sdtype"].value in PII_KINDS:
            continue
        s = p.sample[column]
        if p.nulls[column] > 0 or s.isna().any() or not s.is_unique or len(s) == 0:
            continue
        if fam == "string" and _is_code(s):
            fam = "code"
        score = _pk_name_score(column, p.name, pos, fam,
                               is_pattern_id=cfg["sdtype"] == SDType.ID and cfg.get("regex"))
        if score > 0:
            scored.append((-score, pos, column))
    for _, _, column in sorted(scored):
        if p.n_distinct([column])[column] == p.n_rows:
            return column
    return None


def _detect_foreign_keys(profiles: dict[str, _Profile], pks: dict[str, Optional[str]],
                         guesses: dict[str, dict[str, _ColumnGuess]]) -> list[_Candidate]:
    chosen: list[_Candidate] = []
    for child, cp in profiles.items():
        child_pk = pks[child]
        cand_by_col: dict[str, list[_Candidate]] = {}
        for column in cp.dtypes:
            fam = dtype_family(cp.dtypes[column])
            if fam not in ("integer", "string") or column not in cp.mins:
                continue
            if guesses[child][column].config["sdtype"] in (SDType.TEXT,):
                continue
            for parent, pp in profiles.items():
                ppk = pks[parent]
                if ppk is None or (parent == child and column == ppk):
                    continue
                if dtype_family(pp.dtypes[ppk]) != fam or ppk not in pp.mins:
                    continue
                try:
                    inside = pp.mins[ppk] <= cp.mins[column] and cp.maxs[column] <= pp.maxs[ppk]
                except TypeError:
                    inside = False
                if not inside:
                    continue
                score = _fk_name_score(column, child, parent, ppk)
                if column == child_pk and (score < 3 or parent == child):
                    continue  # a table's own key is a foreign key only when its name says so
                cand_by_col.setdefault(column, []).append(
                    _Candidate(child, column, parent, ppk, score))
        if not cand_by_col:
            continue
        distinct = cp.n_distinct(list(cand_by_col))
        for column, cands in cand_by_col.items():
            d = distinct[column]
            non_null = cp.n_rows - cp.nulls[column]
            unique = d == non_null
            measure = _is_measure_name(_tokens(column))
            for c in cands:
                pp = profiles[c.parent]
                k = pp.n_rows
                lo = pp.rank(c.parent_column, cp.mins[column], inclusive=False)
                hi = pp.rank(c.parent_column, cp.maxs[column], inclusive=True)
                c.distinct = d
                c.coverage = d / k if k else 0.0
                c.p_spread = _spread_probability(d, max(hi - lo, d), k)
            pick = _pick_foreign_key(cp, column, cands, unique, measure, profiles)
            if pick is not None:
                chosen.append(pick)
                logger.info("detected foreign key %s.%s -> %s.%s (name score %d, spread p=%.3g, "
                            "coverage %.2f)", child, column, pick.parent, pick.parent_column,
                            pick.name_score, pick.p_spread, pick.coverage)
    return _break_cycles(chosen)


def _pick_foreign_key(cp: _Profile, column: str, cands: list[_Candidate], unique: bool,
                      measure: bool, profiles: dict[str, _Profile]) -> Optional[_Candidate]:
    def contained(c: _Candidate) -> bool:
        missing = cp.missing_in(column, profiles[c.parent], c.parent_column)
        if missing and c.name_score >= 2:
            logger.info("%s.%s is named like a foreign key to %s.%s but %d of its values have "
                        "no parent; not a foreign key", cp.name, column, c.parent,
                        c.parent_column, missing)
        return missing == 0

    named = sorted((c for c in cands if c.name_score >= 2), key=lambda c: c.key(), reverse=True)
    for c in named:
        if contained(c):
            return c
    if not measure and not unique:
        nameless = [c for c in cands if c.name_score <= 1 and c.parent != c.child
                    and c.distinct >= _NAMELESS_MIN_DISTINCT
                    and (c.p_spread >= _NAMELESS_MIN_P or c.coverage >= _NAMELESS_MIN_COVERAGE)]
        nameless.sort(key=lambda c: (c.p_spread, c.coverage, c.name_score), reverse=True)
        for c in nameless:
            if contained(c):
                return c
    selfish = [c for c in cands if c.name_score == 1]
    for c in selfish:
        if contained(c):
            return c
    return None


def _break_cycles(chosen: list[_Candidate]) -> list[_Candidate]:
    edges = list(chosen)
    while True:
        graph: dict[str, list[str]] = {}
        for c in edges:
            graph.setdefault(c.child, [])
            graph.setdefault(c.parent, [])
            if c.parent != c.child:
                graph[c.child].append(c.parent)
        cycles = [comp for comp in _tarjan(graph) if len(comp) > 1]
        if not cycles:
            return edges
        comp = set(cycles[0])
        inside = [c for c in edges if c.child in comp and c.parent in comp and c.child != c.parent]
        weakest = min(inside, key=lambda c: c.key())
        logger.warning("detected foreign keys form a cycle among %s; dropping the weakest one, "
                       "%s.%s -> %s.%s", sorted(comp), weakest.child, weakest.column,
                       weakest.parent, weakest.parent_column)
        edges.remove(weakest)


def _depths(tables: list[str], edges: list[_Candidate]) -> dict[str, int]:
    parents: dict[str, set[str]] = {t: set() for t in tables}
    for c in edges:
        if c.parent != c.child:
            parents[c.child].add(c.parent)
    depth: dict[str, int] = {}

    def visit(t: str) -> int:
        if t not in depth:
            depth[t] = 0  # cycles were broken; guards against recursion anyway
            depth[t] = 1 + max((visit(p) for p in parents[t]), default=-1)
        return depth[t]

    for t in tables:
        visit(t)
    return depth


#: a lookup table kept as it is has at most this many rows ...
REFERENCE_MAX_ROWS = 1000
#: ... and at most this share of the rows of its largest child table (each of its rows is
#: referenced many times: a lookup, not an entity with a few children of its own)
REFERENCE_MAX_SHARE = 0.1
#: parents whose children are read to find copied and derived columns
RULE_SAMPLE_PARENTS = 20_000


def _reference_tables(profiles: dict[str, _Profile], guesses: dict[str, dict[str, _ColumnGuess]],
                      edges: list[_Candidate]) -> set[str]:
    """Small lookup tables without personal data that other tables point at and that point at no
    other table, with a label among their columns (genres, media types, species, a menu)."""
    out = set()
    for t, p in profiles.items():
        children = [e.child for e in edges if e.parent == t and e.child != t]
        if not children or any(e.child == t and e.parent != t for e in edges):
            continue
        if any(str(g.config["sdtype"]) in PII_KINDS for g in guesses[t].values()):
            continue
        keys = {e.parent_column for e in edges if e.parent == t}
        if not any(dtype_family(p.dtypes[c]) == "string" for c in p.dtypes if c not in keys):
            continue  # a lookup names things: a type, a label, a description
        biggest = max(profiles[c].n_rows for c in children)
        if p.n_rows <= REFERENCE_MAX_ROWS and p.n_rows <= REFERENCE_MAX_SHARE * biggest:
            out.add(t)
            logger.info("table %s (%d rows, referenced by %s) is a reference table: kept as it "
                        "is", t, p.n_rows, sorted(set(children)))
    return out


def _rule_frames(child: _Profile, fk: str, parent: _Profile, pk: str,
                 ccols: list[str], pcols: list[str]) -> tuple[Any, Any]:
    """The parent rows and ALL their children, for at most RULE_SAMPLE_PARENTS parents (a hash
    of the key picks them, the same on both sides)."""
    import pandas as pd

    complete = all(isinstance(q, _PandasProfile) or q.complete for q in (child, parent))
    if complete:
        cdf, pdf = _full_frame(child)[[fk, *ccols]], _full_frame(parent)[[pk, *pcols]]
        if len(pdf) > RULE_SAMPLE_PARENTS:
            keep = pdf[pk].astype(str).map(hash) % max(1, len(pdf) // RULE_SAMPLE_PARENTS) == 0
            pdf = pdf[keep]
            cdf = cdf[cdf[fk].isin(pdf[pk])]
        return cdf, pdf
    from pyspark.sql import functions as F

    buckets = max(1, parent.n_rows // RULE_SAMPLE_PARENTS)
    pick = lambda c: F.pmod(F.xxhash64(qcol(c).cast("string")), F.lit(buckets)) == 0  # noqa: E731
    cdf = child.df.where(pick(fk)).select(qcol(fk), *[qcol(c) for c in ccols]).toPandas()
    pdf = parent.df.where(pick(pk)).select(qcol(pk), *[qcol(c) for c in pcols]).toPandas()
    return cdf, pd.DataFrame(pdf)


def _detect_rules(profiles: dict[str, _Profile], out: dict[str, Any],
                  edges: list[_Candidate]) -> None:
    """Copied child columns and derived parent columns, written into ``out``'s column configs."""
    from synthohive_spark.relational.rules import find_copies, find_derived

    def plain(t: str) -> list[str]:
        cfg = out[t]
        keys = {cfg["primary_key"], *(f["column"] for f in cfg["foreign_keys"])}
        return [c for c, cc in cfg["columns"].items() if c not in keys
                and cc["sdtype"] not in (SDType.ID, SDType.TEXT)]

    def numbers(t: str) -> list[str]:  # numbers, and integers with few values (counts)
        cols = out[t]["columns"]
        return [c for c in plain(t) if cols[c]["sdtype"] == SDType.NUMERICAL
                or (cols[c]["sdtype"] == SDType.CATEGORICAL and cols[c].get("integer"))]

    for e in edges:
        if e.child == e.parent:
            continue
        cp, pp = profiles[e.child], profiles[e.parent]
        ccols, pcols = plain(e.child), plain(e.parent)
        if not ccols and not pcols:
            continue
        children, parents = _rule_frames(cp, e.column, pp, e.parent_column, ccols, pcols)
        prefix = "__parent__"
        joined = children.merge(parents.rename(columns={c: prefix + c for c in pcols}),
                                left_on=e.column, right_on=e.parent_column, how="inner")
        ccfg = out[e.child]["columns"]
        for f in find_copies(joined, [c for c in ccols if "copy_of" not in ccfg[c]], pcols,
                             prefix):
            ccfg[f.column]["copy_of"] = {"foreign_key": e.column, "column": f.parent_column,
                                         "agreement": round(f.agreement, 4)}
            logger.info("%s.%s copies %s.%s (%.1f%% of rows agree)", e.child, f.column,
                        e.parent, f.parent_column, 100 * f.agreement)
        pcfg = out[e.parent]["columns"]
        dcols = [c for c in numbers(e.parent) if "derived" not in pcfg[c]
                 and "copy_of" not in pcfg[c]]
        if not dcols:
            continue
        decimals = {c: (0 if pcfg[c].get("integer") else pcfg[c].get("decimals")) for c in dcols}
        for f in find_derived(parents, e.parent_column, dcols, decimals, children, e.column,
                              numbers(e.child)[:8]):
            pcfg[f.column]["derived"] = {"aggregate": f.aggregate, "table": e.child,
                                         "foreign_key": e.column, "columns": list(f.columns)}
            pcfg[f.column]["sdtype"] = SDType.NUMERICAL  # a count with few values is still one
            logger.info("%s.%s is the %s of its %s rows%s (holds on %.1f%%)", e.parent, f.column,
                        f.aggregate, e.child,
                        f" ({' x '.join(f.columns)})" if f.columns else "", 100 * f.share)


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


def _detect_metadata(tables: Mapping[str, Any], sample_rows: int = 100_000, seed: int = 0,
                     privacy: Optional[PrivacyConfig] = None) -> Metadata:
    if not isinstance(tables, Mapping) or not tables:
        raise MetadataError("detect expects a non-empty dict of table name -> DataFrame")
    if sample_rows < 1:
        raise MetadataError(f"sample_rows must be at least 1, got {sample_rows}")
    profiles: dict[str, _Profile] = {}
    for name, df in tables.items():
        if _is_pandas_frame(df):
            profiles[name] = _PandasProfile(name, df, sample_rows, seed)
        elif _is_spark_frame(df):
            check_case_distinct(name, df.columns, df.sparkSession)
            profiles[name] = _SparkProfile(name, df, sample_rows, seed)
        else:
            raise MetadataError(f"table {name!r}: expected a pandas or Spark DataFrame, got "
                                f"{type(df).__name__}")
        logger.info("profiled table %s: %d rows, %d columns", name, profiles[name].n_rows,
                    len(profiles[name].dtypes))
    kinds = {type(p) for p in profiles.values()}
    if len(kinds) > 1:
        raise MetadataError("detect expects all tables as pandas DataFrames or all as Spark "
                            "DataFrames, not a mix")

    guesses = {t: {c: _infer_column(p, c) for c in p.dtypes} for t, p in profiles.items()}
    pks = {t: _detect_primary_key(p, guesses[t]) for t, p in profiles.items()}
    edges = _detect_foreign_keys(profiles, pks, guesses)
    depth = _depths(list(profiles), edges)
    reference = _reference_tables(profiles, guesses, edges)

    out: dict[str, Any] = {}
    for t, p in profiles.items():
        columns: dict[str, Any] = {}
        own = [e for e in edges if e.child == t]
        fk_cols = {e.column: e for e in own}
        for c in p.dtypes:
            cfg = dict(guesses[t][c].config)
            if c == pks[t] or c in fk_cols:
                regex = guesses[t][c].regex
                if c in fk_cols:
                    e = fk_cols[c]
                    regex = guesses[e.parent][e.parent_column].regex or regex
                cfg = {"sdtype": SDType.ID, "dtype": cfg["dtype"], "nullable": cfg["nullable"],
                       "integer": dtype_family(cfg["dtype"]) == "integer", "regex": regex}
            columns[c] = {k: v for k, v in cfg.items() if v is not None}
        order = {c: i for i, c in enumerate(p.dtypes)}
        own.sort(key=lambda e: order[e.column])
        # a reference table does not drive its children: a foreign key to it is a category
        others = [e for e in own if e.parent != t and e.parent not in reference]
        driver = max(others, key=lambda e: (depth[e.parent], e.name_score >= 2,
                                            profiles[e.parent].n_rows, -order[e.column]),
                     default=None)
        out[t] = {"columns": columns, "primary_key": pks[t],
                  "foreign_keys": [{"column": e.column, "parent_table": e.parent,
                                    "parent_column": e.parent_column, "driver": e is driver}
                                   for e in own]}
        if t in reference:
            out[t]["reference"] = True
    _detect_rules(profiles, out, edges)
    data: dict[str, Any] = {"tables": out}
    if privacy is not None:
        data["privacy"] = privacy
    return Metadata(**data)
