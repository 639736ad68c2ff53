"""PII values for synthetic tables: :func:`infer_format` describes a real column's format (JSON,
no real values), :func:`generate_pii` makes ``n`` new values in that format.

Used by the table stage for columns that are PII: they are never learned, only regenerated.
Fast: faker is seeded once per call to fill small pools (streets, cities), first and last names
are drawn from the locale's faker lists by numpy, and numpy combines the pools and draws the
digits.
"""
from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from collections import Counter
from typing import Any, Optional

import numpy as np
import pandas as pd

from synthohive_spark.privacy.strategies import check_locale, date_layout

__all__ = ["generate_pii", "infer_format", "GENERATED_KINDS"]

GENERATED_KINDS: tuple[str, ...] = ("email", "phone", "name", "first_name", "last_name",
                                    "address", "city", "zip", "ssn", "credit_card", "ip", "iban",
                                    "date_of_birth", "username")

_SHAPE_KINDS = ("phone", "ssn", "zip", "credit_card")
_MIN_SHARE = 0.01   # a format must cover 1% of the values ...
_MIN_COUNT = 5      # ... and at least 5 values to be kept (no rare shapes)
_POOL = 2048


def _shape(value: str) -> str:
    out = []
    for c in value:
        if "0" <= c <= "9":
            out.append("#")
        elif c.isalpha():
            out.append("?")
        else:
            out.append(c)
    return "".join(out)


def _phone_shape(value: str) -> str:
    """Digits become slots; letters stay literal (in phone numbers they are extension markers such
    as ``x`` or ``ext``, not data)."""
    s = value.strip()
    body = s
    prefix = ""
    if s.startswith("+"):
        try:
            import phonenumbers
            cc = str(phonenumbers.parse(s, None).country_code)
            if s[1:1 + len(cc)] == cc:
                prefix, body = "+" + cc, s[1 + len(cc):]
        except phonenumbers.NumberParseException:
            pass
    return prefix + "".join("#" if "0" <= c <= "9" else c for c in body)


def _common(items: list[str], total: int) -> list[list[Any]]:
    counts = Counter(items)
    kept = [(v, c) for v, c in counts.most_common(8)
            if c >= _MIN_COUNT and c / max(total, 1) >= _MIN_SHARE]
    norm = sum(c for _, c in kept)
    return [[v, round(c / norm, 6)] for v, c in kept]


def _case_of(values: list[str]) -> str:
    letters = [v for v in values if any(c.isalpha() for c in v)]
    if not letters:
        return "mixed"
    for name, test in (("upper", str.isupper), ("lower", str.islower), ("title", str.istitle)):
        if sum(1 for v in letters if test(v)) >= 0.9 * len(letters):
            return name
    return "mixed"


#: Faker locales for names and places written in a script other than Latin
_SCRIPT_LOCALES = {"CJK": "zh_CN", "KANA": "ja_JP", "HANGUL": "ko_KR", "CYRILLIC": "ru_RU",
                   "GREEK": "el_GR", "ARABIC": "ar_AA", "HEBREW": "he_IL",
                   "DEVANAGARI": "hi_IN", "THAI": "th_TH"}
#: kinds whose fakes follow the script of the real values (Faker's Arabic cities and Japanese
#: and Arabic street addresses are half Latin, so those stay with the table's locale)
_SCRIPT_KINDS = ("name", "first_name", "last_name", "city")
_SCRIPT_CITY_LOCALES = ("zh_CN", "ja_JP", "ko_KR", "ru_RU", "el_GR", "he_IL", "hi_IN", "th_TH")


def _script(value: str) -> Optional[str]:
    """The script of a value's letters: LATIN, CYRILLIC, ..., CJK, or KANA when it holds
    Japanese kana anywhere; None without letters."""
    first = None
    for c in value:
        if not c.isalpha():
            continue
        name = unicodedata.name(c, "")
        if name.startswith(("HIRAGANA", "KATAKANA")):
            return "KANA"
        first = first or name.split(" ")[0]
    return first


