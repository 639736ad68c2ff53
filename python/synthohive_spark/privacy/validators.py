"""Value validators for PII detection (pure Python, no Spark).

:func:`classify` maps one value to a bit mask of the PII kinds it passes. The Scala object
``com.synthohive.spark.pii.PIIRules`` implements the same rules bit for bit, so the JVM scan and
the pandas fallback give the same counts. Every rule works on the value with leading and trailing
spaces and tabs removed and is ASCII-only: a value with other characters fails them all (except
that it may still be a person name, which is checked on the driver with :func:`person_name_kind`).
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Optional

__all__ = [
    "EMAIL", "PHONE", "SSN", "SSN_DIGITS", "CREDIT_CARD", "IP", "IBAN", "DATE_OF_BIRTH",
    "BIT_KINDS", "classify", "is_email", "is_phone_candidate", "is_ssn", "is_ssn_digits",
    "is_credit_card", "luhn_ok", "is_ipv4", "is_ipv6", "is_ip", "is_iban", "iban_ok",
    "is_date_of_birth", "is_phone_number", "person_name_kind", "name_sets", "MAX_LENGTH",
    "is_phone_text", "NAME_LOCALES", "known_names", "is_full_name", "name_words",
    "name_part", "known_full_name",
]

# Bits of the mask :func:`classify` returns (the same numbers in Scala's PIIRules).
EMAIL = 1
PHONE = 2          # phone-shaped; confirmed with the phonenumbers library on the driver
SSN = 4            # US SSN written with separators (123-45-6789 / 123 45 6789), area rules
SSN_DIGITS = 8     # nine plain digits passing the SSN area rules (only used with a name hint)
CREDIT_CARD = 16   # 13-19 digits (spaces/dashes allowed), issuer digit 2-6, Luhn
IP = 32            # IPv4 or IPv6
IBAN = 64          # ISO 13616 shape and mod-97 == 1
DATE_OF_BIRTH = 128  # a calendar date in a common layout, at most 120 years before refYear

#: Bit -> PII kind.
BIT_KINDS: dict[int, str] = {EMAIL: "email", PHONE: "phone", SSN: "ssn", SSN_DIGITS: "ssn",
                             CREDIT_CARD: "credit_card", IP: "ip", IBAN: "iban",
                             DATE_OF_BIRTH: "date_of_birth"}

#: Values longer than this (after trimming) fail every rule.
MAX_LENGTH = 254

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_EMAIL_RE = re.compile(
    _ATEXT + r"+(?:\." + _ATEXT + r"+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,63}")
_PHONE_RE = re.compile(r"\+?\(?[0-9][0-9 ().\-/]*[0-9]")
_SSN_RE = re.compile(r"([0-9]{3})([- ])([0-9]{2})\2([0-9]{4})")
_SSN_DIGITS_RE = re.compile(r"([0-9]{3})([0-9]{2})([0-9]{4})")
_CARD_RE = re.compile(r"[0-9][0-9 \-]{11,22}[0-9]")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4_RE = re.compile(_OCTET + r"(?:\." + _OCTET + r"){3}")
_HEX_GROUP_RE = re.compile(r"[0-9A-Fa-f]{1,4}")
_IPV6_CHARS_RE = re.compile(r"[0-9A-Fa-f:.]+")
_IBAN_RE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
_DATE_YMD_RE = re.compile(r"([0-9]{4})([-/])([0-9]{2})\2([0-9]{2})")
_DATE_MDY_RE = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{4})")
_DATE_DMY_RE = re.compile(r"([0-9]{2})\.([0-9]{2})\.([0-9]{4})")
# A phone number as a table writes it (metadata detection): country code, area code, an extension
_PHONE_TEXT_RE = re.compile(
    r"^(\+|00)?(\d{1,3}[\s.-]?)?(\(\d{1,4}\)|\d{1,4})[\s.-]?\d{2,4}[\s.-]?\d{3,5}"
    r"(\s*(x|ext\.?|extension)\s*\d{1,6})?$", re.IGNORECASE)


def _trim(value: str) -> str:
    return value.strip(" \t")


def is_email(s: str) -> bool:
    """An address ``local@domain.tld`` (dot-atom local part of at most 64 characters)."""
    if len(s) > MAX_LENGTH or _EMAIL_RE.fullmatch(s) is None:
        return False
    return s.rfind("@") <= 64


def _digit_count(s: str) -> int:
    return sum(1 for c in s if "0" <= c <= "9")


def is_phone_candidate(s: str) -> bool:
    """Phone-shaped: optional '+', digits with spaces, dots, dashes, slashes or parentheses, 7 to
    15 digits, at most 25 characters. Confirmation needs :func:`is_phone_number`."""
    if len(s) > 25 or _PHONE_RE.fullmatch(s) is None:
        return False
    return 7 <= _digit_count(s) <= 15


def is_phone_text(s: str) -> bool:
    """A phone number as written in a table: optional ``+``/``00`` and country code, an area code
    (in parentheses or not), groups separated by spaces, dots or dashes, at least 7 digits and an
    optional extension (``x12``, ``ext. 12``). Looser than :func:`is_phone_candidate` (the rule
    the JVM scan shares) about extensions, stricter about layout; metadata detection uses it."""
    return bool(_PHONE_TEXT_RE.match(s)) and _digit_count(s) >= 7


def _ssn_parts_ok(area: str, group: str, serial: str) -> bool:
    a = int(area)
    return a != 0 and a != 666 and a < 900 and group != "00" and serial != "0000"


def is_ssn(s: str) -> bool:
    """A US social security number with separators and valid area/group/serial numbers."""
    m = _SSN_RE.fullmatch(s)
    return m is not None and _ssn_parts_ok(m.group(1), m.group(3), m.group(4))


def is_ssn_digits(s: str) -> bool:
    """Nine plain digits that would be a valid SSN."""
    m = _SSN_DIGITS_RE.fullmatch(s)
    return m is not None and _ssn_parts_ok(m.group(1), m.group(2), m.group(3))


def luhn_ok(digits: str) -> bool:
    """Luhn (mod 10) checksum of an all-digit string."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def is_credit_card(s: str) -> bool:
    """13 to 19 digits (spaces or dashes between them allowed), first digit 2-6, Luhn valid."""
    if _CARD_RE.fullmatch(s) is None:
        return False
    digits = s.replace(" ", "").replace("-", "")
    if not 13 <= len(digits) <= 19 or not "2" <= digits[0] <= "6":
        return False
    return luhn_ok(digits)


