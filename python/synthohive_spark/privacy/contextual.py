"""Contextual PII: all PII columns of a row generated together, as one persona in the row's country.

- Persona: first name, last name, full name and e-mail of a row come from ONE drawn person (the
  e-mail's local part is that person's name, ASCII-folded); a second set of name columns (a
  contact person) is a second person, unless its real values are the first person's (a
  ``baker`` that is the first word of ``baker_full``: :func:`_assign_persons`).
- Country: a non-PII column of the table that holds countries (names in English and in the
  languages phonenumbers knows, ISO-2 or ISO-3 codes) gives each row a Faker locale; its city,
  address, postal code, phone and names come from that locale. A country Faker does not cover
  uses the default locale (the metadata's), and :func:`attach_country_context` reports which.
- Formats: postal code and phone patterns (shapes such as ``#####-###``, never values) are
  learned per country at fit; a country with fewer than :data:`MIN_COUNTRY_ROWS` rows uses its
  locale's own Faker format.

Pure pandas/numpy/faker: the Spark stages call :func:`attach_country_context` at fit and
:func:`generate_contextual` per chunk of rows.
"""
from __future__ import annotations

import functools
import re
import unicodedata
import zlib
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from synthohive_spark.privacy.generate import (_apply_case, _fill_patterns, _fit_email, _pool,
                                               full_names, infer_format, username_values)
from synthohive_spark.privacy.strategies import check_locale
from synthohive_spark.privacy.validators import name_part

__all__ = ["PERSONA_KINDS", "LOCATION_KINDS", "CONTEXT_KINDS", "MIN_COUNTRY_ROWS",
           "country_code", "country_locale", "is_country_column_name", "pick_country_column",
           "attach_country_context", "contextual_items", "generate_contextual", "ascii_fold"]

PERSONA_KINDS: tuple[str, ...] = ("first_name", "last_name", "name", "email", "username")
LOCATION_KINDS: tuple[str, ...] = ("address", "city", "zip", "phone")
CONTEXT_KINDS: tuple[str, ...] = PERSONA_KINDS + LOCATION_KINDS
MIN_COUNTRY_ROWS = 5          # fewer rows of a country: its locale's Faker format
MIN_COUNTRY_SHARE = 0.8       # a country column: this share of its values are countries
_PATTERN_KINDS = ("zip", "phone")
_PERSON_POOL = 1024
_POOL = 2048
_DOMAINS = ("example.com", "example.org", "example.net")

