"""Spark-free tests of the PII core: validators, name hints, findings, strategies, generation."""
from __future__ import annotations

import hashlib
import hmac
import json
import re

import pandas as pd
import pytest

from synthohive_spark.privacy import (ColumnEvidence, decide, fake_series, fake_value,
                                      generate_pii, hash_format, hash_hex, infer_format,
                                      mask_value, name_hint, parse_strategy)
from synthohive_spark.privacy import validators as V
from synthohive_spark.privacy.strategies import check_locale

KEY = b"unit-test-key-0123456789"


# -- validators -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value,ok", [
    ("4111 1111 1111 1111", True), ("4111-1111-1111-1111", True), ("5500000000000004", True),
    ("378282246310005", True), ("4111 1111 1111 1112", False), ("1234567812345678", False),
    ("0000000000000000", False), ("4111", False), ("41111111111111111111111", False)])
def test_credit_card_luhn(value, ok):
    assert V.is_credit_card(value) is ok


@pytest.mark.parametrize("value,ok", [
    ("DE89370400440532013000", True), ("DE89 3704 0044 0532 0130 00", True),
    ("GB82WEST12345698765432", True), ("FR1420041010050500013M02606", True),
    ("DE89370400440532013001", False), ("GB82WEST1234569876543", False),
    ("de89370400440532013000", False), ("XX", False)])
def test_iban_mod97(value, ok):
    assert V.is_iban(value) is ok


@pytest.mark.parametrize("value,ok", [
    ("123-45-6789", True), ("123 45 6789", True), ("000-12-3456", False), ("666-12-3456", False),
    ("900-12-3456", False), ("123-00-4567", False), ("123-45-0000", False),
    ("123-45 6789", False), ("12-345-6789", False)])
def test_ssn_area_rules(value, ok):
    assert V.is_ssn(value) is ok


def test_ssn_digits_is_a_separate_rule():
    assert V.is_ssn_digits("123456789") and not V.is_ssn("123456789")
    assert not V.is_ssn_digits("666456789")


@pytest.mark.parametrize("value,ok", [
    ("192.168.0.1", True), ("0.0.0.0", True), ("255.255.255.255", True), ("256.1.1.1", False),
    ("01.2.3.4", False), ("1.2.3", False), ("2001:db8::1", True), ("::1", True), ("::", True),
    ("fe80::1:2:3:4:5:6", True), ("1:2:3:4:5:6:7:8", True), ("1:2:3:4:5:6:7:8:9", False),
    ("1::2::3", False), ("::ffff:192.0.2.1", True), ("1:2:3:4:5:6:1.2.3.4", True),
    ("12345::1", False), ("g::1", False), ("1:2:3:4:5:6:7", False)])
def test_ip(value, ok):
    assert V.is_ip(value) is ok


@pytest.mark.parametrize("value,ok", [
    ("john.doe@example.com", True), ("a+tag@sub.example.co.uk", True),
    ("user@localhost", False), ("foo@bar@baz.com", False), ("john..doe@example.com", False),
    (".john@example.com", False), ("@example.com", False), ("john@-example.com", False),
    ("john@example.c", False), ("jöhn@example.com", False)])
def test_email(value, ok):
    assert V.is_email(value) is ok


@pytest.mark.parametrize("value,ok", [
    ("1985-03-12", True), ("1985/03/12", True), ("03/12/1985", True), ("25/12/1985", True),
    ("12.03.1985", True), ("1985-02-29", False), ("2000-02-29", True), ("1885-01-01", False),
    ("2031-01-01", False), ("1985-13-01", False), ("85-03-12", False)])
def test_date_of_birth(value, ok):
    assert V.is_date_of_birth(value, 2025) is ok


def test_phone_numbers_with_phonenumbers():
    assert V.is_phone_number("(212) 555-0199", "US")
    assert V.is_phone_number("+44 20 7946 0958", "US")
    assert V.is_phone_number("030 1234567", "DE")
    assert not V.is_phone_number("123-45-6789", "US")
    assert not V.is_phone_number("1985-03-12", "US")
    assert V.is_phone_candidate("(212) 555-0199") and not V.is_phone_candidate("12345")


