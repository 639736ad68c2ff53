"""Contextual PII (privacy.contextual): one persona per row, in the locale and formats of the row's
country. Spark-free."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from synthohive_spark.privacy import infer_format
from synthohive_spark.privacy.contextual import (ascii_fold, attach_country_context,
                                                 country_code, country_locale,
                                                 generate_contextual, is_country_column_name,
                                                 pick_country_column)

POSTAL = {"BR": r"\d{5}-?\d{3}", "DE": r"\d{5}", "CZ": r"\d{3} \d{2}", "PL": r"\d{2}-\d{3}",
          "GB": r"[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}", "US": r"\d{5}(-\d{4})?"}


def _pt_br_last_names() -> set[str]:
    from faker.providers.person.pt_BR import Provider
    return set(Provider.last_names)


def _de_cities() -> set[str]:
    from faker.providers.address.de_DE import Provider
    return set(Provider.cities)


def _real(rows_per_country: dict[str, int], seed: int = 0) -> pd.DataFrame:
    """A small real table: each country's postal codes and phones in its own shapes."""
    rng = np.random.default_rng(seed)
    shapes = {"Brazil": ("#####-###", "+55 ## #####-####"), "Germany": ("#####", "0### #######"),
              "Czech Republic": ("### ##", "+420 ### ### ###"), "Poland": ("##-###", "+48 ## ### ## ##"),
              "USA": ("#####", "(###) ###-####"), "Atlantis": ("####", "###-####")}
    out = []
    for country, k in rows_per_country.items():
        zshape, pshape = shapes[country]
        for i in range(k):
            fill = lambda s: "".join(str(rng.integers(0, 10)) if c == "#" else c for c in s)  # noqa: E731
            out.append({"country": country, "zip": fill(zshape), "phone": fill(pshape),
                        "first_name": "Ana", "last_name": "Souza",
                        "email": f"customer.number{i:05d}@example-mail.com",
                        "city": "Somewhere Over The Rainbow Valley", "segment": str(rng.choice(["a", "b"]))})
    return pd.DataFrame(out)


def _specs(real: pd.DataFrame, locale: str = "en_US") -> dict[str, dict]:
    kinds = {"first_name": "first_name", "last_name": "last_name", "email": "email",
             "city": "city", "zip": "zip", "phone": "phone"}
    return {c: {"kind": k, "fmt": infer_format(k, real[c]), "spark_type": "string",
                "null_share": 0.0, "locale": locale} for c, k in kinds.items()}


# -- countries -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value, code, locale", [
    ("Brazil", "BR", "pt_BR"), ("BR", "BR", "pt_BR"), ("BRA", "BR", "pt_BR"), ("brasil", "BR", "pt_BR"),
    ("Germany", "DE", "de_DE"), ("DEU", "DE", "de_DE"), ("Deutschland", "DE", "de_DE"),
    ("United Kingdom", "GB", "en_GB"), ("UK", "GB", "en_GB"), ("USA", "US", "en_US"),
    ("United States of America", "US", "en_US"), ("Czech Republic", "CZ", "cs_CZ"),
    ("Czechia", "CZ", "cs_CZ"), ("Switzerland", "CH", "de_CH"), ("Canada", "CA", "en_CA"),
    ("Peru", "PE", None), ("Atlantis", None, None), (None, None, None), ("", None, None),
])
def test_countries_map_to_faker_locales(value, code, locale):
    assert country_code(value) == code
    assert country_locale(value) == locale


def test_country_column_is_picked_by_name_and_values():
    df = pd.DataFrame({"segment": ["Brazil"] * 10, "country": ["Brazil", "DE", "FRA", "Japan", None,
                                                               "USA", "Poland", "Italy", "Spain", "x"],
                       "ship_country": ["x", "y", "z", "w", "v", "u", "t", "s", "BR", "DE"]})
    assert pick_country_column(df, df.columns) == "country"            # 8 of 9 values
    assert pick_country_column(df, ["segment", "ship_country"]) is None  # no name / 20%
    assert is_country_column_name("billingCountry") and is_country_column_name("country_code")
    assert not is_country_column_name("county") and not is_country_column_name("discount")