# ISO 3166-1: alpha-2, alpha-3, English short name | other English names. Kosovo's XK is the
# user-assigned code in common use.
_COUNTRY_TABLE = """
AD AND Andorra
AE ARE United Arab Emirates|UAE|Emirates
AF AFG Afghanistan
AG ATG Antigua and Barbuda
AI AIA Anguilla
AL ALB Albania
AM ARM Armenia
AO AGO Angola
AQ ATA Antarctica
AR ARG Argentina
AS ASM American Samoa
AT AUT Austria
AU AUS Australia
AW ABW Aruba
AX ALA Aland Islands
AZ AZE Azerbaijan
BA BIH Bosnia and Herzegovina|Bosnia
BB BRB Barbados
BD BGD Bangladesh
BE BEL Belgium
BF BFA Burkina Faso
BG BGR Bulgaria
BH BHR Bahrain
BI BDI Burundi
BJ BEN Benin
BL BLM Saint Barthelemy
BM BMU Bermuda
BN BRN Brunei|Brunei Darussalam
BO BOL Bolivia
BQ BES Caribbean Netherlands|Bonaire
BR BRA Brazil
BS BHS Bahamas|The Bahamas
BT BTN Bhutan
BV BVT Bouvet Island
BW BWA Botswana
BY BLR Belarus
BZ BLZ Belize
CA CAN Canada
CC CCK Cocos Islands|Cocos (Keeling) Islands
CD COD Democratic Republic of the Congo|DR Congo|Congo-Kinshasa|DRC
CF CAF Central African Republic
CG COG Republic of the Congo|Congo|Congo-Brazzaville
CH CHE Switzerland
CI CIV Cote d'Ivoire|Ivory Coast
CK COK Cook Islands
CL CHL Chile
CM CMR Cameroon
CN CHN China|People's Republic of China|PRC
CO COL Colombia
CR CRI Costa Rica
CU CUB Cuba
CV CPV Cape Verde|Cabo Verde
CW CUW Curacao
CX CXR Christmas Island
CY CYP Cyprus
CZ CZE Czech Republic|Czechia
DE DEU Germany
DJ DJI Djibouti
DK DNK Denmark
DM DMA Dominica
DO DOM Dominican Republic
DZ DZA Algeria
EC ECU Ecuador
EE EST Estonia
EG EGY Egypt
EH ESH Western Sahara
ER ERI Eritrea
ES ESP Spain
ET ETH Ethiopia
FI FIN Finland
FJ FJI Fiji
FK FLK Falkland Islands
FM FSM Micronesia
FO FRO Faroe Islands
FR FRA France
GA GAB Gabon
GB GBR United Kingdom|UK|U.K.|Great Britain|Britain|England|Scotland|Wales|Northern Ireland
GD GRD Grenada
GE GEO Georgia
GF GUF French Guiana
GG GGY Guernsey
GH GHA Ghana
GI GIB Gibraltar
GL GRL Greenland
GM GMB Gambia|The Gambia
GN GIN Guinea
GP GLP Guadeloupe
GQ GNQ Equatorial Guinea
GR GRC Greece
GS SGS South Georgia and the South Sandwich Islands
GT GTM Guatemala
GU GUM Guam
GW GNB Guinea-Bissau
GY GUY Guyana
HK HKG Hong Kong
HM HMD Heard Island and McDonald Islands
HN HND Honduras
HR HRV Croatia
HT HTI Haiti
HU HUN Hungary
ID IDN Indonesia
IE IRL Ireland|Republic of Ireland
IL ISR Israel
IM IMN Isle of Man
IN IND India
IO IOT British Indian Ocean Territory
IQ IRQ Iraq
IR IRN Iran|Islamic Republic of Iran
IS ISL Iceland
IT ITA Italy
JE JEY Jersey
JM JAM Jamaica
JO JOR Jordan
JP JPN Japan
KE KEN Kenya
KG KGZ Kyrgyzstan
KH KHM Cambodia
KI KIR Kiribati
KM COM Comoros
KN KNA Saint Kitts and Nevis
KP PRK North Korea
KR KOR South Korea|Korea|Republic of Korea|Korea, Republic of
KW KWT Kuwait
KY CYM Cayman Islands
KZ KAZ Kazakhstan
LA LAO Laos|Lao People's Democratic Republic
LB LBN Lebanon
LC LCA Saint Lucia
LI LIE Liechtenstein
LK LKA Sri Lanka
LR LBR Liberia
LS LSO Lesotho
LT LTU Lithuania
LU LUX Luxembourg
LV LVA Latvia
LY LBY Libya
MA MAR Morocco
MC MCO Monaco
MD MDA Moldova|Republic of Moldova
ME MNE Montenegro
MF MAF Saint Martin
MG MDG Madagascar
MH MHL Marshall Islands
MK MKD North Macedonia|Macedonia
ML MLI Mali
MM MMR Myanmar|Burma
MN MNG Mongolia
MO MAC Macao|Macau
MP MNP Northern Mariana Islands
MQ MTQ Martinique
MR MRT Mauritania
MS MSR Montserrat
MT MLT Malta
MU MUS Mauritius
MV MDV Maldives
MW MWI Malawi
MX MEX Mexico
MY MYS Malaysia
MZ MOZ Mozambique
NA NAM Namibia
NC NCL New Caledonia
NE NER Niger
NF NFK Norfolk Island
NG NGA Nigeria
NI NIC Nicaragua
NL NLD Netherlands|The Netherlands|Holland
NO NOR Norway
NP NPL Nepal
NR NRU Nauru
NU NIU Niue
NZ NZL New Zealand
OM OMN Oman
PA PAN Panama
PE PER Peru
PF PYF French Polynesia
PG PNG Papua New Guinea
PH PHL Philippines|The Philippines
PK PAK Pakistan
PL POL Poland
PM SPM Saint Pierre and Miquelon
PN PCN Pitcairn Islands|Pitcairn
PR PRI Puerto Rico
PS PSE Palestine|State of Palestine
PT PRT Portugal
PW PLW Palau
PY PRY Paraguay
QA QAT Qatar
RE REU Reunion
RO ROU Romania
RS SRB Serbia
RU RUS Russia|Russian Federation
RW RWA Rwanda
SA SAU Saudi Arabia
SB SLB Solomon Islands
SC SYC Seychelles
SD SDN Sudan
SE SWE Sweden
SG SGP Singapore
SH SHN Saint Helena
SI SVN Slovenia
SJ SJM Svalbard and Jan Mayen
SK SVK Slovakia
SL SLE Sierra Leone
SM SMR San Marino
SN SEN Senegal
SO SOM Somalia
SR SUR Suriname
SS SSD South Sudan
ST STP Sao Tome and Principe
SV SLV El Salvador
SX SXM Sint Maarten
SY SYR Syria|Syrian Arab Republic
SZ SWZ Eswatini|Swaziland
TC TCA Turks and Caicos Islands
TD TCD Chad
TF ATF French Southern Territories
TG TGO Togo
TH THA Thailand
TJ TJK Tajikistan
TK TKL Tokelau
TL TLS Timor-Leste|East Timor
TM TKM Turkmenistan
TN TUN Tunisia
TO TON Tonga
TR TUR Turkey|Turkiye
TT TTO Trinidad and Tobago
TV TUV Tuvalu
TW TWN Taiwan
TZ TZA Tanzania
UA UKR Ukraine
UG UGA Uganda
UM UMI United States Minor Outlying Islands
US USA United States|United States of America|U.S.|U.S.A.|America
UY URY Uruguay
UZ UZB Uzbekistan
VA VAT Vatican City|Holy See|Vatican
VC VCT Saint Vincent and the Grenadines
VE VEN Venezuela
VG VGB British Virgin Islands
VI VIR U.S. Virgin Islands|US Virgin Islands
VN VNM Vietnam|Viet Nam
VU VUT Vanuatu
WF WLF Wallis and Futuna
WS WSM Samoa
XK XKX Kosovo
YE YEM Yemen
YT MYT Mayotte
ZA ZAF South Africa
ZM ZMB Zambia
ZW ZWE Zimbabwe
"""