def test_classify_bits():
    assert V.classify("  john@example.com\t", 2025) == V.EMAIL
    assert V.classify("4111 1111 1111 1111", 2025) & V.CREDIT_CARD
    assert V.classify("123-45-6789", 2025) & V.SSN
    assert V.classify("1985-03-12", 2025) & V.DATE_OF_BIRTH
    assert V.classify("hello world", 2025) == 0
    assert V.classify(None, 2025) == 0 and V.classify("", 2025) == 0
    assert V.classify("x" * 300, 2025) == 0


def test_person_names():
    assert V.person_name_kind("John Smith", "en_US") == "name"
    assert V.person_name_kind("Mary", "en_US") == "first_name"
    assert V.person_name_kind("Blue Widget", "en_US") is None
    assert V.person_name_kind("john smith", "en_US") is None  # not capitalised
    assert V.person_name_kind("Order 12", "en_US") is None


# -- detection --------------------------------------------------------------------------------------

@pytest.mark.parametrize("column,kind", [
    ("email", "email"), ("e_mail", "email"), ("customerEmail", "email"),
    ("E-Mail-Adresse", "email"), ("correo_electronico", "email"), ("courriel", "email"),
    ("phone", "phone"), ("tel", "phone"), ("Telefonnummer", "phone"), ("home_phone", "phone"),
    ("ssn", "ssn"), ("first_name", "first_name"), ("Vorname", "first_name"),
    ("prénom", "first_name"), ("surname", "last_name"), ("apellidos", "last_name"),
    ("dob", "date_of_birth"), ("Geburtsdatum", "date_of_birth"),
    ("fecha_de_nacimiento", "date_of_birth"), ("address", "address"),
    ("billing_address", "address"), ("Straße", "address"), ("zip", "zip"),
    ("postleitzahl", "zip"), ("iban", "iban"), ("card_number", "credit_card"),
    ("ip_address", "ip"), ("full_name", "name"), ("city", "city"), ("email_2", "email"),
    ("product_name", None), ("email_opt_in", None), ("market_cap", None), ("notes", None),
    ("zipper_size", None), ("shipping_cost", None), ("ship_date", None)])
def test_name_hints(column, kind):
    assert name_hint(column) == kind


def _ev(column, non_null, **hits):
    return ColumnEvidence(column, "string", non_null=non_null, rule_hits=hits)


def test_decide_values_and_names():
    f = decide(_ev("contact", 100, email=97))
    assert (f.kind, f.is_pii, f.source) == ("email", True, "values") and f.hit_rate == 0.97
    f = decide(_ev("email", 100, email=100))
    assert f.source == "name+values" and f.confidence == 1.0
    # a name alone is enough for kinds without a value rule
    f = decide(_ev("city", 100))
    assert (f.kind, f.is_pii, f.source) == ("city", True, "name")
    # values contradicting a name with a rule lower the confidence below the threshold
    f = decide(_ev("ssn", 100, phone=0))
    assert f.kind == "ssn" and not f.is_pii
    # nine plain digits support an 'ssn' name
    assert decide(_ev("ssn", 100, ssn_digits=100)).is_pii
    # a low hit rate is not enough
    assert not decide(_ev("contact", 100, email=40)).is_pii
    assert not decide(_ev("contact", 100, email=40), min_hit_rate=0.3).is_pii  # confidence 0.4
    assert decide(_ev("contact", 100, email=40), min_hit_rate=0.3, min_confidence=0.3).is_pii
    # dates alone are weak evidence of a date of birth
    assert not decide(_ev("order_date", 100, date_of_birth=100)).is_pii
    assert decide(_ev("birthdate", 100, date_of_birth=100)).is_pii


def test_decide_phone_needs_confirmation():
    ev = _ev("contact", 100, phone=100)
    ev.phone_checked, ev.phone_valid = 50, 2
    assert not decide(ev).is_pii
    ev.phone_valid = 50
    f = decide(ev)
    assert f.kind == "phone" and f.is_pii


