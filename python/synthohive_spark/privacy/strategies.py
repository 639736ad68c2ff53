"""Replacement strategies for PII values (pure Python; the Scala ``PIIReplacer`` mirrors the
deterministic ones byte for byte).

Strategy specs (strings, as the ``strategies`` param of ``PIISanitizer`` takes them):

- ``"fake"``: a realistic value of the same kind and locale (faker), seeded from
  HMAC-SHA256(key, kind|locale|value): the same value and key give the same fake everywhere;
- ``"hash"`` / ``"hash:hex"``: lowercase hex HMAC-SHA256(key, value), 64 characters (identical
  to ``HmacPseudonymizer``); ``"hash:truncate"``: cut to the value's length (1-64);
  ``"hash:format"``: format-preserving: every ASCII digit/upper/lower letter replaced by a keyed
  pseudo-random one of the same class, other ASCII characters kept, other characters become
  lowercase letters (``"(212) 555-0199"`` -> ``"(804) 113-7720"``);
- ``"mask"``: format-preserving partial masking with ``*`` (see :func:`mask_value`);
- ``"redact"``: a fixed token (``redactToken``); ``"redact:null"``: null;
- ``"drop"``: the column is removed; ``"keep"``: left as it is.

Values are strings (the Spark stage casts other types with ``CAST(x AS STRING)`` first); None
stays None.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Optional

import pandas as pd

__all__ = ["STRATEGIES", "Strategy", "parse_strategy", "mask_value", "hash_hex", "hash_format",
           "fake_value", "fake_series", "fake_seed", "check_locale", "KEYED_STRATEGIES",
           "DEFAULT_REDACT_TOKEN", "FORMAT_HASH_LABEL", "FAKE_LABEL"]

#: Strategy names.
STRATEGIES: tuple[str, ...] = ("fake", "hash", "mask", "redact", "drop", "keep")
#: Strategies that need the secret key.
KEYED_STRATEGIES: frozenset[str] = frozenset({"fake", "hash"})
#: Options per strategy (the first is the default).
_OPTIONS: dict[str, tuple[str, ...]] = {"hash": ("hex", "truncate", "format"),
                                        "redact": ("token", "null")}
_ALIASES = {"hmac": "hash", "pseudonymize": "hash", "null": "redact:null", "remove": "drop",
            "none": "keep"}

DEFAULT_REDACT_TOKEN = "[REDACTED]"
FORMAT_HASH_LABEL = "synthohive-spark/pii/format-hash/v1/"
FAKE_LABEL = "synthohive-spark/pii/fake/v1/"


@dataclass(frozen=True)
class Strategy:
    """A parsed strategy spec: ``name`` and ``option`` (e.g. ``hash`` / ``truncate``)."""

    name: str
    option: Optional[str] = None

    @property
    def spec(self) -> str:
        return self.name if self.option is None else f"{self.name}:{self.option}"

    @property
    def needs_key(self) -> bool:
        return self.name in KEYED_STRATEGIES


def parse_strategy(spec: str, where: str = "") -> Strategy:
    """Parses ``"hash:truncate"`` and friends; raises ValueError naming ``where`` otherwise."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"{where}strategy must be a non-empty string such as 'fake', 'hash', "
                         f"'mask', 'redact' or 'drop', got {spec!r}.")
    text = _ALIASES.get(spec.strip().lower(), spec.strip().lower())
    name, _, option = text.partition(":")
    name = _ALIASES.get(name, name)
    if ":" in name:
        name, _, option = name.partition(":")
    if name not in STRATEGIES:
        raise ValueError(f"{where}unknown strategy {spec!r}; expected one of "
                         f"{', '.join(STRATEGIES)} (with options hash:hex, hash:truncate, "
                         "hash:format, redact:null).")
    options = _OPTIONS.get(name, ())
    if option:
        if option not in options:
            allowed = ", ".join(f"{name}:{o}" for o in options) or f"plain '{name}'"
            raise ValueError(f"{where}strategy {spec!r} has an unknown option {option!r}; "
                             f"expected {allowed}.")
        if option == options[0]:
            option = ""
    return Strategy(name, option or None)