# Territories with several Faker locales: the one whose names and formats most residents use
# (Faker's es_CA is Catalan, not Canadian; dk_DK duplicates da_DK).
_PREFERRED_LOCALE = {"BA": "bs_BA", "BD": "bn_BD", "BE": "nl_BE", "CA": "en_CA", "CH": "de_CH",
                     "DK": "da_DK", "DZ": "ar_DZ", "IE": "en_IE", "IN": "en_IN", "LU": "lb_LU",
                     "NG": "en_NG", "PH": "en_PH", "TH": "th_TH"}

_CYRILLIC = dict(zip(
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґђјљњћџѓќѕў",
    ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m", "n", "o", "p", "r",
     "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya", "i", "yi",
     "ye", "g", "dj", "j", "lj", "nj", "c", "dz", "gj", "kj", "dz", "u"]))
_GREEK = dict(zip("αβγδεζηθικλμνξοπρσςτυφχψω",
                  ["a", "v", "g", "d", "e", "z", "i", "th", "i", "k", "l", "m", "n", "x", "o",
                   "p", "r", "s", "s", "t", "y", "f", "ch", "ps", "o"]))
_TRANSLIT = {**_CYRILLIC, **_GREEK, "ß": "ss", "ø": "o", "æ": "ae", "œ": "oe", "ł": "l",
             "đ": "d", "ð": "d", "þ": "th", "ı": "i"}

_COUNTRY_NAME_HINTS = ("country", "nation", "cntry", "ctry")
_COUNTRY_NAME_TOKENS = {"pais", "pays", "land", "paese", "iso2", "iso3"}


def _norm(value: Any) -> str:
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]", "", text.lower())