def is_ipv4(s: str) -> bool:
    """Dotted-quad IPv4 without leading zeros."""
    return _IPV4_RE.fullmatch(s) is not None


def is_ipv6(s: str) -> bool:
    """IPv6 in RFC 4291 text form (with '::' compression and an optional IPv4 tail)."""
    if len(s) < 2 or len(s) > 45 or ":" not in s or _IPV6_CHARS_RE.fullmatch(s) is None:
        return False
    tail_groups = 0
    body = s
    if "." in s:
        cut = s.rfind(":")
        if not is_ipv4(s[cut + 1:]):
            return False
        tail_groups = 2
        body = s[:cut + 1]
        if not body.endswith("::"):
            body = body[:-1]  # drop the ':' before the IPv4 tail ("::1.2.3.4" keeps its '::')
    compressed = body.count("::")
    if compressed > 1 or ":::" in body:
        return False
    if compressed == 1:
        left, right = body.split("::", 1)
        groups = (left.split(":") if left else []) + (right.split(":") if right else [])
        if len(groups) + tail_groups > 7:
            return False
    else:
        groups = body.split(":") if body else []
        if len(groups) + tail_groups != 8:
            return False
    return all(_HEX_GROUP_RE.fullmatch(g) is not None for g in groups)


def is_ip(s: str) -> bool:
    return is_ipv4(s) or is_ipv6(s)


def iban_ok(compact: str) -> bool:
    """ISO 7064 mod-97 check of an IBAN without spaces (uppercase letters and digits)."""
    rearranged = compact[4:] + compact[:4]
    remainder = 0
    for c in rearranged:
        if "0" <= c <= "9":
            remainder = (remainder * 10 + ord(c) - 48) % 97
        else:
            remainder = (remainder * 100 + ord(c) - 55) % 97
    return remainder == 1


def is_iban(s: str) -> bool:
    """An IBAN (country code, check digits, 11-30 alphanumerics; spaces allowed), mod-97 valid."""
    compact = s.replace(" ", "")
    return _IBAN_RE.fullmatch(compact) is not None and iban_ok(compact)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = (year % 4 == 0 and year % 100 != 0) or year % 400 == 0
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _valid_date(year: int, month: int, day: int, ref_year: int) -> bool:
    if not 1 <= month <= 12 or not 1 <= day <= _days_in_month(year, month):
        return False
    return ref_year - 120 <= year <= ref_year


