"""The metadata models: semantic and physical types, columns, tables, keys, rules, privacy
settings, and :class:`Metadata` with its validation and YAML/JSON round-trip.

Imports no pyspark and no pandas; detection lives in :mod:`synthohive_spark.metadata.detect`.
"""
from __future__ import annotations

import json
import logging
import re
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Mapping, Optional, Union

import yaml
from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator,
                      model_validator)

from synthohive_spark.errors import MetadataError, UnknownTableError
from synthohive_spark.metadata._loader import (_fmt_list, _format_validation_error, _read_json,
                                               _read_yaml, _validation_messages)
from synthohive_spark.privacy.detect import PII_KINDS as _DETECT_KINDS

__all__ = ["SDType", "PII_KINDS", "PIIStrategy", "dtype_family", "ColumnConfig", "CopyRule",
           "DerivedRule", "ForeignKey", "TableConfig", "PrivacyConfig", "Metadata"]



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
    key ``foreign_key``): ``count`` of children, ``sum`` of ``columns`` (one column, or the
    product of two: unit price x quantity), or ``min`` / ``max`` of one column (a customer's
    first order time, a storm's peak category: numbers or datetimes), or with ``part: year`` the
    year of the least or greatest datetime (a storm's year, that of its first observation).
    Generation computes it from the generated children; a parent without children keeps its own
    generated value."""

    aggregate: Literal["count", "sum", "min", "max"]
    table: str
    foreign_key: str
    columns: list[str] = Field(default_factory=list)
    part: Optional[Literal["year"]] = None

    @property
    def extreme(self) -> bool:
        """A least or greatest value (one child's), not a count or sum over the siblings."""
        return self.aggregate in ("min", "max")

    @model_validator(mode="after")
    def _arity(self) -> "DerivedRule":
        if self.aggregate == "count" and self.columns:
            raise ValueError("a 'count' rule counts child rows and takes no columns")
        if self.aggregate == "sum" and len(self.columns) not in (1, 2):
            raise ValueError(f"a 'sum' rule adds one child column or the product of two, got "
                             f"{len(self.columns)} columns")
        if self.extreme and len(self.columns) != 1:
            raise ValueError(f"a {self.aggregate!r} rule reads one child column, got "
                             f"{len(self.columns)} columns")
        if self.part is not None and not self.extreme:
            raise ValueError(f"part: {self.part} takes the {self.part} of a least or greatest "
                             f"datetime ('min' or 'max'), not of a {self.aggregate!r}")
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
    #: a quasi-identifier of ``privacy.k_anonymity`` (identifies a person only together with
    #: others: city, postal code, birth date, age, gender, job); None: decided by the sdtype and
    #: the column name (:func:`synthohive_spark.privacy.quasi_identifiers`)
    quasi_identifier: Optional[bool] = None

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
    #: the column that orders the rows of each parent (the parent of the driver foreign key): the
    #: table is a history of its parent (a storm's observations, a customer's invoices) and is
    #: generated per parent as a sequence in this order
    sequence_index: Optional[str] = None
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
    #: the share of generated rows that may copy a real row; set (0 included), generation
    #: rejects copies beyond it (rejectCopies); None: not set
    exact_copy_tolerance: Optional[float] = Field(default=None, ge=0, le=1)
    #: differential privacy: the (epsilon, delta) budget of a table's model (``delta`` None:
    #: 1/(n ln n) of its n training rows, at most 1e-5: ``privacy.dp.default_delta``); None: no
    #: differential privacy
    epsilon: Optional[float] = Field(default=None, gt=0)
    delta: Optional[float] = Field(default=None, gt=0, lt=1)


logger = logging.getLogger("synthohive_spark.metadata")

#: the metadata format written by :meth:`Metadata.to_dict` (its ``version`` key). 2: a privacy
#: setting left unset is written as null (1, without the key: every default was written, so an
#: exact_copy_tolerance of 0 could not tell a choice from the default)
METADATA_VERSION = 2
#: the privacy settings every version 1 dump wrote (its defaults included)
_V1_DUMPED = {"pii_strategy", "hmac_key_env", "locale", "k_anonymity", "min_dcr",
              "exact_copy_tolerance"}


def migrate_metadata_dict(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` (metadata as written by :meth:`Metadata.to_dict`, any version) in the current
    format, without its ``version`` key. A version 1 dump (no ``version``, and a privacy section
    with every setting version 1 wrote) has ``exact_copy_tolerance: 0.0``, the default every
    dump carried, which never turned anything on: it is read as unset (with a warning), so old
    files and saved models keep what they did. A privacy section written by hand (without all
    of those keys) means what it says. A newer version than this library reads is refused."""
    out = dict(data)
    version = out.pop("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise MetadataError(f"metadata 'version' must be a whole number from 1 to "
                            f"{METADATA_VERSION}, got {version!r}")
    if version > METADATA_VERSION:
        raise MetadataError(f"metadata version {version} was written by a newer synthohive-spark; "
                            f"this one reads versions up to {METADATA_VERSION}: upgrade it")
    privacy = out.get("privacy")
    if version == 1 and isinstance(privacy, Mapping) and _V1_DUMPED <= set(privacy) \
            and privacy.get("exact_copy_tolerance") in (0, 0.0) \
            and not isinstance(privacy.get("exact_copy_tolerance"), bool):
        out["privacy"] = {k: v for k, v in privacy.items() if k != "exact_copy_tolerance"}
        logger.warning("metadata dumped without a 'version' (before version %d) has "
                       "privacy.exact_copy_tolerance: 0.0, the default every earlier version "
                       "wrote: read as unset (copies are not rejected). To reject every copy, "
                       "write 'version: %d' at the top of the metadata and keep the 0.0",
                       METADATA_VERSION, METADATA_VERSION)
    return out


def _written(text: str, path: Union[str, Path, None]) -> str:
    """``text``, also written to ``path`` (UTF-8) when one is given."""
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


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
            errors.extend(_sequence_problems(tname, table))
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
                    elif rule.part is not None:
                        cc = child.columns[rule.columns[0]]
                        if str(cc.sdtype) != "datetime" or str(col.sdtype) != "numerical":
                            errors.append(f"{where}: the {rule.part} of the {rule.aggregate} of "
                                          f"{rule.table}.{rule.columns[0]} is the number of a "
                                          f"datetime; expected a numerical column and a datetime "
                                          f"child column, got {col.sdtype.value!r} and "
                                          f"{cc.sdtype.value!r}")
                    elif rule.extreme:
                        cc = child.columns[rule.columns[0]]
                        same = (str(cc.sdtype) == "datetime" if str(col.sdtype) == "datetime"
                                else str(cc.sdtype) == "numerical"
                                or (str(cc.sdtype) == "categorical" and cc.integer))
                        if not same:
                            errors.append(f"{where}: the {rule.aggregate} of "
                                          f"{rule.table}.{rule.columns[0]} (sdtype "
                                          f"{cc.sdtype.value!r}) cannot be a {col.sdtype.value} "
                                          f"column; expected a child column of the same kind")
                kinds = ("numerical", "datetime") if rule.extreme else ("numerical",)
                if str(col.sdtype) not in kinds:
                    errors.append(f"{where}: a derived {rule.aggregate} column is "
                                  f"{' or '.join(kinds)}, got sdtype {col.sdtype.value!r}")
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
        from synthohive_spark.relational.graph import strongly_connected_components

        return [c for c in strongly_connected_components(graph) if len(c) > 1]

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
        from synthohive_spark.relational.graph import topological_order

        order = topological_order({t: self.parents(t) for t in self.tables})
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
            if table.sequence_index is not None:
                entry["sequence_index"] = table.sequence_index
            tables[tname] = entry
        return {"version": METADATA_VERSION, "tables": tables,
                "privacy": self.privacy.model_dump(mode="json")}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Metadata":
        """Build and validate metadata from a dict as written by :meth:`to_dict` (any version:
        :func:`migrate_metadata_dict`)."""
        if not isinstance(data, Mapping):
            raise MetadataError(f"metadata must be a mapping with a 'tables' key, got "
                                f"{type(data).__name__}")
        return cls(**migrate_metadata_dict(data))

    def to_yaml(self, path: Union[str, Path, None] = None) -> str:
        """YAML text of :meth:`to_dict`; also written to ``path`` when given."""
        return _written(yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False,
                                       allow_unicode=True), path)

    @classmethod
    def from_yaml(cls, source: Union[str, Path]) -> "Metadata":
        """Metadata from YAML text or a path to a YAML file."""
        return cls.from_dict(_read_yaml(source))

    def to_json(self, path: Union[str, Path, None] = None, indent: int = 2) -> str:
        """JSON text of :meth:`to_dict`; also written to ``path`` when given."""
        return _written(json.dumps(self.to_dict(), indent=indent), path)

    @classmethod
    def from_json(cls, source: Union[str, Path]) -> "Metadata":
        """Metadata from JSON text or a path to a JSON file."""
        return cls.from_dict(_read_json(source))

    # ------------------------------------------------------------------ detection

    @classmethod
    def detect(cls, tables: Mapping[str, Any], sample_rows: int = 100_000, *, seed: int = 0,
               privacy: Optional[PrivacyConfig] = None) -> "Metadata":
        """Infer metadata from data: column types, PII, primary keys and foreign keys.

        ``tables`` maps table names to pandas or Spark DataFrames. Column types are inferred from
        a sample of at most ``sample_rows`` rows per table; key uniqueness and foreign-key
        containment are checked exactly on the whole tables (in Spark for Spark frames).
        """
        from synthohive_spark.metadata.detect import detect_metadata

        return detect_metadata(tables, sample_rows=sample_rows, seed=seed, privacy=privacy)


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


def _sequence_problems(tname: str, table: TableConfig) -> list[str]:
    """A sequence index that is not a datetime or numerical column of a table generated under a
    parent (the rows of each parent are the sequence it orders)."""
    seq = table.sequence_index
    if seq is None:
        return []
    col = table.columns.get(seq)
    if col is None:
        return [f"table {tname!r}: sequence_index names column {seq!r}, which is not a column of "
                f"the table (columns: {_fmt_list(table.columns)}); expected the datetime or "
                f"numerical column that orders the rows of each parent"]
    where = f"table {tname!r}, column {seq!r}"
    expected = "expected a datetime or numerical column that orders the rows of each parent"
    errors = []
    fk = table.foreign_key(seq)
    if seq == table.primary_key:
        errors.append(f"{where}: the sequence_index is the table's primary key; {expected}")
    elif fk is not None:
        errors.append(f"{where}: the sequence_index is a foreign key (to "
                      f"{fk.parent_table}.{fk.parent_column}); {expected}")
    elif col.is_pii:
        errors.append(f"{where}: the sequence_index holds personal data (sdtype "
                      f"{col.sdtype.value!r}, pii); {expected}")
    elif col.sdtype not in (SDType.DATETIME, SDType.NUMERICAL):
        errors.append(f"{where}: the sequence_index has sdtype {col.sdtype.value!r}; {expected} "
                      f"(sdtype 'datetime' or 'numerical')")
    if not any(f.parent_table != tname for f in table.foreign_keys):
        errors.append(f"{where}: the table has a sequence_index but no foreign key to a parent "
                      f"table; a sequence index orders the rows of each parent, so expected a "
                      f"foreign key that groups the rows (or no sequence_index)")
    elif table.driver is None:
        refs = _fmt_list(f.parent_table for f in table.foreign_keys if f.parent_table != tname)
        errors.append(f"{where}: the table has a sequence_index but its foreign keys point only "
                      f"at reference tables ({refs}), which drive no children; expected a foreign "
                      f"key to the parent whose rows the sequences belong to (or no "
                      f"sequence_index)")
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