def ascii_fold(text: str) -> str:
    """Lower-case ASCII letters and digits of ``text``: accents dropped, Cyrillic and Greek
    transliterated; other scripts give an empty string."""
    out = []
    for ch in str(text).lower():
        if ch in _TRANSLIT:
            out.append(_TRANSLIT[ch])
            continue
        for base in unicodedata.normalize("NFKD", ch):
            out.append(_TRANSLIT.get(base, base))
    return re.sub(r"[^a-z0-9]", "", unicodedata.normalize("NFKD", "".join(out))
                  .encode("ascii", "ignore").decode("ascii"))


@functools.lru_cache(maxsize=1)
def _country_index() -> tuple[dict[str, str], dict[str, str]]:
    """(normalized name or code -> ISO-2, ISO-2 -> English name), from the table above plus the
    country names phonenumbers ships in many languages (Deutschland, Brasil, Allemagne, ...)."""
    index: dict[str, str] = {}
    english: dict[str, str] = {}
    for line in _COUNTRY_TABLE.strip().splitlines():
        a2, a3, names = line.split(" ", 2)
        english[a2] = names.split("|")[0]
        for key in [a2, a3, *names.split("|")]:
            index.setdefault(_norm(key), a2)
    try:
        from phonenumbers.geodata.locale import LOCALE_DATA
    except ImportError:  # an older phonenumbers: the English names above still work
        LOCALE_DATA = {}
    seen: dict[str, set[str]] = {}
    for a2, names in LOCALE_DATA.items():
        if a2 not in english:
            continue
        for name in names.values():
            if not name or name.startswith("*"):
                continue
            key = _norm(name)
            if len(key) > 3:  # short keys would clash with codes
                seen.setdefault(key, set()).add(a2)
    for key, codes in seen.items():
        if len(codes) == 1 and key not in index:  # a name two countries share is no evidence
            index[key] = next(iter(codes))
    return index, english


def country_code(value: Any) -> Optional[str]:
    """The ISO 3166-1 alpha-2 code of a country name (English, or a language phonenumbers knows),
    an alpha-2 or an alpha-3 code; None when ``value`` is not a country."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NA:
        return None
    return _country_index()[0].get(_norm(value))


@functools.lru_cache(maxsize=1)
def _locales_by_country() -> dict[str, str]:
    from faker.config import AVAILABLE_LOCALES

    index, english = _country_index()
    by: dict[str, list[str]] = {}
    for loc in sorted(AVAILABLE_LOCALES):
        parts = loc.split("_")
        if len(parts) == 2 and parts[1] in english:
            by.setdefault(parts[1], []).append(loc)
    return {a2: _PREFERRED_LOCALE.get(a2) if _PREFERRED_LOCALE.get(a2) in locs else locs[0]
            for a2, locs in by.items()}


def country_locale(value: Any) -> Optional[str]:
    """The Faker locale of a country (name or code): ``"Brazil"`` -> ``"pt_BR"``; None when the
    value is no country or Faker has no locale for it."""
    code = country_code(value)
    return _locales_by_country().get(code) if code else None


def is_country_column_name(name: str) -> bool:
    """Whether a column name says it holds countries (country, country_code, billing_country,
    shipCountry, nation, pais, land, ...)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(name))
    folded = unicodedata.normalize("NFKD", spaced).encode("ascii", "ignore").decode("ascii")
    tokens = [t for t in re.split(r"[^a-z0-9]+", folded.lower()) if t]
    joined = "".join(tokens)
    return any(h in joined for h in _COUNTRY_NAME_HINTS) or bool(set(tokens) & _COUNTRY_NAME_TOKENS)