def test_decide_person_names():
    ev = ColumnEvidence("who", "string", non_null=100, names_checked=100,
                        name_hits={"name": 90})
    f = decide(ev)
    assert f.kind == "name" and f.is_pii
    ev = ColumnEvidence("given", "string", non_null=100, names_checked=100,
                        name_hits={"first_name": 85})
    assert decide(ev).kind == "first_name"


# -- strategies -------------------------------------------------------------------------------------

def test_parse_strategy():
    assert parse_strategy("hash").spec == "hash"
    assert parse_strategy("hash:hex").spec == "hash"
    assert parse_strategy("HMAC").spec == "hash"
    assert parse_strategy("hash:truncate").option == "truncate"
    assert parse_strategy("redact:null").spec == "redact:null"
    with pytest.raises(ValueError, match="unknown strategy 'scramble'"):
        parse_strategy("scramble")
    with pytest.raises(ValueError, match="unknown option 'sha1'"):
        parse_strategy("hash:sha1")
    with pytest.raises(ValueError, match="unknown option"):
        parse_strategy("mask:everything")


def test_unknown_locale():
    assert check_locale("de_DE") == "de_DE"
    with pytest.raises(ValueError, match="unknown locale 'xx_YY'"):
        check_locale("xx_YY")
    with pytest.raises(ValueError, match="Locales for 'de'"):
        check_locale("de_XX")


@pytest.mark.parametrize("value,kind,expected", [
    ("john.doe@gmail.com", "email", "j***.***@gmail.com"),
    ("4111-1111-1111-1111", "credit_card", "****-****-****-1111"),
    ("123-45-6789", "ssn", "***-**-6789"),
    ("(212) 555-0199", "phone", "(***) ***-0199"),
    ("192.168.10.200", "ip", "192.168.**.***"),
    ("1985-03-12", "date_of_birth", "1985-**-**"),
    ("94110", "zip", "94***"),
    ("John Smith", "name", "J*** S****"),
    ("Zoë Ångström", "name", "Z** Å*******"),
    ("12", "ssn", "*2"), ("7", "credit_card", "*"),  # at most half is kept
    ("", "email", ""),
])
def test_mask(value, kind, expected):
    assert mask_value(value, kind) == expected
    assert mask_value(None, kind) is None


def test_hash_hex_matches_hmac():
    for v in ["a", "john@example.com", "Zoë", "x" * 100]:
        ref = hmac.new(KEY, v.encode("utf-8"), hashlib.sha256).hexdigest()
        assert hash_hex(KEY, v) == ref
        assert hash_hex(KEY, v, truncate=True) == ref[:max(1, min(64, len(v)))]
    assert hash_hex(KEY, None) is None


def test_hash_format_preserves_shape_and_depends_on_key():
    v = "(212) 555-0199 Ab ü"
    out = hash_format(KEY, v)
    assert len(out) == len(v)
    shape = lambda s: re.sub("[a-z]", "a", re.sub("[A-Z]", "A", re.sub("[0-9]", "9", s)))
    assert shape(out) == shape(v.replace("ü", "u"))
    assert out == hash_format(KEY, v)
    assert out != hash_format(b"another-key", v)
    long = "9" * 100  # more than one HMAC block
    assert len(hash_format(KEY, long)) == 100 and hash_format(KEY, long)[64:] != "9" * 36