def script_locale(values: list[str], share: float = 0.8) -> Optional[str]:
    """The Faker locale of the script most ``values`` are written in, when that share of them is
    in one script other than Latin (Chinese with some kana is Japanese), else None."""
    scripts = Counter(_script(v) for v in values)
    scripts.pop(None, None)
    total = sum(scripts.values())
    if not total:
        return None
    kana = scripts.get("KANA", 0)
    if kana >= 0.1 * total and kana + scripts.get("CJK", 0) >= share * total:
        return "ja_JP"
    top, count = scripts.most_common(1)[0]
    return _SCRIPT_LOCALES.get(top) if count >= share * total else None


# Languages that write the family name first, and the separator they use.
_FAMILY_FIRST = {"hu": " ", "ja": " ", "ko": "", "zh": ""}


def full_names(firsts: Any, lasts: Any, locale: str) -> list[str]:
    """Full names from given and family names, in the order and with the separator of
    ``locale``'s language (王伟, 山田 太郎, Nagy Anna; else "Anna Smith")."""
    sep = _FAMILY_FIRST.get(locale.split("_")[0])
    if sep is not None:
        return [f"{b}{sep}{a}" for a, b in zip(firsts, lasts)]
    return [f"{a} {b}" for a, b in zip(firsts, lasts)]


def infer_format(kind: str, sample_values: pd.Series) -> dict[str, Any]:
    """A JSON-able description of how ``kind`` values look in the real column (never real values):

    - always: ``kind``, ``max_length``, ``case`` ("upper", "lower", "title", "mixed"),
      ``null_share``, ``dtype`` ("string", "date", "integer");
    - phone/ssn/zip/credit_card: ``patterns``: ``[[shape, share], ...]`` where ``#`` is a digit,
      ``?`` a letter, a phone's "+country code" kept (shapes on fewer than 5 values or 1% are
      left out);
    - email: ``numbered_share`` (share of local parts with digits); username: the same, of the
      names;
    - date_of_birth: ``date_format`` (strftime), ``min_year``, ``max_year``;
    - ip: ``ipv6_share``; iban: ``countries`` ``[[code, share], ...]``, ``grouped`` (spaces);
    - names and cities written in a script other than Latin: ``locale``, a Faker locale of that
      script (:func:`script_locale`), which their fakes use.
    """
    if kind not in GENERATED_KINDS:
        raise ValueError(f"infer_format: unknown PII kind {kind!r}; expected one of "
                         f"{', '.join(GENERATED_KINDS)}.")
    total = len(sample_values)
    present = sample_values.dropna()
    dtype = "string"
    if pd.api.types.is_integer_dtype(present.dtype):
        dtype = "integer"
    elif len(present) and isinstance(present.iloc[0], (_dt.date, pd.Timestamp)):
        dtype = "date"
    if dtype == "date":
        values = [pd.Timestamp(v).strftime("%Y-%m-%d") for v in present]
    else:
        values = [str(v) for v in present]
    fmt: dict[str, Any] = {
        "kind": kind, "dtype": dtype,
        "max_length": max((len(v) for v in values), default=0),
        "case": _case_of(values),
        "null_share": round(1 - len(present) / total, 6) if total else 0.0,
    }
    if kind in _SCRIPT_KINDS:
        local = script_locale(values)
        if local is not None and (kind != "city" or local in _SCRIPT_CITY_LOCALES):
            fmt["locale"] = local
    if kind in _SHAPE_KINDS:
        shapes = [_phone_shape(v) if kind == "phone" else _shape(v.strip()) for v in values]
        fmt["patterns"] = _common(shapes, len(values))
    elif kind in ("email", "username"):
        locals_ = [v.split("@")[0] for v in values if "@" in v] if kind == "email" else values
        fmt["numbered_share"] = round(
            sum(1 for v in locals_ if any(c.isdigit() for c in v)) / len(locals_), 6) \
            if locals_ else 0.0
    elif kind == "date_of_birth":
        layouts = Counter(date_layout(v) for v in values)
        fmt["date_format"] = layouts.most_common(1)[0][0] if layouts else "%Y-%m-%d"
        if fmt["date_format"] == "%m/%d/%Y" and any(
                v.strip()[:2].isdigit() and int(v.strip()[:2]) > 12 for v in values):
            fmt["date_format"] = "%d/%m/%Y"  # day first (25/12/1980): most of the world's
        years = sorted(int(m.group(0)) for v in values
                       for m in [re.search(r"[0-9]{4}", v)] if m)
        if len(years) >= _MIN_COUNT:
            lo, hi = np.percentile(years, [1, 99])
            fmt["min_year"], fmt["max_year"] = int(lo), int(hi)
    elif kind == "ip":
        fmt["ipv6_share"] = round(sum(1 for v in values if ":" in v) / len(values), 6) \
            if values else 0.0
    elif kind == "iban":
        fmt["countries"] = _common([v.strip()[:2].upper() for v in values], len(values))
        fmt["grouped"] = bool(values) and sum(" " in v.strip() for v in values) > len(values) / 2
    return fmt