def pick_country_column(pdf: pd.DataFrame, candidates: Iterable[str],
                        min_share: float = MIN_COUNTRY_SHARE) -> Optional[str]:
    """The column of ``candidates`` named like a country column whose non-null values are at least
    ``min_share`` recognisable countries; of several, the plainest name (``country``) first, then
    the highest share, then the first in order. None when there is none."""
    best: Optional[tuple] = None
    for pos, col in enumerate(candidates):
        if col not in pdf.columns or not is_country_column_name(col):
            continue
        values = pdf[col].dropna()
        if len(values) == 0:
            continue
        uniq = pd.Series(values.astype(str)).value_counts()
        mapped = sum(int(c) for v, c in uniq.items() if country_code(v) is not None)
        share = mapped / len(values)
        if share < min_share:
            continue
        plain = _norm(col) in ("country", "countrycode", "countryname", "nation")
        rank = (not plain, -share, pos)
        if best is None or rank < best[0]:
            best = (rank, col)
    return best[1] if best else None


def _contextual_kinds(specs: Mapping[str, dict], with_country: bool) -> list[str]:
    kinds = CONTEXT_KINDS if with_country else PERSONA_KINDS
    return [c for c, s in specs.items() if s.get("kind") in kinds]


#: Two person columns of a row name one person when they agree on this share of the rows that
#: hold both (a first name that is the first word of the full name, a second copy of it)
SAME_PERSON_SHARE = 0.8
_NAME_PARTS = {"first_name": "first", "last_name": "last", "name": "both"}


def _same_person(pdf: pd.DataFrame, a: str, kind_a: str, b: str, kind_b: str) -> bool:
    """Whether name columns ``a`` and ``b`` hold one person's name in most real rows: equal
    values of one kind, or a first / last name that is the full name's first / last word."""
    # the part both columns hold: the same kind's whole value, or the full name's first / last
    part = (_NAME_PARTS[kind_a] if kind_a == kind_b
            else _NAME_PARTS[kind_b] if kind_a == "name"
            else _NAME_PARTS[kind_a] if kind_b == "name" else None)
    if part is None:
        return False
    both = pdf[[a, b]].dropna()
    if len(both) < 10:
        return False
    agree = sum(x is not None and x == y for x, y in
                zip((name_part(v, part) for v in both[a]), (name_part(v, part) for v in both[b])))
    return agree >= SAME_PERSON_SHARE * len(both)


def _assign_persons(specs: dict[str, dict], pdf: pd.DataFrame) -> None:
    """Gives every persona spec its ``person`` (0, 1, ...): a name column that holds the same
    person as an earlier one in most real rows (:func:`_same_person`: a ``baker`` that is the
    first word of ``baker_full``, a ``first_name`` and a ``given_name``) joins that person;
    any other column goes to the first person without a column of its kind (the n-th e-mail is
    the n-th person's, a second set of name columns a second person)."""
    persons: list[set[str]] = []
    assigned: dict[str, int] = {}
    for col in _contextual_kinds(specs, False):
        kind = specs[col]["kind"]
        slot = None
        if kind in _NAME_PARTS and col in pdf.columns:
            slot = next((assigned[o] for o in assigned if specs[o]["kind"] in _NAME_PARTS
                         and o in pdf.columns
                         and _same_person(pdf, o, specs[o]["kind"], col, kind)), None)
        if slot is None:
            slot = next((i for i, kinds in enumerate(persons) if kind not in kinds), len(persons))
            if slot == len(persons):
                persons.append(set())
        persons[slot].add(kind)
        assigned[col] = slot
        specs[col]["person"] = slot