def test_fake_is_consistent_realistic_and_keyed():
    emails = pd.Series(["a@x.com", "b@y.org", None, "a@x.com"])
    f1 = fake_series("email", emails, KEY)
    f2 = fake_series("email", emails.iloc[::-1].reset_index(drop=True), KEY)
    assert f1[0] == f1[3] == f2[0] and f1[2] is None
    assert all(V.is_email(v) for v in f1.dropna())
    assert f1[0] != fake_value("email", "a@x.com", b"other-key")
    card = fake_value("credit_card", "4111 1111 1111 1111", KEY)
    assert V.is_credit_card(card) and card[4] == " "
    assert V.is_ssn(fake_value("ssn", "123-45-6789", KEY))
    assert V.is_iban(fake_value("iban", "DE89370400440532013000", KEY).replace(" ", ""))
    assert V.is_ipv4(fake_value("ip", "10.0.0.1", KEY))
    assert V.is_ipv6(fake_value("ip", "2001:db8::1", KEY))
    dob = fake_value("date_of_birth", "03/12/1985", KEY)
    assert re.fullmatch(r"[0-9]{2}/[0-9]{2}/[0-9]{4}", dob) and V.is_date_of_birth(dob, 2025)
    phone = fake_value("phone", "+1 (212) 555-0199", KEY)
    assert phone.startswith("+1 (") and len(phone) == len("+1 (212) 555-0199")
    de = fake_value("name", "Hans Müller", KEY, "de_DE")
    assert de and de != "Hans Müller"
    with pytest.raises(ValueError, match="unknown locale"):
        fake_value("name", "x", KEY, "zz_ZZ")


# -- generation -------------------------------------------------------------------------------------

def test_generate_pii_deterministic_and_valid():
    for kind in ("email", "phone", "name", "first_name", "last_name", "address", "city", "zip",
                 "ssn", "credit_card", "ip", "iban", "date_of_birth"):
        a = generate_pii(kind, 200, seed=11)
        assert len(a) == 200 and a.notna().all()
        assert a.equals(generate_pii(kind, 200, seed=11)), kind
        assert not a.equals(generate_pii(kind, 200, seed=12)), kind
    assert all(V.is_email(v) for v in generate_pii("email", 300, 1))
    assert all(V.is_credit_card(v) for v in generate_pii("credit_card", 300, 1))
    assert all(V.is_ssn(v) for v in generate_pii("ssn", 300, 1))
    assert all(V.is_iban(v) for v in generate_pii("iban", 300, 1))
    assert all(V.is_ipv4(v) for v in generate_pii("ip", 300, 1))
    assert all(V.is_date_of_birth(v, 2025) for v in generate_pii("date_of_birth", 300, 1))
    with pytest.raises(ValueError, match="unknown PII kind 'passport'"):
        generate_pii("passport", 3, 1)
    with pytest.raises(ValueError, match="unknown locale"):
        generate_pii("name", 3, 1, locale="qq_QQ")


def test_names_come_from_the_locales_faker_lists_at_their_weights():
    """First and last names are drawn from the locale's faker lists in one numpy draw: every value
    is one of faker's, common names as common as faker's weights make them, and a locale whose
    faker builds its names otherwise (ja_JP) still gets faker's own."""
    from faker import Faker

    n = 20_000
    for locale in ("en_US", "hu_HU", "ru_RU"):
        provider = Faker(locale).first_name.__self__
        for kind, listed in (("first_name", provider.first_names), ("last_name", provider.last_names)):
            fake = generate_pii(kind, n, seed=5, locale=locale)
            assert set(fake) <= set(listed), (locale, kind)
            if isinstance(listed, dict):  # weighted: the most common name at its weight
                weights = pd.Series(listed, dtype=float)
                top = weights.idxmax()
                assert abs((fake == top).mean() - weights[top] / weights.sum()) < 0.02, (locale, kind)
            else:
                assert fake.nunique() > min(len(listed), 2048) * 0.5, (locale, kind)
    full = generate_pii("name", 300, seed=5, locale="en_US")
    first = set(Faker("en_US").first_name.__self__.first_names)
    assert all(v.split(" ")[0] in first for v in full)
    japanese = generate_pii("last_name", 200, seed=5, locale="ja_JP")
    assert set(japanese) <= set(Faker("ja_JP").last_name.__self__.last_names)