# -- generation ----------------------------------------------------------------------------------

_DEFAULT_PATTERNS = {
    "phone": [["(###) ###-####", 0.5], ["###-###-####", 0.5]],
    "ssn": [["###-##-####", 1.0]],
    "zip": [["#####", 1.0]],
    "credit_card": [["#### #### #### ####", 1.0]],
}
_IBAN_LENGTHS = {"DE": 22, "FR": 27, "GB": 22, "ES": 24, "IT": 27, "NL": 18, "BE": 16, "AT": 20,
                 "CH": 21, "PL": 28, "PT": 25, "SE": 24, "DK": 18, "NO": 15, "FI": 18, "IE": 22}


def _pool(fk: Any, method: str, size: int, rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """``size`` values of faker's ``method``. A first or last name that the locale's faker draws
    from its list (weighted where the list is) is drawn from that list at once with ``rng``: one
    faker call per value cost 80 us, a fixed 0.3 s per generated chunk with a name column."""
    if rng is not None and method.startswith(("first_name", "last_name")):
        drawn = _name_list(fk, method)
        if drawn is not None:
            values, cum = drawn
            idx = (np.searchsorted(cum, rng.random(size) * cum[-1], side="right") if cum is not None
                   else rng.integers(0, len(values), size))
            return values[np.minimum(idx, len(values) - 1)]
    fn = getattr(fk, method)
    return np.array([fn() for _ in range(size)], dtype=object)


_NAME_LISTS: dict[tuple[str, str, bool], Any] = {}


def _name_list(fk: Any, method: str) -> Optional[tuple[np.ndarray, Optional[np.ndarray]]]:
    """(values, cumulative weights or None for uniform) that ``fk.<method>()`` draws from, when the
    locale's person provider draws it as the base provider does: one element of its list
    (``first_name`` of ``first_names``, ``last_name_female`` of ``last_names_female``, a gendered
    name without its list of the ungendered one); None when the locale overrides the method
    (then faker is called per value). Cached per locale."""
    from faker.providers.person import Provider as _Person

    bound = getattr(fk, method, None)
    provider = getattr(bound, "__self__", None)
    weighted = bool(getattr(provider, "__use_weighting__", True))
    key = (type(provider).__module__, method, weighted)
    if key in _NAME_LISTS:
        return _NAME_LISTS[key]
    out = None
    elements = getattr(provider, method.replace("_name", "_names", 1), None)
    base = getattr(_Person, method, None)
    if provider is None or base is None or getattr(type(provider), method, None) is not base:
        pass
    elif elements is None and method.count("_") > 1:  # the base falls back to the ungendered name
        out = _name_list(fk, method.rsplit("_", 1)[0])
    elif elements is not None and len(elements):
        if isinstance(elements, dict):
            values = np.array(list(elements.keys()), dtype=object)
            weights = np.asarray(list(elements.values()), dtype=np.float64)
            out = (values, np.cumsum(weights) if weighted else None)
        else:
            out = (np.array(list(elements), dtype=object), None)
    _NAME_LISTS[key] = out
    return out


def _digits_matrix(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return rng.integers(0, 10, size=(n, k), dtype=np.int8)


def _fill_patterns(rng: np.random.Generator, n: int, patterns: list[list[Any]],
                   luhn: bool = False, first_digit_min: int = 0,
                   ssn_rules: bool = False, first_digits: tuple[int, ...] = ()) -> list[str]:
    shapes = [p for p, _ in patterns]
    weights = np.array([w for _, w in patterns], dtype=float)
    which = rng.choice(len(shapes), size=n, p=weights / weights.sum())
    out: list[Optional[str]] = [None] * n
    for s_idx, shape in enumerate(shapes):
        rows = np.flatnonzero(which == s_idx)
        if len(rows) == 0:
            continue
        slots = [i for i, c in enumerate(shape) if c in "#?"]
        digit_slots = [i for i in slots if shape[i] == "#"]
        d = _digits_matrix(rng, len(rows), len(digit_slots))
        if first_digit_min and digit_slots:
            d[:, 0] = rng.integers(first_digit_min, 10, size=len(rows))
        if first_digits and digit_slots:
            d[:, 0] = rng.choice(np.array(first_digits, dtype=np.int8), size=len(rows))
        if ssn_rules and len(digit_slots) == 9:
            area = rng.integers(1, 899, size=len(rows))
            area[area == 666] = 667
            group = rng.integers(1, 100, size=len(rows))
            serial = rng.integers(1, 10000, size=len(rows))
            nums = np.stack([area // 100, area // 10 % 10, area % 10, group // 10, group % 10,
                             serial // 1000, serial // 100 % 10, serial // 10 % 10, serial % 10],
                            axis=1).astype(np.int8)
            d = nums
        if luhn and len(digit_slots) >= 2:
            body = d[:, :-1].astype(np.int64)
            rev = body[:, ::-1]
            dbl = rev.copy()
            dbl[:, 0::2] *= 2
            dbl[dbl > 9] -= 9
            d[:, -1] = ((10 - dbl.sum(axis=1) % 10) % 10).astype(np.int8)
        letters = rng.integers(0, 26, size=(len(rows), len(slots) - len(digit_slots)))
        template = list(shape)
        for r_i, row in enumerate(rows):
            chars = list(template)
            di = li = 0
            for i in slots:
                if shape[i] == "#":
                    chars[i] = chr(48 + int(d[r_i, di]))
                    di += 1
                else:
                    chars[i] = chr(65 + int(letters[r_i, li]))
                    li += 1
            out[row] = "".join(chars)
    return out  # type: ignore[return-value]


def _ascii(text: str) -> str:
    norm = unicodedata.normalize("NFKD", text)
    return re.sub(r"[^a-z0-9]", "", norm.encode("ascii", "ignore").decode("ascii").lower())


def _apply_case(values: list[str], case: Optional[str]) -> list[str]:
    if case == "upper":
        return [v.upper() for v in values]
    if case == "lower":
        return [v.lower() for v in values]
    return values


def generate_pii(kind: str, n: int, seed: int, locale: str = "en_US",
                 fmt: Optional[dict[str, Any]] = None) -> pd.Series:
    """``n`` fresh values of PII ``kind`` in ``locale``, in the format ``fmt`` from
    :func:`infer_format` (defaults when None). Deterministic for (kind, n, seed, locale, fmt).

    Returns an object Series of str (``datetime.date`` for date_of_birth when ``fmt["dtype"]``
    is "date"; Python int for phone/zip/ssn/credit_card when it is "integer"). No nulls: the
    caller applies ``fmt["null_share"]`` if it wants to.
    """
    if kind not in GENERATED_KINDS:
        raise ValueError(f"generate_pii: unknown PII kind {kind!r}; expected one of "
                         f"{', '.join(GENERATED_KINDS)}.")
    if n < 0:
        raise ValueError(f"generate_pii: n must be >= 0, got {n}.")
    fmt = dict(fmt or {})
    locale = fmt.get("locale") or locale  # the real values' script (infer_format)
    check_locale(locale, "generate_pii: ")
    if n == 0:
        return pd.Series([], dtype=object)
    from faker import Faker

    rng = np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, GENERATED_KINDS.index(kind)])
    fk = Faker(locale)
    fk.seed_instance(int(rng.integers(0, 2**63 - 1)))
    pool_n = min(n, _POOL)
    values: list[Any]
    if kind in ("name", "first_name", "last_name"):
        firsts = _pool(fk, "first_name", pool_n, rng)
        lasts = _pool(fk, "last_name", pool_n, rng)
        if kind == "first_name":
            values = list(firsts[rng.integers(0, pool_n, n)])
        elif kind == "last_name":
            values = list(lasts[rng.integers(0, pool_n, n)])
        else:
            f = firsts[rng.integers(0, pool_n, n)]
            last = lasts[rng.integers(0, pool_n, n)]
            values = full_names(f, last, locale)
        values = _apply_case(values, fmt.get("case"))
    elif kind == "email":
        firsts = [_ascii(v) or "user" for v in _pool(fk, "first_name", pool_n, rng)]
        lasts = [_ascii(v) or "person" for v in _pool(fk, "last_name", pool_n, rng)]
        domains = ["example.com", "example.org", "example.net"]
        fi = rng.integers(0, pool_n, n)
        li = rng.integers(0, pool_n, n)
        style = rng.integers(0, 3, n)
        numbered = rng.random(n) < float(fmt.get("numbered_share", 0.3))
        num = rng.integers(1, 1000, n)
        dom = rng.integers(0, 3, n)
        max_len = int(fmt.get("max_length") or 0)
        values = []
        for i in range(n):
            f, last = firsts[fi[i]], lasts[li[i]]
            local = (f + "." + last, f[0] + last, f + "_" + last)[style[i]]
            if numbered[i]:
                local += str(num[i])
            values.append(_fit_email(local, domains[dom[i]], max_len))
    elif kind == "username":
        firsts = [_ascii(v) or "user" for v in _pool(fk, "first_name", pool_n, rng)]
        lasts = [_ascii(v) or "person" for v in _pool(fk, "last_name", pool_n, rng)]
        values = username_values(firsts, lasts, rng.integers(0, pool_n, n),
                                 rng.integers(0, pool_n, n), rng, fmt)
    elif kind in _SHAPE_KINDS:
        patterns = fmt.get("patterns") or _DEFAULT_PATTERNS[kind]
        if kind == "phone":
            values = _fill_patterns(rng, n, patterns, first_digit_min=2)
            # keep "+cc" literal: patterns hold the country code digits as they are
        elif kind == "credit_card":
            values = _fill_patterns(rng, n, patterns, luhn=True, first_digits=(4, 5))
        elif kind == "ssn":
            values = _fill_patterns(rng, n, patterns, ssn_rules=True)
        else:
            values = _fill_patterns(rng, n, patterns)
        if fmt.get("dtype") == "integer":
            values = [int(re.sub(r"[^0-9]", "", v) or 0) for v in values]
    elif kind == "address":
        streets = _pool(fk, "street_name", pool_n)
        numbers = rng.integers(1, 9999, n)
        st = streets[rng.integers(0, pool_n, n)]
        values = _apply_case([f"{a} {b}" for a, b in zip(numbers, st)], fmt.get("case"))
    elif kind == "city":
        cities = _pool(fk, "city", pool_n)
        values = _apply_case(list(cities[rng.integers(0, pool_n, n)]), fmt.get("case"))
    elif kind == "ip":
        v6 = rng.random(n) < float(fmt.get("ipv6_share", 0.0))
        octets = rng.integers(0, 256, size=(n, 4))
        octets[:, 0] = rng.integers(11, 224, n)
        octets[octets[:, 0] == 127, 0] = 128
        groups = rng.integers(0, 65536, size=(n, 8))
        values = [":".join(f"{g:x}" for g in groups[i]) if v6[i]
                  else ".".join(str(o) for o in octets[i]) for i in range(n)]
    elif kind == "iban":
        countries = fmt.get("countries") or [[_locale_country(locale), 1.0]]
        codes = [c for c, _ in countries]
        w = np.array([s for _, s in countries], dtype=float)
        which = rng.choice(len(codes), size=n, p=w / w.sum())
        values = []
        for i in range(n):
            cc = codes[which[i]] if codes[which[i]] in _IBAN_LENGTHS else "DE"
            bban = "".join(map(str, rng.integers(0, 10, _IBAN_LENGTHS[cc] - 4)))
            numeric = bban + str(ord(cc[0]) - 55) + str(ord(cc[1]) - 55) + "00"
            check = 98 - int(numeric) % 97
            iban = f"{cc}{check:02d}{bban}"
            if fmt.get("grouped"):
                iban = " ".join(iban[j:j + 4] for j in range(0, len(iban), 4))
            values.append(iban)
    else:  # date_of_birth
        lo = int(fmt.get("min_year", 1940))
        hi = int(fmt.get("max_year", 2005))
        start = _dt.date(lo, 1, 1).toordinal()
        end = _dt.date(max(hi, lo), 12, 31).toordinal()
        days = rng.integers(start, end + 1, n)
        dates = [_dt.date.fromordinal(int(d)) for d in days]
        if fmt.get("dtype") == "date":
            values = dates
        else:
            layout = fmt.get("date_format", "%Y-%m-%d")
            values = [d.strftime(layout) for d in dates]
    max_len = fmt.get("max_length")
    if max_len and kind in ("name", "first_name", "last_name", "address", "city"):
        values = [v[:int(max_len)] for v in values]
    return pd.Series(values, dtype=object)


def username_values(firsts: list[str], lasts: list[str], fi: Any, li: Any,
                    rng: np.random.Generator, fmt: dict[str, Any]) -> list[str]:
    """User names made of a person's names (``jsmith``, ``john.smith``, ``smithj``, ``john_s``),
    numbered at the column's ``numbered_share``, cut to its ``max_length``, in its ``case``."""
    n = len(fi)
    style = rng.integers(0, 4, n)
    numbered = rng.random(n) < float(fmt.get("numbered_share", 0.3))
    num = rng.integers(1, 1000, n)
    max_len = int(fmt.get("max_length") or 0)
    out = []
    for i in range(n):
        f, last = firsts[fi[i]], lasts[li[i]]
        name = (f[0] + last, f + "." + last, last + f[0], f + "_" + last[0])[style[i]]
        suffix = str(num[i]) if numbered[i] else ""
        if max_len and len(name) + len(suffix) > max_len:
            name = name[:max(1, max_len - len(suffix))].rstrip("._")
        out.append(name + suffix)
    return _apply_case(out, fmt.get("case")) if fmt.get("case") else out


def _fit_email(local: str, domain: str, max_len: int) -> str:
    """``local@domain`` within ``max_len`` characters (0 = no limit) and still an address: the local
    part is shortened first, then a reserved short domain (``x.test``) is used; only a column too
    narrow for any address (under 8 characters) gets a plain cut."""
    value = local + "@" + domain
    if not max_len or len(value) <= max_len:
        return value
    for dom in (domain, "x.test"):
        budget = max_len - 1 - len(dom)
        short = local[:budget].rstrip("._")
        if budget >= 1 and short:
            return short + "@" + dom
    return value[:max_len]


def _locale_country(locale: str) -> str:
    part = locale.split("_")[-1].upper()
    return part if part in _IBAN_LENGTHS else "DE"