def is_date_of_birth(s: str, ref_year: int) -> bool:
    """A valid date as YYYY-MM-DD, YYYY/MM/DD, MM/DD/YYYY (or DD/MM/YYYY) or DD.MM.YYYY whose
    year lies in [ref_year - 120, ref_year]."""
    m = _DATE_YMD_RE.fullmatch(s)
    if m is not None:
        return _valid_date(int(m.group(1)), int(m.group(3)), int(m.group(4)), ref_year)
    m = _DATE_MDY_RE.fullmatch(s)
    if m is not None:
        a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        return _valid_date(y, a, b, ref_year) or _valid_date(y, b, a, ref_year)
    m = _DATE_DMY_RE.fullmatch(s)
    if m is not None:
        return _valid_date(int(m.group(3)), int(m.group(2)), int(m.group(1)), ref_year)
    return False


def classify(value: Optional[str], ref_year: int) -> int:
    """Bit mask of the value rules ``value`` passes (0 for None/empty/too long)."""
    if value is None:
        return 0
    s = _trim(value)
    if not s or len(s) > MAX_LENGTH:
        return 0
    bits = 0
    if "@" in s:
        if is_email(s):
            bits |= EMAIL
        return bits
    if is_phone_candidate(s):
        bits |= PHONE
    if is_ssn(s):
        bits |= SSN
    if is_ssn_digits(s):
        bits |= SSN_DIGITS
    if is_credit_card(s):
        bits |= CREDIT_CARD
    if is_ip(s):
        bits |= IP
    if is_iban(s):
        bits |= IBAN
    if is_date_of_birth(s, ref_year):
        bits |= DATE_OF_BIRTH
    return bits


# -- driver-side checks: phonenumbers and person names -----------------------------------------

def is_phone_number(value: str, region: Optional[str]) -> bool:
    """True when the ``phonenumbers`` library parses ``value`` as a valid number (international
    with '+', or national in ``region``, e.g. "US")."""
    import phonenumbers

    s = _trim(value)
    try:
        parsed = phonenumbers.parse(s, None if s.startswith("+") else (region or "US"))
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(parsed))


def _provider_names(locale: str, attribute: str) -> set[str]:
    from faker import Faker

    fk = Faker(locale)
    names: set[str] = set()
    for provider in fk.get_providers():
        found = getattr(provider, attribute, None)
        if found:
            names.update(str(n).lower() for n in found)
    return names


@lru_cache(maxsize=16)
def name_sets(locale: str) -> tuple[frozenset[str], frozenset[str]]:
    """(first names, last names), lowercase, of faker's ``locale`` plus en_US."""
    firsts: set[str] = set()
    lasts: set[str] = set()
    for loc in dict.fromkeys([locale, "en_US"]):
        for attr in ("first_names", "first_names_male", "first_names_female"):
            firsts |= _provider_names(loc, attr)
        lasts |= _provider_names(loc, "last_names")
    return frozenset(firsts), frozenset(lasts)


#: Locales whose person names :func:`known_names` knows: faker's name lists, so that a column
#: of an international clientele's names is recognised (48 locales in Latin, Cyrillic, Greek,
#: Arabic, Hebrew, Devanagari, Thai, Han and Hangul script; about 15,000 first and 20,000 last
#: names, read once per process in about 2 s).
NAME_LOCALES: tuple[str, ...] = (
    "en_US", "en_GB", "en_IE", "en_IN", "en_NZ", "de_DE", "de_AT", "fr_FR", "fr_CA", "es_ES",
    "es_MX", "it_IT", "pt_BR", "pt_PT", "nl_NL", "sv_SE", "da_DK", "no_NO", "fi_FI", "pl_PL",
    "cs_CZ", "sk_SK", "sl_SI", "hr_HR", "hu_HU", "ro_RO", "lt_LT", "lv_LV", "et_EE", "tr_TR",
    "id_ID", "vi_VN", "ga_IE", "zu_ZA", "tw_GH", "ru_RU", "uk_UA", "bg_BG", "el_GR", "ar_AA",
    "he_IL", "fa_IR", "hi_IN", "th_TH", "zh_CN", "zh_TW", "ja_JP", "ko_KR")

#: Titles before a person's name, skipped by :func:`is_full_name`.
_TITLES = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "mx"})


@lru_cache(maxsize=1)
def known_names() -> tuple[frozenset[str], frozenset[str]]:
    """(first names, last names), lowercase, of every locale of :data:`NAME_LOCALES`."""
    firsts: set[str] = set()
    lasts: set[str] = set()
    for locale in NAME_LOCALES:
        f, last = name_sets(locale)
        firsts |= f
        lasts |= last
    return frozenset(firsts), frozenset(lasts)


def is_full_name(value: str) -> bool:
    """2 to 4 words (titles such as ``Dr`` skipped), the first a known first name and the last a
    known first or last name (:func:`known_names`): ``"Dr. Anna Schmidt"``."""
    first, last = known_names()
    parts = [p.strip(".,").lower() for p in value.split()]
    parts = [p for p in parts if p and p not in _TITLES]
    return 2 <= len(parts) <= 4 and parts[0] in first and (parts[-1] in last or parts[-1] in first)


