"""Detection on real-database traits: column semantics (category, unique label, free text),
reference tables, copied and derived columns, natural keys; the new metadata's YAML round trip
and its validation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthohive_spark.metadata import Metadata, MetadataError, SDType
from synthohive_spark.ml._keys import infer_key_spec
from synthohive_spark.relational.rules import find_copies, find_derived, find_relative

from conftest import COUNTRY_NAMES, members_database
from conftest import shop_database as _shop

GENRES = ["Rock", "Jazz", "Metal", "Alternative & Punk", "Rock And Roll", "Blues", "Latin",
          "Reggae", "Pop", "Soundtrack", "Bossa Nova", "Easy Listening", "Heavy Metal",
          "R&B/Soul", "Electronica/Dance", "World", "Hip Hop/Rap", "Science Fiction",
          "TV Shows", "Sci Fi & Fantasy", "Drama", "Comedy", "Alternative", "Classical", "Opera"]
COUNTRIES = ["Brazil", "Germany", "Canada", "Norway", "Czech Republic", "Austria", "Belgium",
             "Denmark", "USA", "Portugal", "France", "Finland", "Hungary", "Ireland", "Italy",
             "Netherlands", "Poland", "Spain", "Sweden", "United Kingdom", "Australia",
             "Argentina", "Chile", "India"]


# ----------------------------------------------------------------------------- column semantics
def test_labels_in_a_lookup_table_are_unique_categories_not_free_text():
    genres = pd.DataFrame({"genre_id": range(1, 26), "name": GENRES})
    tracks = pd.DataFrame({"track_id": range(1, 501),
                           "genre_id": np.random.default_rng(0).integers(1, 26, 500),
                           "milliseconds": np.random.default_rng(1).integers(60_000, 400_000, 500)})
    md = Metadata.detect({"genres": genres, "tracks": tracks})
    name = md.tables["genres"].columns["name"]
    assert name.sdtype == SDType.CATEGORICAL and name.unique


def test_countries_repeat_so_they_are_categories_even_in_a_small_table():
    rng = np.random.default_rng(0)
    customers = pd.DataFrame({"customer_id": range(1, 60),
                              "country": rng.choice(COUNTRIES, 59),
                              "support_rep": rng.integers(3, 6, 59)})
    col = Metadata.detect({"customers": customers}).tables["customers"].columns["country"]
    assert col.sdtype == SDType.CATEGORICAL and not col.unique


def test_long_multi_word_unique_values_are_free_text():
    rng = np.random.default_rng(0)
    words = ["the", "pizza", "was", "great", "cold", "late", "friendly", "staff", "would",
             "order", "again", "never", "crust", "too", "salty", "and", "fast"]
    reviews = [" ".join(rng.choice(words, rng.integers(6, 14))) + f" ({i})" for i in range(200)]
    df = pd.DataFrame({"review_id": range(200), "review": reviews})
    assert Metadata.detect({"r": df}).tables["r"].columns["review"].sdtype == SDType.TEXT


# ----------------------------------------------------------------------------- reference tables
def test_small_lookup_tables_without_personal_data_are_reference_tables():
    md = Metadata.detect(_shop())
    assert md.tables["menu"].reference
    assert not md.tables["orders"].reference and not md.tables["items"].reference
    # a key to a reference table never drives generation: items hang under their order
    assert md.tables["items"].driver.parent_table == "orders"


def test_a_lookup_table_with_personal_data_is_not_a_reference_table():
    rng = np.random.default_rng(0)
    reps = pd.DataFrame({"rep_id": range(1, 9),
                         "email": [f"rep{i}.smith@example.com" for i in range(1, 9)]})
    calls = pd.DataFrame({"call_id": range(1, 401), "rep_id": rng.integers(1, 9, 400),
                          "minutes": rng.integers(1, 60, 400)})
    md = Metadata.detect({"reps": reps, "calls": calls})
    assert md.tables["calls"].foreign_keys[0].parent_table == "reps"
    assert not md.tables["reps"].reference


# ----------------------------------------------------------------------------- copied / derived
def test_copied_and_derived_columns_are_found_with_their_rule():
    md = Metadata.detect(_shop())
    price = md.tables["items"].columns["price"]
    assert price.copy_of is not None
    assert (price.copy_of.foreign_key, price.copy_of.column, price.copy_of.agreement) == \
        ("dish_id", "price", 1.0)
    n_items = md.tables["orders"].columns["n_items"].derived
    total = md.tables["orders"].columns["total"].derived
    assert (n_items.aggregate, n_items.table, n_items.foreign_key) == ("count", "items", "order_id")
    assert (total.aggregate, sorted(total.columns)) == ("sum", ["price", "quantity"])
    assert md.tables["orders"].columns["tip"].derived is None
    assert md.tables["items"].columns["quantity"].copy_of is None


def test_a_column_equal_to_its_parent_by_chance_on_a_few_rows_is_not_copied():
    joined = pd.DataFrame({"c": [1.0, 2.0, 3.0], "__p__x": [1.0, 2.0, 3.0]})
    assert find_copies(joined, ["c"], ["x"], "__p__") == []
    # a near-constant flag agrees with a near-constant parent flag by chance, not by copying
    rng = np.random.default_rng(0)
    a = rng.random(2000) < 0.97
    b = rng.random(2000) < 0.97
    flags = pd.DataFrame({"c": a, "__p__x": b})
    assert (flags["c"] == flags["__p__x"]).mean() > 0.9
    assert find_copies(flags, ["c"], ["x"], "__p__") == []


def test_a_copy_that_differs_on_some_rows_keeps_the_real_agreement():
    rng = np.random.default_rng(0)
    parent_country = rng.choice(COUNTRIES, 3000)
    child = parent_country.copy()
    moved = rng.random(3000) < 0.05
    child[moved] = rng.choice(COUNTRIES, int(moved.sum()))
    joined = pd.DataFrame({"billing_country": child, "__p__country": parent_country})
    found = find_copies(joined, ["billing_country"], ["country"], "__p__")
    assert len(found) == 1 and found[0].parent_column == "country"
    assert found[0].agreement == pytest.approx((child == parent_country).mean())


def test_a_price_that_follows_its_products_list_price_is_learned_relative_to_it():
    rng = np.random.default_rng(3)
    n = 2000
    list_price = np.round(rng.lognormal(3.5, 0.8, n), 2)
    factor = rng.choice([1.0, 1.0, 1.0, 0.9, 1.1], n)
    joined = pd.DataFrame({
        "unit_price": np.round(list_price * factor, 2),
        "quantity": rng.integers(1, 10, n).astype("float64"),
        "list_price": list_price,
        "weight": rng.lognormal(1.0, 0.5, n),  # unrelated
        "baseline": rng.normal(50, 10, n)})
    joined["reading"] = joined["baseline"] + rng.normal(0, 0.5, n)  # a small offset
    found = {f.column: f for f in find_relative(joined, ["unit_price", "quantity", "reading"],
                                                ["list_price", "weight", "baseline"])}
    assert set(found) == {"unit_price", "reading"}
    assert (found["unit_price"].parent_column, found["unit_price"].kind) == ("list_price", "ratio")
    assert found["unit_price"].spread < 0.1
    assert (found["reading"].parent_column, found["reading"].kind) == ("baseline", "offset")


def test_no_relative_column_for_copies_independent_numbers_or_a_missing_parent_value():
    rng = np.random.default_rng(4)
    n = 1000
    x = rng.lognormal(3.0, 1.0, n)
    copy = pd.DataFrame({"c": x, "p": x})
    assert find_relative(copy, ["c"], ["p"]) == []          # a copy is find_copies' business
    indep = pd.DataFrame({"c": rng.lognormal(3.0, 1.0, n), "p": x})
    assert find_relative(indep, ["c"], ["p"]) == []
    noisy = pd.DataFrame({"c": x * rng.lognormal(0, 0.5, n), "p": x})  # spread 0.5 of 1.0
    assert find_relative(noisy, ["c"], ["p"]) == []
    holes = pd.DataFrame({"c": x * 1.05, "p": np.where(np.arange(n) % 10 == 0, np.nan, x)})
    assert find_relative(holes, ["c"], ["p"]) == []          # the parent's value is often missing
    assert find_relative(holes.iloc[:20], ["c"], ["p"]) == []  # too few rows to tell


def test_no_derived_rule_when_one_child_per_parent_or_no_rule_holds():
    parents = pd.DataFrame({"pk": range(100), "v": np.arange(100) * 1.5, "w": np.arange(100.0)})
    children = pd.DataFrame({"fk": range(100), "a": np.arange(100) * 1.5})
    # one child per parent: a copy looks like a sum, but nothing aggregates
    assert find_derived(parents, "pk", ["v"], {"v": 2}, children, "fk", ["a"]) == []
    rng = np.random.default_rng(0)
    children = pd.DataFrame({"fk": rng.integers(0, 100, 400), "a": rng.random(400)})
    assert find_derived(parents, "pk", ["v", "w"], {"v": 2, "w": 0}, children, "fk", ["a"]) == []


def test_a_least_time_and_a_greatest_number_of_the_children_are_derived():
    md = Metadata.detect(members_database())
    first = md.tables["members"].columns["first_visit"]
    best = md.tables["members"].columns["best_score"]
    assert (first.derived.aggregate, first.derived.table, first.derived.columns) == \
        ("min", "visits", ["at"])
    assert first.sdtype == SDType.DATETIME
    assert (best.derived.aggregate, best.derived.columns) == ("max", ["score"])
    assert md.tables["members"].columns["plan"].derived is None
    assert Metadata.from_yaml(md.to_yaml()).tables["members"].columns["first_visit"].derived \
        == first.derived


def test_a_year_that_is_the_first_child_times_year_is_derived():
    db = members_database()
    members = db["members"]
    members["since"] = members["first_visit"].dt.year.astype("Int64")  # none without visits
    assert members["since"].nunique() >= 3
    md = Metadata.detect(db)
    rule = md.tables["members"].columns["since"].derived
    assert (rule.aggregate, rule.part, rule.table, rule.columns) == ("min", "year", "visits", ["at"])
    assert md.tables["members"].columns["first_visit"].derived.part is None
    assert Metadata.from_yaml(md.to_yaml()).tables["members"].columns["since"].derived == rule
    # one year in ten moved by one: no rule
    moved = members["since"].copy()
    moved.iloc[::10] = moved.iloc[::10] + 1
    members["since"] = moved
    assert Metadata.detect(db).tables["members"].columns["since"].derived is None


def test_no_least_or_greatest_rule_by_chance_or_from_single_children():
    db = members_database()
    members, visits = db["members"], db["visits"]
    # the same values given to other members: nothing aggregates
    rng = np.random.default_rng(1)
    shuffled = members.assign(first_visit=rng.permutation(members["first_visit"].to_numpy()),
                              best_score=rng.permutation(members["best_score"].to_numpy()))
    md = Metadata.detect({"members": shuffled, "visits": visits})
    assert all(c.derived is None for c in md.tables["members"].columns.values())
    # one visit per member: its score is the member's copy, not a greatest value
    one = visits.groupby("member_id", as_index=False).head(1).reset_index(drop=True)
    found = find_derived(members, "member_id", ["best_score"], {"best_score": 0},
                         one, "member_id", ["score"])
    assert found == []


@pytest.mark.parametrize("rule, message", [
    ({"aggregate": "max", "columns": ["score", "minutes"]}, "'max' rule reads one child column"),
    ({"aggregate": "min", "columns": ["minutes"]}, "cannot be a datetime column"),
    ({"aggregate": "sum", "columns": ["score"]}, "derived sum column is numerical"),
    ({"aggregate": "sum", "columns": ["score"], "part": "year"}, "part: year takes the year of"),
    ({"aggregate": "min", "columns": ["at"], "part": "year"},
     "year of the min of visits.at is the number of a datetime; expected a numerical column "
     "and a datetime child column, got 'datetime' and 'datetime'"),
    ({"aggregate": "max", "columns": ["score"], "part": "year"}, "got 'datetime' and 'numerical'"),
    ({"aggregate": "min", "columns": ["at"], "part": "month"}, "derived.part: Input should be 'year'"),
])
def test_a_least_or_greatest_rule_of_the_wrong_kind_is_refused(rule, message):
    data = Metadata.detect(members_database()).to_dict()
    data["tables"]["members"]["columns"]["first_visit"]["derived"] = {
        "table": "visits", "foreign_key": "member_id", **rule}
    with pytest.raises(MetadataError, match=message):
        Metadata.from_dict(data)


# ----------------------------------------------------------------------------- natural keys
def test_natural_string_keys_are_found_and_a_trip_number_is_not_a_reference():
    rng = np.random.default_rng(0)
    airlines = pd.DataFrame({"carrier": ["9E", "AA", "AS", "B6", "DL", "EV", "F9", "UA"],
                             "name": ["Endeavor Air Inc.", "American Airlines Inc.",
                                      "Alaska Airlines Inc.", "JetBlue Airways",
                                      "Delta Air Lines Inc.", "ExpressJet Airlines Inc.",
                                      "Frontier Airlines Inc.", "United Air Lines Inc."]})
    tails = [f"N{rng.integers(100, 999)}{a}{b}" for a, b in zip(rng.choice(list("ABCUW"), 300),
                                                              rng.choice(list("ADNQU"), 300))]
    tails = list(dict.fromkeys(tails))
    planes = pd.DataFrame({"tailnum": tails, "seats": rng.integers(20, 400, len(tails))})
    n = 3000
    flights = pd.DataFrame({"flight_id": range(1, n + 1),
                            "carrier": rng.choice(airlines["carrier"], n),
                            "flight": rng.integers(1, 2500, n),
                            "tailnum": rng.choice(planes["tailnum"], n),
                            "distance": rng.integers(100, 3000, n)})
    md = Metadata.detect({"airlines": airlines, "planes": planes, "flights": flights})
    assert md.tables["airlines"].primary_key == "carrier"
    assert md.tables["planes"].primary_key == "tailnum"
    fks = {(fk.column, fk.parent_table) for fk in md.tables["flights"].foreign_keys}
    assert fks == {("carrier", "airlines"), ("tailnum", "planes")}


def test_a_plural_count_in_the_id_range_is_not_a_foreign_key():
    rng = np.random.default_rng(0)
    orders = pd.DataFrame({"order_id": range(1, 301), "items": rng.integers(1, 6, 300)})
    order_items = pd.DataFrame({"item_id": range(1, 901), "order_id": rng.integers(1, 301, 900)})
    md = Metadata.detect({"orders": orders, "order_items": order_items})
    assert md.tables["orders"].foreign_keys == []
    assert md.tables["order_items"].foreign_keys[0].parent_table == "orders"


def test_string_keys_around_a_number_keep_their_format():
    spec = infer_key_spec(pd.Series([f"2015-{i:06d}" for i in range(1, 2000)]),
                          __import__("pyspark.sql.types", fromlist=["StringType"]).StringType(),
                          "orders", "order_id")
    from synthohive_spark.ml._keys import key_values_at

    values = key_values_at(spec, np.arange(0, 5))
    assert values.tolist() == [f"2015-{i:06d}" for i in range(1, 6)]


def test_keys_that_are_names_become_new_names_of_the_real_syllables():
    from pyspark.sql.types import StringType

    from synthohive_spark.ml._keys import _syllables, key_values_at

    spec = infer_key_spec(pd.Series(COUNTRY_NAMES), StringType(), "countries", "country")
    assert spec["kind"] == "name"
    names = key_values_at(spec, np.arange(50_000))
    assert names.is_unique and names.map(lambda v: v[:1].isupper() and v.isalpha()).all()
    assert names.isin(COUNTRY_NAMES).mean() < 0.01 and not names.str.startswith("Aaa").any()
    assert 5 <= names.str.len().median() <= 10     # the real names' length, not 20 syllables
    # a value depends on its position only (a child's foreign key is made from it)
    assert key_values_at(spec, np.array([49_999, 7])).tolist() == [names[49_999], names[7]]
    # each syllable of a new name is one that two real names or more have: no piece of one
    seen: dict = {}
    for v in COUNTRY_NAMES:
        for w in v.lower().replace("-", " ").replace("'", " ").split():
            if _syllables(w) is None:                 # a word without a vowel ("d'")
                continue
            first, middle, final = _syllables(w)
            for part in {("first", first), ("final", final), *(("mid", m) for m in middle)}:
                seen.setdefault(part, set()).add(v)
    for v in names[:2000]:
        first, middle, final = _syllables(v.lower())
        for part in [("first", first), ("final", final), *(("mid", m) for m in middle)]:
            assert len(seen.get(part, ())) >= 2, (v, part)
    # past the usual length's names, longer ones: still distinct
    size = len(spec["first"]) * len(spec["middle"]) ** spec["middles"] * len(spec["final"])
    around = key_values_at(spec, np.arange(size - 5, size + 5))
    assert around.is_unique and not around.isin(names).any()
    assert around.str.len().iloc[5:].mean() > around.str.len().iloc[:5].mean()


def test_a_name_key_keeps_the_endings_that_names_share_in_their_shares():
    from pyspark.sql.types import StringType

    from synthohive_spark.ml._keys import key_values_at

    towns = [c for c in COUNTRY_NAMES if " " not in c and "-" not in c and "'" not in c]
    real = ([f"{t} Airport" for t in towns[:50]] + [f"{t} Regional Airport" for t in towns[50:70]]
            + towns[70:100] + ["Lake Tahoe", "Big Bear"])   # rare endings: a new word alone
    spec = infer_key_spec(pd.Series(real), StringType(), "airports", "name")
    assert spec["kind"] == "name"
    assert dict((e, n) for e, n in spec["endings"]) == {" Airport": 50, " Regional Airport": 20,
                                                        "": 32}
    names = key_values_at(spec, np.arange(20_000))
    assert names.is_unique
    first = names.str.split(" ", n=1).str[0]
    assert first.is_unique                               # the first word alone tells them apart
    assert first.str.isalpha().all() and not first.isin(["Airport", "Regional"]).any()
    ending = names.str.split(" ", n=1).str[1].fillna("")
    shares = ending.value_counts(normalize=True)
    assert shares["Airport"] == pytest.approx(50 / 102, abs=0.02)
    assert shares["Regional Airport"] == pytest.approx(20 / 102, abs=0.02)
    assert shares[""] == pytest.approx(32 / 102, abs=0.02)
    assert not ending.isin(["Tahoe", "Bear"]).any()     # an ending of one name is never kept


def test_a_name_key_keeps_the_comma_before_a_shared_ending():
    from pyspark.sql.types import StringType

    from synthohive_spark.ml._keys import key_values_at

    # the World Bank's way of naming countries: "Yemen, Rep.", "Egypt, Arab Rep."
    plain = [c for c in COUNTRY_NAMES if " " not in c and "-" not in c and "'" not in c]
    real = ([f"{c}, Rep." for c in plain[:30]] + [f"{c}, Arab Rep." for c in plain[30:40]]
            + plain[40:100])
    spec = infer_key_spec(pd.Series(real), StringType(), "countries", "country")
    assert spec["kind"] == "name"
    assert dict((e, n) for e, n in spec["endings"]) == {", Rep.": 30, ", Arab Rep.": 10, "": 60}
    names = key_values_at(spec, np.arange(10_000))
    assert names.is_unique
    first, rest = names.str.extract(r"^([^\W\d_]+)(.*)$").T.values
    assert pd.Series(first).is_unique                    # the first word alone tells them apart
    shares = pd.Series(rest).value_counts(normalize=True)
    assert set(shares.index) == {", Rep.", ", Arab Rep.", ""}
    assert shares[", Rep."] == pytest.approx(0.3, abs=0.02)
    assert shares[", Arab Rep."] == pytest.approx(0.1, abs=0.02)


@pytest.mark.parametrize("values, kind", [
    (["JFK", "LAX", "ATL", "ORD", "DFW", "DEN", "SFO", "SEA", "LAS", "MCO", "EWR", "CLT"], "shape"),
    ([f"N{100 + 7 * i}{'UW' if i % 2 else 'A'}" for i in range(40)], "shape"),
    (COUNTRY_NAMES[:8], "shape"),                  # too few to learn names from
    ([f"user{i}" for i in range(40)], "pattern"),
])
def test_codes_and_few_values_are_not_name_keys(values, kind):
    from pyspark.sql.types import StringType

    assert infer_key_spec(pd.Series(values), StringType(), "t", "k")["kind"] == kind


# ----------------------------------------------------------------------------- YAML and validation
def test_rules_and_reference_flags_survive_a_yaml_round_trip():
    md = Metadata.detect(_shop())
    again = Metadata.from_yaml(md.to_yaml())
    assert again.to_dict() == md.to_dict()
    assert again.tables["menu"].reference
    assert again.tables["orders"].columns["total"].derived == md.tables["orders"].columns["total"].derived


def _shop_dict() -> dict:
    return Metadata.detect(_shop()).to_dict()


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d["tables"]["items"]["columns"]["price"]["copy_of"].update(foreign_key="quantity"),
     "copy_of names foreign key 'quantity'"),
    (lambda d: d["tables"]["items"]["columns"]["price"]["copy_of"].update(column="nope"),
     "menu.nope"),
    (lambda d: d["tables"]["orders"]["columns"]["total"]["derived"].update(table="menu"),
     "not a foreign key of 'menu' to 'orders'"),
    (lambda d: d["tables"]["orders"]["columns"]["total"]["derived"].update(columns=["nope"]),
     "columns ['nope']"),
    (lambda d: d["tables"]["orders"]["columns"]["n_items"]["derived"].update(columns=["price"]),
     "takes no columns"),
])
def test_rules_that_name_missing_things_are_refused(mutate, message):
    data = _shop_dict()
    mutate(data)
    with pytest.raises(MetadataError, match=message.replace("[", r"\[").replace("]", r"\]")
                       .replace(".", r"\.")):
        Metadata.from_dict(data)


def test_a_reference_table_with_personal_data_or_driving_children_is_refused():
    data = _shop_dict()
    data["tables"]["menu"]["columns"]["dish"]["sdtype"] = "name"
    with pytest.raises(MetadataError, match="holds personal data in dish"):
        Metadata.from_dict(data)
    data = _shop_dict()
    for fk in data["tables"]["items"]["foreign_keys"]:
        fk["driver"] = fk["parent_table"] == "menu"
    with pytest.raises(MetadataError, match="driver foreign key points at reference table"):
        Metadata.from_dict(data)


def test_compound_pii_names_are_found_by_metadata_detection():
    rng = np.random.default_rng(0)
    n = 59
    invoices = pd.DataFrame({
        "invoiceid": range(1, n + 1),
        "billingaddress": [f"{rng.integers(1, 999)} {s} Street" for s in rng.choice(
            ["Oak", "Elm", "Rua", "Main"], n)],
        "billingcity": rng.choice(["Chicago", "Oslo", "Lyon"], n),
        "billingpostalcode": [f"{rng.integers(10000, 99999)}" for _ in range(n)],
        "total": np.round(rng.uniform(1, 20, n), 2)})
    cols = Metadata.detect({"invoices": invoices}).tables["invoices"].columns
    assert cols["billingaddress"].sdtype == SDType.ADDRESS
    assert cols["billingcity"].sdtype == SDType.CITY
    assert cols["billingpostalcode"].sdtype == SDType.ZIP
    assert not cols["total"].pii


# People of many countries, most with a surname no name list holds; a nickname, particles, a title
_FULL_NAMES = ["Annetha Mills", "Jasminder Randhawa", 'Edward "Edd" Kimber', "Sanne de Vries",
               "Mehmet Yılmaz", "Katarzyna Wróblewska", "Søren Kjærgaard", "Chidi Okonkwo",
               "Priya Raghunathan", "João Gonçalves", "Ingrid Bergström", "Lucía Fernández",
               "Tomasz Zieliński", "Oluwaseun Adeyemi", "Mirela Popescu", "Pieter van den Berg",
               "Astrid Lindqvist", "Ahmet Öztürk", "Nguyễn Thị Lan", "Dr. Hannah Brimelow"]


def test_person_names_are_found_from_their_values_whatever_the_column_is_called():
    rng = np.random.default_rng(0)
    n = 240
    firsts = [v.replace('"Edd" ', "").replace("Dr. ", "").split()[0] for v in _FULL_NAMES]
    lasts = ["Mills", "Randhawa", "Kimber", "Vries", "Yılmaz", "Wróblewska", "Kjærgaard",
             "Okonkwo", "Raghunathan", "Gonçalves", "Bergström", "Fernández", "Zieliński",
             "Adeyemi", "Popescu", "Berg", "Lindqvist", "Öztürk", "Brimelow", "Chambers",
             "Harris", "Shepherd", "Whaite", "Hussain"]
    # capitalised words that are not people: a few of them are first names (May, June, Victoria,
    # Milton, Chelsea), far fewer than in a column of names
    months = ["January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"]
    bakes = ["Chocolate Orange Cake", "Lemon Drizzle Loaf", "Victoria Sponge", "Carrot Cake",
             "Black Forest Gateau", "Bakewell Tart", "Eccles Cakes", "Chelsea Buns",
             "Battenberg", "Treacle Tart", "Swiss Roll", "Madeira Cake"]
    towns = ["Milton Keynes", "St Albans", "Bradford", "Durham", "Leeds", "Harrogate", "Kent",
             "Barton-upon-Humber", "Wigan", "Ayr", "Cheltenham", "Sutton Coldfield"]
    df = pd.DataFrame({"entry": range(1, n + 1),
                       "winner": rng.choice(_FULL_NAMES, n), "contestant": rng.choice(firsts, n),
                       "family": rng.choice(lasts, n), "month": rng.choice(months, n),
                       "bake": rng.choice(bakes, n), "origin": rng.choice(towns, n)})
    # the winner's last name beside it, where it is too rare for the name lists (else missing)
    from synthohive_spark.privacy.validators import known_names

    df["winner_last"] = [w.split()[-1] if w.split()[-1].lower() not in known_names()[1] else None
                         for w in df["winner"]]
    assert df["winner_last"].nunique() >= 10
    cols = Metadata.detect({"entries": df}).tables["entries"].columns
    assert cols["winner_last"].sdtype == SDType.LAST_NAME and cols["winner_last"].pii
    assert cols["winner"].sdtype == SDType.NAME and cols["winner"].pii
    assert cols["contestant"].sdtype == SDType.FIRST_NAME and cols["contestant"].pii
    assert cols["family"].sdtype == SDType.LAST_NAME and cols["family"].pii
    for c in ("month", "bake", "origin"):
        assert cols[c].sdtype == SDType.CATEGORICAL and not cols[c].pii, c


def test_names_in_scripts_without_blanks_or_case_are_personal_data_and_places_are_not():
    rng = np.random.default_rng(1)
    n = 200
    people = {
        "zh": ["王伟", "李娜", "张敏", "刘洋", "陈静", "杨帆", "赵磊", "黄丽", "周杰", "吴昊",
               "徐静", "孙悦"],
        "ja": ["佐藤 健", "鈴木 花子", "高橋 大輔", "田中 美咲", "伊藤 翔太", "渡辺 陽菜",
               "山本 蓮", "中村 結衣", "小林 悠真", "加藤 さくら"],
        "ko": ["김민준", "이서연", "박지훈", "최수아", "정도윤", "강하은", "조예준", "윤지우",
               "장서준", "임하윤"],
        "ru": ["Иван Петров", "Ольга Смирнова", "Дмитрий Кузнецов", "Анна Соколова",
               "Сергей Попов", "Мария Лебедева", "Алексей Козлов", "Елена Новикова",
               "Андрей Морозов", "Наталья Волкова"],
        "ar": ["محمد العلي", "فاطمة الزهراء", "أحمد حسن", "علي رضا", "مريم يوسف", "حسين كريمي",
               "زينب أحمدي", "يوسف سعيد", "عمر خالد", "سارة محمود"]}
    places = {
        "where_zh": ["北京", "上海", "广州", "深圳", "天津", "重庆", "成都", "武汉", "杭州", "南京",
                    "西安", "苏州"],
        "item_zh": ["苹果手机", "华为平板", "小米电视", "联想电脑", "格力空调", "海尔冰箱",
                       "美的微波炉", "李宁运动鞋", "安踏外套", "王老吉凉茶", "周黑鸭", "张小泉剪刀"],
        "where_ru": ["Москва", "Санкт-Петербург", "Новосибирск", "Екатеринбург", "Казань",
                    "Нижний Новгород", "Челябинск", "Самара", "Омск", "Ростов-на-Дону"]}
    df = pd.DataFrame({c: rng.choice(v, n) for c, v in {**people, **places}.items()})
    cols = Metadata.detect({"clients": df}).tables["clients"].columns
    for c in people:
        assert cols[c].sdtype == SDType.NAME and cols[c].pii, c
    for c in places:
        assert not cols[c].pii, c


def test_name_words_take_the_shape_of_a_name_only():
    from synthohive_spark.privacy.validators import name_words

    assert name_words('Edward "Edd" Kimber') == ["edward", "kimber"]
    assert name_words("Pieter van den Berg") == ["pieter", "berg"]
    assert name_words("Dr. Hannah Brimelow") == ["hannah", "brimelow"]
    assert name_words("Kim-Joy O'Hewlett") == ["kim-joy", "o'hewlett"]
    assert name_words("王伟") == ["伟", "王"] and name_words("山田 太郎") == ["太郎", "山田"]
    assert name_words("Иван Петров") == ["иван", "петров"]
    assert name_words("北京") == ["北京"]  # no family name it starts with: one word
    for other in ("chocolate cake", "Flat 3", "Unit 12B", "A B C D E", "Lemon and Ginger"):
        assert name_words(other) is None, other


def test_a_column_named_after_a_table_is_not_a_nameless_reference_to_another():
    # ten series numbered 1-10, each with its episodes numbered 1-n: every episode number is a
    # series number too, by chance; the episodes of a series are not rows of the series table
    series = pd.DataFrame({"series": range(1, 11), "channel": ["BBC Two"] * 4 + ["BBC One"] * 3
                           + ["Channel 4"] * 3})
    lengths = [6, 8] + [10] * 8
    episodes = pd.DataFrame({"series": np.repeat(range(1, 11), lengths),
                             "episode": np.concatenate([np.arange(1, k + 1) for k in lengths]),
                             "viewers": np.round(np.linspace(2.2, 15.9, sum(lengths)), 2)})
    results = episodes.loc[episodes.index.repeat(3), ["series", "episode"]].reset_index(drop=True)
    results["result"] = np.tile(["IN", "OUT", "STAR BAKER"], len(episodes))
    md = Metadata.detect({"series": series, "episodes": episodes, "results": results})
    for table in ("episodes", "results"):
        fks = {(fk.column, fk.parent_table) for fk in md.tables[table].foreign_keys}
        assert fks == {("series", "series")}, table


def test_numpy_string_scalars_in_an_object_column_are_strings():
    values = np.array(["Berlin", "Hamburg", "Oslo"], dtype=object)
    df = pd.DataFrame({"id": [1, 2, 3],
                       "city_name": pd.Series([np.str_(v) for v in values], dtype=object)})
    assert Metadata.detect({"t": df}).tables["t"].columns["city_name"].dtype == "string"


def test_distinct_e_mails_are_recorded_unique_and_repeated_ones_are_not():
    accounts = pd.DataFrame({"account_id": range(1, 41),
                             "email": [f"user{i}@mail.example.org" for i in range(40)]})
    shared = accounts.assign(email=[f"team{i % 7}@mail.example.org" for i in range(40)])
    assert Metadata.detect({"accounts": accounts}).tables["accounts"].columns["email"].unique
    assert not Metadata.detect({"accounts": shared}).tables["accounts"].columns["email"].unique


def test_e_mails_made_unique_by_position_never_collide_whatever_their_digits():
    from synthohive_spark.ml._generation import unique_by_position

    # generated local parts that would collide if the position were only appended:
    # "ann1" + "23" and "ann12" + "3"
    values = pd.Series(["ann1@x.org", "ann12@x.org", "ann@x.org", "bob@y.net", "7@z.com"])
    out = unique_by_position(values, "email", np.array([22, 2, 122, 5, 0]))
    assert out.tolist() == ["ann23@x.org", "ann3@x.org", "ann123@x.org", "bob6@y.net",
                            "user1@z.com"]
    many = unique_by_position(pd.Series(["a1@x.org", "a@x.org"] * 5000), "email",
                              np.arange(10_000))
    assert many.is_unique
    with pytest.raises(ValueError, match="not 'phone'"):
        unique_by_position(values, "phone", np.arange(5))


def test_user_names_are_personal_data_unique_when_distinct_and_never_copied():
    from synthohive_spark.ml._generation import unique_by_position
    from synthohive_spark.privacy import generate_pii, infer_format

    users = pd.DataFrame({"user_id": range(1, 61),
                          "username": [f"{a}{b}{i}" for i, (a, b) in
                                       enumerate(zip("abcdefghij" * 6, "klmnopqrst" * 6))],
                          "login_attempts": np.arange(60) % 4})
    cols = Metadata.detect({"users": users}).tables["users"].columns
    assert cols["username"].sdtype == SDType.USERNAME and cols["username"].pii
    assert cols["username"].unique
    assert cols["login_attempts"].sdtype != SDType.USERNAME  # a count, not a login
    # a "nickname" of episode titles (blanks inside) is no account; one of handles is
    words = ["Drag", "Dime", "Girl", "Group", "Queens", "Media", "School", "Charm", "Ball", "Snatch"]
    episodes = pd.DataFrame({"episode": range(1, 61),
                             "nickname": [f"{words[i % 10]} on a {words[(i * 7) % 10]} {i}"
                                          for i in range(60)],
                             "handle": users["username"]})
    cols = Metadata.detect({"episodes": episodes}).tables["episodes"].columns
    assert cols["nickname"].sdtype != SDType.USERNAME and not cols["nickname"].pii
    episodes = episodes.rename(columns={"nickname": "title", "handle": "nickname"})
    assert Metadata.detect({"episodes": episodes}).tables["episodes"].columns[
        "nickname"].sdtype == SDType.USERNAME
    fmt = infer_format("username", users["username"])
    fake = generate_pii("username", 500, 2, "en_US", fmt)
    assert not set(fake) & set(users["username"])
    made = unique_by_position(fake, "username", np.arange(500))
    assert made.is_unique and made.str.fullmatch(r"[a-z._]+\d+").all()


def test_unique_e_mails_and_user_names_keep_the_real_width():
    from synthohive_spark.ml._generation import unique_by_position

    # cut names may hold digits ("ab1cd" -> "ab1"): never a digit right before the number
    values = pd.Series(["ab1cd.efgh@example.com", "ab@example.com"] * 2000)
    out = unique_by_position(values, "email", np.arange(4000), max_length=19)
    assert out.is_unique and out.str.len().max() <= 19
    names = unique_by_position(pd.Series(["x9yz", "x"] * 3000), "username", np.arange(6000), 6)
    assert names.is_unique and names.str.len().max() <= 6