# -- persona -------------------------------------------------------------------------------------

def test_one_persona_per_row():
    items = [("first", {"kind": "first_name", "contextual": True}),
             ("last", {"kind": "last_name", "contextual": True}),
             ("full", {"kind": "name", "contextual": True}),
             ("mail", {"kind": "email", "contextual": True, "fmt": {"numbered_share": 0.5}})]
    countries = pd.Series(["Brazil", "Germany", "France", "Poland", "Czech Republic", "USA",
                           "Russia", "Japan"] * 50)
    out = generate_contextual(items, len(countries), 7, countries)
    assert len(out) == 400 and out.notna().all().all()
    latin = countries.isin(["Russia", "Japan"]).to_numpy() == False  # noqa: E712
    for f, last, full, mail in out[latin].itertuples(index=False):
        local = mail.split("@")[0]
        assert ascii_fold(f) and ascii_fold(f) in local, (f, mail)
        assert ascii_fold(last) and ascii_fold(last) in local, (last, mail)
        assert f in full and last in full
    # Cyrillic names are transliterated, Japanese ones romanized, both from the row's person
    russian = out[countries == "Russia"]
    assert russian["first"].map(lambda v: bool(re.search("[а-яА-Я]", v))).all()
    assert all(ascii_fold(f) in m and ascii_fold(f) for f, m in zip(russian["first"], russian["mail"]))
    japanese = out[countries == "Japan"]
    assert japanese["full"].map(lambda v: bool(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", v))).all()
    assert japanese["mail"].str.fullmatch(r"[a-z]{2,}[._]?[a-z]{2,}\d*@example\.[a-z]+").all()
    # names come from the row's country, not from one locale for all rows
    brazil = out.loc[countries == "Brazil", "last"]
    assert brazil.isin(_pt_br_last_names()).mean() > 0.95


def test_a_second_set_of_name_columns_is_a_second_person():
    items = [("first", {"kind": "first_name", "contextual": True}),
             ("mail", {"kind": "email", "contextual": True}),
             ("contact_first", {"kind": "first_name", "contextual": True}),
             ("contact_mail", {"kind": "email", "contextual": True})]
    out = generate_contextual(items, 300, 3)
    assert (out["first"] != out["contact_first"]).mean() > 0.9
    assert all(ascii_fold(f) in m for f, m in zip(out["contact_first"], out["contact_mail"]))


def test_name_columns_that_hold_one_person_in_the_real_rows_get_one_person():
    from synthohive_spark.privacy.contextual import _assign_persons

    rng = np.random.default_rng(0)
    firsts = ["Annetha", "David", "Edward", "Jasminder", "Jonathan", "Louise", "Miranda", "Ruth",
              "Holly", "Mary-Anne", "Sanne", "Mehmet"]
    lasts = ["Mills", "Chambers", "Kimber", "Randhawa", "Shepherd", "Brimelow", "Browne",
             "Clemens", "Bell", "Boermans", "Vries", "Yılmaz"]
    n = 120
    f, last = rng.choice(firsts, n), rng.choice(lasts, n)
    real = pd.DataFrame({
        "baker_full": [f"{a} {b}" for a, b in zip(f, last)],
        "baker": f,                                        # the full name's first word
        "baker_last": [b if i % 10 else "Smith" for i, b in enumerate(last)],  # 90% agree
        "judge": rng.choice(firsts, n),                    # another person
        "email": [f"{a.lower()}@example.com" for a in f]})
    specs = {"baker_full": {"kind": "name"}, "baker": {"kind": "first_name"},
             "baker_last": {"kind": "last_name"}, "judge": {"kind": "first_name"},
             "email": {"kind": "email"}}
    report = attach_country_context(specs, real, [])
    assert sorted(report["columns"]) == sorted(specs)
    assert {c: s["person"] for c, s in specs.items()} == {
        "baker_full": 0, "baker": 0, "baker_last": 0, "judge": 1, "email": 0}
    out = generate_contextual(list(specs.items()), 200, 5)
    assert (out["baker_full"] == out["baker"] + " " + out["baker_last"]).all()
    assert all(ascii_fold(a) in m for a, m in zip(out["baker"], out["email"]))
    assert (out["judge"] != out["baker"]).mean() > 0.9
    # a first name column narrower than a drawn name (Christopher in 7 characters) gets names
    # that fit, so the full name beside it still starts with it
    narrow = {c: dict(s, fmt={**(s.get("fmt") or {}), "max_length": 7}) if c == "baker" else s
              for c, s in specs.items()}
    out = generate_contextual(list(narrow.items()), 300, 5)
    assert (out["baker"].str.len() <= 7).all()
    assert (out["baker_full"] == out["baker"] + " " + out["baker_last"]).all()
    # a second first name that repeats the first one in the real rows is the same person
    real["judge"] = real["baker"]
    specs = {c: {"kind": s["kind"]} for c, s in specs.items()}
    attach_country_context(specs, real, [])
    assert specs["judge"]["person"] == 0
    out = generate_contextual(list(specs.items()), 50, 5)
    assert (out["judge"] == out["baker"]).all()


# -- locale and formats per row ------------------------------------------------------------------

def test_each_row_gets_its_countrys_locale_and_learned_formats():
    real = _real({"Brazil": 40, "Germany": 40, "Czech Republic": 40, "Poland": 40, "USA": 40})
    specs = _specs(real)
    report = attach_country_context(specs, real, ["country", "segment"])
    assert report["country_col"] == "country" and report["fallback"] == []
    assert specs["zip"]["country_fmts"]["BR"]["patterns"] == [["#####-###", 1.0]]
    assert specs["city"]["country_locales"]["BR"] == "pt_BR"
    # learned shapes, never values
    assert not set(real["zip"]) & {p for f in specs["zip"]["country_fmts"].values()
                                   for p, _ in f["patterns"]}

    countries = pd.Series(["Brazil", "Germany", "Czech Republic", "Poland", "USA"] * 60)
    out = generate_contextual(list(specs.items()), len(countries), 11, countries)
    codes = countries.map(country_code)
    for code in ("BR", "DE", "CZ", "PL", "US"):
        rows = out[(codes == code).to_numpy()]
        assert rows["zip"].str.fullmatch(POSTAL[code]).all(), (code, rows["zip"].head())
    assert out.loc[codes == "BR", "zip"].str.fullmatch(r"\d{5}-\d{3}").all()
    assert out.loc[codes == "BR", "phone"].str.fullmatch(r"\+55 \d{2} \d{5}-\d{4}").all()
    assert out.loc[codes == "DE", "phone"].str.fullmatch(r"\d{4} \d{7}").all()
    assert out.loc[codes == "DE", "city"].isin(_de_cities()).all()
    names = tuple(_pt_br_last_names())   # pt_BR's cities are built of its family names
    assert out.loc[codes == "BR", "city"].map(lambda v: v.startswith(names)).all()
    assert not out.loc[codes != "BR", "city"].map(lambda v: v.startswith(names)).all()


def test_a_country_with_few_rows_uses_its_locales_faker_format():
    real = _real({"Germany": 60, "Brazil": 3})
    specs = _specs(real)
    attach_country_context(specs, real, ["country"])
    assert "BR" not in specs["zip"]["country_fmts"] and "DE" in specs["zip"]["country_fmts"]
    countries = pd.Series(["Brazil"] * 200)
    out = generate_contextual(list(specs.items()), 200, 5, countries)
    assert out["zip"].str.fullmatch(POSTAL["BR"]).all()        # Faker pt_BR's CEP
    assert out["phone"].str.contains(r"\d").all()
    assert not out["zip"].str.fullmatch(r"\d{5}").any()


def test_unknown_and_uncovered_countries_fall_back_to_the_default_locale():
    real = _real({"Germany": 50, "Brazil": 50, "Atlantis": 5})
    real.loc[real.index[:8], "country"] = "Peru"   # a country, but no Faker locale
    specs = _specs(real, locale="de_DE")
    report = attach_country_context(specs, real, ["country"], "de_DE")
    assert report["fallback"] == ["Peru"] and report["unrecognised"] == ["Atlantis"]
    countries = pd.Series(["Atlantis"] * 100 + ["Peru"] * 100 + [None] * 100)
    out = generate_contextual(list(specs.items()), 300, 9, countries)
    # the metadata's locale (de_DE here) for names and cities ...
    assert out["city"].isin(_de_cities()).all()
    # ... a non-country keeps the column's overall formats, a known country its own patterns
    atlantis, peru = out.iloc[:100], out.iloc[100:200]
    overall = {p for p, _ in specs["zip"]["fmt"]["patterns"]}
    assert atlantis["zip"].map(lambda v: re.sub(r"\d", "#", v)).isin(overall).all()
    assert peru["zip"].str.fullmatch(r"\d{5}").all()   # Peru's 8 real rows were German-shaped


def test_deterministic_and_seed_dependent():
    real = _real({"Brazil": 30, "Germany": 30, "Poland": 30})
    specs = _specs(real)
    attach_country_context(specs, real, ["country"])
    countries = pd.Series(["Brazil", "Germany", "Poland", "Peru", None] * 40)
    a = generate_contextual(list(specs.items()), 200, 1, countries)
    b = generate_contextual(list(specs.items()), 200, 1, countries.copy())
    c = generate_contextual(list(specs.items()), 200, 2, countries)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert generate_contextual(list(specs.items()), 0, 1, countries[:0]).shape == (0, len(specs))


def test_without_a_country_column_only_2_or_more_person_columns_are_generated_together():
    real = _real({"Brazil": 30}).drop(columns=["country"])
    specs = _specs(real)
    report = attach_country_context(specs, real, ["segment"])
    assert report["country_col"] is None
    assert sorted(report["columns"]) == ["email", "first_name", "last_name"]
    assert "contextual" not in specs["zip"] and "contextual" not in specs["city"]
    one = {"email": _specs(real)["email"], "zip": _specs(real)["zip"]}
    assert attach_country_context(one, real, ["segment"])["columns"] == []
    assert not any("contextual" in s for s in one.values())


def test_old_specs_generate_exactly_as_before():
    """Specs of models saved before contextual PII (no mark) take the per-column path."""
    from synthohive_spark.ml import _generation as gen

    real = _real({"Brazil": 30, "Germany": 30})
    specs = _specs(real)
    items = list(specs.items())
    old = {c: gen.pii_series(s, c, 50, 123) for c, s in items}
    new = gen.pii_frame(items, 50, lambda _c: 123, {"country": real["country"][:50]})
    for c in specs:
        pd.testing.assert_series_equal(old[c], new[c])

    attach_country_context(specs, real, ["country"])
    marked = gen.pii_frame(list(specs.items()), 50, lambda _c: 123,
                           {"country": pd.Series(["Brazil"] * 50)})
    assert marked["zip"].str.fullmatch(r"\d{5}-\d{3}").all()
    assert all(ascii_fold(f) in m for f, m in zip(marked["first_name"], marked["email"]))


def test_a_user_name_belongs_to_the_rows_person():
    items = [("first", {"kind": "first_name", "contextual": True}),
             ("last", {"kind": "last_name", "contextual": True}),
             ("login", {"kind": "username", "contextual": True,
                        "fmt": infer_format("username", pd.Series(["jsmith", "kmiller7"]))})]
    countries = pd.Series(["Brazil", "Germany", "France", "USA"] * 50)
    out = generate_contextual(items, len(countries), 4, countries)
    assert out["login"].str.fullmatch(r"[a-z._]+\d*").all()
    for f, last, login in out.itertuples(index=False):
        # jsmith, john.smith, smithj, john_s, (cut to the real column's 8 characters) + digits
        f, last = ascii_fold(f), ascii_fold(last)
        forms = (f[0] + last, f + "." + last, last + f[0], f + "_" + last[0])
        stem = login.rstrip("0123456789")
        assert len(stem) >= 1 and any(x.startswith(stem) for x in forms), (f, last, login)