#: Lowercase words inside a person's name (Sanne de Vries, Ludwig van Beethoven, José de la Cruz)
_NAME_PARTICLES = frozenset({"van", "von", "de", "der", "den", "del", "della", "di", "da", "das",
                             "do", "dos", "du", "la", "le", "ten", "ter", "zu", "y", "e", "bin",
                             "binti", "al", "el"})


def _name_token(token: str) -> bool:
    """Letters (with their combining marks: Devanagari, Thai) and ``'``, ``-`` or ``.`` inside,
    starting with a letter that is not lowercase (a capital, or a letter of a script without
    case: Arabic, Hebrew, Chinese)."""
    return (token[0].isalpha() and not token[0].islower()
            and all(c.isalpha() or c in "'’.-" or unicodedata.category(c)[0] == "M"
                    for c in token))


def _is_cjk(word: str) -> bool:
    """Han, kana or Hangul only: a name written without blanks, family name first."""
    return all("\u3040" <= c <= "\u30ff" or "\u3400" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7af"
               for c in word)


def _split_cjk(word: str) -> list[str]:
    """An unspaced Chinese, Japanese or Korean name of 2-4 characters as [given, family] when it
    starts with a known family name (two characters tried first: 欧阳, 佐藤), else [word]."""
    if 2 <= len(word) <= 4:
        lasts = known_names()[1]
        for k in (2, 1):
            if len(word) > k and word[:k] in lasts:
                return [word[k:], word[:k]]
    return [word]


def name_words(value: str) -> Optional[list[str]]:
    """The words of ``value`` when it is shaped like a person's name, given name first,
    lowercase: one to four words of letters (:func:`_name_token`: capitalised, or of a script
    without case), a title (``Dr``), a nickname in quotes or brackets (``Edward "Edd" Kimber``)
    and lowercase particles (``Sanne de Vries``) left out; a Chinese, Japanese or Korean name
    (family name first, with or without a blank: 王伟, 山田 太郎) turned given name first. None
    for anything else (digits, other lowercase words, more words)."""
    words = []
    for t in _trim(value).split():
        if t[0] in "\"'“‘(" or t[-1] in "\"'”’)":
            continue
        if t in _NAME_PARTICLES:
            continue
        t = t.rstrip(".,")
        if not t or not _name_token(t):
            return None
        low = t.lower()
        if low not in _TITLES:
            words.append(low)
    if len(words) == 1 and _is_cjk(words[0]):
        words = _split_cjk(words[0])
    elif len(words) == 2 and all(map(_is_cjk, words)):
        words = words[::-1]
    return words if 1 <= len(words) <= 4 else None


@lru_cache(maxsize=16)
def _names_for_detection(locale: str) -> tuple[frozenset[str], frozenset[str]]:
    """The names of ``locale`` and of every locale of :data:`NAME_LOCALES`: a sanitizer that
    writes fakes of one locale still recognises the names of an international clientele."""
    firsts, lasts = name_sets(locale)
    known_first, known_last = known_names()
    return firsts | known_first, lasts | known_last


def known_full_name(words: list[str], firsts: frozenset[str], lasts: frozenset[str]) -> bool:
    """Whether a full name's words (:func:`name_words`) start with a known first name, or, for
    a Chinese, Japanese or Korean name, end with a known family name (given names there are
    too varied for any list)."""
    return len(words) >= 2 and (words[0] in firsts or (_is_cjk(words[-1]) and words[-1] in lasts))


def name_part(value: object, part: str) -> Optional[str]:
    """The ``"first"`` or ``"last"`` word of a person's name, or ``"both"`` (the whole name),
    lowercase (:func:`name_words`); None when ``value`` is not shaped like a name."""
    words = name_words(str(value))
    if not words:
        return None
    return {"first": words[0], "last": words[-1], "both": " ".join(words)}[part]


def person_name_kind(value: str, locale: str) -> Optional[str]:
    """"first_name", "last_name" or "name" when ``value`` looks like a person name
    (:func:`name_words`: 1-4 capitalised words, at least one of them a known first or last
    name of ``locale`` or of :data:`NAME_LOCALES`), else None."""
    low = name_words(value)
    if low is None:
        return None
    firsts, lasts = _names_for_detection(locale)
    if len(low) == 1:
        if low[0] in firsts:
            return "first_name"
        if low[0] in lasts:
            return "last_name"
        return None
    if low[0] in firsts or low[-1] in lasts:
        return "name"
    return None