def attach_country_context(specs: dict[str, dict], pdf: pd.DataFrame, candidates: Iterable[str],
                           default_locale: str = "en_US") -> dict[str, Any]:
    """Marks the PII ``specs`` (``{column: spec}``, edited in place) that are generated together.

    With a country column among ``candidates`` (see :func:`pick_country_column`), every persona
    and location spec gets ``contextual``, ``country_col``, ``country_locales`` (ISO-2 -> Faker
    locale for the countries in ``pdf``) and, for postal codes and phones, ``country_fmts``
    (ISO-2 -> format learned on that country's rows, for countries with at least
    :data:`MIN_COUNTRY_ROWS` values). Without one, 2+ persona columns are still marked
    ``contextual`` (one person per row, in the spec's locale). Nothing is marked otherwise, so
    generation stays as it was.

    Returns what happened: ``country_col``, ``columns`` (the marked ones), ``fallback`` (country
    values without a Faker locale: their rows use ``default_locale``) and ``unrecognised``
    (values that are no country: their rows use ``default_locale`` and the column's formats).
    """
    report: dict[str, Any] = {"country_col": None, "columns": [], "fallback": [],
                              "unrecognised": []}
    if not _contextual_kinds(specs, True):
        return report
    col = pick_country_column(pdf, [c for c in candidates if c not in specs])
    if col is None:
        persona = _contextual_kinds(specs, False)
        if len(persona) >= 2:
            for c in persona:
                specs[c]["contextual"] = True
            _assign_persons(specs, pdf)
            report["columns"] = persona
        return report
    check_locale(default_locale, "attach_country_context: ")
    raw = pdf[col].astype(object).reset_index(drop=True)
    codes = np.array([country_code(v) if pd.notna(v) else None for v in raw], dtype=object)
    locales = _locales_by_country()
    present = sorted({c for c in codes if c is not None})
    country_locales = {c: locales[c] for c in present if c in locales}
    report["fallback"] = sorted({str(v) for v, c in zip(raw, codes)
                                 if c is not None and c not in country_locales})
    report["unrecognised"] = sorted({str(v) for v, c in zip(raw, codes)
                                     if c is None and pd.notna(v)})
    report["country_col"] = col
    marked = _contextual_kinds(specs, True)
    for c in marked:
        spec = specs[c]
        spec.update({"contextual": True, "country_col": col, "country_locales": country_locales})
        if spec["kind"] in _PATTERN_KINDS:
            fmts: dict[str, dict] = {}
            values = pdf[c].reset_index(drop=True)
            for code in present:
                rows = values[codes == code].dropna()
                if len(rows) < MIN_COUNTRY_ROWS:
                    continue
                patterns = infer_format(spec["kind"], rows).get("patterns") or []
                if patterns:
                    fmts[code] = {"patterns": patterns, "rows": int(len(rows))}
            spec["country_fmts"] = fmts
    _assign_persons(specs, pdf)
    report["columns"] = marked
    return report