def test_infer_format_then_generate_follows_it_without_real_values():
    real = pd.Series(["+44 20 7946 0958"] * 30 + ["(212) 555-0199"] * 10 + [None] * 10)
    fmt = infer_format("phone", real)
    json.dumps(fmt)  # JSON-able
    assert fmt["null_share"] == 0.2
    assert [p for p, _ in fmt["patterns"]] == ["+44 ## #### ####", "(###) ###-####"]
    assert "7946" not in json.dumps(fmt)
    gen = generate_pii("phone", 400, seed=3, fmt=fmt)
    shares = gen.str.startswith("+44 ").mean()
    assert 0.65 < shares < 0.85
    assert all(re.fullmatch(r"\+44 [0-9]{2} [0-9]{4} [0-9]{4}|\([0-9]{3}\) [0-9]{3}-[0-9]{4}", v)
               for v in gen)

    dob = pd.Series(pd.to_datetime(["1950-01-02", "1960-05-06", "1970-01-01", "1980-03-03",
                                    "1990-02-02", "1975-07-07"]).date)
    fmt = infer_format("date_of_birth", dob)
    assert fmt["dtype"] == "date" and 1950 <= fmt["min_year"] <= fmt["max_year"] <= 1990
    out = generate_pii("date_of_birth", 100, seed=1, fmt=fmt)
    assert all(1950 <= d.year <= 1990 for d in out)

    fmt = infer_format("date_of_birth", pd.Series(["12.03.1985"] * 6))
    assert fmt["date_format"] == "%d.%m.%Y"
    assert all(re.fullmatch(r"[0-9]{2}\.[0-9]{2}\.[0-9]{4}", v)
               for v in generate_pii("date_of_birth", 20, 2, fmt=fmt))

    fmt = infer_format("zip", pd.Series([94110, 10001, 60601, 73301, 2134, 98101]))
    assert fmt["dtype"] == "integer"
    assert all(isinstance(v, int) for v in generate_pii("zip", 10, 1, fmt=fmt))

    rare = pd.Series(["123-45-6789"] * 50 + ["123456789"])  # a shape on 1 value is not kept
    assert [p for p, _ in infer_format("ssn", rare)["patterns"]] == ["###-##-####"]


def test_phone_extensions_keep_their_marker_letters():
    from synthohive_spark.privacy import generate_pii, infer_format

    real = pd.Series([f"555-{i % 900 + 100:03d}-{i:04d}x{i % 97 + 100}" for i in range(60)] +
                     [f"(555){i % 900 + 100:03d}-{i:04d} ext. {i % 9 + 1}" for i in range(40)])
    fmt = infer_format("phone", real)
    out = generate_pii("phone", 200, seed=3, fmt=fmt)
    letters = {c for v in out for c in v if c.isalpha()}
    assert letters <= set("xext"), letters
    assert any("x" in v and "ext" not in v for v in out) and any(" ext. " in v for v in out)


def test_generated_emails_fit_a_narrow_column_and_stay_addresses() -> None:
    import re

    from synthohive_spark.privacy.generate import generate_pii

    address = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._]*(?<![._])@[a-z]+\.[a-z]+$")
    for width in (40, 19, 12, 8):
        values = generate_pii("email", 300, 5, "en_US", {"max_length": width}).tolist()
        assert max(len(v) for v in values) <= width
        assert all(address.match(v) for v in values), (width, [v for v in values if not address.match(v)][:3])
    unlimited = generate_pii("email", 300, 5, "en_US", None).tolist()
    assert max(len(v) for v in unlimited) > 19  # the limit, not the generator, shortened them


@pytest.mark.parametrize("column, kind", [
    ("billingaddress", "address"), ("BillingAddress", "address"), ("billingpostalcode", "zip"),
    ("ShipCity", "city"), ("ShipPostalCode", "zip"), ("contact_name", "name"),
    ("billing_postal_code", "zip"), ("HomePhone", "phone"), ("shipaddress", "address"),
    ("capacity", None), ("ethnicity", None), ("username", "username"), ("electricity", None),
    ("velocity", None), ("customerid", None),
])
def test_glued_column_names_are_split_into_the_pii_vocabulary(column, kind):
    from synthohive_spark.privacy.detect import name_hint

    assert name_hint(column) == kind