# -- masking -----------------------------------------------------------------------------------

def _maskable(c: str) -> bool:
    """ASCII letters and digits, and every non-ASCII character, are masked; ASCII punctuation and
    spaces are kept (the value's format)."""
    o = ord(c)
    return o >= 128 or ("0" <= c <= "9") or ("A" <= c <= "Z") or ("a" <= c <= "z")


def _mask_keep(chars: list[str], keep: int, last: bool) -> list[str]:
    """Mask the maskable characters but ``keep`` of them (the last or the first ones, at most half)."""
    total = sum(1 for c in chars if _maskable(c))
    keep = min(keep, total // 2)
    out, seen = [], 0
    for c in chars:
        if _maskable(c):
            seen += 1
            shown = seen > total - keep if last else seen <= keep
            out.append(c if shown else "*")
        else:
            out.append(c)
    return out


def _mask_word_initials(chars: list[str]) -> list[str]:
    out, prev_kept_boundary = [], True
    for c in chars:
        if _maskable(c):
            out.append(c if prev_kept_boundary else "*")
            prev_kept_boundary = False
        else:
            out.append(c)
            prev_kept_boundary = True
    return out


def mask_value(value: Optional[str], kind: Optional[str]) -> Optional[str]:
    """Format-preserving partial masking with ``*`` (one per masked character):

    - email: the local part masked but its first character, the domain kept;
    - credit_card, ssn, phone, iban: all masked but the last 4 letters/digits (at most half);
    - ip: the first two groups kept (``192.168.*.*``);
    - date_of_birth: the 4-digit year kept;
    - zip: the first 2 characters kept (at most half);
    - anything else (names, addresses, text): the first character of each word kept.
    """
    if value is None:
        return None
    chars = list(value)
    if kind == "email" and "@" in chars:
        at = len(chars) - 1 - chars[::-1].index("@")
        local = chars[:at]
        masked = [c if (i == 0 or not _maskable(c)) else "*" for i, c in enumerate(local)]
        return "".join(masked + chars[at:])
    if kind in ("credit_card", "ssn", "phone", "iban"):
        return "".join(_mask_keep(chars, 4, last=True))
    if kind == "ip":
        out, seps = [], 0
        for c in chars:
            if not _maskable(c):
                if c in ".:":
                    seps += 1
                out.append(c)
            else:
                out.append(c if seps < 2 else "*")
        return "".join(out)
    if kind == "date_of_birth":
        out = list(chars)
        kept = False
        i = 0
        while i < len(chars):
            if "0" <= chars[i] <= "9":
                j = i
                while j < len(chars) and "0" <= chars[j] <= "9":
                    j += 1
                keep_run = not kept and j - i == 4
                kept = kept or keep_run
                if not keep_run:
                    for k in range(i, j):
                        out[k] = "*"
                i = j
            else:
                if _maskable(chars[i]):
                    out[i] = "*"
                i += 1
        return "".join(out)
    if kind == "zip":
        return "".join(_mask_keep(chars, 2, last=False))
    return "".join(_mask_word_initials(chars))


# -- keyed hashing -----------------------------------------------------------------------------

def hash_hex(key: bytes, value: Optional[str], truncate: bool = False) -> Optional[str]:
    """Lowercase hex HMAC-SHA256(key, UTF-8 value); ``truncate``: cut to the value's length in
    characters (1 to 64). Identical to ``HmacPseudonymizer``."""
    if value is None:
        return None
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    if truncate:
        return digest[:max(1, min(64, len(value)))]
    return digest


def _format_stream(key: bytes, value: str, n: int) -> bytes:
    data = value.encode("utf-8")
    blocks = []
    for i in range((n + 31) // 32):
        prefix = f"{FORMAT_HASH_LABEL}{i}/".encode("ascii")
        blocks.append(hmac.new(key, prefix + data, hashlib.sha256).digest())
    return b"".join(blocks)


def hash_format(key: bytes, value: Optional[str]) -> Optional[str]:
    """Format-preserving keyed pseudonym: character j of the value is replaced using byte j of
    HMAC(key, label|0|value) ++ HMAC(key, label|1|value) ++ ...: ASCII digit -> digit (b % 10),
    ASCII upper/lower letter -> upper/lower letter (b % 26), other ASCII kept, other characters
    -> lowercase letter."""
    if value is None:
        return None
    chars = list(value)
    stream = _format_stream(key, value, len(chars))
    out = []
    for j, c in enumerate(chars):
        b = stream[j]
        if "0" <= c <= "9":
            out.append(chr(48 + b % 10))
        elif "A" <= c <= "Z":
            out.append(chr(65 + b % 26))
        elif "a" <= c <= "z" or ord(c) >= 128:
            out.append(chr(97 + b % 26))
        else:
            out.append(c)
    return "".join(out)


# -- consistent fakes --------------------------------------------------------------------------

def check_locale(locale: str, where: str = "") -> str:
    """Returns ``locale`` when faker knows it; raises ValueError listing close matches otherwise."""
    from faker.config import AVAILABLE_LOCALES

    if locale in AVAILABLE_LOCALES:
        return locale
    lang = str(locale).split("_")[0].lower()
    close = sorted(loc for loc in AVAILABLE_LOCALES if loc.lower().startswith(lang))
    hint = f" Locales for {lang!r}: {', '.join(close)}." if close else ""
    raise ValueError(f"{where}unknown locale {locale!r}: faker has no such locale "
                     f"(expected a name like 'en_US', 'de_DE', 'fr_FR').{hint}")


@lru_cache(maxsize=32)
def _faker(locale: str) -> Any:
    from faker import Faker

    return Faker(check_locale(locale))


def fake_seed(key: bytes, kind: str, locale: str, value: str) -> int:
    """64-bit seed of the fake for ``value``: the first 8 bytes of
    HMAC-SHA256(key, label|kind|locale|value)."""
    msg = f"{FAKE_LABEL}{kind}|{locale}|{value}".encode("utf-8")
    return int.from_bytes(hmac.new(key, msg, hashlib.sha256).digest()[:8], "big")


def _fill_shape(rnd: Any, value: str, keep_prefix: int = 0) -> str:
    """Replaces ASCII digits/letters of ``value`` (after ``keep_prefix`` characters) by random
    ones of the same class."""
    out = list(value[:keep_prefix])
    for c in value[keep_prefix:]:
        if "0" <= c <= "9":
            out.append(str(rnd.randrange(10)))
        elif "A" <= c <= "Z":
            out.append(chr(65 + rnd.randrange(26)))
        elif "a" <= c <= "z" or ord(c) >= 128:
            out.append(chr(97 + rnd.randrange(26)))
        else:
            out.append(c)
    return "".join(out)


_PHONE_CC = re.compile(r"\+[0-9]{1,3}")


def _fake_phone(fk: Any, rnd: Any, value: str) -> str:
    if not any("0" <= c <= "9" for c in value):
        return fk.phone_number()
    keep = 0
    if value.startswith("+"):
        try:
            import phonenumbers
            keep = 1 + len(str(phonenumbers.parse(value, None).country_code))
        except Exception:  # noqa: BLE001 - not parseable: keep only the '+' and 1 digit
            m = _PHONE_CC.match(value)
            keep = 2 if m else 1
    out = _fill_shape(rnd, value, keep)
    # the first national digit of a realistic number is 2-9
    chars = list(out)
    for i in range(keep, len(chars)):
        if "0" <= chars[i] <= "9":
            chars[i] = str(2 + rnd.randrange(8))
            break
    return "".join(chars)


def _fake_card(rnd: Any, value: str) -> str:
    digits_at = [i for i, c in enumerate(value) if "0" <= c <= "9"]
    if len(digits_at) < 2:
        return _fill_shape(rnd, value)
    digits = [value[digits_at[0]]] + [str(rnd.randrange(10)) for _ in digits_at[1:-1]]
    # Luhn check digit for the body
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    digits.append(str((10 - total % 10) % 10))
    chars = list(value)
    for pos, d in zip(digits_at, digits):
        chars[pos] = d
    return "".join(chars)


_DATE_LAYOUTS = (
    (re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"), "%Y-%m-%d"),
    (re.compile(r"[0-9]{4}/[0-9]{2}/[0-9]{2}"), "%Y/%m/%d"),
    (re.compile(r"[0-9]{2}/[0-9]{2}/[0-9]{4}"), "%m/%d/%Y"),
    (re.compile(r"[0-9]{2}\.[0-9]{2}\.[0-9]{4}"), "%d.%m.%Y"),
)
_DOB_START = _dt.date(1930, 1, 1)
_DOB_DAYS = (_dt.date(2007, 12, 31) - _DOB_START).days


def date_layout(value: str) -> str:
    """The strftime layout of a date string (ISO when unknown)."""
    s = value.strip()
    for pattern, layout in _DATE_LAYOUTS:
        if pattern.fullmatch(s):
            return layout
    return "%Y-%m-%d"


def _fake_dob(rnd: Any, value: str) -> str:
    day = _DOB_START + _dt.timedelta(days=rnd.randrange(_DOB_DAYS + 1))
    return day.strftime(date_layout(value))


def _fake_iban(fk: Any, value: str) -> str:
    fake = fk.iban()
    if " " in value.strip():
        fake = " ".join(fake[i:i + 4] for i in range(0, len(fake), 4))
    return fake


def _fake_ssn(fk: Any, rnd: Any, value: str) -> str:
    try:
        fake = fk.ssn()
    except AttributeError:
        return _fill_shape(rnd, value)
    if "-" not in value and "-" in fake and fake.replace("-", "").isdigit():
        fake = fake.replace("-", "")
    return fake


def _fake_email(fk: Any) -> str:
    return f"{fk.user_name()}@{fk.safe_domain_name()}"


_GENERATORS: dict[str, Callable[[Any, Any, str], str]] = {
    "email": lambda fk, rnd, v: _fake_email(fk),
    "phone": _fake_phone,
    "name": lambda fk, rnd, v: f"{fk.first_name()} {fk.last_name()}",
    "first_name": lambda fk, rnd, v: fk.first_name(),
    "last_name": lambda fk, rnd, v: fk.last_name(),
    "address": lambda fk, rnd, v: fk.street_address(),
    "city": lambda fk, rnd, v: fk.city(),
    "zip": lambda fk, rnd, v: fk.postcode(),
    "ssn": _fake_ssn,
    "credit_card": lambda fk, rnd, v: _fake_card(rnd, v),
    "ip": lambda fk, rnd, v: fk.ipv6() if ":" in v else fk.ipv4_public(),
    "iban": lambda fk, rnd, v: _fake_iban(fk, v),
    "date_of_birth": lambda fk, rnd, v: _fake_dob(rnd, v),
    "username": lambda fk, rnd, v: fk.user_name(),
}


def fake_value(kind: Optional[str], value: Optional[str], key: bytes,
               locale: str = "en_US") -> Optional[str]:
    """The consistent fake for ``value``: same (value, kind, locale, key) -> same result, in any
    process (for a given faker release). Unknown kinds get random characters in the value's
    shape."""
    if value is None:
        return None
    kind = kind or "other"
    fk = _faker(locale)
    fk.seed_instance(fake_seed(key, kind, locale, value))
    rnd = fk.random
    gen = _GENERATORS.get(kind)
    if gen is None:
        return _fill_shape(rnd, value)
    return gen(fk, rnd, value)


def fake_series(kind: Optional[str], values: pd.Series, key: bytes,
                locale: str = "en_US") -> pd.Series:
    """:func:`fake_value` over a Series (each distinct value faked once)."""
    cache: dict[str, Optional[str]] = {}
    out: list[Optional[str]] = []
    for v in values:
        if v is None or (isinstance(v, float) and v != v):
            out.append(None)
            continue
        got = cache.get(v)
        if got is None:
            got = fake_value(kind, v, key, locale)
            cache[v] = got
        out.append(got)
    return pd.Series(out, index=values.index, dtype=object)