def contextual_items(items: Sequence[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """The (column, spec) pairs that :func:`generate_contextual` makes (specs marked at fit by
    :func:`attach_country_context`; specs of older models carry no mark)."""
    return [(c, s) for c, s in items if s.get("contextual") and s.get("kind") in CONTEXT_KINDS]


# -- generation ----------------------------------------------------------------------------------

_FAKERS: dict[str, Any] = {}


def _faker_for(locale: str, seed: int) -> Any:
    fk = _FAKERS.get(locale)
    if fk is None:
        from faker import Faker

        if len(_FAKERS) > 64:
            _FAKERS.clear()
        fk = _FAKERS[locale] = Faker(check_locale(locale, "generate_contextual: "))
    fk.seed_instance(seed)
    return fk


def _names(fk: Any, locale: str, gender: str, part: str, size: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``size`` (display, ASCII) names of ``part`` ("first"/"last") for ``gender``."""
    pair = getattr(fk, f"{part}_name_{gender}_pair" if part == "first" else "last_name_pair", None)
    if locale.startswith("ja") and pair is not None:  # kanji with its romanization
        drawn = [pair() for _ in range(size)]
        return (np.array([d[0] for d in drawn], dtype=object),
                np.array([ascii_fold(d[2]) for d in drawn], dtype=object))
    method = f"{part}_name_{gender}" if hasattr(fk, f"{part}_name_{gender}") else f"{part}_name"
    shown = _pool(fk, method, size, rng)
    return shown, np.array([ascii_fold(v) for v in shown], dtype=object)


def _truncate(values: list[str], fmt: dict) -> list[str]:
    max_len = fmt.get("max_length")
    return [v[:int(max_len)] for v in values] if max_len else values


def _group_values(kind: str, spec: dict, fk: Any, locale: str, rng: np.random.Generator, k: int,
                  person: dict[str, np.ndarray], code: Optional[str]) -> list[Any]:
    fmt = dict(spec.get("fmt") or {})
    if kind in ("first_name", "last_name", "name"):
        first, last = person["first"], person["last"]
        if kind == "first_name":
            values = list(first)
        elif kind == "last_name":
            values = list(last)
        else:
            values = full_names(first, last, locale)
        return _truncate(_apply_case(values, fmt.get("case")), fmt)
    if kind == "email":
        style = rng.integers(0, 4, k)
        numbered = rng.random(k) < float(fmt.get("numbered_share", 0.3))
        num = rng.integers(1, 1000, k)
        dom = rng.integers(0, len(_DOMAINS), k)
        max_len = int(fmt.get("max_length") or 0)
        out = []
        for i in range(k):
            f, last = person["first_ascii"][i] or "user", person["last_ascii"][i] or "person"
            local = (f + "." + last, f + "_" + last, f + last, last + "." + f)[style[i]]
            if numbered[i] or not (person["first_ascii"][i] and person["last_ascii"][i]):
                local += str(num[i])
            out.append(_fit_email(local, _DOMAINS[dom[i]], max_len))
        return out
    if kind == "username":
        firsts = [v or "user" for v in person["first_ascii"]]
        lasts = [v or "person" for v in person["last_ascii"]]
        idx = np.arange(k)
        return username_values(firsts, lasts, idx, idx, rng, fmt)
    if kind in ("city", "address"):
        size = min(k, _POOL)
        method = fk.city if kind == "city" else fk.street_address
        pool = np.array([" ".join(method().replace("\n", ", ").split()) for _ in range(size)],
                        dtype=object)  # one line: en_GB's "Flat 6\nDavies Wells"
        values = list(pool[rng.integers(0, size, k)])
        return _truncate(_apply_case(values, fmt.get("case")), fmt)
    # zip / phone: the country's learned patterns, else (a country) its locale's Faker format,
    # else (no country) the column's own patterns
    country_fmt = (spec.get("country_fmts") or {}).get(code) if code else None
    if country_fmt is None and code is not None:
        size = min(k, _POOL)
        method = fk.postcode if kind == "zip" else fk.phone_number
        pool = np.array([method() for _ in range(size)], dtype=object)
        return list(pool[rng.integers(0, size, k)])
    patterns = (country_fmt or fmt).get("patterns") or (
        [["#####", 1.0]] if kind == "zip" else [["(###) ###-####", 0.5], ["###-###-####", 0.5]])
    return _fill_patterns(rng, k, patterns, first_digit_min=2 if kind == "phone" else 0)


def _fitting(shown: np.ndarray, idx: np.ndarray, width: Optional[int]) -> np.ndarray:
    """The drawn positions ``idx`` of a name pool, moved among the names (``shown``) of at most
    ``width`` characters when some are that short (else as drawn: the column cuts them)."""
    if width is None:
        return idx
    fits = np.flatnonzero(np.fromiter((len(v) <= width for v in shown), bool, len(shown)))
    if len(fits) == 0 or len(fits) == len(shown):
        return idx
    return fits[idx % len(fits)]


def generate_contextual(items: Sequence[tuple[str, dict]], n: int, seed: int,
                        countries: Optional[pd.Series] = None,
                        default_locale: Optional[str] = None) -> pd.DataFrame:
    """``n`` rows of the PII columns ``items`` (``[(column, spec), ...]``, specs from the table
    stage with ``kind`` and ``fmt``; see :func:`attach_country_context`) generated together: per
    row one person (first/last/full name and e-mail agree; a second column of a person kind is a
    second person) in the locale of the row's ``countries`` value, with that country's postal code
    and phone patterns. Rows without a known country use ``default_locale`` (else the specs'
    ``locale``, else en_US) and the columns' own formats.

    Returns a DataFrame of str values (no nulls; the caller applies null shares and types).
    Deterministic for (items, n, seed, countries).
    """
    if n < 0:
        raise ValueError(f"generate_contextual: n must be >= 0, got {n}.")
    cols = [c for c, _ in items]
    if n == 0:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols}, columns=cols)
    specs = dict(items)
    for col, spec in items:
        if spec.get("kind") not in CONTEXT_KINDS:
            raise ValueError(f"generate_contextual: column {col!r} has kind {spec.get('kind')!r}; "
                             f"expected one of {', '.join(CONTEXT_KINDS)}.")
    # rows without a country: the given default, else the script the real names were written
    # in (infer_format), else the specs' locale
    fallback = (default_locale
                or next((s["fmt"]["locale"] for s in specs.values()
                         if s.get("kind") in PERSONA_KINDS and (s.get("fmt") or {}).get("locale")),
                        None)
                or next((s["locale"] for s in specs.values() if s.get("locale")), "en_US"))
    check_locale(fallback, "generate_contextual: ")
    known: dict[str, str] = {}
    for s in specs.values():
        known.update(s.get("country_locales") or {})
    if countries is None:
        codes = np.array([None] * n, dtype=object)
    else:
        values = pd.Series(countries).reset_index(drop=True)
        if len(values) != n:
            raise ValueError(f"generate_contextual: {len(values)} country values for {n} rows.")
        lookup = {v: country_code(v) for v in pd.unique(values.astype(object)) if pd.notna(v)}
        codes = np.array([lookup.get(v) if pd.notna(v) else None
                          for v in values.astype(object)], dtype=object)
    live = _locales_by_country()
    row_locale = np.array([known.get(c) or live.get(c) or fallback if c else fallback
                           for c in codes], dtype=object)

    # person of each person column: as fitted (``person``, see _assign_persons); specs of
    # older models carry none: the n-th column of a kind belongs to the n-th person
    slot: dict[str, int] = {}
    seen: dict[str, int] = {}
    for col, spec in items:
        if spec["kind"] in PERSONA_KINDS:
            slot[col] = int(spec["person"]) if "person" in spec else seen.get(spec["kind"], 0)
            seen[spec["kind"]] = seen.get(spec["kind"], 0) + 1
    persons = max(slot.values(), default=-1) + 1

    # the widest first / last name each person's own first_name / last_name columns hold (a
    # "Christopher" in a column of at most 10 characters would be cut, while the full name
    # column beside it holds it whole): names are drawn among those that fit
    widths: list[dict[str, Optional[int]]] = [{"first": None, "last": None}
                                              for _ in range(persons)]
    for col, spec in items:
        part = {"first_name": "first", "last_name": "last"}.get(spec["kind"])
        width = (spec.get("fmt") or {}).get("max_length")
        if part and width and col in slot:
            have = widths[slot[col]][part]
            widths[slot[col]][part] = int(width) if have is None else min(have, int(width))
    out = {c: np.empty(n, dtype=object) for c in cols}
    keys = sorted({(c or "", loc) for c, loc in zip(codes, row_locale)})
    key_arr = np.array([f"{c or ''}|{loc}" for c, loc in zip(codes, row_locale)], dtype=object)
    for code, locale in keys:
        rows = np.flatnonzero(key_arr == f"{code}|{locale}")
        k = len(rows)
        group = f"{code}|{locale}"
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, zlib.crc32(group.encode())])
        fk = _faker_for(locale, int(rng.integers(0, 2**63 - 1)))
        people = []
        if persons:
            size = min(k, _PERSON_POOL)
            pools = {(g, p): _names(fk, locale, g, p, size, rng)
                     for g in ("male", "female") for p in ("first", "last")}
            for p_i in range(persons):
                female = rng.random(k) < 0.5
                fi = rng.integers(0, size, k)
                li = rng.integers(0, size, k)
                person = {}
                for part, idx in (("first", fi), ("last", li)):
                    male, fem = pools[("male", part)], pools[("female", part)]
                    male_i = _fitting(male[0], idx, widths[p_i][part])
                    fem_i = _fitting(fem[0], idx, widths[p_i][part])
                    for j, form in enumerate(("", "_ascii")):
                        person[part + form] = np.where(female, fem[j][fem_i], male[j][male_i])
                people.append(person)
        for col, spec in items:
            person = people[slot[col]] if col in slot else {}
            values = _group_values(spec["kind"], spec, fk, locale, rng, k, person,
                                   code or None)
            out[col][rows] = np.array(values, dtype=object)
    return pd.DataFrame({c: pd.Series(out[c], dtype=object) for c in cols}, columns=cols)