def test_metadata_vocabulary_lives_in_privacy():
    from synthohive_spark.privacy.detect import word_hints
    from synthohive_spark.privacy.validators import is_full_name, is_phone_text, known_names

    assert word_hints(("email", "verified")) == ["email"]
    assert word_hints(("email", "phone")) == ["email", "phone"]  # in the order to try them
    assert word_hints(("vorname",)) == ["first_name"]
    assert word_hints(("customer", "name")) == ["name"] and word_hints(("product", "name")) == []
    assert is_phone_text("(555) 123-4567 x89") and not is_phone_text("12-34")
    assert "anna" in known_names()[0] and is_full_name("Dr. Anna Schmidt")


def test_the_sanitizers_name_check_knows_names_beyond_its_fake_locale():
    from synthohive_spark.privacy.validators import name_sets, person_name_kind

    us_first, us_last = name_sets("en_US")
    # a Polish, a Turkish and a Danish customer, in a run that writes American fakes
    for value, first in (("Katarzyna Wróblewska", "katarzyna"), ("Mehmet Yılmaz", "mehmet"),
                         ("Søren Kjærgaard", "søren")):
        assert first not in us_first
        assert person_name_kind(value, "en_US") == "name", value
    assert person_name_kind("Mehmet", "en_US") == "first_name"
    assert person_name_kind('Edward "Edd" Kimber', "en_US") == "name"  # a nickname in quotes
    assert person_name_kind("Sanne de Vries", "en_US") == "name"        # a particle
    for other in ("Chocolate Orange Cake", "chocolate", "Unit 12B", "Lemon and Ginger"):
        assert person_name_kind(other, "en_US") is None, other


def test_fake_names_and_places_are_written_in_the_script_of_the_real_ones():
    import unicodedata

    from synthohive_spark.privacy import generate_pii, infer_format
    from synthohive_spark.privacy.contextual import generate_contextual

    def script(v: str) -> set[str]:
        return {unicodedata.name(c).split()[0] for c in v if c.isalpha()}

    cases = {"name": (["王伟", "李娜", "张敏", "刘洋", "陈静"], "zh_CN", {"CJK"}),
             "first_name": (["Иван", "Ольга", "Дмитрий"], "ru_RU", {"CYRILLIC"}),
             "last_name": (["العلي", "حسن", "الزهراء"], "ar_AA", {"ARABIC"}),
             "city": (["Αθήνα", "Πάτρα", "Βόλος"], "el_GR", {"GREEK"})}
    for kind, (real, locale, scripts) in cases.items():
        fmt = infer_format(kind, pd.Series(real))
        assert fmt["locale"] == locale
        fake = generate_pii(kind, 50, 3, "en_US", fmt)
        assert all(script(v) <= scripts and script(v) for v in fake), (kind, list(fake[:5]))
    chinese = generate_pii("name", 50, 3, "en_US", infer_format("name", pd.Series(["王伟", "李娜"])))
    assert (chinese.str.len() <= 2).all() and not chinese.str.contains(" ").any()  # 王伟, not 伟 王
    assert "locale" not in infer_format("name", pd.Series(["Anna Smith", "Jan Nowak"]))
    # a persona of Japanese name columns, without a country column: Japanese, family name first
    fmt = infer_format("name", pd.Series(["佐藤 健", "鈴木 花子", "田中 さくら"]))
    out = generate_contextual([("full", {"kind": "name", "contextual": True, "fmt": fmt}),
                               ("mail", {"kind": "email", "contextual": True})], 20, 1)
    japanese = ("CJK", "HIRAGANA", "KATAKANA", "IDEOGRAPHIC")  # 々: an ideographic mark
    assert all(w.startswith(japanese) for v in out["full"] for w in script(v))
    assert out["mail"].str.fullmatch(r"[a-z._]+\d*@example\.[a-z]+").all()  # romanized


# -- free text ------------------------------------------------------------------------------------

def _reviews(n: int = 600, seed: int = 0) -> pd.Series:
    """Product reviews in English and German, built from shared phrases, with a few rows that
    hold a customer's name, e-mail and phone number (rare words: in one row each)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    en = ["Great product", "The delivery was fast", "Not worth the price", "Arrived late but works",
          "The colour is as shown", "Customer support was helpful", "Would buy again"]
    de = ["Die Lieferung kam schnell", "Sehr gute Qualität", "Der Preis ist zu hoch",
          "Würde ich wieder kaufen", "Die Farbe passt zur Küche"]
    out = []
    for i in range(n):
        pool = de if rng.random() < 0.4 else en
        k = int(rng.integers(1, 4))
        out.append(". ".join(pool[j] for j in rng.choice(len(pool), k, replace=False)) + ".")
    for i in range(0, n, 10):   # a support agent's handle and a link, in many rows
        out[i] = out[i][:-1] + " via @shopbot_helga, see https://shop.example.com/r/help."
    for i, who in enumerate(["Zbigniew Wojciechowski", "Oluwaseun Adeyemi", "Ingeborg Fältskog"]):
        out[i * 7] = f"Please call {who} on 0171 5550{i}23 or mail {who.split()[0].lower()}@example.org"
    return pd.Series(out)


def test_free_text_is_made_of_the_column_s_common_words_never_its_rare_ones():
    from synthohive_spark.privacy.text import TEXT_MIN_ROWS, _WORD, generate_text, text_format

    real = _reviews()
    fmt = text_format(real)
    json.dumps(fmt)  # saved with the model as JSON
    vocab = set(fmt["words"])
    assert {"delivery", "fast", "Lieferung", "Qualität", "Küche", "wieder"} <= vocab  # nouns of German stay capitalised
    assert not {"zbigniew", "Zbigniew", "adeyemi", "Adeyemi", "example", "mail"} & vocab
    # glued to an @, a slash, a dot or '://': an address, a handle or a URL, whatever its count
    assert {"via", "see"} <= vocab and not {"shopbot", "helga", "https", "shop", "com", "r", "help"} & vocab
    assert ["via", "see"] not in [[fmt["words"][a], fmt["words"][b]] for a, b, _ in fmt["pairs"]]
    assert min(fmt["word_rows"]) >= TEXT_MIN_ROWS and min(p[2] for p in fmt["pairs"]) >= TEXT_MIN_ROWS
    fake = generate_text(3000, 11, fmt=fmt)
    assert fake.equals(generate_text(3000, 11, fmt=fmt)) and not fake.equals(generate_text(3000, 12, fmt=fmt))
    words = [[w for w in _WORD.findall(t)] for t in fake]
    flat = [w for ws in words for w in ws]
    assert {w if w in vocab else w.lower() for w in flat} <= vocab | {"i"}
    assert not re.search(r"\d|@", " ".join(fake))
    # consecutive words are real neighbours, not a bag of words
    real_pairs = {(fmt["words"][a], fmt["words"][b]) for a, b, _ in fmt["pairs"]}
    pairs = [(a, b) for ws in words for a, b in zip(ws, ws[1:])]
    lowered = {(a.lower(), b.lower()) for a, b in real_pairs}
    assert sum((a.lower(), b.lower()) in lowered for a, b in pairs) / len(pairs) > 0.95
    # the texts' word counts follow the real ones
    real_counts = real.str.split().str.len()
    fake_counts = fake.str.split().str.len()
    assert abs(fake_counts.median() - real_counts.median()) <= 1
    assert fake.str[0].str.isupper().all() and fake.str.endswith(".").all()


def test_free_text_without_a_vocabulary_is_filler_of_the_locale():
    """Under differential privacy (``vocabulary=False``), or where no word is common, the
    column gets filler words: nothing of the real words."""
    from synthohive_spark.privacy.text import generate_text, text_format

    real = _reviews()
    fmt = text_format(real, vocabulary=False)
    assert "words" not in fmt and "pairs" not in fmt
    rare = text_format(pd.Series([f"note {i} about case {i * 7}" for i in range(4)]))
    assert "words" not in rare   # four rows: no word is common
    real_words = {w.lower() for t in real for w in re.findall(r"\w+", t)}
    fake = generate_text(500, 3, fmt=fmt)
    fake_words = {w.lower() for t in fake for w in re.findall(r"\w+", t)}
    assert len(fake_words - real_words) > 0.8 * len(fake_words)
